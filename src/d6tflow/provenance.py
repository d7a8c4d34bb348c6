"""Provenance: a manifest for every task's outputs, and the verdict of whether they are current.

When a task finishes, its outputs are staged (written under temporary names), fingerprinted, and
then committed: its manifest is appended to the folder's manifest log (manifests.py), *then* the
outputs are renamed into place. So outputs that have no manifest can only come from the original
d6tflow (or from a ``save()`` outside a run): they count as complete ("legacy"). A crash before the
manifest leaves only temporary files; a crash after it leaves outputs missing or not matching their
manifest, which counts as incomplete.

The manifest records what the outputs were made from: the task's parameters, its code fingerprint,
the content fingerprints of the upstream outputs it consumed and of its declared input files. A
later state check compares each with today's, and says in words what changed.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from d6tflow import settings, transfer
from d6tflow.code_fingerprint import code_digest_of, code_of, code_sources
from d6tflow.errors import OutputError, OutputsNotSavedError
from d6tflow.fingerprint import file_hash, file_record, file_stat
from d6tflow.manifests import ManifestLog, begin_check, is_file_record, well_formed
from d6tflow.status import COMPLETE, State, Status
from d6tflow.storage import LOCAL, Store
from d6tflow.stores import active_cache, folder_text, store_for
from d6tflow.targets import DataTarget
from d6tflow.version import __version__

if TYPE_CHECKING:
    from d6tflow.protocol import DataTask as TaskData

logger = logging.getLogger("d6tflow")

_COMPLETE = State.COMPLETE
#: Outputs that no run of this library recorded (the original d6tflow's, or saved by hand): they
#: count as complete, and preview says so.
LEGACY = Status(State.COMPLETE, ("legacy: no record of how it was made, not checked",), legacy=True)
_UNREADABLE = Status(State.PENDING, ("manifest unreadable: its record is damaged",))
_NO_RECORD = Status(
    State.PENDING, ("output has no record: its commit was interrupted, or it was written by hand",)
)


def file_paths(task: TaskData) -> dict[str, str]:
    """The paths of the task's file outputs by key; empty for in-memory or custom targets, and
    for tasks that save nothing (a plain ``Task``, an aggregator)."""
    return task._file_paths()[0] if hasattr(task, "_file_paths") else {}


def output_folder(task: TaskData) -> str:
    """The folder of the task's file outputs, where its manifest log and lock live."""
    return task._file_paths()[1]


def _records_of(task: TaskData) -> tuple[dict[str, str], str, ManifestLog | None]:
    """(file output paths by key, their folder, its manifest log); empty for in-memory or custom
    targets."""
    paths, folder = task._file_paths()
    return paths, folder, (store_for(folder).records(folder) if paths else None)


def files_of(output: Any) -> tuple[dict[str, str], str]:
    """(paths by key, their folder) of an output's files, if d6tflow writes them (DataTargets);
    ``({}, "")`` for in-memory and custom targets, which write where they like."""
    targets = output if isinstance(output, dict) else {"data": output}
    for target in targets.values():
        if type(target).save is not DataTarget.save:
            return {}, ""
    if not targets:
        return {}, ""
    paths = {key: os.fspath(t) for key, t in targets.items()}
    return paths, _parent(os.fspath(target))


def _parent(path: str) -> str:
    """``os.path.dirname(path)``, without its cost for the usual ``<folder>/<file name>``."""
    head = path.rpartition(os.sep)[0]
    if head and not head.endswith(os.sep) and os.altsep is None:
        return head
    return os.path.dirname(path)


def manifest_of(task: Any, fresh: bool = False) -> dict | None:
    """The committed manifest of a task, if it has one (and it is not damaged)."""
    if not hasattr(task, "persist"):
        return None
    log = _records_of(task)[2]
    manifest = None if log is None else log.get(task.task_id, fresh)
    return manifest if manifest is not None and well_formed(manifest) else None


def _output_hashes(task: Any) -> dict[str, str] | None:
    """The task's output hashes as committed when this process last looked at its folder's log
    (each state check, and each task a run executes, looks once: ``begin_check``). Not fresher
    than that on purpose: a task records the upstream content it may have read, and an older
    hash only ever means one rerun too many."""
    manifest = manifest_of(task) or manifest_of(task, fresh=True)
    return None if manifest is None else _hashes(manifest)


def _hashes(manifest: dict) -> dict[str, str]:
    # Only what a state check read is sure to be well formed: outputs no longer in persist are
    # taken as they are.
    return {key: r.get("hash") for key, r in manifest["outputs"].items() if type(r) is dict}


def declared_inputs(task: Any) -> list[str]:
    """Files or folders outside the flow that the task reads (``input_files``)."""
    declared = getattr(task, "input_files", None)
    if declared is None:
        return []
    if callable(declared):
        declared = declared()
    if isinstance(declared, (str, os.PathLike)):
        declared = [declared]
    return [os.fspath(p) for p in declared]


# -- the verdict -----------------------------------------------------------------------------------


def assess(task: TaskData, deps: list[tuple[Any, Status]], code: bool = True) -> Status:
    """COMPLETE, PENDING or STALE for a data task, given its dependencies' statuses.

    A state check calls this for every task of the flow: the common path (outputs there and as
    recorded) is written out here; what is rarer (missing or edited outputs, changed code or
    input files, upstream changes) is worked out by the helpers below. ``code=False``: the
    verdict as if the code had not changed (``d6tflow.accept`` asks whether only code did).
    """
    paths, folder, log = _records_of(task)
    if not paths:
        return assess_by_existence(task, deps)
    manifest = log.get(task.task_id)
    if manifest is None:
        records = {}
    else:
        records = manifest.get("outputs")
        if type(records) is not dict or not records:
            return _UNREADABLE
    where = store_for(folder)
    missing, changed, moved, hashes = [], [], [], {}
    for key, path in paths.items():
        seen = where.stat(path)
        if seen is None:
            missing.append(key)
            continue
        record = records.get(key)
        if record is not None:
            try:
                hashes[key] = record["hash"]
                recorded = (record["size"], record["mtime_ns"])
            except (KeyError, TypeError):  # a damaged record (manifests.well_formed)
                return _UNREADABLE
            if recorded != seen:
                # Same size, other time: copied, untarred or downloaded. Content decides.
                if record["size"] == seen[0] and where.content_hash(path) == record["hash"]:
                    moved.append((key, seen))
                else:
                    changed.append(key)
        elif manifest is not None:
            changed.append(key)
    if missing:
        deleted = manifest is None and log.was_removed(task.task_id)
        return _missing_status(task, missing, len(paths), manifest is None, deleted)
    if manifest is None:
        if where.needs_records:
            return _NO_RECORD
        reasons = []
    elif changed:
        words = _outputs_words(task, changed) + " changed after it was written"
        return Status(State.PENDING, (words + " (run d6tflow.verify for details)",))
    else:
        if moved:
            log.refresh_times(manifest, dict(moved))
        reasons = _made_differently(task, log, manifest, code)
    upstream_words: list[str] = []
    if deps and task._cascades():
        upstream = manifest.get("upstream", {}) if manifest is not None else None
        if upstream is not None and type(upstream) is not dict:
            return _UNREADABLE
        changed_upstream, upstream_words = _upstream_changes(deps, upstream)
        reasons.extend(changed_upstream)
    hashes = _recorded_hashes(manifest, hashes, records)
    if not reasons and not upstream_words:
        if manifest is None:
            return LEGACY
        # _make: positional fields, without Status()'s keyword handling
        return Status._make((_COMPLETE, (), False, False, hashes))
    return Status(
        State.STALE,
        tuple(reasons + upstream_words),
        upstream_only=not reasons,
        legacy=manifest is None,
        hashes=hashes,
    )


def _recorded_hashes(
    manifest: dict | None, checked: dict[str, str], records: dict
) -> dict[str, str] | None:
    """The output hashes a record names (None without one); ``checked``: those the state check
    read, all of them unless the record also has outputs no longer in ``persist``."""
    if manifest is None:
        return None
    return checked if len(checked) == len(records) else _hashes(manifest)


def _missing_status(
    task: Any, missing: list[str], outputs: int, unrecorded: bool, deleted: bool
) -> Status:
    """Pending: outputs missing. The words only: never run with these parameters, deleted
    (``reset``, ``invalidate``: the log's tombstone says so), or some outputs gone."""
    if len(missing) == outputs and unrecorded:
        return Status(State.PENDING, ("output deleted" if deleted else "parameters new",))
    return Status(State.PENDING, (_outputs_words(task, missing) + " missing",))


def _made_differently(task: Any, log: ManifestLog, manifest: dict, code: bool) -> list[str]:
    """What the task's outputs were made from that is no longer so: its code (unless it is an
    external task, whose code is a stand-in such as a FlowExport stub) and its input files."""
    reasons: list[str] = []
    if code and settings.track_code and not task.external:
        recorded = manifest.get("code")
        if recorded != code_digest_of(type(task)):
            reasons.extend(_code_changes(task, log.code_members(recorded)))
    if manifest.get("inputs") or getattr(task, "input_files", None) is not None:
        reasons.extend(_input_changes(task, manifest.get("inputs", {})))
    return reasons


def _upstream_changes(
    deps: list[tuple[Any, Status]], upstream: dict | None
) -> tuple[list[str], list[str]]:
    """(upstream outputs other than the ones recorded, upstream tasks not complete), in words;
    ``upstream`` is the record's, None when there is none."""
    changed: list[str] = []
    waiting: dict[str, list[str]] = {}  # state -> upstream task families
    for dep, status in deps:
        if status.state is not _COMPLETE:
            waiting.setdefault(status.state.value.lower(), []).append(dep.task_family)
        elif upstream is not None:
            recorded = upstream.get(dep.task_id)
            current = status.hashes if status.hashes is not None else _output_hashes(dep)
            if recorded is not None and current is not None and recorded != current:
                changed.append(dep.task_family)
    changed_words = [f"upstream {_names(changed)} output changed"] if changed else []
    return changed_words, [f"upstream {_names(f)} {state}" for state, f in waiting.items()]


def _names(families: list[str]) -> str:
    """Task families as one phrase, each once: "TaskA, TaskB and 3 more"."""
    unique = list(dict.fromkeys(families))
    shown = ", ".join(unique[:3])
    return shown + (f" and {len(unique) - 3} more" if len(unique) > 3 else "")


def assess_by_existence(task: Any, deps: list[tuple[Any, Status]]) -> Status:
    if task._cascades():
        waiting = [d.task_family for d, s in deps if not s.complete]
        if waiting:
            return Status(State.PENDING, (f"upstream {_names(waiting)} pending",))
    if task._outputs_exist():
        return COMPLETE
    return Status(State.PENDING, ("output missing",))


def _recorded(record: dict | None) -> tuple[int, int] | None:
    return None if record is None else (record["size"], record["mtime_ns"])


def _outputs_words(task: Any, keys: list[str]) -> str:
    if list(task.persist) == ["data"]:
        return "output"
    return "output " + ", ".join(keys)


def _code_changes(task: Any, recorded: dict[str, str] | None) -> list[str]:
    if recorded is None:  # the log no longer tells which parts (or code was not tracked then)
        return [f"code of {task.task_family} changed"]
    current = code_of(type(task))
    names = current.keys() | recorded.keys()
    changed = sorted(k for k in names if current.get(k) != recorded.get(k))
    return [f"code of {name} changed" for name in changed[:3]] + (
        [f"and {len(changed) - 3} more code changes"] if len(changed) > 3 else []
    )


def _input_changes(task: Any, recorded: dict[str, dict]) -> list[str]:
    reasons = []
    if type(recorded) is not dict:  # a damaged record: every input counts as new
        recorded = {}
    for path in declared_inputs(task):
        record = recorded.get(path)
        stat = file_stat(path)
        if stat is None:
            reasons.append(f"input file {path} missing")
        elif record is None:
            reasons.append(f"input file {path} new")
        elif not is_file_record(record) or (
            _recorded(record) != stat and file_hash(path) != record["hash"]
        ):
            reasons.append(f"input file {path} changed")
    return reasons


# -- running and committing --------------------------------------------------------------------


def is_current(task: TaskData) -> bool:
    """Is the task complete now, its dependencies being complete (asked under its lock)?"""
    return state_now(task).complete


#: What a task without a record is about to run for (as a state check says of it).
_NEW = Status(State.PENDING, ("parameters new",))
_DELETED = Status(State.PENDING, ("output deleted",))


def _metadata_here(task: Any) -> Any:
    """What ``metaSave`` gave this task object in this process (None if nothing): no file is
    read, as ``task.metadata`` would for another instance."""
    here = getattr(task, "_metadata_here", None)
    return here() if here is not None else None


def state_now(task: TaskData) -> Status:
    """The task's state now, its dependencies being complete (asked under its lock).

    The scheduler decided to run it, so it was pending or stale; it is complete now only if
    another run committed it meanwhile, which always leaves a manifest. Every log is looked at
    again: its upstream tasks may have been committed by other processes (workers of this run)
    since this process last read their folders. Else its reasons are why it runs.
    """
    begin_check()
    log = _records_of(task)[2]
    # fresh: a remote folder then lists its records alone, not every output (the common case,
    # no record yet, needs nothing more).
    if log is None or log.get(task.task_id, fresh=True) is None:
        # The words the state check gave (its summary): a reset or forced rerun left a tombstone.
        return _DELETED if log is not None and log.was_removed(task.task_id) else _NEW
    deps = [(dep, COMPLETE) for dep in task._graph_deps()]
    return assess(task, deps)


def still_current(task: Any) -> bool:
    """A task that was stale only because upstream tasks had to rerun, now that they did (in
    this process or another): are its outputs current after all, the upstream outputs having
    come out byte-for-byte the same? Outputs with no record cannot tell: they are not."""
    begin_check()
    status = task._assess([(dep, COMPLETE) for dep in task._graph_deps()])
    return status.complete and not status.legacy


#: What :func:`run_and_commit` did: ran the task, found it completed by another run meanwhile,
#: or pulled its outputs from the shared cache (``run(remote=...)``).
RAN, MEANWHILE, PULLED = "ran", "meanwhile", "pulled"


def run_and_commit(task: TaskData, body: Callable[[], None]) -> str:
    """Run ``body`` (the task's run()) with its outputs staged, then commit them with a manifest.

    Holds the task's lock, so two processes never run the same task at once; the second finds
    it complete and returns MEANWHILE without running it. With a shared cache (``run(remote=)``)
    outputs made elsewhere from the same inputs are pulled instead (PULLED), and what runs is
    pushed after.
    """
    paths, folder, log = _records_of(task)
    if not paths:
        body()
        return RAN
    where = store_for(folder)
    where.prepare(folder)
    cache = active_cache() if where is LOCAL else None
    with where.task_lock(folder, task.task_id):
        now = state_now(task)
        if now.complete:
            logger.info("%r was completed by another run", task)
            return MEANWHILE
        started = time.time()
        # What the upstream outputs are before run() reads them: if another process rewrote
        # one meanwhile, the record is older than what was read, which costs a rerun, never a
        # stale result.
        upstream = {
            dep.task_id: hashes
            for dep in task._graph_deps()
            if (hashes := _output_hashes(dep)) is not None
        }
        # Fingerprinted before run(), which may change what a class attribute holds (and may
        # start a nested run, whose state check forgets the fingerprints worked out so far).
        code = (code_digest_of(type(task)), code_of(type(task))) if settings.track_code else None
        if cache is not None:
            item = _shared_item(task, paths, folder, cache[0].url)
            if _pull_made_the_same(task, item, cache[0], upstream, code):
                return PULLED
        meta_before = _metadata_here(task)
        with where.staging(list(paths.values())) as staged:
            body()
            missing = [k for k, p in paths.items() if staged[p] is None and where.stat(p) is None]
            if missing:
                raise OutputsNotSavedError(task, missing)
            notes = {"reason": "; ".join(now.reasons)}
            meta = _metadata_here(task)
            if meta is not None and meta is not meta_before:  # metaSave in this run
                notes["meta"] = small_json(meta)
            _commit(task, where, paths, log, staged, started, upstream, code, notes)
    if cache is not None and cache[1]:
        _push_made(task, item, cache[0])
    return RAN


def _shared_item(task: Any, paths: dict[str, str], folder: str, url: str) -> transfer.Item:
    root = folder_text(task.path) if getattr(task, "path", None) else folder_text(settings.dirpath)
    return transfer.item_of(task.task_id, paths, folder, root, url, task._meta_path())


def _pull_made_the_same(
    task: Any,
    item: transfer.Item,
    remote: Any,
    upstream: dict[str, dict[str, str]],
    code: tuple[str, dict[str, str]] | None,
) -> bool:
    """Pull the task's outputs from the shared cache if they were made there from the same code,
    upstream outputs and input files (the task id covers the parameters)."""
    inputs = {path: st[2] for path in declared_inputs(task) if (st := _input_record(path))}

    def made_the_same(record: dict) -> bool:
        theirs = record.get("inputs") or {}
        return (
            record.get("code") == (None if code is None else code[0])
            and (record.get("upstream") or {}) == upstream
            and {p: e.get("hash") for p, e in theirs.items() if type(e) is dict} == inputs
        )

    try:
        moved = transfer.pull(
            [item], remote, force=True, show=False, accept=made_the_same, locked=True
        )
    except (OSError, OutputError) as e:
        logger.warning("could not look up %r in the shared cache %s: %s", task, remote.url, e)
        return False
    return bool(moved.tasks)


def _push_made(task: Any, item: transfer.Item, remote: Any) -> None:
    """Push what a run just made to the shared cache; a failure is reported, not raised: the
    outputs are committed here."""
    try:
        transfer.push([item], remote, show=False)
    except (OSError, OutputError) as e:
        logger.warning("could not push %r to the shared cache %s: %s", task, remote.url, e)


def _commit(
    task: Any,
    where: Store,
    paths: dict[str, str],
    log: ManifestLog,
    staged: dict,
    started: float,
    upstream: dict[str, dict[str, str]],
    code: tuple[str, dict[str, str]] | None,
    notes: dict[str, Any],
) -> None:
    outputs = {}
    for key, path in paths.items():
        size, mtime_ns, content = where.record_of(staged[path] or path)
        outputs[key] = {
            "file": os.path.basename(path),
            "size": size,
            "mtime_ns": mtime_ns,
            "hash": content,
        }
    ended = time.time()
    manifest = {
        "task_id": task.task_id,
        "task_family": task.task_family,
        "params": task.to_str_params(only_significant=True),
        # A digest: the members it stands for are written to the log once (ManifestLog.append).
        "code": None if code is None else code[0],
        "upstream": upstream,
        "inputs": {
            path: {"size": st[0], "mtime_ns": st[1], "hash": st[2]}
            for path in declared_inputs(task)
            if (st := _input_record(path)) is not None
        },
        "outputs": outputs,
        "started": _iso(started),  # the end is started + duration
        "duration": round(ended - started, 6),
        "d6tflow": __version__,
        **notes,
    }
    # Empty sections are left out: a state check parses every line of a folder's log.
    for section in ("upstream", "inputs", "meta"):
        if manifest.get(section) is None or manifest[section] == {}:
            manifest.pop(section, None)
    members = None if code is None else code[1]
    if code is not None:
        keep_code_sources(task, where, log, code)
    where.commit(log, manifest, members, list(paths.values()), settings.durable)


def keep_code_sources(task: Any, where: Store, log: Any, code: tuple[str, dict[str, str]]) -> None:
    """Keep the readable source of each member of ``code`` beside ``log`` the first time the
    folder records that digest (for ``d6tflow.why``'s diffs; it costs nothing after)."""
    if log.code_members(code[0]) is not None:
        return
    sources = code_sources(type(task))
    try:
        where.keep_sources(
            log.folder, {h: text for name, (h, text) in sources.items() if code[1].get(name) == h}
        )
    except OSError as e:  # a diff the user may never ask for: the commit goes on
        logger.warning("could not keep the code sources of %r: %s", task, e)


#: Metadata longer than this (as JSON) is not copied into the record.
MAX_META = 4096


def small_json(value: Any) -> Any:
    """``value`` as plain JSON data, if it is JSON data (numbers, including NumPy's, strings,
    lists and dicts of them) and small; else None (not recorded)."""
    import json

    try:
        text = json.dumps(value, default=_json_scalar, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return json.loads(text) if len(text) <= MAX_META else None


def _input_record(path: str) -> tuple[int, int, str] | None:
    try:
        return file_record(path)
    except FileNotFoundError:
        return None


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


def outputs_staged(task: Any) -> bool:
    """Is the task running right now in this process (its outputs staged)?"""
    paths, folder = task._file_paths()
    return bool(paths) and store_for(folder).is_staged(next(iter(paths.values())))


def remove_records(task: Any) -> None:
    """Forget the task's manifest: its outputs are being removed or replaced."""
    log = _records_of(task)[2]
    if log is not None:
        log.remove(task.task_id)


def _json_scalar(obj: Any) -> Any:
    """``json.dumps``'s fallback: a NumPy number as a Python one; anything else cannot be."""
    item = getattr(obj, "item", None)
    if callable(item) and getattr(obj, "shape", None) == ():
        return item()
    raise TypeError(type(obj).__name__)

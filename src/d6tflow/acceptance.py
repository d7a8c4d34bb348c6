"""``d6tflow.accept``: "this change does not matter" — record today's code as the code that made
the current outputs, without rerunning.

Accepting rewrites a task's record with today's code fingerprint and ``"accepted": <time>``,
keeping everything else (outputs, upstream outputs, input files, start and duration of the run
that made them). It vouches for code only: the verdict it relies on is the state check's own,
with code left out (``provenance.assess(..., code=False)``), and a task that would still not be
complete — an upstream output or input file changed, an output missing or edited, never run —
is refused, since accepting it would be a lie about data.
"""

from __future__ import annotations

import datetime
from typing import Any

from d6tflow import settings
from d6tflow.code_fingerprint import code_digest_of, code_of
from d6tflow.errors import AcceptRefusedError
from d6tflow.graph import Graph
from d6tflow.manifests import begin_check
from d6tflow.protocol import judged_by_engine
from d6tflow.provenance import assess, file_paths, keep_code_sources, manifest_of, output_folder
from d6tflow.sharing import tasks_of
from d6tflow.status import Status
from d6tflow.stores import store_for
from d6tflow.utils import confirm_prompt


def accept(tasks: Any, confirm: bool = True) -> list[Any]:
    """Record today's code as the code that made the current outputs of ``tasks`` and of every
    task upstream of them, without rerunning: for a refactor, a renamed variable, a changed
    comment the fingerprint still saw. Their records say they were accepted (``why``, ``history``).

    ``tasks``: a task, a list of tasks or flows. Tasks stale because their code changed are
    accepted; complete ones are left as they are; so are tasks stale only because an upstream
    task was (they are complete once it is accepted). If any of them is pending or stale for
    another reason, :class:`~d6tflow.errors.AcceptRefusedError` names it and nothing is written:
    run the flow for data changes. Lists the tasks and asks first (unless ``confirm=False``);
    returns the tasks accepted.

    >>> d6tflow.accept(TaskTrain())  # after a refactor of TaskTrain's helpers
    """
    graph = Graph(tasks_of(tasks, "accept"))
    plan = _plan(graph)
    if not plan:
        return []
    if confirm and not confirm_prompt("accepting today's code as what made the outputs", plan):
        print("Cancelled")
        return []
    for task, (record, deps) in plan.items():
        _accept(task, record, deps)
    return list(plan)


def _plan(graph: Graph) -> dict[Any, tuple[dict, list[tuple[Any, Status]]]]:
    """The tasks whose records to rewrite, with their record and their dependencies' verdicts
    once accepted; raises AcceptRefusedError if any task is not complete but for code."""
    statuses = graph.states()
    verdicts: dict[Any, Status] = {}
    plan = {}
    for task in graph.order:  # dependencies first: an accepted upstream task counts as complete
        status = statuses[task]
        if status.complete:
            verdicts[task] = status
            continue
        deps = [(dep, verdicts[dep]) for dep in graph.deps[task]]
        if not file_paths(task):  # saves nothing (an aggregator): judged as the state check does
            verdict = task._assess(deps) if judged_by_engine(task) else status
            if not verdict.complete:
                raise AcceptRefusedError(_refusal(task, verdict.reasons))
            verdicts[task] = verdict
            continue
        if manifest_of(task) is None:
            raise AcceptRefusedError(_refusal(task, status.reasons))
        verdict = assess(task, deps, code=False)
        if not verdict.complete:
            raise AcceptRefusedError(_refusal(task, verdict.reasons))
        verdicts[task] = verdict
        record = manifest_of(task)  # after the check, which may have recorded new file times
        if settings.track_code and record.get("code") != code_digest_of(type(task)):
            plan[task] = (record, deps)
    return plan


def _refusal(task: Any, reasons: tuple[str, ...]) -> str:
    return (
        f"Cannot accept {task!r}: {'; '.join(reasons)}. accept records today's code as what made "
        "the current outputs, and only a change of code can be accepted: run the flow "
        "(d6tflow.run) to bring its data up to date. Nothing was accepted."
    )


def _accept(task: Any, record: dict, deps: list[tuple[Any, Status]]) -> None:
    """Rewrite the task's record with today's code, under its lock (no run commits meanwhile)."""
    folder = output_folder(task)
    where = store_for(folder)
    log = where.records(folder)
    with where.task_lock(folder, task.task_id):
        begin_check()
        if log.get(task.task_id, fresh=True) != record or not assess(task, deps, False).complete:
            raise AcceptRefusedError(
                f"{task!r} was run or changed while accept was working; tasks listed before it "
                "were accepted. Call d6tflow.accept again."
            )
        code = (code_digest_of(type(task)), code_of(type(task)))
        keep_code_sources(task, where, log, code)
        accepted = {
            **record,
            # Copies: a remote store's commit writes the outputs' stamps into them.
            "outputs": {key: dict(entry) for key, entry in record["outputs"].items()},
            "code": code[0],
            "accepted": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        where.commit(log, accepted, code[1], [], settings.durable)

"""The rebuild oracle's world: a generated d6tflow project on disk and, beside it, a pure-Python
model of what a correct engine reruns and what every output holds.

``FlowSpec`` describes a DAG of tasks (parameters, several outputs, helpers, module constants,
input files); ``World`` writes it as real source files (``flow.py``, ``helpers.py``, ``config.py``,
``inputs/``), applies edits to them, and ``World.expect()`` says, for the next run, which task
instances must run and what each output must hold. ``RUNNER`` is the script that runs the flow in
a fresh process and reports what d6tflow saw. Used by tests/test_rebuild_oracle.py.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Parameters a task may declare: name -> (declaration, default).
PARAMS = {
    "p0": ("d6tflow.IntParameter(default=0)", 0),
    "p1": ('d6tflow.Parameter(default="x")', "x"),
}
PARAM_VALUES = {"p0": (0, 1, 2), "p1": ("x", "y", "z")}
FLAVOURS = {"pickle": "TaskPickle", "json": "TaskJson", "csv": "TaskCSVPandas"}
EDIT_KINDS = (
    "nothing",
    "input_changed",
    "input_touched",
    "helper_changed",
    "helper_reformatted",
    "task_changed",
    "task_reformatted",
    "constant_changed",
    "param_changed",
    "output_deleted",
    "data_copied",
)
EXECUTORS = ("inline", "workers", "dask")


@dataclass(frozen=True)
class HelperSpec:
    """``h<i>(x)`` in helpers.py: ``x * k`` plus the constants it reads, plus an earlier
    helper's result. ``consts``: (constant index, "attr" for ``config.C0`` or "from" for
    ``from config import C0``)."""

    consts: tuple[tuple[int, str], ...] = ()
    calls: int | None = None


@dataclass(frozen=True)
class TaskSpec:
    """Task ``T<i>``. ``deps`` are earlier tasks; ``style``: "explicit" writes ``requires()``,
    "decorator" uses ``@d6tflow.requires({...})`` (parameters inherited)."""

    deps: tuple[int, ...] = ()
    flavour: str = "pickle"
    multi: bool = False  # persist = ["a", "b"]
    own_params: tuple[str, ...] = ()
    style: str = "explicit"
    helpers: tuple[int, ...] = ()
    consts: tuple[tuple[int, str], ...] = ()
    inputs: tuple[int, ...] = ()
    modulus: int = 3  # small: a rerun often gives the same value, and downstream must not rerun
    holds_object: bool = False  # a class attribute whose repr carries a memory address


@dataclass(frozen=True)
class FlowSpec:
    tasks: tuple[TaskSpec, ...]
    helpers: tuple[HelperSpec, ...] = ()
    n_consts: int = 0
    n_inputs: int = 0

    def params_of(self, i: int) -> tuple[str, ...]:
        """All parameters of T<i>: its own and those of everything upstream (inherited)."""
        found = set(self.tasks[i].own_params)
        for d in self.tasks[i].deps:
            found |= set(self.params_of(d))
        return tuple(sorted(found))

    def helpers_reached(self, i: int) -> list[int]:
        found: list[int] = []
        stack = list(self.tasks[i].helpers)
        while stack:
            h = stack.pop()
            if h not in found:
                found.append(h)
                if self.helpers[h].calls is not None:
                    stack.append(self.helpers[h].calls)
        return sorted(found)

    def consts_reached(self, i: int) -> list[int]:
        found = {c for c, _ in self.tasks[i].consts}
        for h in self.helpers_reached(i):
            found |= {c for c, _ in self.helpers[h].consts}
        return sorted(found)

    def sinks(self) -> list[int]:
        used = {d for t in self.tasks for d in t.deps}
        return [i for i in range(len(self.tasks)) if i not in used]

    def describe(self) -> str:
        lines = []
        for i, t in enumerate(self.tasks):
            bits = [FLAVOURS[t.flavour], "persist a,b" if t.multi else "one output"]
            if t.deps:
                how = "@d6tflow.requires" if t.style == "decorator" else "requires()"
                bits.append(f"needs {','.join(f'T{d}' for d in t.deps)} via {how}")
            params = self.params_of(i)
            if params:
                bits.append(f"params {','.join(params)} (own: {','.join(t.own_params) or '-'})")
            if t.helpers:
                bits.append(f"calls {','.join(f'helpers.h{h}' for h in t.helpers)}")
            if t.consts:
                bits.append("reads " + ",".join(_const_words(c, how) for c, how in t.consts))
            if t.inputs:
                bits.append(f"input_files {','.join(f'in{f}.txt' for f in t.inputs)}")
            if t.holds_object:
                bits.append("class attribute = helpers.Rounding()")
            bits.append(f"value mod {t.modulus}")
            lines.append(f"  T{i}: " + "; ".join(bits))
        for h, spec in enumerate(self.helpers):
            bits = [_const_words(c, how) for c, how in spec.consts]
            if spec.calls is not None:
                bits.append(f"h{spec.calls}()")
            lines.append(f"  helpers.h{h}: x * k" + "".join(f" + {b}" for b in bits))
        lines.append(f"  {self.n_consts} constant(s) in config.py, {self.n_inputs} input file(s)")
        return "\n".join(lines)


def _const_words(c: int, how: str) -> str:
    return f"config.C{c}" if how == "attr" else f"C{c} (from config import)"


@dataclass(frozen=True)
class Edit:
    """One change before a run, and the executor of that run. ``target``: the index of the task,
    helper, constant, input file or parameter changed; ``value``: a delta, or which value the
    parameter takes; ``key``: which output of a two-output task output_deleted removes."""

    kind: str
    executor: str = "inline"
    target: int = 0
    value: int = 1
    key: int = 0

    def describe(self, spec: FlowSpec) -> str:
        k, t = self.kind, self.target
        words = {
            "nothing": lambda: "no change",
            "input_changed": lambda: f"inputs/in{t}.txt gets new content",
            "input_touched": lambda: f"inputs/in{t}.txt rewritten, same content (new mtime)",
            "helper_changed": lambda: f"helpers.h{t}: k += {self.value}",
            "helper_reformatted": lambda: f"helpers.h{t}: comments/docstring/parentheses only",
            "task_changed": lambda: f"T{t}.run: version += {self.value}",
            "task_reformatted": lambda: f"T{t}: comments/docstring only",
            "constant_changed": lambda: f"config.C{t} += {self.value}",
            "param_changed": lambda: f"run with {_param_name(t)}={_param_value(t, self.value)!r}",
            "output_deleted": lambda: f"output {_out_key(spec, t, self.key)!r} of T{t} deleted",
            "data_copied": lambda: "data folder copied (new mtimes), next runs use the copy",
        }[k]()
        return f"{words}  [run: {self.executor}]"


def _param_name(t: int) -> str:
    return sorted(PARAMS)[t % len(PARAMS)]


def _param_value(t: int, value: int) -> Any:
    choices = PARAM_VALUES[_param_name(t)]
    return choices[value % len(choices)]


def _out_key(spec: FlowSpec, i: int, key: int) -> str:
    return ("a", "b")[key % 2] if spec.tasks[i].multi else "data"


@dataclass
class Record:
    """What the output of a task instance in the data folder was made from, per the model."""

    own: dict
    upstream: dict
    value: Any


@dataclass
class Expected:
    task: int
    params: dict
    value: Any  # the object, or {"a": .., "b": ..}
    must_run: bool
    why: str


@dataclass
class World:
    """The project folder and the model's view of it."""

    spec: FlowSpec
    root: Path
    versions: list[int] = field(default_factory=list)
    task_style: list[int] = field(default_factory=list)
    helper_k: list[int] = field(default_factory=list)
    helper_style: list[int] = field(default_factory=list)
    consts: list[int] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    input_edits: int = 0
    params: dict[str, Any] = field(default_factory=lambda: {n: d for n, (_, d) in PARAMS.items()})
    stored: dict[str, Record] = field(default_factory=dict)
    data_dir: Path | None = None
    copies: int = 0
    paths: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.spec.tasks)
        self.versions = [1] * n
        self.task_style = [0] * n
        self.helper_k = [3 + 2 * h for h in range(len(self.spec.helpers))]
        self.helper_style = [0] * len(self.spec.helpers)
        self.consts = [10 + c for c in range(self.spec.n_consts)]
        self.inputs = [f"input {f}, first version\n" for f in range(self.spec.n_inputs)]
        self.data_dir = self.root / "data"
        (self.root / "inputs").mkdir(parents=True, exist_ok=True)
        for f in range(self.spec.n_inputs):
            (self.root / "inputs" / f"in{f}.txt").write_text(self.inputs[f])
        (self.root / "run_flow.py").write_text(RUNNER)
        self.write_code()

    @property
    def run_log(self) -> Path:
        return self.root / "runs.log"

    # -- the source files ------------------------------------------------------------------------

    def write_code(self) -> None:
        for name, text in self.sources().items():
            (self.root / name).write_text(text)
        # Edits keep a file's size and land within a second: a cached .pyc could pass for fresh.
        shutil.rmtree(self.root / "__pycache__", ignore_errors=True)

    def sources(self) -> dict[str, str]:
        return {
            "config.py": self.config_source(),
            "helpers.py": self.helpers_source(),
            "flow.py": self.flow_source(),
        }

    def config_source(self) -> str:
        lines = ['"""Constants of the generated flow: tasks and helpers read them."""', ""]
        lines += [f"C{c} = {v}" for c, v in enumerate(self.consts)]
        return "\n".join(lines) + "\n"

    def helpers_source(self) -> str:
        spec = self.spec
        imported = sorted({c for h in spec.helpers for c, how in h.consts if how == "from"})
        out = ['"""Helpers of the generated flow."""', "", "import config"]
        if imported:
            out.append(f"from config import {', '.join(f'C{c}' for c in imported)}")
        out += [
            "",
            "",
            "class Rounding:",
            '    """A plain object: its repr holds its memory address, new in every process."""',
            "",
            "    def __init__(self):",
            "        self.digits = 2",
        ]
        for h, hs in enumerate(spec.helpers):
            terms = [f"config.C{c}" if how == "attr" else f"C{c}" for c, how in hs.consts]
            if hs.calls is not None:
                terms.append(f"h{hs.calls}(x)")
            style = self.helper_style[h]
            product = "(x * k)" if style else "x * k"
            out += ["", "", f"def h{h}(x):"]
            if style:
                out += [
                    f'    """Variant {style}: reformatted, same code."""',
                    f"    # note {style}",
                ]
            out.append(f"    k = {self.helper_k[h]}")
            if style:
                out.append("")
            out.append("    return " + " + ".join([product, *terms]))
        return "\n".join(out) + "\n"

    def flow_source(self) -> str:
        spec = self.spec
        from_imports = sorted({c for t in spec.tasks for c, how in t.consts if how == "from"})
        out = [
            '"""The generated flow of the rebuild oracle."""',
            "",
            "import json",
            "import os",
            "import zlib",
            "",
            "import d6tflow",
            "",
            "import config",
            "import helpers",
        ]
        if from_imports:
            out.append(f"from config import {', '.join(f'C{c}' for c in from_imports)}")
        out += ["", f"RUN_LOG = {str(self.run_log)!r}", "", FLOW_FUNCTIONS]
        for i in range(len(spec.tasks)):
            out += self._task_source(i)
        return "\n".join(out).rstrip() + "\n"

    def _task_source(self, i: int) -> list[str]:
        t = self.spec.tasks[i]
        name = f"T{i}"
        out = ["", ""]
        if t.deps and t.style == "decorator":
            deps = ", ".join(f'"T{d}": T{d}' for d in t.deps)
            out.append(f"@d6tflow.requires({{{deps}}})")
        out.append(f"class {name}(d6tflow.tasks.{FLAVOURS[t.flavour]}):")
        style = self.task_style[i]
        if style:
            out.append(f'    """Variant {style}: reformatted, same code."""')
            out.append("")
        all_params = self.spec.params_of(i)
        declared = t.own_params if t.deps and t.style == "decorator" else all_params
        for p in sorted(declared):
            out.append(f"    {p} = {PARAMS[p][0]}")
        if t.multi:
            out.append('    persist = ["a", "b"]')
        if t.inputs:
            files = ", ".join(f'"inputs/in{f}.txt"' for f in t.inputs)
            out.append(f"    input_files = [{files}]")
        if t.holds_object:
            out.append("    rounding = helpers.Rounding()")
        if t.deps and t.style == "explicit":
            deps = []
            for d in t.deps:
                args = ", ".join(f"{p}=self.{p}" for p in self.spec.params_of(d))
                deps.append(f'"T{d}": T{d}({args})')
            out += ["", "    def requires(self):", f"        return {{{', '.join(deps)}}}"]
        logged = ", ".join(f'"{p}": self.{p}' for p in all_params)
        own = ", ".join(f'"{p}": self.{p}' for p in sorted(t.own_params))
        x = i + 1
        consts = [f"config.C{c}" if how == "attr" else f"C{c}" for c, how in t.consts]
        out += [
            "",
            "    def run(self):",
            f"        version = {self.versions[i]}",
        ]
        if style:
            out += [f"        # note {style}: nothing to see", ""]
        out += [
            f'        _ran("{name}", {{{logged}}})',
            f'        parts = ["{name}", version, {{{own}}}]',
            f"        parts.append([{', '.join(f'helpers.h{h}({x})' for h in t.helpers)}])",
            f"        parts.append([{', '.join(consts)}])",
            f"        parts.append([{', '.join(f'_read({_input(f)!r})' for f in t.inputs)}])",
            f"        parts.append({'self.rounding.digits' if t.holds_object else 'None'})",
            "        parts.append("
            + ("_plain(self.inputLoad(as_dict=True))" if t.deps else "{}")
            + ")",
            "        value = _mix(parts)",
        ]
        m = t.modulus
        if t.multi:
            out.append(f'        self.save({{"a": value % {m}, "b": value // 7 % {m}}})')
        elif t.flavour == "csv":
            out.append(f"        self.save(_frame(value % {m}))")
        else:
            out.append(f"        self.save(value % {m})")
        return out

    # -- edits -----------------------------------------------------------------------------------

    def apply(self, edit: Edit) -> None:
        """Make the edit on disk and in the model (the model's records change only for edits that
        remove or move outputs; everything else shows up in ``expect``)."""
        k, t = edit.kind, edit.target
        if k == "input_changed":
            self.input_edits += 1
            self.inputs[t] = f"input {t}, edit {self.input_edits}\n"
            (self.root / "inputs" / f"in{t}.txt").write_text(self.inputs[t])
        elif k == "input_touched":
            path = self.root / "inputs" / f"in{t}.txt"
            before = path.stat().st_mtime_ns
            path.write_text(self.inputs[t])
            later = max(time.time_ns(), before + 1_000_000_000)
            os.utime(path, ns=(later, later))
        elif k == "helper_changed":
            self.helper_k[t] += edit.value
        elif k == "helper_reformatted":
            self.helper_style[t] += 1
        elif k == "task_changed":
            self.versions[t] += edit.value
        elif k == "task_reformatted":
            self.task_style[t] += 1
        elif k == "constant_changed":
            self.consts[t] += edit.value
        elif k == "param_changed":
            self.params[_param_name(t)] = _param_value(t, edit.value)
        elif k == "output_deleted":
            key = self.instance_key(t)
            out = _out_key(self.spec, t, edit.key)
            os.remove(self.paths[key][out])
            self.stored.pop(key, None)
        elif k == "data_copied":
            self.copies += 1
            target = self.root / f"data-copy{self.copies}"
            # Like a download or a tar round trip: same bytes, every file with a new mtime.
            shutil.copytree(self.data_dir, target, copy_function=shutil.copyfile)
            now = time.time_ns()
            for folder, _, files in os.walk(target):
                for f in files:
                    os.utime(os.path.join(folder, f), ns=(now, now))
            self.data_dir = target
        elif k != "nothing":
            raise ValueError(f"unknown edit {k!r}")
        self.write_code()

    # -- the oracle ------------------------------------------------------------------------------

    def instance_params(self, i: int) -> dict[str, Any]:
        return {p: self.params[p] for p in self.spec.params_of(i)}

    def instance_key(self, i: int) -> str:
        return f"T{i} {json.dumps(self.instance_params(i), sort_keys=True)}"

    def roots(self) -> list[tuple[str, dict]]:
        return [(f"T{i}", self.instance_params(i)) for i in self.spec.sinks()]

    def _own(self, i: int) -> dict[str, Any]:
        """Everything of T<i>'s own that its output is made from (parameters are in its key),
        by the name a reason would give."""
        spec = self.spec
        own: dict[str, Any] = {f"T{i}.run (version)": self.versions[i]}
        own.update({f"helpers.h{h}": self.helper_k[h] for h in spec.helpers_reached(i)})
        own.update({f"config.C{c}": self.consts[c] for c in spec.consts_reached(i)})
        own.update({_input(f): self.inputs[f] for f in spec.tasks[i].inputs})
        return own

    def _helper_value(self, h: int, x: int) -> int:
        hs = self.spec.helpers[h]
        value = x * self.helper_k[h] + sum(self.consts[c] for c, _ in hs.consts)
        if hs.calls is not None:
            value += self._helper_value(hs.calls, x)
        return value

    def _value(self, i: int, upstream: dict) -> Any:
        t = self.spec.tasks[i]
        parts = [
            f"T{i}",
            self.versions[i],
            {p: self.params[p] for p in sorted(t.own_params)},
            [self._helper_value(h, i + 1) for h in t.helpers],
            [self.consts[c] for c, _ in t.consts],
            [self.inputs[f] for f in t.inputs],
            2 if t.holds_object else None,
            upstream,
        ]
        value = zlib.crc32(json.dumps(parts, sort_keys=True).encode())
        m = t.modulus
        return {"a": value % m, "b": value // 7 % m} if t.multi else value % m

    def expect(self) -> dict[str, Expected]:
        """What the next run must do, and the model's records updated as if it did."""
        expected: dict[str, Expected] = {}
        values: dict[int, Any] = {}
        for i, t in enumerate(
            self.spec.tasks
        ):  # deps are earlier tasks: index order is topological
            key = self.instance_key(i)
            own = self._own(i)
            upstream = {f"T{d}": values[d] for d in t.deps}
            record = self.stored.get(key)
            if record is None:
                why = "no output (new parameters, never run, or deleted)"
            elif record.own != own:
                why = "changed: " + ", ".join(k for k in own if own[k] != record.own.get(k))
            elif record.upstream != upstream:
                changed = [d for d in upstream if upstream[d] != record.upstream.get(d)]
                why = f"upstream value changed: {', '.join(changed)}"
            else:
                why = ""
            values[i] = self._value(i, upstream)
            if record is not None and not why:
                assert record.value == values[i], "the model is not deterministic"
            self.stored[key] = Record(own, upstream, values[i])
            expected[key] = Expected(i, self.instance_params(i), values[i], bool(why), why)
        return expected

    def read_output(self, i: int, path: str) -> Any:
        flavour = self.spec.tasks[i].flavour
        if flavour == "pickle":
            with open(path, "rb") as f:
                return pickle.load(f)
        if flavour == "json":
            with open(path) as f:
                return json.load(f)["data"]  # d6tflow's layout, as the original's
        lines = Path(path).read_text().split()  # a one-column CSV: "v", then the value
        return int(lines[1]) if lines[:1] == ["v"] and len(lines) == 2 else lines


def _input(f: int) -> str:
    return f"inputs/in{f}.txt"


FLOW_FUNCTIONS = '''
def _ran(name, params):
    """One line per run() to the run log; one write, so parallel workers never interleave."""
    line = name + " " + json.dumps(params, sort_keys=True) + "\\n"
    fd = os.open(RUN_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _read(path):
    with open(path) as f:
        return f.read()


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "iloc"):  # a DataFrame from a TaskCSVPandas upstream
        return int(value["v"].iloc[0])
    return value


def _mix(parts):
    return zlib.crc32(json.dumps(parts, sort_keys=True).encode())


def _frame(value):
    import pandas as pd

    return pd.DataFrame({"v": [value]})
'''


RUNNER = '''"""Run the generated flow once, in this fresh process, and report what d6tflow saw."""

import json
import sys
import traceback

import d6tflow

import flow


def key(task):
    """The task as the run log names it."""
    return task.task_family + " " + json.dumps(task.param_kwargs, sort_keys=True)


def walk(roots):
    found, stack = {}, list(roots)
    while stack:
        task = stack.pop()
        if task.task_id not in found:
            found[task.task_id] = task
            deps = task.requires()
            stack.extend(deps.values() if isinstance(deps, dict) else deps or [])
    return list(found.values())


def main():
    args = json.loads(sys.argv[1])
    report = {"ok": False, "error": None, "status": {}, "reasons": {}, "failures": [], "tasks": {}}
    try:
        d6tflow.set_dir(args["data"])
        roots = [getattr(flow, name)(**params) for name, params in args["roots"]]
        options = {}
        if args["executor"] == "workers":
            options["workers"] = 2
        elif args["executor"] == "dask":
            options.update(executor="dask", address=args["address"])
        result = d6tflow.run(roots, execution_summary=False, abort=False, **options)
        report["ok"] = bool(result)
        report["status"] = {key(t): s.value for t, s in result.status.items()}
        report["reasons"] = {key(t): list(r) for t, r in result.reasons.items()}
        report["failures"] = [f"{f}\\n{f.traceback}" for f in result.failures]
        for task in walk(roots):
            output = task.output()
            targets = output if isinstance(output, dict) else {"data": output}
            report["tasks"][key(task)] = {
                "paths": {k: str(t.path) for k, t in targets.items()},
                "complete": task.complete(),
            }
    except BaseException:
        report["error"] = traceback.format_exc()
    with open(args["report"], "w") as f:
        json.dump(report, f)


main()
'''

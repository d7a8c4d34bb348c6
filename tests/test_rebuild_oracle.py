"""The rebuild oracle: d6tflow's rerun decisions checked against a model, on random flows.

Hypothesis draws a flow (a DAG with fan-in and fan-out, tasks with several outputs, parameters,
helper functions, module constants, input files), writes it as a real project (flow.py,
helpers.py, config.py, inputs/) and runs it; then a random sequence of edits (an input changed or
only touched, helper or task code changed or only reformatted, a constant changed, new parameter
values, an output deleted, the data folder copied with new mtimes), each followed by a run in a
fresh process: inline, with ``workers=2`` or on a real Dask cluster.

The model (tests/oracle_flow.py) records, for every task instance, what its output was made from.
A task must run exactly when its output is missing or something it is made from changed: its own
code, the helpers and constants it reaches, its input files' contents, or the *value* of an
upstream output (an upstream that reran and gave the same value does not count). After every
run: the tasks whose run() executed (from a run log) are exactly the model's, both ways; every
output file holds what a from-scratch computation gives; d6tflow calls every task complete.

Beside the property, ``KNOWN_CASES`` pins one small scenario per rerun decision known to have gone
wrong (and one making every kind of edit in turn), so each is checked on every run under a name
that says which.

Environment: ``D6TFLOW_ORACLE_EXAMPLES`` (default 20) examples of at most
``D6TFLOW_ORACLE_STEPS`` (default 5) edits; ``D6TFLOW_ORACLE_SKIP``, a comma list of parts to
leave out (edit kinds such as ``constant_changed`` or ``data_copied``, the executors ``workers``
and ``dask``, ``csv``, ``object_attribute``) to see failures hidden behind the first one;
``D6TFLOW_ORACLE_SHRINK=0`` reports the first failing example as found (shrinking takes minutes);
``D6TFLOW_ORACLE_KEEP_WORKER_MODULES=1`` leaves the Dask workers' imported modules alone between
runs (see ``Cluster.forget_flow_modules``). The long profile: ``python benchmarks/run.py oracle``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from oracle_flow import EDIT_KINDS, EXECUTORS, PARAMS, Edit, FlowSpec, HelperSpec, TaskSpec, World

EXAMPLES = int(os.environ.get("D6TFLOW_ORACLE_EXAMPLES", "20"))
MAX_STEPS = int(os.environ.get("D6TFLOW_ORACLE_STEPS", "5"))
SHRINK = os.environ.get("D6TFLOW_ORACLE_SHRINK", "1") != "0"
SKIP = {s.strip() for s in os.environ.get("D6TFLOW_ORACLE_SKIP", "").split(",") if s.strip()}
KEEP_WORKER_MODULES = os.environ.get("D6TFLOW_ORACLE_KEEP_WORKER_MODULES") == "1"
RUN_TIMEOUT_S = 180

# An example takes a few seconds; a failure adds Hypothesis's shrinking, which it caps at 5 min.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600 + 20 * EXAMPLES)]

# The real cluster of tests/integration (a scheduler and two workers on 127.0.0.1), one per
# session; that folder is not a package, so its conftest is loaded by path.
_spec = importlib.util.spec_from_file_location(
    "_integration_conftest", Path(__file__).parent / "integration" / "conftest.py"
)
_integration = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)
dask_cluster = _integration.dask_cluster


# -- strategies ------------------------------------------------------------------------------------


# Indices (of upstream tasks, helpers, constants, input files, edit targets) are drawn as small
# numbers and resolved against the flow afterwards (modulo the count), so that Hypothesis can
# delete a task or an edit while shrinking without the rest of the example becoming invalid.


def _indices() -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, 4), max_size=3)


def _pick(raw: list[int], n: int) -> tuple[int, ...]:
    return tuple(sorted({i % n for i in raw})) if n else ()


_const_reads = st.lists(st.tuples(st.integers(0, 1), st.sampled_from(["attr", "from"])), max_size=2)


def _pick_reads(raw: list[tuple[int, str]], n: int) -> tuple[tuple[int, str], ...]:
    found: dict[int, str] = {}
    for c, how in raw if n else ():
        found.setdefault(c % n, how)
    return tuple(sorted(found.items()))


_task_blocks = st.fixed_dictionaries(
    {
        "deps": _indices(),
        # A task with no upstream drawn needs the one before it, but one in four stands alone:
        # a value change must mostly have somewhere to go.
        "alone": st.integers(0, 3).map(lambda n: n == 3),
        "flavour": st.sampled_from([f for f in ("pickle", "json", "csv") if f not in SKIP]),
        "multi": st.booleans(),
        "own_params": st.lists(st.sampled_from(sorted(PARAMS)), unique=True),
        "style": st.sampled_from(["explicit", "decorator"]),
        "helpers": _indices(),
        "consts": _const_reads,
        "inputs": _indices(),
        # Small: a rerun often gives the same value (downstream must then not rerun); large:
        # the value changes (downstream must rerun).
        "modulus": st.sampled_from([3, 1_000_003]),
        "holds_object": st.just(False) if "object_attribute" in SKIP else st.booleans(),
    }
)
_helper_blocks = st.tuples(_const_reads, st.none() | st.integers(0, 1))


@st.composite
def flows(draw) -> FlowSpec:
    n_consts = draw(st.integers(0, 2))
    n_inputs = draw(st.integers(0, 2))
    helpers = tuple(
        HelperSpec(_pick_reads(reads, n_consts), calls % h if h and calls is not None else None)
        for h, (reads, calls) in enumerate(draw(st.lists(_helper_blocks, max_size=2)))
    )
    tasks: list[TaskSpec] = []
    for i, block in enumerate(draw(st.lists(_task_blocks, min_size=1, max_size=5))):
        flavour = block["flavour"]
        if flavour == "csv" and any(t.flavour == "csv" for t in tasks):
            flavour = "pickle"  # one pandas task at most: importing pandas costs 0.7 s a process
        deps = _pick(block["deps"], i)
        if i and not deps and not block["alone"]:
            deps = (i - 1,)
        tasks.append(
            TaskSpec(
                deps=deps,
                flavour=flavour,
                multi=block["multi"] and flavour != "csv",
                own_params=tuple(sorted(block["own_params"])),
                style=block["style"],
                helpers=_pick(block["helpers"], len(helpers)),
                consts=_pick_reads(block["consts"], n_consts),
                inputs=_pick(block["inputs"], n_inputs),
                modulus=block["modulus"],
                holds_object=block["holds_object"],
            )
        )
    return FlowSpec(tuple(tasks), helpers, n_consts, n_inputs)


_executors = st.sampled_from([e for e in EXECUTORS if e not in SKIP])
# Edits that change what outputs are made from come up more often than the others.
_WEIGHTS = {"task_changed": 3, "input_changed": 2, "helper_changed": 2, "constant_changed": 2}
_edit_blocks = st.tuples(
    st.sampled_from([k for k in EDIT_KINDS if k not in SKIP for _ in range(_WEIGHTS.get(k, 1))]),
    _executors,
    st.integers(0, 4),  # the target, resolved against the flow
    st.integers(1, 2),  # a delta, or which value of a parameter
    st.integers(0, 1),  # which output of a task with two
)


def _resolve(spec: FlowSpec, kind: str, executor: str, raw: int, value: int, key: int) -> Edit:
    """The edit, made valid for this flow: an edit of something the flow lacks changes a
    task's code instead."""
    used_params = sorted({p for i in range(len(spec.tasks)) for p in spec.params_of(i)})
    count = {
        "input_changed": spec.n_inputs,
        "input_touched": spec.n_inputs,
        "helper_changed": len(spec.helpers),
        "helper_reformatted": len(spec.helpers),
        "task_changed": len(spec.tasks),
        "task_reformatted": len(spec.tasks),
        "constant_changed": spec.n_consts,
        "param_changed": len(used_params),
        "output_deleted": len(spec.tasks),
    }.get(kind, 1)
    if not count:
        kind, count = "task_changed", len(spec.tasks)
    target = raw % count
    if kind == "param_changed":
        target = sorted(PARAMS).index(used_params[target])
    return Edit(kind, executor=executor, target=target, value=value, key=key)


@st.composite
def scenarios(draw) -> tuple[FlowSpec, str, list[Edit]]:
    spec = draw(flows())
    first_executor = draw(_executors)
    blocks = draw(st.lists(_edit_blocks, min_size=1, max_size=MAX_STEPS))
    return spec, first_executor, [_resolve(spec, *block) for block in blocks]


# -- running the flow ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def projects() -> Iterator[Path]:
    """Every example's project folder lives under this one (Dask workers forget them by it)."""
    with tempfile.TemporaryDirectory(prefix="d6tflow-oracle-") as folder:
        yield Path(folder)


@dataclass
class Cluster:
    """The Dask cluster the runs with ``executor="dask"`` go to."""

    client: Any
    projects: str

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    def forget_flow_modules(self) -> None:
        """Dask workers outlive a run and keep the modules they imported: after an edit a
        worker would run the old flow.py while recording the new code's fingerprint (the
        parent's). A user restarts the workers after editing code (``client.restart()``);
        dropping the generated modules and project folders from the workers does the same for
        them, at a fraction of the cost."""
        if KEEP_WORKER_MODULES:
            return

        def forget(prefix: str = self.projects) -> None:
            import importlib
            import sys

            sys.dont_write_bytecode = True  # an edit in the same second must not hit a stale .pyc
            for name in ("flow", "helpers", "config"):
                sys.modules.pop(name, None)
            sys.path[:] = [p for p in sys.path if not p.startswith(prefix)]
            importlib.invalidate_caches()

        self.client.run(forget)


@pytest.fixture(scope="module")
def cluster(request, projects) -> Iterator[Cluster | None]:
    if "dask" in SKIP:
        yield None
        return
    from distributed import Client

    address = request.getfixturevalue("dask_cluster").address
    client = Client(address, timeout=60, set_as_default=False)
    try:
        yield Cluster(client, str(projects))
    finally:
        client.close()


def _run(world: World, executor: str, cluster: Cluster | None) -> tuple[dict, list[str]]:
    """One run in a fresh process: (the runner's report, the run-log lines it added)."""
    report_path = world.root / "report.json"
    report_path.unlink(missing_ok=True)
    logged_before = world.run_log.read_text() if world.run_log.exists() else ""
    args = {
        "data": str(world.data_dir),
        "roots": world.roots(),
        "executor": executor,
        "address": None,
        "report": str(report_path),
    }
    if executor == "dask":
        cluster.forget_flow_modules()
        args["address"] = cluster.address
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "run_flow.py", json.dumps(args)],
        cwd=world.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    if not report_path.exists():
        raise AssertionError(
            f"the runner wrote no report (exit code {done.returncode}):\n{done.stderr[-3000:]}"
        )
    report = json.loads(report_path.read_text())
    logged = world.run_log.read_text() if world.run_log.exists() else ""
    return report, logged[len(logged_before) :].splitlines()


# -- the check -------------------------------------------------------------------------------------


def _problems(world: World, expected: dict, report: dict, ran_lines: list[str]) -> list[str]:
    problems = []
    if report["error"]:
        problems.append(f"the run raised:\n{report['error']}")
    if report["failures"]:
        problems.append("tasks failed:\n" + "\n".join(report["failures"]))
    if not report["ok"] and not report["error"]:
        problems.append("d6tflow.run returned a falsy result")
    counts = Counter(ran_lines)
    twice = sorted(k for k, n in counts.items() if n > 1)
    if twice:
        problems.append(f"ran more than once in one run: {twice}")
    ran = set(counts)
    must = {k for k, e in expected.items() if e.must_run}
    if ran - must:
        problems.append(
            "ran but nothing they depend on changed:\n"
            + "\n".join(f"  {k}  (d6tflow said: {_said(report, k)})" for k in sorted(ran - must))
        )
    if must - ran:
        problems.append(
            "did not run but should have:\n"
            + "\n".join(
                f"  {k}  (because: {expected[k].why}; d6tflow said: {_said(report, k)})"
                for k in sorted(must - ran)
            )
        )
    for key, e in expected.items():
        seen = report["tasks"].get(key)
        if seen is None:
            if not report["error"]:
                problems.append(f"{key}: not in the runner's graph")
            continue
        world.paths[key] = seen["paths"]
        if not seen["complete"]:
            problems.append(f"{key}: d6tflow says not complete after the run")
        wanted = e.value if isinstance(e.value, dict) else {"data": e.value}
        for out, value in wanted.items():
            try:
                got = world.read_output(e.task, seen["paths"][out])
            except (OSError, ValueError, EOFError) as err:
                got = f"<unreadable: {err!r}>"
            if got != value:
                problems.append(
                    f"{key} output {out!r} holds {got!r}, a from-scratch run gives {value!r}"
                )
    return problems


def _said(report: dict, key: str) -> str:
    """d6tflow's verdict on the task in this run, and its reasons."""
    state = report["status"].get(key)
    if state is None:  # the run's status leaves out tasks it did not have to look at
        seen = report["tasks"].get(key)
        state = "complete" if seen and seen["complete"] else "not in the run's status"
    reasons = report["reasons"].get(key)
    return state + (f" [{'; '.join(reasons)}]" if reasons else "")


def _failure_message(world: World, history: list[str], problems: list[str]) -> str:
    sources = "\n".join(f"----- {name} -----\n{text}" for name, text in world.sources().items())
    return (
        "d6tflow's rerun decisions differ from the oracle's.\n\n"
        f"The flow:\n{world.spec.describe()}\n\nRuns, each in a fresh process:\n"
        + "\n".join(history)
        + "\n\nAfter the last one:\n- "
        + "\n- ".join(problems)
        + f"\n\nThe project as it was at that run:\n{sources}"
    )


def _check_runs(
    world: World, first_executor: str, steps: list[Edit], cluster: Cluster | None
) -> None:
    history: list[str] = []
    for n, edit in enumerate([Edit("nothing", executor=first_executor), *steps]):
        world.apply(edit)
        expected = world.expect()
        what = f"first run  [run: {edit.executor}]" if n == 0 else edit.describe(world.spec)
        history.append(f"  {n}. {what}")
        report, ran = _run(world, edit.executor, cluster)
        history[-1] += "  ->  ran: " + (", ".join(sorted(ran)) or "nothing")
        problems = _problems(world, expected, report, ran)
        if problems:
            raise AssertionError(_failure_message(world, history, problems))


_CHAIN = (TaskSpec(modulus=1_000_003), TaskSpec(deps=(0,), modulus=1_000_003))
# One scenario per rerun decision known to have gone wrong, so each is checked on every run
# whatever Hypothesis draws, under a name that says which.
KNOWN_CASES = {
    "object_in_class_attribute_does_not_make_the_task_stale_in_a_new_process": (
        FlowSpec((TaskSpec(holds_object=True),)),
        "inline",
        [Edit("nothing")],
    ),
    "copied_data_folder_with_new_mtimes_is_complete": (
        FlowSpec(_CHAIN),
        "inline",
        [Edit("data_copied")],
    ),
    "changed_constant_reruns_tasks_reading_it_directly_by_import_or_via_a_helper": (
        FlowSpec(
            (
                TaskSpec(consts=((0, "attr"),)),
                TaskSpec(consts=((0, "from"),)),
                TaskSpec(helpers=(0,)),
            ),
            helpers=(HelperSpec(consts=((0, "attr"),)),),
            n_consts=1,
        ),
        "inline",
        [Edit("constant_changed")],
    ),
    "workers_rerun_the_downstream_of_an_upstream_whose_output_changed": (
        FlowSpec(_CHAIN),
        "inline",
        [Edit("task_changed", executor="workers")],
    ),
    "dask_reruns_the_downstream_of_an_upstream_whose_output_changed": (
        FlowSpec(_CHAIN),
        "inline",
        [Edit("task_changed", executor="dask")],
    ),
    # Whatever Hypothesis draws in a short profile, every kind of edit is made at least once.
    "every_kind_of_edit_in_turn_on_one_flow": (
        FlowSpec(
            (
                TaskSpec(
                    flavour="json",
                    multi=True,
                    own_params=("p0",),
                    helpers=(1,),
                    consts=((0, "attr"),),
                    inputs=(0,),
                ),
                TaskSpec(deps=(0,), own_params=("p1",), style="decorator", helpers=(0,)),
                TaskSpec(deps=(0, 1), consts=((1, "from"),), inputs=(1,)),
                TaskSpec(deps=(2,), flavour="json", multi=True, modulus=1_000_003),
            ),
            helpers=(HelperSpec(consts=((1, "attr"),)), HelperSpec(((0, "from"),), calls=0)),
            n_consts=2,
            n_inputs=2,
        ),
        "inline",
        [
            Edit("input_touched"),
            Edit("helper_reformatted", target=1),
            Edit("task_reformatted", target=2),
            Edit("input_changed", target=1),
            Edit("helper_changed", target=0),
            Edit("param_changed", target=0, value=1),
            Edit("output_deleted", target=0, key=1),
            Edit("param_changed", target=0, value=0),
            Edit("task_changed", target=2),
            Edit("constant_changed", target=1),
            Edit("data_copied"),
            Edit("task_changed", target=0, executor="workers"),
            Edit("input_changed", target=0, executor="dask"),
        ],
    ),
}


@pytest.mark.parametrize("case", list(KNOWN_CASES))
def test_known_case_reruns_exactly_what_changed(case, projects, cluster):
    spec, first_executor, steps = KNOWN_CASES[case]
    parts = {first_executor, *(e.executor for e in steps), *(e.kind for e in steps)}
    if any(t.holds_object for t in spec.tasks):
        parts.add("object_attribute")
    if parts & SKIP:
        pytest.skip(f"D6TFLOW_ORACLE_SKIP leaves out {sorted(parts & SKIP)}")
    _check_scenario(KNOWN_CASES[case], projects, cluster)


def _check_scenario(scenario: tuple, projects: Path, cluster: Cluster | None) -> None:
    spec, first_executor, steps = scenario
    # Project folders stay until the module ends: a Dask worker keeps the working directory of
    # the last task it ran (see the test of a deleted folder below).
    _check_runs(World(spec, Path(tempfile.mkdtemp(dir=projects))), first_executor, steps, cluster)


def test_dask_worker_runs_tasks_after_the_folder_of_an_earlier_flow_was_deleted(projects, cluster):
    """A Dask worker moves to the working directory of each task it runs and stays there. When
    that folder is gone (a finished project in a temporary folder), the next flow must still
    run on that worker."""
    if cluster is None:
        pytest.skip("D6TFLOW_ORACLE_SKIP leaves out dask")
    spec = FlowSpec((TaskSpec(), TaskSpec()))
    earlier = Path(tempfile.mkdtemp(dir=projects))
    _check_runs(World(spec, earlier), "dask", [], cluster)
    # Where a worker that ran one of those tasks is now; made sure of for both workers.
    cluster.client.run(os.chdir, str(earlier))
    shutil.rmtree(earlier)
    try:
        _check_runs(World(spec, Path(tempfile.mkdtemp(dir=projects))), "dask", [], cluster)
    finally:
        cluster.client.run(os.chdir, str(projects))  # the other tests' workers start sound


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    # No "explain" phase: it reruns variations of the minimal example, minutes of runs here.
    phases=[Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if SHRINK else []),
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(scenario=scenarios())
def test_reruns_exactly_what_changed_and_outputs_match_a_fresh_build(scenario, projects, cluster):
    _check_scenario(scenario, projects, cluster)

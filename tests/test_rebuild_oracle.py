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

Environment: ``D6TFLOW_ORACLE_EXAMPLES`` (default 20) examples of at most
``D6TFLOW_ORACLE_STEPS`` (default 5) edits; ``D6TFLOW_ORACLE_SKIP``, a comma list of parts to
leave out (edit kinds such as ``constant_changed`` or ``data_copied``, the executors ``workers``
and ``dask``, ``csv``, ``object_attribute``) to see failures hidden behind the first one;
``D6TFLOW_ORACLE_SHRINK=0`` reports the first failing example as found (shrinking takes minutes);
``D6TFLOW_ORACLE_KEEP_WORKER_MODULES=1`` leaves the Dask workers' imported modules alone between
runs (see ``_forget_flow_modules``).
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
from pathlib import Path

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


def _subset(n: int) -> st.SearchStrategy[tuple[int, ...]]:
    if n == 0:
        return st.just(())
    return st.lists(st.integers(0, n - 1), unique=True, max_size=n).map(lambda x: tuple(sorted(x)))


def _const_reads(n_consts: int) -> st.SearchStrategy[tuple[tuple[int, str], ...]]:
    return _subset(n_consts).flatmap(
        lambda cs: st.tuples(
            *[st.tuples(st.just(c), st.sampled_from(["attr", "from"])) for c in cs]
        )
    )


@st.composite
def flows(draw) -> FlowSpec:
    n_consts = draw(st.integers(0, 2))
    n_inputs = draw(st.integers(0, 2))
    helpers = []
    for h in range(draw(st.integers(0, 2))):
        calls = draw(st.none() | st.integers(0, h - 1)) if h else None
        helpers.append(HelperSpec(consts=draw(_const_reads(n_consts)), calls=calls))
    flavours = [f for f in ("pickle", "json", "csv") if f not in SKIP]
    tasks: list[TaskSpec] = []
    for i in range(draw(st.integers(1, 5))):
        flavour = draw(st.sampled_from(flavours))
        if flavour == "csv" and any(t.flavour == "csv" for t in tasks):
            flavour = "pickle"  # one pandas task at most: importing pandas costs 0.7 s a process
        multi = flavour != "csv" and draw(st.booleans())
        tasks.append(
            TaskSpec(
                deps=draw(_subset(i)),
                flavour=flavour,
                multi=multi,
                own_params=tuple(
                    p for p in draw(_subset(len(PARAMS))) for p in [sorted(PARAMS)[p]]
                ),
                style=draw(st.sampled_from(["explicit", "decorator"])),
                helpers=draw(_subset(len(helpers))),
                consts=draw(_const_reads(n_consts)),
                inputs=draw(_subset(n_inputs)),
                modulus=draw(st.sampled_from([3, 2, 1_000_003])),
                holds_object="object_attribute" not in SKIP and draw(st.booleans()),
            )
        )
    return FlowSpec(tuple(tasks), tuple(helpers), n_consts, n_inputs)


def _executors() -> st.SearchStrategy[str]:
    return st.sampled_from([e for e in EXECUTORS if e not in SKIP])


def edits(spec: FlowSpec) -> st.SearchStrategy[Edit]:
    n_tasks = len(spec.tasks)
    used_params = sorted({p for i in range(n_tasks) for p in spec.params_of(i)})
    targets = {
        "nothing": 1,
        "input_changed": spec.n_inputs,
        "input_touched": spec.n_inputs,
        "helper_changed": len(spec.helpers),
        "helper_reformatted": len(spec.helpers),
        "task_changed": n_tasks,
        "task_reformatted": n_tasks,
        "constant_changed": spec.n_consts,
        "param_changed": len(used_params),
        "output_deleted": n_tasks,
        "data_copied": 1,
    }
    kinds = [k for k in EDIT_KINDS if targets[k] and k not in SKIP]

    @st.composite
    def one(draw) -> Edit:
        kind = draw(st.sampled_from(kinds))
        target = draw(st.integers(0, targets[kind] - 1))
        if kind == "param_changed":
            target = sorted(PARAMS).index(used_params[target])
        return Edit(
            kind,
            executor=draw(_executors()),
            target=target,
            value=draw(st.integers(1, 2)),
            key=draw(st.integers(0, 1)),
        )

    return one()


scenarios = flows().flatmap(
    lambda spec: st.tuples(
        st.just(spec), _executors(), st.lists(edits(spec), min_size=1, max_size=MAX_STEPS)
    )
)


# -- running the flow ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def projects() -> Iterator[Path]:
    """Every example's project folder lives under this one (Dask workers forget them by it)."""
    with tempfile.TemporaryDirectory(prefix="d6tflow-oracle-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def dask_address(request, projects) -> Iterator[str | None]:
    if "dask" in SKIP:
        yield None
        return
    from distributed import Client

    cluster = request.getfixturevalue("dask_cluster")
    client = Client(cluster.address, timeout=60, set_as_default=False)
    client.forget = lambda: _forget_flow_modules(client, str(projects))
    try:
        yield client
    finally:
        client.close()


def _forget_flow_modules(client, projects: str) -> None:
    """Dask workers outlive a run and keep the modules they imported: after an edit a worker
    would run the old flow.py while recording the new code's fingerprint (the parent's). A user
    restarts the workers after editing code (``client.restart()``); dropping the generated modules
    and project folders from the workers does the same for them, at a fraction of the cost."""
    if KEEP_WORKER_MODULES:
        return

    def forget(prefix: str = projects) -> None:
        import importlib
        import sys

        sys.dont_write_bytecode = True  # an edit within the same second must not hit a stale .pyc
        for name in ("flow", "helpers", "config"):
            sys.modules.pop(name, None)
        sys.path[:] = [p for p in sys.path if not p.startswith(prefix)]
        importlib.invalidate_caches()

    client.run(forget)


def _run(world: World, executor: str, dask_client) -> tuple[dict, list[str]]:
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
        dask_client.forget()
        args["address"] = dask_client.scheduler.address
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
    state = report["status"].get(key, "not scheduled")
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
@given(scenario=scenarios)
def test_reruns_exactly_what_changed_and_outputs_match_a_fresh_build(
    scenario, projects, dask_address
):
    spec, first_executor, steps = scenario
    root = Path(tempfile.mkdtemp(dir=projects))
    try:
        _check_runs(World(spec, root), first_executor, steps, dask_address)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _check_runs(world: World, first_executor: str, steps: list[Edit], dask_client) -> None:
    history: list[str] = []
    for n, edit in enumerate([Edit("nothing", executor=first_executor), *steps]):
        world.apply(edit)
        expected = world.expect()
        what = f"first run  [run: {edit.executor}]" if n == 0 else edit.describe(world.spec)
        history.append(f"  {n}. {what}")
        report, ran = _run(world, edit.executor, dask_client)
        history[-1] += "  ->  ran: " + (", ".join(sorted(ran)) or "nothing")
        problems = _problems(world, expected, report, ran)
        if problems:
            raise AssertionError(_failure_message(world, history, problems))

"""Code fingerprints count code, not runtime state: data written in a task's code counts by value
(class attributes, module-level constants it reads), objects count by their type, and nothing that
a run changes or a new process draws anew (memory addresses, the hash seed, the clock) makes a task
stale."""

from __future__ import annotations

import copy
import enum
import importlib
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

import d6tflow
from d6tflow import TaskState
from d6tflow.code_fingerprint import CodeFingerprint, code_of
from d6tflow.graph import Graph
from d6tflow.status import State


def status_of(task):
    return Graph([task]).states()[task]


# -- a flow run in one process and checked in another, with another hash seed --------------------

FRESH_FLOW = """
import threading
import time
from collections import Counter

import d6tflow
from d6tflow.graph import Graph

SCALE = 2  # a constant: named the same whether this runs as a script or is imported
STARTED = time.time()  # computed at import: another value in every process
RUNS = []  # run() appends to it
LAST = {}  # run() writes to it


class Helper:
    def scale(self, x):
        return SCALE * x


class WithLock(d6tflow.tasks.TaskPickle):
    lock = threading.Lock()

    def run(self):
        with self.lock:
            self.save(1)


class WithHelperObject(d6tflow.tasks.TaskPickle):
    helper = Helper()

    def run(self):
        self.save(self.helper.scale(1))


class WithObjectDefault(d6tflow.tasks.TaskPickle):
    helper = d6tflow.Parameter(default=Helper(), significant=False)

    def run(self):
        self.save(self.helper.scale(2))


class WithSet(d6tflow.tasks.TaskPickle):
    columns = {f"column{i}" for i in range(40)}

    def run(self):
        self.save(sorted(self.columns))


def make_task(helper, columns):
    class FromFactory(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(helper.scale(len(columns)))

    return FromFactory


FromFactory = make_task(Helper(), frozenset(f"c{i}" for i in range(40)))


def make_counting_task():
    calls = Counter()

    class Counting(d6tflow.tasks.TaskPickle):
        def run(self):
            calls["run"] += 1
            self.save(calls["run"])

    return Counting


Counting = make_counting_task()


class UsesRuntimeValues(d6tflow.tasks.TaskPickle):
    def run(self):
        RUNS.append(STARTED)
        LAST["started"] = STARTED
        self.save(len(RUNS))


def report(run):
    d6tflow.set_dir("data")
    tasks = [cls() for cls in (WithLock, WithHelperObject, WithObjectDefault, WithSet,
                               FromFactory, Counting, UsesRuntimeValues)]
    if run:
        d6tflow.run(tasks, execution_summary=False)
    states = Graph(tasks).states()
    for task in tasks:
        print(task.task_family, states[task].describe())


if __name__ == "__main__":
    report(run=True)
"""


def _python(args: list[str], cwd, seed: str) -> dict[str, str]:
    src = os.path.dirname(os.path.dirname(d6tflow.__file__))
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    out = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


@pytest.fixture(scope="module")
def fresh_process_states(tmp_path_factory):
    """The states right after `python freshflow.py` ran the flow (hash seed 1), and in a new
    process that imports it (hash seed 2)."""
    folder = tmp_path_factory.mktemp("fresh")
    (folder / "freshflow.py").write_text(FRESH_FLOW)
    after_run = _python(["freshflow.py"], folder, seed="1")
    check = "import freshflow; freshflow.report(run=False)"
    return after_run, _python(["-c", check], folder, seed="2")


@pytest.mark.parametrize(
    "task",
    [
        pytest.param("WithLock", id="a threading.Lock class attribute"),
        pytest.param("WithHelperObject", id="a helper object class attribute"),
        pytest.param("WithObjectDefault", id="an object parameter default"),
        pytest.param("WithSet", id="a set of strings class attribute"),
        pytest.param("FromFactory", id="a factory closing over an object and a frozenset"),
        pytest.param("Counting", id="a factory closing over a Counter that run() changes"),
        pytest.param("UsesRuntimeValues", id="module-level list, dict and time.time()"),
    ],
)
def test_unchanged_code_is_complete_after_its_run_and_in_a_new_process(task, fresh_process_states):
    after_run, new_process = fresh_process_states
    assert after_run[task] == "COMPLETE"
    assert new_process[task] == "COMPLETE"


# -- in this process ---------------------------------------------------------------------------


source_value = {"n": 1}


class Source(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(source_value["n"])


def make_counting_task():
    calls = Counter()
    seen = []

    @d6tflow.requires(Source)
    class Counting(d6tflow.tasks.TaskPickle):
        def run(self):
            calls["run"] += 1
            seen.append(self.inputLoad())
            self.save(len(seen))

    return Counting


@d6tflow.requires(Source)
class WithHistory(d6tflow.tasks.TaskPickle):
    history: list = []  # shared by every run: a common slip, and no reason to rerun

    def run(self):
        self.history.append(self.inputLoad())
        self.save(len(self.history))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(make_counting_task, id="a closure over a Counter and a list"),
        pytest.param(lambda: WithHistory, id="a class attribute list"),
    ],
)
def test_state_that_run_changes_does_not_make_the_task_stale_after_a_rerun(make):
    task_class = make()
    source_value["n"] = 1
    d6tflow.run(task_class(), execution_summary=False)
    source_value["n"] = 2
    d6tflow.run(Source(), forced_all=True, execution_summary=False)
    assert status_of(task_class()).reasons == ("upstream Source output changed",)
    d6tflow.run(task_class(), execution_summary=False)  # run() changes that state again
    assert status_of(task_class()).state is State.COMPLETE
    result = d6tflow.run(task_class(), execution_summary=False)
    assert result.status[task_class()] is TaskState.COMPLETE


@pytest.fixture
def user_flow(tmp_path, monkeypatch):
    """Write modules config, helpers and userflow into a folder on sys.path and import them;
    ``user_flow.edit(file, old, new)`` edits one and re-imports all three, dependencies first."""
    names = ("config", "helpers", "userflow")
    monkeypatch.syspath_prepend(str(tmp_path))

    def reload() -> object:
        importlib.invalidate_caches()
        for name in names:
            sys.modules.pop(name, None)
        for name in names:
            importlib.import_module(name)
        return sys.modules["userflow"]

    def write(files: dict[str, str]) -> object:
        for name in names:
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(files.get(name, "")))
        return reload()

    def edit(name: str, old: str, new: str) -> object:
        path = tmp_path / f"{name}.py"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
        return reload()

    write.edit = edit
    yield write
    for name in names:
        sys.modules.pop(name, None)


TASK = """
import d6tflow
{imports}


class Deep(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save({value})
"""

CONSTANT_CASES = {
    "a global of the task module": (
        {"userflow": TASK.format(imports="DEPTH = 3", value="DEPTH * 10")},
        "userflow",
        "userflow.DEPTH",
    ),
    "config.DEPTH": (
        {"userflow": TASK.format(imports="import config", value="config.DEPTH * 10")},
        "config",
        "config.DEPTH",
    ),
    "from config import DEPTH": (
        {"userflow": TASK.format(imports="from config import DEPTH", value="DEPTH * 10")},
        "config",
        "config.DEPTH",
    ),
    "from config import *": (
        {"userflow": TASK.format(imports="from config import *", value="DEPTH * 10")},
        "config",
        "config.DEPTH",
    ),
    "a helper reads config.DEPTH": (
        {
            "helpers": "import config\n\ndef times_depth(x):\n    return x * config.DEPTH\n",
            "userflow": TASK.format(imports="import helpers", value="helpers.times_depth(10)"),
        },
        "config",
        "config.DEPTH",
    ),
    "a helper reads DEPTH imported from config": (
        {
            "helpers": "from config import DEPTH\n\ndef times_depth(x):\n    return x * DEPTH\n",
            "userflow": TASK.format(
                imports="from helpers import times_depth", value="times_depth(10)"
            ),
        },
        "config",
        "config.DEPTH",
    ),
    "a helper reads its own global": (
        {
            "helpers": "DEPTH = 3\n\ndef times_depth(x):\n    return x * DEPTH\n",
            "userflow": TASK.format(imports="import helpers", value="helpers.times_depth(10)"),
        },
        "helpers",
        "helpers.DEPTH",
    ),
}


@pytest.mark.parametrize("case", CONSTANT_CASES)
def test_changing_a_module_constant_the_task_reads_makes_it_stale_and_names_it(case, user_flow):
    files, edited, member = CONSTANT_CASES[case]
    flow = user_flow({"config": "DEPTH = 3\nUNUSED = 1\n", **files})
    d6tflow.run(flow.Deep(), execution_summary=False)
    assert status_of(flow.Deep()).state is State.COMPLETE
    flow = user_flow.edit("config", "UNUSED = 1", "UNUSED = 2")  # read by no task
    assert status_of(flow.Deep()).state is State.COMPLETE
    flow = user_flow.edit(edited, "DEPTH = 3", "DEPTH = 4")
    status = status_of(flow.Deep())
    assert (status.state, status.reasons) == (State.STALE, (f"code of {member} changed",))
    d6tflow.run(flow.Deep(), execution_summary=False)
    assert flow.Deep().outputLoad() == 40


def test_a_constant_imported_relatively_in_a_package_counts_as_code(tmp_path, monkeypatch):
    # Flows kept in a package of the user's, importing their settings with `from .config ...`.
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "config.py").write_text("DEPTH = 3\n")
    (package / "flow.py").write_text(
        TASK.format(imports="from .config import DEPTH", value="DEPTH * 10")
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    def reload():
        importlib.invalidate_caches()
        for name in ("userpkg.flow", "userpkg.config", "userpkg"):
            sys.modules.pop(name, None)
        return importlib.import_module("userpkg.flow")

    try:
        flow = reload()
        d6tflow.run(flow.Deep(), execution_summary=False)
        assert status_of(flow.Deep()).state is State.COMPLETE
        (package / "config.py").write_text("DEPTH = 4\n")
        flow = reload()
        status = status_of(flow.Deep())
        assert (status.state, status.reasons) == (
            State.STALE,
            ("code of userpkg.config.DEPTH changed",),
        )
    finally:
        for name in ("userpkg.flow", "userpkg.config", "userpkg"):
            sys.modules.pop(name, None)


def test_editing_a_class_attribute_list_makes_the_task_stale_and_names_it(user_flow):
    model = """
    import d6tflow

    class Model(d6tflow.tasks.TaskPickle):
        features = ["age", "income"]

        def run(self):
            self.save(self.features)
    """
    flow = user_flow({"userflow": model})
    d6tflow.run(flow.Model(), execution_summary=False)
    flow = user_flow.edit("userflow", '"income"]', '"income", "city"]')
    status = status_of(flow.Model())
    assert (status.state, status.reasons) == (State.STALE, ("code of Model.features changed",))


def test_a_module_constant_read_from_the_environment_at_import_is_not_code(user_flow, monkeypatch):
    monkeypatch.setenv("FLOW_DEPTH", "3")
    source = TASK.format(
        imports='import os\nDEPTH = int(os.environ["FLOW_DEPTH"])', value="DEPTH * 10"
    )
    flow = user_flow({"userflow": source})
    d6tflow.run(flow.Deep(), execution_summary=False)
    monkeypatch.setenv("FLOW_DEPTH", "4")
    flow = user_flow.edit("userflow", "import d6tflow", "import d6tflow  # re-imported")
    assert flow.DEPTH == 4
    assert status_of(flow.Deep()).state is State.COMPLETE


def test_values_of_installed_libraries_are_not_part_of_the_fingerprint(user_flow):
    source = TASK.format(imports="import math\nfrom math import pi", value="pi * math.tau")
    flow = user_flow({"userflow": source})
    assert sorted(code_of(flow.Deep)) == ["Deep.run"]


def test_requiring_another_task_makes_the_task_stale(user_flow):
    source = """
    import d6tflow

    class SourceA(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)

    class SourceB(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(2)

    @d6tflow.requires({"source": SourceA})
    class Consumer(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(self.inputLoad()["source"])
    """
    flow = user_flow({"userflow": source})
    d6tflow.run([flow.Consumer(), flow.SourceB()], execution_summary=False)
    flow = user_flow.edit("userflow", '{"source": SourceA}', '{"source": SourceB}')
    status = status_of(flow.Consumer())
    assert (status.state, status.reasons) == (
        State.STALE,
        ("code of Consumer.clone_parents_dict changed",),
    )


# -- the rule, against an oracle ---------------------------------------------------------------


class Colour(enum.Enum):
    RED = 1
    GREEN = "g"


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.complex_numbers(allow_nan=False),
    st.text(max_size=4),
    st.binary(max_size=4),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=False),
    st.fractions(),
    st.sampled_from(Colour),
    st.builds(PurePosixPath, st.text(max_size=4)),
)
IMMUTABLE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3),
    max_leaves=8,
)
PLAIN = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(IMMUTABLE, inner, max_size=3)
        | st.sets(IMMUTABLE, max_size=3)
        | st.frozensets(IMMUTABLE, max_size=3)
    ),
    max_leaves=8,
)


def same(a, b) -> bool:
    """The oracle: the same value, written the same way (types and dict order included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return same(list(a), list(b)) and same(list(a.values()), list(b.values()))
    if isinstance(a, (set, frozenset)):
        return len(a) == len(b) and all(any(same(x, y) for y in b) for x in a)
    return repr(a) == repr(b)  # a scalar's repr is its literal


def rebuilt(value):
    """An equal value made anew, sets filled in the reverse order."""
    if isinstance(value, (set, frozenset)):
        return type(value)(rebuilt(v) for v in reversed(list(value)))
    if isinstance(value, (list, tuple)):
        return type(value)(rebuilt(v) for v in value)
    if isinstance(value, dict):
        return {rebuilt(k): rebuilt(v) for k, v in value.items()}
    return copy.copy(value)


def neighbours(value) -> list:
    """Values one edit away: another container type, an item less, dict items reordered, a leaf
    of another type, or such an edit one level down."""
    if isinstance(value, (list, tuple)):
        found = [list(value) if isinstance(value, tuple) else tuple(value), value[:-1]]
        if value:
            found += [type(value)([n, *value[1:]]) for n in neighbours(value[0])]
        return found
    if isinstance(value, (set, frozenset)):
        other = frozenset if type(value) is set else set
        return [other(value), type(value)(list(value)[1:])]
    if isinstance(value, dict):
        items = list(value.items())
        found = [dict(reversed(items)), dict(items[1:])]
        if items:
            found += [{**value, items[0][0]: n} for n in neighbours(items[0][1])]
        return found
    found = [str(value), 0 if value is None else None]
    if isinstance(value, int) and not isinstance(value, bool):
        found += [float(value), value + 1, bool(value)]
    return found


def attribute_digest(value) -> str:
    holder = type("Holder", (), {"value": value, "__module__": __name__})
    return CodeFingerprint().of_task_class(holder)["Holder.value"]


def closure_digest(value) -> str:
    def run(self):
        return value

    holder = type("Holder", (), {"run": run, "__module__": __name__})
    return CodeFingerprint().of_task_class(holder)["Holder.run"]


@given(st.data())
def test_a_class_attribute_digest_changes_exactly_when_its_plain_value_changes(data):
    a = data.draw(PLAIN)
    b = data.draw(PLAIN | st.just(rebuilt(a)) | st.sampled_from(neighbours(a)))
    assert (attribute_digest(a) == attribute_digest(b)) == same(a, b)


@given(st.data())
def test_a_closure_counts_immutable_values_by_value(data):
    a = data.draw(IMMUTABLE)
    b = data.draw(IMMUTABLE | st.just(rebuilt(a)) | st.sampled_from(neighbours(a)))
    assert (closure_digest(a) == closure_digest(b)) == same(a, b)


@given(st.lists(SCALARS, max_size=3), st.lists(SCALARS, max_size=3))
def test_a_closure_counts_a_list_by_its_type_only(a, b):
    assert closure_digest(a) == closure_digest(b)
    assert closure_digest({"a": a}) == closure_digest({"b": b})

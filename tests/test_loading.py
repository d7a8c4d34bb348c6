"""outputLoad and inputLoad: every shape of the original's tables (api.md §4.1), with its bugs
fixed, and the in-memory caching of loaded outputs."""

from __future__ import annotations

import pandas as pd
import pytest
from tests.folders import ran

import d6tflow


class Single(d6tflow.tasks.TaskPickle):
    tag = d6tflow.Parameter(default="s")

    def run(self):
        self.save(self.tag)


class Multi(d6tflow.tasks.TaskPickle):
    tag = d6tflow.Parameter(default="m")
    persist = ["first", "second"]

    def run(self):
        self.save({"first": f"{self.tag}1", "second": f"{self.tag}2"})


class XY(d6tflow.tasks.TaskPickle):
    persist = ["x", "y"]

    def run(self):
        self.save({"x": [1], "y": [2]})


class OnlyX(d6tflow.tasks.TaskPickle):
    persist = ["x"]

    def run(self):
        self.save({"x": "value of x"})


class Listy(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save([1, 2, 3])


# -- outputLoad ------------------------------------------------------------------------------------


def test_outputLoad_single_output_returns_the_object():
    assert ran(Single(tag="hello")).outputLoad() == "hello"


def test_outputLoad_single_output_ignores_as_dict_and_accepts_data_key():
    task = ran(Single(tag="hello"))
    assert task.outputLoad(as_dict=True) == "hello"
    assert task.outputLoad(keys="data") == "hello"
    assert task.outputLoad(keys=["data"]) == "hello"


def test_outputLoad_single_output_rejects_other_key():
    task = ran(Single())
    with pytest.raises(IndexError, match="nope"):
        task.outputLoad(keys="nope")


def test_outputLoad_multi_output_returns_list_in_persist_order():
    assert ran(XY()).outputLoad() == [[1], [2]]


def test_outputLoad_as_dict_returns_dict_by_key():
    assert ran(XY()).outputLoad(as_dict=True) == {"x": [1], "y": [2]}


def test_outputLoad_keys_list_returns_selected_values_in_persist_order():
    task = ran(XY())
    assert task.outputLoad(keys=["y"]) == [[2]]
    assert task.outputLoad(keys=["y", "x"]) == [[1], [2]]


def test_outputLoad_keys_str_returns_single_object():
    assert ran(XY()).outputLoad(keys="y") == [2]


def test_outputLoad_keys_str_with_as_dict_returns_dict_of_that_key():
    assert ran(XY()).outputLoad(keys="y", as_dict=True) == {"y": [2]}


def test_outputLoad_keys_list_with_as_dict_returns_dict_of_those_keys():
    assert ran(XY()).outputLoad(keys=["x"], as_dict=True) == {"x": [1]}


@pytest.mark.parametrize("keys", ["z", ["x", "z"]])
def test_outputLoad_unknown_key_raises_index_error_naming_the_key(keys):
    task = ran(XY())
    with pytest.raises(IndexError, match="'z'") as excinfo:
        task.outputLoad(keys=keys)
    assert "x" in str(excinfo.value) and "y" in str(excinfo.value)  # says what is available


def test_outputLoad_single_key_persist_returns_one_element_list():
    assert ran(OnlyX()).outputLoad() == ["value of x"]


def test_outputLoad_of_unrun_task_raises_runtime_error_saying_not_complete():
    with pytest.raises(RuntimeError, match="not complete"):
        Single().outputLoad()


def test_outputLoad_of_task_whose_upstream_was_reset_says_not_complete():
    @d6tflow.requires(Single)
    class Down(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(self.inputLoad())

    ran(Down())
    Single().reset(confirm=False)
    with pytest.raises(RuntimeError, match="not complete"):
        Down().outputLoad()


# -- inputLoad ------------------------------------------------------------------------------------


def downstream_of(requires):
    """A task requiring ``requires``, run (so its upstream tasks ran too)."""

    class Consumer(d6tflow.tasks.TaskPickle):
        def requires(self):
            return requires

        def run(self):
            self.save("consumed")

    return ran(Consumer())


MULTI_B = {"first": "b1", "second": "b2"}
MULTI_D = {"first": "d1", "second": "d2"}

INPUT_TABLE = [
    # (id, requires(), inputLoad kwargs, expected)
    ("task-single", Single(tag="a"), {}, "a"),
    ("task-single-as_dict", Single(tag="a"), {"as_dict": True}, "a"),
    ("task-multi", Multi(tag="b"), {}, ["b1", "b2"]),
    ("task-multi-as_dict", Multi(tag="b"), {"as_dict": True}, MULTI_B),
    ("task-multi-keys_list", Multi(tag="b"), {"keys": ["second"]}, ["b2"]),
    ("task-multi-keys_str", Multi(tag="b"), {"keys": "second"}, "b2"),
    ("list-single", [Single(tag="a"), Single(tag="c")], {}, ["a", "c"]),
    ("list-single-as_dict", [Single(tag="a"), Single(tag="c")], {"as_dict": True}, ["a", "c"]),
    ("list-single-task0", [Single(tag="a"), Single(tag="c")], {"task": 0}, "a"),
    ("list-multi", [Multi(tag="b"), Multi(tag="d")], {}, [["b1", "b2"], ["d1", "d2"]]),
    ("list-multi-as_dict", [Multi(tag="b"), Multi(tag="d")], {"as_dict": True}, [MULTI_B, MULTI_D]),
    ("list-multi-task1", [Multi(tag="b"), Multi(tag="d")], {"task": 1}, ["d1", "d2"]),
    (
        "list-multi-task1-as_dict",
        [Multi(tag="b"), Multi(tag="d")],
        {"task": 1, "as_dict": True},
        MULTI_D,
    ),
    ("list-mixed", [Single(tag="a"), Multi(tag="b")], {}, ["a", ["b1", "b2"]]),
    ("list-mixed-as_dict", [Single(tag="a"), Multi(tag="b")], {"as_dict": True}, ["a", MULTI_B]),
    ("dict-single", {"i1": Single(tag="a"), "i2": Single(tag="c")}, {}, {"i1": "a", "i2": "c"}),
    (
        "dict-single-as_dict",
        {"i1": Single(tag="a"), "i2": Single(tag="c")},
        {"as_dict": True},
        {"i1": "a", "i2": "c"},
    ),
    ("dict-single-task", {"i1": Single(tag="a"), "i2": Single(tag="c")}, {"task": "i2"}, "c"),
    (
        "dict-single-keys_list",
        {"i1": Single(tag="a"), "i2": Single(tag="c")},
        {"keys": ["i1"]},
        {"i1": "a"},
    ),
    ("dict-single-keys_str", {"i1": Single(tag="a"), "i2": Single(tag="c")}, {"keys": "i1"}, "a"),
    (
        "dict-multi",
        {"i1": Multi(tag="b"), "i2": Multi(tag="d")},
        {},
        {"i1": ["b1", "b2"], "i2": ["d1", "d2"]},
    ),
    (
        "dict-multi-as_dict",
        {"i1": Multi(tag="b"), "i2": Multi(tag="d")},
        {"as_dict": True},
        {"i1": MULTI_B, "i2": MULTI_D},
    ),
    ("dict-multi-task", {"i1": Multi(tag="b"), "i2": Multi(tag="d")}, {"task": "i2"}, ["d1", "d2"]),
    (
        "dict-multi-task-as_dict",
        {"i1": Multi(tag="b"), "i2": Multi(tag="d")},
        {"task": "i2", "as_dict": True},
        MULTI_D,
    ),
    ("dict-mixed", {"s": Single(tag="a"), "m": Multi(tag="b")}, {}, {"s": "a", "m": ["b1", "b2"]}),
    (
        "dict-mixed-as_dict",
        {"s": Single(tag="a"), "m": Multi(tag="b")},
        {"as_dict": True},
        {"s": "a", "m": MULTI_B},
    ),
]


@pytest.mark.parametrize(
    ("requires", "kwargs", "expected"),
    [row[1:] for row in INPUT_TABLE],
    ids=[row[0] for row in INPUT_TABLE],
)
def test_inputLoad_is_shaped_like_requires(requires, kwargs, expected):
    assert downstream_of(requires).inputLoad(**kwargs) == expected


def test_inputLoad_task_not_among_upstreams_raises_naming_it():
    task = downstream_of({"i1": Single(tag="a")})
    with pytest.raises(LookupError, match="missing"):
        task.inputLoad(task="missing")


def test_input_targets_load_by_name():
    task = downstream_of({"i1": Single(tag="a"), "i2": Multi(tag="b")})
    assert task.input()["i1"].load() == "a"
    assert task.input()["i2"]["second"].load() == "b2"


def test_input_targets_load_by_position_and_key():
    task = downstream_of([Multi(tag="b"), Single(tag="a")])
    assert task.input()[0]["first"].load() == "b1"
    assert task.input()[1].load() == "a"


def test_inputLoad_inside_run_receives_upstream_outputs():
    @d6tflow.requires({"left": Single, "right": Multi})
    class Joined(d6tflow.tasks.TaskPickle):
        def run(self):
            inputs = self.inputLoad(as_dict=True)
            self.save((inputs["left"], inputs["right"]["second"]))

    assert ran(Joined(tag="q")).outputLoad() == ("q", "q2")


# -- caching loaded outputs ------------------------------------------------------------------------


def test_outputLoad_cached_keeps_the_object_in_d6tflow_data_and_hands_out_copies():
    task = ran(Listy())
    loaded = task.outputLoad(cached=True)
    kept = d6tflow.data[str(task.output().path)]
    assert kept == loaded and kept is not loaded
    loaded.append(4)  # a caller changing its object in place changes no later load
    assert task.outputLoad(cached=True) == [1, 2, 3]
    assert task.outputLoad(cached=True) is not task.outputLoad(cached=True)


def test_cached_dataframe_changed_in_place_by_one_consumer_is_unchanged_for_the_next(monkeypatch):
    class Frame(d6tflow.tasks.TaskPqPandas):
        def run(self):
            self.save(pd.DataFrame({"a": [1, 2]}))

    monkeypatch.setattr(d6tflow.settings, "cached", True)
    task = ran(Frame())
    first = task.outputLoad()
    first["a"] = first["a"] * 2  # as the original's tests do
    first.iloc[0, 0] = 100
    assert task.outputLoad()["a"].tolist() == [1, 2]


def test_outputLoad_cached_returns_what_is_in_the_cache_not_the_file():
    task = ran(XY())
    task.outputLoad(keys="x", cached=True)
    d6tflow.data[str(task.output()["x"].path)] = "from the cache"
    assert task.outputLoad(keys="x", cached=True) == "from the cache"
    assert task.outputLoad(keys="y", cached=True) == [2]


def test_outputLoad_without_cached_reads_the_file_each_time():
    task = ran(Listy())
    first = task.outputLoad()
    assert task.outputLoad() is not first
    assert str(task.output().path) not in d6tflow.data


def test_save_drops_the_cached_copy():
    task = ran(Listy())
    task.outputLoad(cached=True)
    task.save(["new"])
    assert str(task.output().path) not in d6tflow.data
    assert task.outputLoad(cached=True) == ["new"]


def test_settings_cached_caches_every_load():
    d6tflow.settings.cached = True
    task = ran(Listy())
    loaded = task.outputLoad()
    assert d6tflow.data[str(task.output().path)] == loaded
    d6tflow.data[str(task.output().path)] = [9]  # later loads come from memory, not the file
    assert task.outputLoad() == [9]


def test_inputLoad_cached_serves_upstream_from_memory():
    task = downstream_of(Listy())
    loaded = task.inputLoad(cached=True)
    assert d6tflow.data[str(Listy().output().path)] == loaded
    d6tflow.data[str(Listy().output().path)] = [9]
    assert task.inputLoad(cached=True) == [9]


def test_reset_drops_the_cached_copy_and_task_is_not_complete():
    task = ran(Listy())
    task.outputLoad(cached=True)
    task.reset(confirm=False)
    assert str(task.output().path) not in d6tflow.data
    with pytest.raises(RuntimeError, match="not complete"):
        task.outputLoad(cached=True)

"""Dependencies: requires() shapes, @requires/@inherits, aggregators, tasks yielded from run(),
walking the graph, invalidating parts of it, and the errors for graphs that cannot work."""

from __future__ import annotations

import pytest
from tests.folders import files_in, left_after_reset, ran

import d6tflow
from d6tflow.errors import CycleError

calls: list[str] = []


@pytest.fixture(autouse=True)
def clear_calls():
    calls.clear()


class Leaf(d6tflow.tasks.TaskPickle):
    name = d6tflow.Parameter(default="a")

    def run(self):
        calls.append(f"Leaf-{self.name}")
        self.save(self.name)


class UpP(d6tflow.tasks.TaskPickle):
    p = d6tflow.IntParameter(default=1)

    def run(self):
        calls.append(f"UpP-{self.p}")
        self.save(self.p)


class UpQ(d6tflow.tasks.TaskPickle):
    q = d6tflow.IntParameter(default=2)

    def run(self):
        calls.append(f"UpQ-{self.q}")
        self.save(self.q * 10)


# -- requires() shapes ----------------------------------------------------------------------------


def consumer(requires):
    class Consumer(d6tflow.tasks.TaskPickle):
        def requires(self):
            return requires

        def run(self):
            calls.append("Consumer")
            self.save(self.inputLoad())

    return Consumer()


@pytest.mark.parametrize(
    ("requires", "expected", "upstream_runs"),
    [
        (Leaf(name="x"), "x", ["Leaf-x"]),
        ([Leaf(name="x"), Leaf(name="y")], ["x", "y"], ["Leaf-x", "Leaf-y"]),
        (
            {"first": Leaf(name="x"), "second": Leaf(name="y")},
            {"first": "x", "second": "y"},
            ["Leaf-x", "Leaf-y"],
        ),
        (
            {"group": [Leaf(name="x"), Leaf(name="y")], "other": Leaf(name="z")},
            {"group": ["x", "y"], "other": "z"},
            ["Leaf-x", "Leaf-y", "Leaf-z"],
        ),
    ],
    ids=["task", "list", "dict", "dict-of-lists"],
)
def test_requires_shapes_run_upstream_first_and_load_in_shape(requires, expected, upstream_runs):
    task = consumer(requires)
    ran(task)
    assert sorted(calls[:-1]) == upstream_runs
    assert calls[-1] == "Consumer"
    assert task.outputLoad() == expected


def test_input_has_the_shape_of_requires():
    task = consumer({"group": [Leaf(name="x"), Leaf(name="y")], "other": Leaf(name="z")})
    targets = task.input()
    assert set(targets) == {"group", "other"}
    assert [t.path for t in targets["group"]] == [
        Leaf(name="x").output().path,
        Leaf(name="y").output().path,
    ]
    assert targets["other"].path == Leaf(name="z").output().path


def test_requires_computed_from_a_list_parameter_gives_one_upstream_per_value():
    class Combine(d6tflow.tasks.TaskPickle):
        names = d6tflow.ListParameter(default=["a", "b"])

        def requires(self):
            return {n: Leaf(name=n) for n in self.names}

        def run(self):
            self.save(self.inputLoad())

    task = ran(Combine(names=["x", "y", "z"]))
    assert sorted(calls) == ["Leaf-x", "Leaf-y", "Leaf-z"]
    assert task.outputLoad() == {"x": "x", "y": "y", "z": "z"}
    assert not Combine().complete()


# -- @d6tflow.requires / @d6tflow.inherits ---------------------------------------------------------


def test_requires_decorator_single_task_inherits_and_passes_params():
    @d6tflow.requires(UpP)
    class Single(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(self.inputLoad() + 1)

    assert "p" in Single.get_param_names()
    assert Single(p=5).requires() == UpP(p=5)
    assert ran(Single(p=5)).outputLoad() == 6
    assert calls == ["UpP-5"]


def test_requires_decorator_several_tasks_gives_a_list_with_only_their_params():
    @d6tflow.requires(UpP, UpQ)
    class Both(d6tflow.tasks.TaskPickle):
        r = d6tflow.IntParameter(default=0)

        def run(self):
            self.save(self.inputLoad())

    task = Both(p=5, q=6, r=7)
    assert task.requires() == [UpP(p=5), UpQ(q=6)]
    assert ran(task).outputLoad() == [5, 60]
    assert sorted(Both.get_param_names()) == ["p", "q", "r"]


def test_requires_decorator_dict_gives_named_upstreams():
    @d6tflow.requires({"left": UpP, "right": UpQ})
    class Named(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(self.inputLoad())

    task = Named(p=3, q=4)
    assert task.requires() == {"left": UpP(p=3), "right": UpQ(q=4)}
    assert ran(task).outputLoad() == {"left": 3, "right": 40}
    assert task.clone_parents_dict() == {"left": UpP(p=3), "right": UpQ(q=4)}


def test_requires_decorator_keeps_a_param_the_class_declares_itself():
    @d6tflow.requires(UpP)
    class Own(d6tflow.tasks.TaskPickle):
        p = d6tflow.IntParameter(default=9)

    assert Own().requires() == UpP(p=9)


def test_requires_decorator_without_tasks_raises_index_error():
    with pytest.raises(IndexError):
        d6tflow.requires()


def test_inherits_copies_params_and_adds_clone_helpers():
    @d6tflow.inherits(UpP, UpQ)
    class Inh(d6tflow.tasks.TaskPickle):
        def requires(self):
            return {"first": self.clone_parent(), "all": self.clone_parents()}

        def run(self):
            self.save(self.inputLoad())

    task = Inh(p=3, q=4)
    assert task.clone_parent() == UpP(p=3)
    assert task.clone_parents() == [UpP(p=3), UpQ(q=4)]
    assert ran(task).outputLoad() == {"first": 3, "all": [3, 40]}


def test_inherits_does_not_write_requires_for_you():
    @d6tflow.inherits(UpP)
    class Inh(d6tflow.tasks.TaskPickle):
        pass

    assert "p" in Inh.get_param_names()
    assert not Inh(p=2).requires()


def test_inherits_dict_form_adds_clone_parents_dict():
    @d6tflow.inherits({"a": UpP, "b": UpQ})
    class InhDict(d6tflow.tasks.TaskPickle):
        def requires(self):
            return self.clone_parents_dict()

        def run(self):
            self.save(self.inputLoad())

    task = InhDict(p=7, q=8)
    assert task.clone_parents_dict() == {"a": UpP(p=7), "b": UpQ(q=8)}
    assert ran(task).outputLoad() == {"a": 7, "b": 80}


def test_clone_copies_shared_params_and_applies_overrides():
    @d6tflow.requires(UpP, UpQ)
    class Both(d6tflow.tasks.TaskPickle):
        pass

    task = Both(p=5, q=6)
    assert task.clone(UpP) == UpP(p=5)
    assert task.clone(UpP, p=9) == UpP(p=9)
    assert task.clone(q=1) == Both(p=5, q=1)
    assert task.clone() == task


def test_clone_parent_function_is_deprecated_but_works():
    with pytest.warns(DeprecationWarning):

        @d6tflow.clone_parent(UpP)
        class Old(d6tflow.tasks.TaskPickle):
            p = d6tflow.IntParameter(default=4)

    assert Old().requires() == UpP(p=4)


# -- TaskAggregator -------------------------------------------------------------------------------


class Daily(d6tflow.tasks.TaskPickle):
    day = d6tflow.IntParameter()

    def run(self):
        calls.append(f"Daily-{self.day}")
        self.save(self.day * 10)


class AllDays(d6tflow.tasks.TaskAggregator):
    def run(self):
        for day in range(3):
            yield Daily(day=day)


def test_aggregator_run_runs_every_yielded_task():
    assert not AllDays().complete()
    ran(AllDays())
    assert sorted(calls) == ["Daily-0", "Daily-1", "Daily-2"]
    assert AllDays().complete()
    assert all(Daily(day=d).complete() for d in range(3))


def test_aggregator_is_complete_only_when_all_yielded_tasks_are():
    ran(AllDays())
    Daily(day=1).reset(confirm=False)
    assert not AllDays().complete()
    calls.clear()
    ran(AllDays())
    assert calls == ["Daily-1"]


def test_aggregator_outputLoad_returns_the_list_of_outputs():
    ran(AllDays())
    assert AllDays().outputLoad() == [0, 10, 20]


def test_aggregator_reset_resets_every_yielded_task():
    ran(AllDays())
    AllDays().reset(confirm=False)
    assert not any(Daily(day=d).complete() for d in range(3))
    assert left_after_reset(d6tflow.settings.dirpath) == []


def test_aggregator_reset_answers_like_a_task_does(answer):
    ran(AllDays())
    assert AllDays().reset(confirm=False) is True
    ran(AllDays())
    answer("n")
    assert AllDays().invalidate(confirm=True) is False  # declined: outputs kept, as TaskData
    assert all(Daily(day=d).complete() for d in range(3))


def test_aggregator_with_requires_decorator_and_clone():
    @d6tflow.requires(UpP, UpQ)
    class Both(d6tflow.tasks.TaskAggregator):
        def run(self):
            yield self.clone(UpP)
            yield self.clone(UpQ)

    ran(Both(p=5, q=6))
    assert sorted(calls) == ["UpP-5", "UpQ-6"]
    assert Both(p=5, q=6).outputLoad() == [5, 60]
    assert Both(p=5, q=6).complete()
    assert not Both().complete()


# -- tasks yielded from run() ---------------------------------------------------------------------


def test_run_can_yield_a_task_and_gets_its_target_back():
    class Dynamic(d6tflow.tasks.TaskPickle):
        def run(self):
            calls.append("before")
            target = yield Leaf(name="dyn")
            calls.append("after")
            self.save(target.load() + "!")

    task = ran(Dynamic())
    assert calls == ["before", "Leaf-dyn", "after"]
    assert task.outputLoad() == "dyn!"


def test_run_can_yield_a_list_and_gets_the_list_of_targets():
    class DynamicList(d6tflow.tasks.TaskPickle):
        def run(self):
            calls.append("before")
            targets = yield [Leaf(name="p"), UpQ(q=3)]
            self.save([t.load() for t in targets])

    task = ran(DynamicList())
    assert calls.count("before") == 1
    assert task.outputLoad() == ["p", 30]


def test_yielded_task_that_is_complete_is_not_rerun():
    ran(Leaf(name="done"))
    calls.clear()

    class Dynamic(d6tflow.tasks.TaskPickle):
        def run(self):
            target = yield Leaf(name="done")
            self.save(target.load())

    assert ran(Dynamic()).outputLoad() == "done"
    assert calls == []


# -- walking the graph ----------------------------------------------------------------------------


class Base(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("base")


@d6tflow.requires(Base)
class Left(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("left")


@d6tflow.requires(Base)
class Right(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("right")


class Side(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("side")


class Top(d6tflow.tasks.TaskPickle):
    def requires(self):
        return [Left(), Right(), Side()]

    def run(self):
        self.save("top")


def test_taskflow_upstream_is_depth_first_preorder_without_duplicates():
    assert d6tflow.taskflow_upstream(Top()) == [Top(), Left(), Base(), Right(), Side()]


def test_taskflow_upstream_only_complete():
    ran(Top())
    Right().reset(confirm=False)
    assert d6tflow.taskflow_upstream(Top(), only_complete=True) == [Left(), Base(), Side()]


def test_taskflow_downstream_lists_tasks_between_the_two():
    assert d6tflow.taskflow_downstream(Base(), Top()) == {Base(), Left(), Right(), Top()}
    assert d6tflow.taskflow_downstream(Left(), Top()) == {Left(), Top()}
    assert d6tflow.taskflow_downstream(Side(), Top()) == {Side(), Top()}


def test_invalidate_upstream_resets_the_task_and_everything_it_needs():
    ran(Top())
    d6tflow.invalidate_upstream(Left())
    assert not Left().output().exists()
    assert not Base().output().exists()
    assert Right().output().exists() and Side().output().exists() and Top().output().exists()


def test_invalidate_downstream_resets_only_the_branch_between():
    ran(Top())
    d6tflow.invalidate_downstream(Left(), Top())
    assert not Left().output().exists()
    assert not Top().output().exists()
    assert Base().output().exists() and Right().output().exists() and Side().output().exists()


def test_invalidate_downstream_from_a_shared_upstream_spares_other_branches():
    ran(Top())
    d6tflow.invalidate_downstream(Base(), Top())
    assert not any(t.output().exists() for t in [Base(), Left(), Right(), Top()])
    assert Side().output().exists()


def test_invalidate_upstream_with_confirm_no_keeps_everything(answer):
    prompts = answer("n")
    ran(Top())
    d6tflow.invalidate_upstream(Top(), confirm=True)
    assert len(prompts) == 1
    assert Top().complete()


def test_invalidate_all_answer_no_keeps_everything(answer):
    prompts = answer("n")
    ran(Top())
    before = files_in(d6tflow.settings.dirpath)
    d6tflow.invalidate_all()
    assert len(prompts) == 1
    assert files_in(d6tflow.settings.dirpath) == before
    assert Top().complete()


def test_invalidate_all_answer_yes_deletes_every_file_and_memory_output(answer, tmp_path):
    answer("y")

    class InMemory(d6tflow.tasks.TaskCache):
        def run(self):
            self.save("mem")

    ran(Top())
    ran(InMemory())
    stray = d6tflow.settings.dirpath / "notes" / "by_hand.txt"
    stray.parent.mkdir()
    stray.write_text("x")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    d6tflow.invalidate_all()
    assert files_in(d6tflow.settings.dirpath) == []
    assert d6tflow.data == {}
    assert not Top().complete() and not InMemory().complete()
    assert outside.read_text() == "keep"


def test_invalidate_all_confirm_false_does_not_ask(answer):
    prompts = answer("n")
    ran(Top())
    d6tflow.invalidate_all(confirm=False)
    assert prompts == []
    assert files_in(d6tflow.settings.dirpath) == []


# -- graphs that cannot work ----------------------------------------------------------------------


class CycA(d6tflow.tasks.TaskPickle):
    def requires(self):
        return CycB()


class CycB(d6tflow.tasks.TaskPickle):
    def requires(self):
        return CycA()


def test_cycle_raises_cycle_error_naming_both_tasks():
    with pytest.raises(CycleError) as excinfo:
        d6tflow.run(CycA(), execution_summary=False)
    assert "CycA" in str(excinfo.value) and "CycB" in str(excinfo.value)
    with pytest.raises(CycleError):
        d6tflow.taskflow_upstream(CycB())


def test_requires_returning_a_class_says_to_pass_an_instance():
    class Careless(d6tflow.tasks.TaskPickle):
        def requires(self):
            return Leaf

        def run(self):
            self.save(1)

    with pytest.raises(TypeError, match="instance") as excinfo:
        d6tflow.run(Careless(), execution_summary=False)
    assert "Leaf" in str(excinfo.value)
    assert calls == []


def test_aggregator_reset_with_confirm_asks_for_each_task(answer):
    prompts = answer("y")
    ran(AllDays())
    AllDays().reset()
    assert len(prompts) == 3
    assert not any(Daily(day=d).complete() for d in range(3))


def test_run_can_yield_a_dict_and_gets_a_dict_of_targets():
    class DynamicDict(d6tflow.tasks.TaskPickle):
        def run(self):
            targets = yield {"one": Leaf(name="one"), "two": UpP(p=2)}
            self.save({k: t.load() for k, t in targets.items()})

    assert ran(DynamicDict()).outputLoad() == {"one": "one", "two": 2}


def test_external_task_that_is_incomplete_still_runs():
    @d6tflow.requires(Leaf)
    class Ext(d6tflow.tasks.TaskPickle):
        external = True

        def run(self):
            calls.append("Ext")
            self.save("ext")

    ran(Ext())
    assert calls == ["Leaf-a", "Ext"]


def test_run_with_check_dependencies_off_does_not_rerun_over_reset_upstream():
    ran(Top())
    Base().reset(confirm=False)
    d6tflow.settings.check_dependencies = False
    calls.clear()
    d6tflow.run(Top(), execution_summary=False)
    assert not Base().output().exists()
    assert Top().complete()


def test_flatten_keeps_order_skips_none_and_keeps_strings_whole():
    """requires() and output() shapes are walked by flatten: dict values in order, lists, tuples
    and generators opened, None skipped, strings and other objects kept as leaves."""
    from collections import namedtuple

    from d6tflow.utils import flatten

    Pair = namedtuple("Pair", "left right")
    shape = {"a": [1, None, (2, Pair(3, "text"))], "b": (x for x in [4, [5]]), "c": b"raw"}
    assert flatten(shape) == [1, 2, 3, "text", 4, 5, b"raw"]
    assert flatten(None) == []
    assert flatten("one") == ["one"]

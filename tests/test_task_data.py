"""TaskData: saving, where outputs live, completeness, reset, metadata, in-memory outputs and task
identity as a user sees them."""

from __future__ import annotations

import pathlib
import pickle
import re
import shutil

import pytest
from tests.folders import files_in, left_after_reset, ran

import d6tflow


class Up(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("up")


@d6tflow.requires(Up)
class Down(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(self.inputLoad() + "+down")


class Pair(d6tflow.tasks.TaskPickle):
    persist = ["a", "b"]

    def run(self):
        self.save({"a": 1, "b": 2})


class WithParam(d6tflow.tasks.TaskPickle):
    p = d6tflow.IntParameter(default=1)

    def run(self):
        self.save(self.p)


# -- save ------------------------------------------------------------------------------------------


def test_save_single_output_stores_any_object_as_is():
    task = Up()
    task.save({"a": 1, "whole dict": True})
    assert task.outputLoad() == {"a": 1, "whole dict": True}


def test_save_outside_run_makes_task_complete():
    task = Up()
    assert not task.complete()
    task.save("given by hand")
    assert task.complete()
    assert task.outputLoad() == "given by hand"


def test_save_multi_output_writes_one_file_per_key():
    task = Pair()
    task.save({"a": "A", "b": "B"})
    outputs = task.output()
    assert set(outputs) == {"a", "b"}
    assert pickle.loads(outputs["a"].path.read_bytes()) == "A"
    assert pickle.loads(outputs["b"].path.read_bytes()) == "B"


@pytest.mark.parametrize(
    "data",
    [{"a": 1}, {"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 3}, [1, 2], "not a dict"],
    ids=["missing-key", "extra-key", "wrong-key", "list", "str"],
)
def test_save_multi_output_needs_exactly_the_persist_keys(data):
    task = Pair()
    with pytest.raises(ValueError, match="Pair") as excinfo:
        task.save(data)
    assert "persist" in str(excinfo.value)
    assert files_in(d6tflow.settings.dirpath) == []


def test_persists_alias_sets_the_outputs():
    class Aliased(d6tflow.tasks.TaskPickle):
        persists = ["left", "right"]

        def run(self):
            self.save({"left": "L", "right": "R"})

    task = ran(Aliased())
    assert list(task.output()) == ["left", "right"]
    assert task.outputLoad(as_dict=True) == {"left": "L", "right": "R"}


# -- where outputs live ---------------------------------------------------------------------------


def test_output_path_is_dir_class_task_id_key_ext(fresh_data_dir):
    task = WithParam(p=7)
    assert task.output().path == fresh_data_dir / "WithParam" / f"{task.task_id}-data.pkl"


def test_multi_output_paths_one_per_key(fresh_data_dir):
    folder = fresh_data_dir / "Pair"
    assert {k: t.path for k, t in Pair().output().items()} == {
        "a": folder / "Pair__99914b932b-a.pkl",
        "b": folder / "Pair__99914b932b-b.pkl",
    }


def test_output_folder_is_the_full_class_name_with_underscores(fresh_data_dir):
    class get_data(d6tflow.tasks.TaskPickle):  # the underscore is the point
        def run(self):
            self.save(1)

    task = ran(get_data())
    expected = fresh_data_dir / "get_data" / "get_data__99914b932b-data.pkl"
    assert task.output().path == expected
    assert expected.exists()


def test_class_level_path_wins_over_argument():
    class Elsewhere(d6tflow.tasks.TaskPickle):
        path = "elsewhere"

        def run(self):
            self.save(1)

    expected = pathlib.Path("elsewhere/Elsewhere/Elsewhere__99914b932b-data.pkl")
    assert Elsewhere().output().path == expected
    assert Elsewhere(path="ignored").output().path == expected
    ran(Elsewhere())
    assert expected.exists()


def test_path_argument_sets_the_base_folder(tmp_path):
    task = ran(WithParam(path=tmp_path / "custom"))
    expected = tmp_path / "custom" / "WithParam" / f"{task.task_id}-data.pkl"
    assert task.output().path == expected
    assert expected.exists()


def test_target_dir_replaces_the_class_folder(fresh_data_dir):
    class InShared(d6tflow.tasks.TaskPickle):
        target_dir = "shared"

        def run(self):
            self.save(1)

    task = ran(InShared())
    assert task.output().path == fresh_data_dir / "shared" / "InShared__99914b932b-data.pkl"
    assert task.output().path.exists()


def test_save_attrib_false_names_the_file_by_key_only(fresh_data_dir):
    class Plain(d6tflow.tasks.TaskPickle):
        save_attrib = False
        p = d6tflow.IntParameter(default=1)

        def run(self):
            self.save(self.p)

    ran(Plain(p=1))
    assert Plain(p=2).output().path == fresh_data_dir / "Plain" / "data.pkl"
    assert Plain(p=2).complete()  # every parameter setting shares the one file
    assert Plain(p=2).outputLoad() == 1


def test_save_with_param_false_names_files_by_key_only(fresh_data_dir):
    d6tflow.settings.save_with_param = False
    ran(WithParam(p=1))
    assert WithParam(p=2).output().path == fresh_data_dir / "WithParam" / "data.pkl"
    assert Pair().output()["b"].path == fresh_data_dir / "Pair" / "b.pkl"
    assert WithParam(p=2).complete()


def test_task_group_puts_outputs_in_a_group_folder_inside_the_data_folder(fresh_data_dir):
    class Grouped(d6tflow.tasks.TaskPickle):
        task_group = "g1"

        def run(self):
            self.save(1)

    task = ran(Grouped())
    expected = fresh_data_dir / "group=g1" / "Grouped" / "Grouped__99914b932b-data.pkl"
    assert task.output().path == expected
    assert expected.exists()
    assert not pathlib.Path("/group=g1").exists()


@pytest.mark.parametrize(
    ("attribute", "value", "problem"),
    [
        ("task_group", "../../escaped", "contains a path separator"),
        ("task_group", "..", "is empty, '.' or '..'"),
        ("task_group", "a\0b", "contains a NUL character"),
        ("target_dir", "../../escaped", "is empty or has a '.' or '..' part"),
        ("target_dir", "models/../../escaped", "is empty or has a '.' or '..' part"),
        ("target_dir", "<an absolute path>", "is an absolute path"),
        ("target_dir", "\\server\\share", "is an absolute path"),
        ("target_dir", "a\0b", "contains a NUL character"),
    ],
)
def test_folder_settings_that_would_leave_the_data_folder_are_refused(
    tmp_path, attribute, value, problem
):
    if value == "<an absolute path>":
        value = str(tmp_path.parent / f"{tmp_path.name}-escaped")
    Escaping = type(
        "Escaping", (d6tflow.tasks.TaskPickle,), {attribute: value, "run": lambda self: None}
    )
    with pytest.raises(d6tflow.errors.FolderNameError) as refused:
        d6tflow.run(Escaping(), execution_summary=False)
    assert str(refused.value).startswith(f"task class Escaping: {attribute} {value!r} {problem}")
    assert "it must stay inside the data folder" in str(refused.value)
    assert isinstance(refused.value, ValueError)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written anywhere


def test_target_dir_may_be_a_relative_folder_path(fresh_data_dir):
    class Nested(d6tflow.tasks.TaskPickle):
        target_dir = "models/v2"

        def run(self):
            self.save(1)

    task = ran(Nested())
    assert task.output().path == fresh_data_dir / "models" / "v2" / f"{task.task_id}-data.pkl"
    assert Nested().outputLoad() == 1


def test_task_group_from_a_parameter_is_checked_for_each_value():
    class PerGroup(d6tflow.tasks.TaskPickle):
        task_group = d6tflow.Parameter(default="a")

        def run(self):
            self.save(self.task_group)

    assert ran(PerGroup(task_group="b")).outputLoad() == "b"
    with pytest.raises(ValueError, match=re.escape("task_group '../b' contains a path separator")):
        PerGroup(task_group="../b").output()


def test_set_dir_moves_outputs_of_existing_and_new_tasks(tmp_path):
    task = WithParam()
    returned = d6tflow.set_dir(tmp_path / "other")
    assert returned == tmp_path / "other"  # the original's return value: code builds on it
    assert d6tflow.settings.dir == str(tmp_path / "other")
    assert d6tflow.settings.dirpath == tmp_path / "other"
    assert task.output().path.parent == tmp_path / "other" / "WithParam"
    ran(WithParam())
    assert WithParam().output().path.exists()
    assert WithParam().output().path.is_relative_to(tmp_path / "other")


def test_set_dir_without_argument_creates_the_current_folder(tmp_path):
    d6tflow.set_dir(tmp_path / "to_create")
    assert not (tmp_path / "to_create").exists()
    assert d6tflow.set_dir() == tmp_path / "to_create"
    assert (tmp_path / "to_create").is_dir()


# -- completeness ---------------------------------------------------------------------------------


def test_complete_needs_upstream_complete_by_default():
    task = ran(Down())
    Up().reset(confirm=False)
    assert task.output().exists()
    assert not task.complete()


def test_complete_ignores_upstream_when_check_dependencies_off():
    task = ran(Down())
    Up().reset(confirm=False)
    d6tflow.settings.check_dependencies = False
    assert task.complete()


def test_complete_cascade_false_looks_only_at_own_outputs():
    task = ran(Down())
    Up().reset(confirm=False)
    assert task.complete(cascade=False)
    assert not task.complete(cascade=True)


def test_external_task_does_not_cascade_to_upstream():
    @d6tflow.requires(Up)
    class DownExternal(d6tflow.tasks.TaskPickle):
        external = True

        def run(self):
            self.save("ext")

    task = ran(DownExternal())
    Up().reset(confirm=False)
    assert task.complete()


def test_task_is_not_complete_until_every_output_exists():
    task = Pair()
    task.output()["a"].save(1)
    assert not task.complete()
    task.output()["b"].save(2)
    assert task.complete()


# -- reset / invalidate ---------------------------------------------------------------------------


def test_reset_asks_and_deletes_on_yes(answer):
    prompts = answer("y")
    task = ran(Pair())
    task.reset()
    assert len(prompts) == 1
    assert not task.complete()
    assert left_after_reset(d6tflow.settings.dirpath) == []


def test_reset_asks_and_keeps_on_no(answer):
    prompts = answer("n")
    task = ran(Pair())
    task.reset()
    assert len(prompts) == 1
    assert task.complete()
    assert task.outputLoad() == [1, 2]


def test_invalidate_confirm_false_deletes_without_asking(answer):
    prompts = answer("n")
    task = ran(Up())
    task.invalidate(confirm=False)
    assert prompts == []
    assert not task.output().exists()


def test_reset_deletes_the_metadata_file_too():
    class Scored(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)
            self.metaSave({"score": 0.9})

    task = ran(Scored())
    meta = d6tflow.settings.dirpath / "Scored" / "Scored__99914b932b-meta.pickle"
    assert pickle.loads(meta.read_bytes()) == {"score": 0.9}
    task.reset(confirm=False)
    assert not meta.exists()
    assert left_after_reset(d6tflow.settings.dirpath) == []


def test_reset_does_not_touch_upstream_or_downstream_files():
    ran(Down())
    Up().reset(confirm=False)
    assert not Up().output().exists()
    assert Down().output().exists()


# -- metadata -------------------------------------------------------------------------------------


class MetaA(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("a")
        self.metaSave({"score": 1})


class MetaB(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("b")
        self.saveMeta([2, "two"])


class NoMeta(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save("none")


def test_metaLoad_with_dict_requires_returns_dict():
    class User(d6tflow.tasks.TaskPickle):
        def requires(self):
            return {"a": MetaA(), "b": MetaB()}

        def run(self):
            self.save(self.metaLoad())

    assert ran(User()).outputLoad() == {"a": {"score": 1}, "b": [2, "two"]}


def test_metaLoad_with_list_requires_returns_list():
    class User(d6tflow.tasks.TaskPickle):
        def requires(self):
            return [MetaB(), MetaA()]

    ran(MetaA())
    ran(MetaB())
    assert User().metaLoad() == [[2, "two"], {"score": 1}]


def test_metaLoad_with_single_requires_returns_the_metadata():
    @d6tflow.requires(MetaA)
    class User(d6tflow.tasks.TaskPickle):
        pass

    ran(MetaA())
    assert User().metaLoad() == {"score": 1}


def test_metaSave_sets_metadata_attribute_and_outputLoadMeta_reads_it():
    task = MetaA()
    ran(task)
    assert MetaA().outputLoadMeta() == {"score": 1}
    task.metaSave({"score": 5})
    assert task.metadata == {"score": 5}
    assert MetaA().outputLoadMeta() == {"score": 5}


def test_outputLoadMeta_without_metadata_raises_naming_the_task():
    ran(NoMeta())
    with pytest.raises(RuntimeError, match="No metadata to load for task NoMeta"):
        NoMeta().outputLoadMeta()


def test_outputLoadMeta_of_unrun_task_raises_not_complete():
    with pytest.raises(RuntimeError, match="not complete"):
        MetaA().outputLoadMeta()


def test_outputLoadAllMeta_collects_every_task_with_metadata_past_a_gap():
    class Chain1(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(1)
            self.metaSave({"step": 1})

    @d6tflow.requires(Chain1)
    class Chain2(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(2)

    @d6tflow.requires(Chain2)
    class Chain3(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(3)
            self.metaSave({"step": 3})

    ran(Chain3())
    assert Chain3().outputLoadAllMeta() == {"Chain3": {"step": 3}, "Chain1": {"step": 1}}


def test_outputLoadAllMeta_of_unrun_task_raises_not_complete():
    with pytest.raises(RuntimeError, match="not complete"):
        MetaA().outputLoadAllMeta()


class Scored(d6tflow.tasks.TaskPickle):
    input_files = ["v.txt"]

    def run(self):
        value = pathlib.Path("v.txt").read_text()
        self.save(value)
        self.metaSave({"score": value})


def test_outputLoadMeta_refuses_stale_metadata_unless_rerun_stale_is_off():
    pathlib.Path("v.txt").write_text("1")
    ran(Scored())
    assert Scored().outputLoadMeta() == {"score": "1"}
    pathlib.Path("v.txt").write_text("2")  # the metadata now describes other data
    with pytest.raises(d6tflow.errors.TaskNotCompleteError) as refused:
        Scored().outputLoadMeta()
    message = str(refused.value)
    assert "metadata of Scored()" in message and "STALE: input file v.txt changed" in message
    assert "d6tflow.run(Scored())" in message and "rerun_stale = False" in message
    # Asked for, stale metadata is served, as stale outputs are.
    d6tflow.settings.rerun_stale = False
    assert Scored().outputLoadMeta() == {"score": "1"}
    assert Scored().outputLoadAllMeta() == {"Scored": {"score": "1"}}


def test_outputLoadMeta_refuses_metadata_whose_outputs_are_gone():
    pathlib.Path("v.txt").write_text("1")
    task = ran(Scored())
    task.output().path.unlink()  # the metadata file stays behind
    with pytest.raises(RuntimeError, match="PENDING"):
        Scored().outputLoadMeta()


def test_outputLoadAllMeta_refuses_when_upstream_metadata_is_stale():
    @d6tflow.requires(Scored)
    class AfterScored(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save(self.inputLoad())
            self.metaSave({"after": True})

    pathlib.Path("v.txt").write_text("1")
    ran(AfterScored())
    assert AfterScored().outputLoadAllMeta() == {
        "AfterScored": {"after": True},
        "Scored": {"score": "1"},
    }
    pathlib.Path("v.txt").write_text("2")
    with pytest.raises(RuntimeError, match=r"AfterScored\(\), task not complete \(STALE"):
        AfterScored().outputLoadAllMeta()
    # Without cascading, the task itself is complete; its stale upstream's metadata is not served.
    d6tflow.settings.check_dependencies = False
    with pytest.raises(RuntimeError, match=r"metadata of Scored\(\).*input file v.txt changed"):
        AfterScored().outputLoadAllMeta()


# -- in-memory outputs ----------------------------------------------------------------------------


def test_task_cache_output_lives_in_d6tflow_data_not_on_disk(fresh_data_dir):
    class InMemory(d6tflow.tasks.TaskCache):
        def run(self):
            self.save({"k": "v"})

    task = ran(InMemory())
    path = task.output().path
    assert path.name == "InMemory__99914b932b-data.cache"
    assert d6tflow.data[path] == {"k": "v"}
    assert list(d6tflow.data) == [str(path)]  # keyed by str, as in the original
    assert files_in(fresh_data_dir) == []
    d6tflow.data.clear()
    assert not task.complete()


def test_file_output_path_is_a_pathlib_path():
    assert isinstance(Up().output().path, pathlib.Path)
    assert all(isinstance(t.path, pathlib.Path) for t in Pair().output().values())


def test_every_kind_of_target_gives_its_path_as_a_pathlib_path():
    class InMemoryPath(d6tflow.tasks.TaskCache):
        pass

    class OwnTarget(d6tflow.targets.Target):  # the original's way: a target class of one's own
        def __init__(self, path):
            self.path = path

    class LegacyTargetPath(d6tflow.tasks.TaskData):
        target_class = OwnTarget
        target_ext = "txt"

    for target in (InMemoryPath().output(), LegacyTargetPath().output()):
        assert isinstance(target.path, pathlib.Path), type(target).__name__


# -- identity and per-instance state ---------------------------------------------------------------


def test_tasks_with_equal_params_are_equal_and_hash_alike():
    assert WithParam(p=3) == WithParam(p=3)
    assert hash(WithParam(p=3)) == hash(WithParam(p=3))
    assert WithParam(p=3) != WithParam(p=4)
    assert {WithParam(p=3), WithParam(p=3), WithParam()} == {WithParam(p=3), WithParam(p=1)}


def test_tasks_of_different_classes_are_not_equal():
    assert Up() != NoMeta()


def test_unknown_keyword_arguments_are_dropped():
    task = WithParam(p=2, not_a_param="x")
    assert task == WithParam(p=2)
    assert not hasattr(task, "not_a_param")
    assert task.task_id == WithParam(p=2).task_id


def test_path_set_on_one_instance_does_not_leak_to_a_new_one(fresh_data_dir):
    first = WithParam()
    first.path = "somewhere"
    second = WithParam()
    assert second.path is None
    assert second.output().path.parent == fresh_data_dir / "WithParam"


def test_metadata_of_a_new_instance_is_what_was_saved_not_what_another_instance_holds():
    first = ran(MetaA())
    first.metaSave({"score": 2})
    assert first.metadata == {"score": 2}
    assert MetaA().metadata == MetaA().outputLoadMeta() == {"score": 2}  # read from its file
    first.metadata = {"score": "set by hand, never saved"}
    assert MetaA().metadata == {"score": 2}


def test_reset_of_in_memory_output_removes_it_from_d6tflow_data():
    class InMemory(d6tflow.tasks.TaskCache):
        def run(self):
            self.save([1])

    task = ran(InMemory())
    task.reset(confirm=False)
    assert task.output().path not in d6tflow.data
    assert not task.complete()


def test_run_after_data_folder_deleted_by_hand_saves_again(fresh_data_dir):
    class Scored(d6tflow.tasks.TaskPickle):
        def run(self):
            self.save("again")
            self.metaSave({"score": 1})

    ran(Scored())
    ran(Pair())
    shutil.rmtree(fresh_data_dir)
    assert not Scored().complete()
    result = d6tflow.run([Scored(), Pair()], execution_summary=False, abort=False)
    assert result, [str(f) for f in result.failures]
    assert Scored().outputLoad() == "again"
    assert Scored().outputLoadMeta() == {"score": 1}
    assert Pair().outputLoad() == [1, 2]

"""Task ids and output locations identical to the original d6tflow's, so its data folders are
found again; and a folder written the original's way loads without rerunning anything."""

from __future__ import annotations

import datetime
import pickle
import re

import pandas as pd
import pytest

import d6tflow


class TP(d6tflow.tasks.TaskPickle):
    model = d6tflow.Parameter(default="ols")
    do_preprocess = d6tflow.BoolParameter(default=True)
    n = d6tflow.IntParameter(default=3)


@pytest.mark.parametrize(
    ("kwargs", "task_id"),
    [
        ({}, "TP_True_ols_3_f83b90f261"),
        ({"model": "gbm/x y"}, "TP_True_gbm_x_y_3_c95ccba0b9"),
    ],
)
def test_task_id_matches_the_original(kwargs, task_id):
    assert TP(**kwargs).task_id == task_id


def test_task_without_parameters_has_the_empty_hash():
    class Task1(d6tflow.tasks.TaskPqPandas):
        pass

    assert Task1().task_id == "Task1__99914b932b"


def test_task_id_summary_of_typed_values():
    class D(d6tflow.tasks.TaskPickle):
        d = d6tflow.DateParameter()
        f = d6tflow.FloatParameter()
        lst = d6tflow.ListParameter()
        k = d6tflow.DictParameter()

    task_id = D(d=datetime.date(2020, 1, 2), f=0.5, lst=[1, 2], k={"k": 1}).task_id
    assert task_id.startswith("D_2020_01_02_0_5___k___1___1__2__")


def test_summary_keeps_twenty_parameters_of_64_characters():
    params = {f"p{i:02d}": d6tflow.Parameter(default="x" * 70) for i in range(25)}
    Wide = type("Wide", (d6tflow.tasks.TaskPickle,), params)
    _, *summary, digest = Wide().task_id.split("_")
    assert summary == ["x" * 64] * 20
    assert len(digest) == 10


def test_equal_parameters_make_equal_tasks():
    assert TP() == TP(model="ols") and hash(TP()) == hash(TP(model="ols"))
    assert TP() != TP(n=4)
    assert len({TP(), TP(), TP(n=4)}) == 2


def test_output_path_uses_the_full_class_name(fresh_data_dir):
    class get_data(d6tflow.tasks.TaskPickle):
        pass

    assert get_data().output().path == fresh_data_dir / "get_data" / "get_data__99914b932b-data.pkl"


def test_path_given_to_one_instance_does_not_stick_to_later_instances(tmp_path, fresh_data_dir):
    first = TP(path=tmp_path / "elsewhere")
    assert first.output().path.parent.parent == tmp_path / "elsewhere"
    assert TP().output().path.parent.parent == fresh_data_dir


def _write_original_layout(data_dir):
    """Files exactly where and how d6tflow 0.2.8 writes them (gzip parquet, pickle, meta)."""
    df = pd.DataFrame({"x": [1, 2, 3]}, index=[10, 11, 12])
    (data_dir / "TaskGetData").mkdir(parents=True)
    df.to_parquet(
        data_dir / "TaskGetData" / "TaskGetData__99914b932b-data.parquet", compression="gzip"
    )
    train = data_dir / "TaskTrain"
    train.mkdir()
    with open(train / "TaskTrain_True_e00389f8b2-data.pkl", "wb") as f:
        pickle.dump({"model": "fitted"}, f)
    with open(train / "TaskTrain_True_e00389f8b2-meta.pickle", "wb") as f:
        pickle.dump({"score": 0.9}, f)
    # A class with an underscore: the original cut its folder name at the first underscore.
    (data_dir / "load").mkdir()
    with open(data_dir / "load" / "load_raw__99914b932b-data.pkl", "wb") as f:
        pickle.dump([1, 2], f)
    return df


def test_data_folder_written_by_the_original_loads_without_rerunning(fresh_data_dir, capsys):
    df = _write_original_layout(fresh_data_dir)

    class TaskGetData(d6tflow.tasks.TaskPqPandas):
        def run(self):
            raise AssertionError("must not rerun")

    @d6tflow.requires(TaskGetData)
    class TaskTrain(d6tflow.tasks.TaskPickle):
        do_preprocess = d6tflow.BoolParameter(default=True)

        def run(self):
            raise AssertionError("must not rerun")

    class load_raw(d6tflow.tasks.TaskPickle):
        def run(self):
            raise AssertionError("must not rerun")

    assert TaskTrain().task_id == "TaskTrain_True_e00389f8b2"
    result = d6tflow.run([TaskTrain(), load_raw()])
    assert "2 complete ones were encountered" in capsys.readouterr().out
    assert result.tasks(d6tflow.TaskState.DONE) == []
    pd.testing.assert_frame_equal(TaskGetData().outputLoad(), df)
    assert TaskTrain().outputLoad() == {"model": "fitted"}
    assert TaskTrain().outputLoadMeta() == {"score": 0.9}
    assert load_raw().outputLoad() == [1, 2]


def test_task_id_is_the_md5_of_luigis_parameter_json():
    """The id's hash covers every significant parameter, escaped as json.dumps escapes it."""
    import hashlib
    import json

    class Odd(d6tflow.tasks.TaskPickle):
        text = d6tflow.Parameter()
        opts = d6tflow.DictParameter(default={"k": 'v"q'})

    task = Odd(text='é ü " \\ \n')
    blob = json.dumps(
        task.to_str_params(only_significant=True), separators=(",", ":"), sort_keys=True
    )
    assert task.task_id.endswith("_" + hashlib.md5(blob.encode()).hexdigest()[:10])


def test_a_serialize_that_returns_no_string_is_named():
    class NumberParameter(d6tflow.Parameter):
        def serialize(self, x):
            return x

    class Counted(d6tflow.tasks.TaskPickle):
        count = NumberParameter()

    with pytest.raises(d6tflow.errors.TaskDefinitionError, match=r"Counted: parameter 'count'"):
        Counted(count=3)


def test_an_unpickled_task_equals_and_hashes_like_one_made_in_that_process(tmp_path):
    # Class hashes differ between processes; a task sent to a worker must still find equal tasks
    # made there in dicts and sets (graphs are dicts of tasks).
    import subprocess
    import sys
    import textwrap

    (tmp_path / "idflow.py").write_text(
        "import d6tflow\n\nclass Sent(d6tflow.tasks.TaskPickle):\n    n = d6tflow.IntParameter()\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import idflow

        blob = pickle.dumps(idflow.Sent(n=1))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("idflow", None)
    (tmp_path / "sent.pkl").write_bytes(blob)
    script = textwrap.dedent(
        """
        import pickle
        import idflow
        received = pickle.loads(open("sent.pkl", "rb").read())
        made_here = idflow.Sent(n=1)
        assert received == made_here and hash(received) == hash(made_here)
        assert made_here in {received: 1}
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)


# -- two classes of one name ----------------------------------------------------------------------


@pytest.fixture
def modules(tmp_path):
    """Write Python modules to a folder and import them, as a user's project would."""
    import importlib
    import sys
    import textwrap

    folder = tmp_path / "mods"
    folder.mkdir()
    sys.path.insert(0, str(folder))
    written: list[str] = []

    def load(name: str, source: str):
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return importlib.import_module(name)

    yield load
    sys.path.remove(str(folder))
    for name in written:
        sys.modules.pop(name, None)


TASK_X = """
import d6tflow

class TaskX(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save({who!r})
"""


def test_same_class_name_in_two_modules_writing_to_one_folder_is_refused(modules):
    flow_a = modules("flow_a", TASK_X.format(who="a"))
    flow_b = modules("flow_b", TASK_X.format(who="b"))
    d6tflow.run(flow_a.TaskX(), execution_summary=False)
    with pytest.raises(d6tflow.errors.TaskFamilyClashError) as refused:
        d6tflow.run(flow_b.TaskX(), execution_summary=False)
    message = str(refused.value)
    assert "flow_a.TaskX and flow_b.TaskX" in message
    assert str(d6tflow.settings.dirpath / "TaskX") in message
    assert 'task_family = "TaskX2"' in message and "task_group" in message
    # Loading would have served flow_a's output as flow_b's.
    with pytest.raises(d6tflow.errors.TaskFamilyClashError):
        flow_b.TaskX().outputLoad()
    assert flow_a.TaskX().outputLoad() == "a"


def test_same_class_name_in_one_graph_is_refused_before_anything_runs(modules):
    modules("flow_a", TASK_X.format(who="a"))
    flow_b = modules(
        "flow_b",
        """
        import d6tflow
        import flow_a

        @d6tflow.requires(flow_a.TaskX)
        class TaskX(d6tflow.tasks.TaskPickle):
            def run(self):
                self.save(self.inputLoad() + "b")
        """,
    )
    with pytest.raises(
        d6tflow.errors.TaskFamilyClashError, match=re.escape("flow_a.TaskX and flow_b.TaskX")
    ):
        d6tflow.run(flow_b.TaskX(), execution_summary=False)
    assert not d6tflow.settings.dirpath.exists() or not any(d6tflow.settings.dirpath.rglob("*.pkl"))


def test_task_family_gives_a_class_its_own_task_ids_and_folder(modules):
    flow_a = modules("flow_a", TASK_X.format(who="a"))
    flow_b = modules(
        "flow_b",
        """
        import d6tflow

        class TaskX(d6tflow.tasks.TaskPickle):
            task_family = "TaskXB"

            def run(self):
                self.save("b")
        """,
    )
    d6tflow.run([flow_a.TaskX(), flow_b.TaskX()], execution_summary=False)
    assert flow_a.TaskX().outputLoad() == "a"
    assert flow_b.TaskX().outputLoad() == "b"
    assert flow_b.TaskX().task_id == "TaskXB__99914b932b"
    assert flow_b.TaskX().output().path.parent == d6tflow.settings.dirpath / "TaskXB"
    assert repr(flow_b.TaskX()) == "TaskXB()"


def test_same_class_name_in_two_modules_with_their_own_data_folders_is_fine(modules, tmp_path):
    flow_a = modules("flow_a", TASK_X.format(who="a"))
    flow_b = modules("flow_b", TASK_X.format(who="b"))
    d6tflow.set_dir(tmp_path / "data_a")
    d6tflow.run(flow_a.TaskX(), execution_summary=False)
    d6tflow.set_dir(tmp_path / "data_b")
    d6tflow.run(flow_b.TaskX(), execution_summary=False)
    assert flow_b.TaskX().outputLoad() == "b"
    d6tflow.set_dir(tmp_path / "data_a")
    assert flow_a.TaskX().outputLoad() == "a"


def test_an_external_class_of_the_same_name_reads_the_original_outputs(modules):
    flow_a = modules("flow_a", TASK_X.format(who="a"))
    reader = modules(
        "reader",
        """
        import d6tflow

        class TaskX(d6tflow.tasks.TaskPickle):
            external = True
        """,
    )
    d6tflow.run(flow_a.TaskX(), execution_summary=False)
    assert reader.TaskX().outputLoad() == "a"
    d6tflow.run(flow_a.TaskX(), forced=flow_a.TaskX(), execution_summary=False)


def test_a_class_redefined_in_the_same_module_is_the_same_writer(modules):
    import importlib

    def define():
        class Redefined(d6tflow.tasks.TaskPickle):
            def run(self):
                self.save(1)

        return Redefined

    d6tflow.run(define()(), execution_summary=False)
    assert define()().outputLoad() == 1  # a notebook cell run again
    flow_a = modules("flow_a", TASK_X.format(who="a"))
    d6tflow.run(flow_a.TaskX(), execution_summary=False)
    assert importlib.reload(flow_a).TaskX().outputLoad() == "a"


def test_a_script_run_as_main_and_imported_by_itself_is_the_same_writer(tmp_path):
    import subprocess
    import sys
    import textwrap

    (tmp_path / "flow.py").write_text(
        textwrap.dedent(
            """
            import d6tflow

            class TaskS(d6tflow.tasks.TaskPickle):
                def run(self):
                    self.save(__name__)

            if __name__ == "__main__":
                d6tflow.set_dir("data")
                d6tflow.run(TaskS(), execution_summary=False)
                import flow
                print(flow.TaskS().outputLoad())
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "flow.py"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "__main__"


def test_task_family_is_not_inherited_and_must_be_a_name():
    class Named(d6tflow.tasks.TaskPickle):
        task_family = "Renamed"

    class Child(Named):
        pass

    assert Named().task_id.startswith("Renamed_") and Named.get_task_family() == "Renamed"
    assert Child().task_id.startswith("Child_")
    Named.task_family = "Later"  # set after the class is made: ids and folder follow
    assert Named().task_id.startswith("Later_") and Named().output().path.parent.name == "Later"
    with pytest.raises(
        d6tflow.errors.FolderNameError, match=re.escape("class Bad: task_family '../x'")
    ):

        class Bad(d6tflow.tasks.TaskPickle):
            task_family = "../x"

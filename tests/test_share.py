"""FlowExport writes importable task stubs; a fresh process (or FlowImport) loads outputs."""

from __future__ import annotations

import datetime
import enum
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import d6tflow
from d6tflow.share import dotdict


@pytest.fixture(autouse=True)
def quiet(monkeypatch):
    monkeypatch.setattr(d6tflow.settings, "execution_summary", False)


# The original's export test tasks (tests/test_workflow.py::TestFlowExports), with our imports.
class Task1A0(d6tflow.tasks.TaskCache):
    pass


class Task1A(Task1A0):
    persist = ["df", "df2"]
    idx = d6tflow.IntParameter(default=1)
    idx2 = d6tflow.Parameter(default="test")


class Task1B(d6tflow.tasks.TaskCache):
    persist = ["df", "df2"]
    idx3 = d6tflow.Parameter(default="test3")


class Task1C(d6tflow.tasks.TaskCache):
    persist = ["df", "df2"]
    idx3 = d6tflow.Parameter(default="test3")
    export = False


@d6tflow.requires(Task1A, Task1B, Task1C)
class Task1All(d6tflow.tasks.TaskCache):
    pass


@d6tflow.requires(Task1A, Task1B, Task1C)
class Task2(d6tflow.tasks.TaskCache):
    pipename = ["d6tpipe_pipe1"]


@d6tflow.requires(Task1A, Task1B, Task1C)
class Task2Path(d6tflow.tasks.TaskCache):
    path = "usr/test/"


@d6tflow.requires(Task1A, Task1B, Task1C)
class Task3Flow(d6tflow.tasks.TaskCache):
    task_group = "upwork"


HEADER = "\nimport d6tflow\nimport datetime\n\n"
TASK1ALL = """class Task1All(d6tflow.tasks.TaskCache):
    external=True
    persist=['data']
    idx=d6tflow.IntParameter(default=1)
    idx2=d6tflow.Parameter(default='test')
    idx3=d6tflow.Parameter(default='test3')

"""
TASK1A = """class Task1A(d6tflow.tasks.TaskCache):
    external=True
    persist=['df', 'df2']
    idx=d6tflow.IntParameter(default=1)
    idx2=d6tflow.Parameter(default='test')

"""
TASK1B = """class Task1B(d6tflow.tasks.TaskCache):
    external=True
    persist=['df', 'df2']
    idx3=d6tflow.Parameter(default='test3')

"""


def test_export_one_task_writes_the_original_layout_with_our_imports(tmp_path):
    target = tmp_path / "out" / "tasks_d6tpipe.py"
    code = d6tflow.FlowExport(tasks=Task1All(), save=True, path_export=target).generate()
    assert code == HEADER + TASK1ALL
    assert target.read_text() == code
    assert "luigi" not in code


def test_export_several_tasks_keeps_the_given_order():
    code = d6tflow.FlowExport(tasks=[Task1A(), Task1All()], save=False).generate()
    assert code == HEADER + TASK1A + TASK1ALL


def test_without_save_the_code_is_printed_not_written(tmp_path, capsys):
    d6tflow.FlowExport(tasks=Task1B()).generate()
    assert TASK1B in capsys.readouterr().out
    assert not (tmp_path / "tasks_d6tpipe.py").exists()


def test_export_a_flow_writes_every_upstream_task_first_and_skips_export_false():
    code = d6tflow.FlowExport(flows=d6tflow.Workflow(Task1All)).generate()
    assert code == HEADER + TASK1A + TASK1B + TASK1ALL


def test_pipename_path_and_task_group_are_written():
    assert "    pipename=['d6tpipe_pipe1']\n" in d6tflow.FlowExport(tasks=Task2()).generate()
    assert '    path="usr/test"\n' in d6tflow.FlowExport(tasks=Task2Path()).generate()
    code = d6tflow.FlowExport(tasks=Task3Flow()).generate()
    assert '    task_group="upwork"\n    idx=' in code


def test_a_flow_path_and_env_go_to_every_exported_task():
    flow = d6tflow.Workflow(Task3Flow, path="data/data2/wf_change", env="prod")
    code = d6tflow.FlowExport(flows=flow).generate()
    assert code == HEADER + (
        "class Task1A(d6tflow.tasks.TaskCache):\n"
        "    external=True\n"
        "    persist=['df', 'df2']\n"
        '    path="data/data2/wf_change/env=prod"\n'
        "    idx=d6tflow.IntParameter(default=1)\n"
        "    idx2=d6tflow.Parameter(default='test')\n\n"
        "class Task1B(d6tflow.tasks.TaskCache):\n"
        "    external=True\n"
        "    persist=['df', 'df2']\n"
        '    path="data/data2/wf_change/env=prod"\n'
        "    idx3=d6tflow.Parameter(default='test3')\n\n"
        "class Task3Flow(d6tflow.tasks.TaskCache):\n"
        "    external=True\n"
        "    persist=['data']\n"
        '    path="data/data2/wf_change/env=prod"\n'
        '    task_group="upwork"\n'
        "    idx=d6tflow.IntParameter(default=1)\n"
        "    idx2=d6tflow.Parameter(default='test')\n"
        "    idx3=d6tflow.Parameter(default='test3')\n\n"
    )


def test_defaults_are_the_exported_task_values_and_one_class_per_task_class():
    flows = d6tflow.WorkflowMulti(Task1A, {"a": {"idx": 5}, "b": {"idx": 6}})
    code = d6tflow.FlowExport(flows=flows).generate()
    assert code.count("class Task1A(") == 1
    assert "idx=d6tflow.IntParameter(default=5)" in code


def test_exporting_a_class_instead_of_an_instance_is_explained():
    with pytest.raises(TypeError, match=r"Pass an instance: TaskX\(\)"):
        d6tflow.FlowExport(tasks=Task1A)


# -- parameter types ------------------------------------------------------------------------------


class Colour(enum.Enum):
    red = 1
    blue = 2


class ShareTyped(d6tflow.tasks.TaskPickle):
    day = d6tflow.DateParameter(default=datetime.date(2020, 1, 2))
    month = d6tflow.MonthParameter(default=datetime.date(2021, 3, 1))
    hour = d6tflow.DateHourParameter(default=datetime.datetime(2020, 1, 2, 3))
    delta = d6tflow.TimeDeltaParameter(default=datetime.timedelta(days=2))
    interval = d6tflow.DateIntervalParameter(default=d6tflow.params.DateInterval.parse("2020-W03"))
    rate = d6tflow.FloatParameter(default=0.5)
    flag = d6tflow.BoolParameter(default=True)
    items = d6tflow.ListParameter(default=[1, 2])
    single = d6tflow.TupleParameter(default=(3,))
    options = d6tflow.DictParameter(default={"k": 1, "nested": {"a": [1, 2]}})
    choice = d6tflow.ChoiceParameter(default="b", choices=["a", "b"])
    number = d6tflow.NumericalParameter(default=3, min_value=0, max_value=10, var_type=int)
    colour = d6tflow.EnumParameter(default=Colour.blue, enum=Colour)
    maybe = d6tflow.OptionalParameter(default=None)
    seed = d6tflow.IntParameter(default=7, significant=False)

    def run(self):
        self.save(self.to_str_params())


def _load_stubs(code: str, tmp_path, name: str):
    (tmp_path / f"{name}.py").write_text(code)
    return d6tflow.FlowImport(tmp_path, name).tasks


def test_every_parameter_type_is_exported_so_the_stub_has_the_same_task_id(tmp_path):
    task = ShareTyped(rate=1.25, items=[4, 5], options={"x": [1]}, number=4, seed=9)
    code = d6tflow.FlowExport(tasks=task).generate()
    assert "day=d6tflow.DateParameter(default=datetime.date(2020, 1, 2))" in code
    assert "rate=d6tflow.FloatParameter(default=1.25)" in code
    assert "options=d6tflow.DictParameter(default={'x': (1,)})" in code
    assert "choice=d6tflow.ChoiceParameter(default='b', choices=['a', 'b'])" in code
    assert "colour=d6tflow.Parameter(default='blue')" in code  # the enum class is not exported
    assert "seed=d6tflow.IntParameter(default=9, significant=False)" in code
    stub = _load_stubs(code, tmp_path, "typed_stubs").ShareTyped
    assert stub().task_id == task.task_id
    assert stub.external is True


def test_custom_format_name_is_exported():
    class ShareJsonLike(d6tflow.tasks.TaskData):
        format = "json"

    code = d6tflow.FlowExport(tasks=ShareJsonLike()).generate()
    assert "class ShareJsonLike(d6tflow.tasks.TaskData):\n    external=True\n" in code
    assert '    format="json"\n' in code


# -- importing ----------------------------------------------------------------------------------


class ShareGetData(d6tflow.tasks.TaskPqPandas):
    def run(self):
        self.save(pd.DataFrame({"a": [1, 2, 3]}))


@d6tflow.requires(ShareGetData)
class ShareModel(d6tflow.tasks.TaskPickle):
    persist = ["model", "scores"]
    alpha = d6tflow.FloatParameter(default=0.1)

    def run(self):
        total = int(self.inputLoad()["a"].sum())
        self.save({"model": {"alpha": self.alpha, "total": total}, "scores": [0.5, 0.7]})


def test_generated_module_loads_the_outputs_in_a_fresh_process(tmp_path):
    flow = d6tflow.Workflow(ShareModel, params={"alpha": 0.3}, env="shared")
    flow.run()
    d6tflow.FlowExport(flows=flow, save=True, path_export=tmp_path / "tasks_d6tpipe.py").generate()
    script = textwrap.dedent(
        """
        import sys
        import d6tflow
        import tasks_d6tpipe as stubs

        assert "luigi" not in sys.modules
        model, scores = stubs.ShareModel().outputLoad()
        print(model["total"], model["alpha"], scores, stubs.ShareModel().complete())
        print(stubs.ShareGetData().outputLoad()["a"].tolist())
        print(stubs.ShareModel(alpha=0.9).complete())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["6 0.3 [0.5, 0.7] True", "[1, 2, 3]", "False"]


def test_flow_import_reads_outputs_from_path_data_in_a_fresh_process(tmp_path):
    d6tflow.run(ShareModel())
    d6tflow.FlowExport(tasks=[ShareGetData(), ShareModel()], save=True).generate()
    script = textwrap.dedent(
        f"""
        import d6tflow
        flow = d6tflow.FlowImport(".", "tasks_d6tpipe", path_data={str(d6tflow.settings.dirpath)!r})
        print(sorted(flow.tasks), flow.dirpath.name)
        print(flow.tasks.ShareModel().outputLoad(keys="model"))
        """
    )
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "tasks_d6tpipe.py").write_text(
        (tmp_path / "tasks_d6tpipe.py").read_text()
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "['ShareGetData', 'ShareModel'] data",
        "{'alpha': 0.1, 'total': 6}",
    ]


def test_flow_import_of_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"FlowExport\(\.\.\., save=True\)"):
        d6tflow.FlowImport(tmp_path, "nothing_here")


def test_dotdict_items_are_attributes():
    d = dotdict(a=1)
    d.b = 2
    assert d.a == 1 and d["b"] == 2
    del d.a
    assert d == {"b": 2}
    with pytest.raises(AttributeError):
        d.missing

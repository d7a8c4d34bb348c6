"""Code and data folders of the original d6tflow 0.2.8 (over luigi), unchanged.

The expected ids below were printed by the original itself (d6tflow 0.2.8, luigi 3.8.1; `make
bench-peer` installs it) for these very class definitions; the original is not a dependency of the
tests, its answers are data here.
"""

from __future__ import annotations

import datetime
import enum
import pickle

import pandas as pd
import pytest

import d6tflow


class TNone(d6tflow.tasks.TaskPickle):
    items = d6tflow.ListParameter(default=None)
    label = d6tflow.OptionalParameter(default=None)


class TNoneMore(d6tflow.tasks.TaskPickle):
    d = d6tflow.DictParameter(default=None)
    t = d6tflow.TupleParameter(default=None)
    p = d6tflow.Parameter(default=None)
    i = d6tflow.IntParameter(default=None)


class TPlainList(d6tflow.tasks.TaskPickle):
    x = d6tflow.Parameter()


class TEmpty(d6tflow.tasks.TaskPickle):
    l = d6tflow.ListParameter(default=[])  # noqa: E741 - the name the ids were made with
    t = d6tflow.TupleParameter(default=())
    d = d6tflow.DictParameter(default={})


class TNested(d6tflow.tasks.TaskPickle):
    l = d6tflow.ListParameter(default=[[1, 2], ["a", [3.5]]])  # noqa: E741
    d = d6tflow.DictParameter(default={"b": [1, 2], "a": {"z": None}})


class TNumbers(d6tflow.tasks.TaskPickle):
    f1 = d6tflow.FloatParameter(default=1.0)
    f2 = d6tflow.FloatParameter(default=1e-7)
    f3 = d6tflow.FloatParameter(default=1)
    i = d6tflow.IntParameter(default=-3)
    b = d6tflow.BoolParameter(default=True)


class TDates(d6tflow.tasks.TaskPickle):
    d = d6tflow.DateParameter(default=datetime.date(2020, 2, 29))
    m = d6tflow.MonthParameter(default=datetime.date(2021, 3, 1))
    h = d6tflow.DateHourParameter(default=datetime.datetime(2021, 3, 1, 13))
    s = d6tflow.DateSecondParameter(default=datetime.datetime(2021, 3, 1, 13, 5, 7))


class TUnicode(d6tflow.tasks.TaskPickle):
    name = d6tflow.Parameter(default="héllo wörld ✓")
    lst = d6tflow.ListParameter(default=["ü", "日本"])


class TBool(d6tflow.tasks.TaskPickle):
    model = d6tflow.BoolParameter(default="rf")


class Color(enum.Enum):
    red = 1
    blue = 2


class TOther(d6tflow.tasks.TaskPickle):
    e = d6tflow.EnumParameter(enum=Color, default=Color.red)
    c = d6tflow.ChoiceParameter(choices=["a", "b"], default="b")
    td = d6tflow.TimeDeltaParameter(default=datetime.timedelta(days=1, hours=2, seconds=3))
    n = d6tflow.NumericalParameter(min_value=0, max_value=10, var_type=float, default=2.5)
    y = d6tflow.YearParameter(default=datetime.date(2021, 1, 1))
    mi = d6tflow.DateMinuteParameter(default=datetime.datetime(2021, 3, 1, 13, 5))


class TKind(d6tflow.tasks.TaskPickle):
    k = d6tflow.TaskParameter(default=TOther)


class TInterval(d6tflow.tasks.TaskPickle):
    i = d6tflow.DateIntervalParameter()


ORIGINAL_IDS = [
    (lambda: TNone(), "TNone_null__6d5ec0241f"),
    (lambda: TNone(items=[1], label="x"), "TNone__1__x_8ad1482bb8"),
    (lambda: TNoneMore(), "TNoneMore_null_None_None_null_e4a6b68b4f"),
    (lambda: TPlainList(x=["a", "b"]), "TPlainList___a____b___43fb70be55"),
    (lambda: TPlainList(x=("a", "b")), "TPlainList___a____b___43fb70be55"),
    (lambda: TPlainList(x=[1, [2, 3]]), "TPlainList__1___2__3___711a32d8ff"),
    (lambda: TEmpty(), "TEmpty__________650aa18d08"),
    (
        lambda: TNested(),
        "TNested___b____1__2____a_____z___null_____1__2_____a____3_5____3e6899374c",
    ),
    (lambda: TNumbers(), "TNumbers_True_1_0_1e_07_1__3_fa56b57bee"),
    (lambda: TNumbers(f1=2.5, b=False), "TNumbers_False_2_5_1e_07_1__3_62c2baff67"),
    (lambda: TDates(), "TDates_2020_02_29_2021_03_01T13_2021_03_2021_03_01T130507_ef3481f6b2"),
    (lambda: TUnicode(), "TUnicode____u00fc_____u65e5_u672c___h_llo_w_rld___63c0b0f6fe"),
    (lambda: TBool(), "TBool_None_629ac9c265"),
    (lambda: TOther(), "TOther_b_red_2021_03_01T1305_2_5_0_w_1_d_2_h_0_m_3_s_2021_50062f5564"),
    (
        lambda: TOther(e=Color.blue, c="a", td=datetime.timedelta(0), n=0.0),
        "TOther_a_blue_2021_03_01T1305_0_0_0_w_0_d_0_h_0_m_0_s_2021_94df9a4e05",
    ),
    (lambda: TKind(), "TKind_TOther_032ffcca1f"),
    (lambda: TInterval(i="2021-01-01-2021-01-31"), "TInterval_2021_01_01_2021_01_31_874c1eb729"),
    (lambda: TInterval(i="2021-W05"), "TInterval_2021_W05_e45ae6d470"),
    (lambda: TInterval(i="2021-03"), "TInterval_2021_03_8df51abeab"),
]


@pytest.mark.filterwarnings("ignore:TBool.model")
@pytest.mark.parametrize(("make", "expected"), ORIGINAL_IDS, ids=[e for _, e in ORIGINAL_IDS])
def test_task_ids_are_the_originals(make, expected):
    assert make().task_id == expected


def test_a_plain_parameter_holding_a_list_holds_a_tuple_as_in_the_original():
    assert TPlainList(x=["a", "b"]).x == ("a", "b")
    assert TPlainList(x={"a"}).x == ("a",)


def test_outputs_of_the_original_with_none_parameters_are_found_without_a_rerun(fresh_data_dir):
    # The original's file for TNone(): <data>/TNone/<its id>-data.pkl, no record.
    folder = fresh_data_dir / "TNone"
    folder.mkdir(parents=True)
    (folder / "TNone_null__6d5ec0241f-data.pkl").write_bytes(pickle.dumps({"made": "original"}))
    result = d6tflow.run(TNone(), execution_summary=False)
    assert result.status == {TNone(): d6tflow.TaskState.COMPLETE}
    assert TNone().outputLoad() == {"made": "original"}


def test_metadata_in_the_originals_cut_folder_is_found(fresh_data_dir):
    class Task_Get_Data(d6tflow.tasks.TaskPqPandas):
        n = d6tflow.IntParameter(default=2)

        def run(self):
            raise AssertionError("the original's outputs are complete: nothing runs")

    @d6tflow.requires(Task_Get_Data)
    class TaskReport(d6tflow.tasks.TaskJson):
        def run(self):
            self.save({"meta": self.metaLoad()})

    # What the original 0.2.8 wrote for Task_Get_Data(): its folder cut at the first "_".
    folder = fresh_data_dir / "Task"
    folder.mkdir(parents=True)
    pd.DataFrame({"a": [0, 1]}).to_parquet(folder / "Task_Get_Data_2_fbe666d9fe-data.parquet")
    (folder / "Task_Get_Data_2_fbe666d9fe-meta.pickle").write_bytes(pickle.dumps({"rows": 2}))

    assert Task_Get_Data().outputLoadMeta() == {"rows": 2}
    assert Task_Get_Data().outputLoadAllMeta() == {"Task_Get_Data": {"rows": 2}}
    d6tflow.run(TaskReport(), execution_summary=False)
    assert TaskReport().outputLoad() == {"meta": {"rows": 2}}


def test_luigi_hooks_on_success_and_on_failure_are_called(fresh_data_dir):
    calls = []

    class Good(d6tflow.tasks.TaskJson):
        def run(self):
            self.save({"ok": True})

        def on_success(self):
            calls.append(("success", self.task_family))

    class Bad(d6tflow.tasks.TaskJson):
        def run(self):
            raise ValueError("no data")

        def on_failure(self, exception):
            calls.append(("failure", str(exception)))
            return "the source was empty"

    result = d6tflow.run([Good(), Bad()], execution_summary=False, abort=False)
    assert calls == [("success", "Good"), ("failure", "no data")]
    assert "the source was empty" in result.failures[0].traceback
    d6tflow.run(Good(), execution_summary=False)  # complete: not run, no hook
    assert len(calls) == 2


def test_get_param_values_and_from_str_params_work_as_in_luigi():
    params = TNumbers.get_params()
    values = dict(TNumbers.get_param_values(params, (), {"f1": 2.5, "unknown": 1}))
    assert values == {"f1": 2.5, "f2": 1e-7, "f3": 1, "i": -3, "b": True}
    task = TNumbers(f1=2.5, b=False)
    again = TNumbers.from_str_params(task.to_str_params())
    assert again == task and again.task_id == task.task_id


def test_target_save_returns_the_path(fresh_data_dir):
    path = TNumbers().output().save({"x": 1})
    assert path == TNumbers().output().path
    assert path.exists()


# -- luigi parameters declared on d6tflow tasks (the original's docs and FlowExport stubs did) --

luigi = pytest.importorskip("luigi")  # a dev dependency: always there in `make test`


class L(d6tflow.tasks.TaskJson):
    n = luigi.IntParameter()

    def run(self):
        self.save({"n": self.n})


class M(d6tflow.tasks.TaskCache):
    name = luigi.Parameter(default="x")
    xs = luigi.ListParameter(default=[1, [2, 3]])
    on = luigi.BoolParameter(default=True)
    day = luigi.DateParameter(default=datetime.date(2024, 1, 31))
    opt = luigi.OptionalIntParameter(default=None)
    f = luigi.FloatParameter(default=1e-7)
    d = luigi.DictParameter(default={"b": 1, "a": [1, 2]})
    hidden = luigi.IntParameter(default=3, significant=False)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: L(n=5), "L_5_aa4f9f7fa3"),
        (lambda: L(5), "L_5_aa4f9f7fa3"),
        (lambda: M(), "M___b___1___a____1__2___2024_01_31_1e_07_x_True___1___2__3___44cd2c33bf"),
        (
            lambda: M(name="ü", xs=[], on=False, opt=4, f=1.0, d={}),
            "M____2024_01_31_1_0___False_4____241aa3f0b8",
        ),
    ],
)
def test_luigi_parameters_give_the_originals_task_ids(make, expected):
    assert make().task_id == expected


def test_luigi_parameters_are_values_in_run_and_the_originals_outputs_are_found(fresh_data_dir):
    assert [name for name, _ in M.get_params()][-1] == "hidden"
    assert M(hidden=9) == M()  # not significant: not in the id
    d6tflow.run(L(n=5), execution_summary=False)
    assert L(n=5).outputLoad() == {"n": 5}  # run() saw 5, not a parameter object
    # What the original wrote for L(n=6): found, loaded, not run again.
    (fresh_data_dir / "L" / "L_6_368384cd34-data.json").write_text('{"data": {"n": "orig"}}')
    result = d6tflow.run(L(n=6), execution_summary=False)
    assert result.status == {L(n=6): d6tflow.TaskState.COMPLETE}
    assert L(n=6).outputLoad() == {"n": "orig"}


def test_a_luigi_parameter_added_to_a_class_later_is_adopted_too():
    class Late(d6tflow.tasks.TaskCache):
        pass

    Late.n = luigi.IntParameter(default=5)
    assert Late().n == 5 and Late().task_id.startswith("Late_5_")
    with pytest.raises(d6tflow.errors.MissingParameterError, match="Late"):
        Late.k = luigi.IntParameter()
        Late()


# -- the original's instance-level naming, metadata on the task, its helpers --------------------


class Sized(d6tflow.tasks.TaskPqPandas):
    def run(self):
        self.save(pd.DataFrame({"a": range(3)}))
        self.metaSave({"rows": 3})


def test_target_dir_ext_and_save_attrib_set_on_an_instance_name_its_outputs(fresh_data_dir):
    task = Sized()
    task.target_dir, task.target_ext = "test", "pq"
    assert task.output().path == fresh_data_dir / "test" / "Sized__99914b932b-data.pq"
    task.run()
    task.save_attrib = False
    task.run()
    assert sorted(p.name for p in (fresh_data_dir / "test").iterdir()) == [
        "Sized__99914b932b-data.pq",
        "Sized__99914b932b-meta.pickle",
        "data.pq",
        "meta.pickle",
    ]
    assert Sized().output().path == fresh_data_dir / "Sized" / "Sized__99914b932b-data.parquet"


@pytest.mark.parametrize("workers", [1, 2])
def test_after_a_run_the_task_passed_in_has_its_metadata(fresh_data_dir, workers):
    task = Sized()
    assert task.metadata is None  # not run yet
    d6tflow.run(task, workers=workers, execution_summary=False)
    assert task.metadata == {"rows": 3}
    assert Sized().metadata == {"rows": 3}  # any instance, as luigi's instance cache gave
    assert task._get_meta_path(task) == fresh_data_dir / "Sized" / "Sized__99914b932b-meta.pickle"
    Sized().reset(confirm=False)
    assert Sized().metadata is None


def test_utils_traverse_and_print_tree_as_in_the_original(fresh_data_dir):
    @d6tflow.requires(Sized, TNumbers)
    class Both(d6tflow.tasks.TaskCache):
        pass

    d6tflow.run(Sized(), execution_summary=False)
    assert d6tflow.utils.traverse(Both()) == [Both(), Sized(), TNumbers()]
    assert d6tflow.utils.print_tree(Both(), show_params=False) == (
        "\n└─--[Both- (PENDING)]\n   |--[Sized- (COMPLETE)]\n   └─--[TNumbers- (PENDING)]"
    )


def test_d6tpipe_functions_say_what_to_use_and_all_push_pull_work(fresh_data_dir, tmp_path):
    import d6tflow.pipes

    with pytest.raises(RuntimeError, match="set_remote"):
        d6tflow.pipes.init("my-pipe")
    remote = (tmp_path / "remote").as_uri()
    d6tflow.run(Sized(), execution_summary=False)
    assert d6tflow.pipes.all_push(Sized(), remote=remote, show=False).tasks == ["Sized__99914b932b"]
    Sized().reset(confirm=False)
    assert d6tflow.pipes.all_pull(Sized(), remote=remote, show=False).tasks == ["Sized__99914b932b"]
    assert Sized().outputLoad().equals(pd.DataFrame({"a": range(3)}))

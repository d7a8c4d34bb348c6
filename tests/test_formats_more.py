"""The flavours beyond pandas (issue #18): Polars, Arrow, numpy, joblib, figures, text, HDF5 and
SQL outputs round-trip, commit atomically, are tracked by provenance like any file, run in worker
processes, and a missing library fails the task with the extra to install. One task may also
save outputs of several formats."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import d6tflow
from d6tflow.errors import FlowFailedError, MissingExtraError, NoOutputFormatError

pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
sa = pytest.importorskip("sqlalchemy")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": np.array([1, 2, 3], dtype="int32"),
            "f": [0.5, 1.5, np.nan],
            "s": ["x", "y", "z"],
            "b": [True, False, True],
            "c": pd.Categorical(["lo", "hi", "lo"]),
            "t": pd.to_datetime(["2024-01-01 00:00", "2024-01-02 10:30", "2024-03-01 00:00"]),
        },
        index=pd.Index([10, 20, 30], name="row"),
    )


def run_saving(base, obj, name, **save_kwargs):
    """A fresh task class ``name`` of flavour ``base`` whose run() saves ``obj``; run, returned."""

    def run(self):
        self.save(obj, **save_kwargs)

    task = type(name, (base,), {"run": run})()
    assert d6tflow.run(task, execution_summary=False)
    return task


# -- round trips ----------------------------------------------------------------------------------


def test_polars_frame_round_trips_as_parquet_and_loads_lazily():
    df = pl.DataFrame({"a": [1, 2, 3], "s": ["x", "y", None], "d": [1.5, None, 3.0]})
    task = run_saving(d6tflow.tasks.TaskPqPolars, df.lazy(), "TaskPolarsPq")
    assert task.output().path.suffix == ".parquet"
    loaded = task.outputLoad()
    assert isinstance(loaded, pl.DataFrame) and loaded.equals(df)
    assert loaded.schema == df.schema
    lazy = task.outputLoad(lazy=True)
    assert isinstance(lazy, pl.LazyFrame)
    assert lazy.filter(pl.col("a") > 1).collect()["a"].to_list() == [2, 3]


def test_polars_frame_round_trips_as_csv_with_dates():
    df = pl.DataFrame({"a": [1, 2], "when": [datetime.date(2024, 1, 1), datetime.date(2024, 2, 1)]})
    task = run_saving(d6tflow.tasks.TaskCSVPolars, df, "TaskPolarsCsv")
    assert task.output().path.suffix == ".csv"
    assert task.outputLoad().equals(df)


def test_arrow_table_round_trips_with_its_pandas_index():
    table = pa.Table.from_pandas(frame().drop(columns="c"))
    task = run_saving(d6tflow.tasks.TaskPqArrow, table, "TaskArrow")
    loaded = task.outputLoad()
    assert isinstance(loaded, pa.Table) and loaded.equals(table)
    frame_task = run_saving(d6tflow.tasks.TaskPqArrow, frame(), "TaskArrowFromPandas")
    pd.testing.assert_frame_equal(frame_task.outputLoad().to_pandas(), frame())


def test_numpy_array_round_trips_and_maps_on_request():
    array = np.arange(12, dtype="float32").reshape(3, 4)
    task = run_saving(d6tflow.tasks.TaskNumpy, array, "TaskArray")
    assert task.output().path.name.endswith("-data.npy")
    loaded = task.outputLoad()
    assert loaded.dtype == np.float32 and np.array_equal(loaded, array)
    mapped = task.outputLoad(mmap_mode="r")
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, array)


def test_dict_of_arrays_round_trips_as_npz():
    arrays = {"weights": np.ones((2, 2)), "ids": np.array([3, 1, 2])}

    class TaskArrays(d6tflow.tasks.TaskNumpy):
        format = "npz"

        def run(self):
            self.save(arrays, compressed=True)

    assert d6tflow.run(TaskArrays(), execution_summary=False)
    loaded = TaskArrays().outputLoad()
    assert list(loaded) == ["weights", "ids"]
    assert all(np.array_equal(loaded[k], arrays[k]) for k in arrays)
    assert TaskArrays().output().path.suffix == ".npz"


def test_fitted_model_round_trips_through_joblib():
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
    task = run_saving(d6tflow.tasks.TaskJoblib, model, "TaskModel", compress=3)
    loaded = task.outputLoad()
    assert task.output().path.suffix == ".joblib"
    assert loaded.predict([[3.0]]) == pytest.approx([7.0])


def test_text_and_markdown_come_back_exactly():
    text = "line one\r\nline two: ünïcode\n"
    assert run_saving(d6tflow.tasks.TaskText, text, "TaskNote").outputLoad() == text
    task = run_saving(d6tflow.tasks.TaskMarkdown, "# Report\n", "TaskReport")
    assert task.output().path.suffix == ".md" and task.outputLoad() == "# Report\n"


def test_hdf5_round_trips_through_the_originals_import_path():
    pytest.importorskip("tables")
    from d6tflow.tasks.h5 import TaskH5Pandas

    assert d6tflow.tasks.TaskH5Pandas is TaskH5Pandas
    task = run_saving(TaskH5Pandas, frame(), "TaskH5")
    assert task.output().path.suffix == ".hdf5"
    pd.testing.assert_frame_equal(task.outputLoad(), frame())


def test_matplotlib_figure_is_saved_as_png_and_svg_and_loads_as_a_displayable_path():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    axes.plot([1, 2, 3], [2, 1, 3])

    class TaskPlot(d6tflow.tasks.TaskFigure):
        persist = ["png", "svg"]
        format = {"png": "png", "svg": "svg"}

        def run(self):
            self.save({"png": figure, "svg": figure})

    assert d6tflow.run(TaskPlot(), execution_summary=False)
    png, svg = TaskPlot().outputLoad()
    assert png.read_bytes().startswith(b"\x89PNG") and png._repr_png_() == png.read_bytes()
    assert svg.suffix == ".svg" and "<svg" in svg._repr_svg_()
    assert png._repr_svg_() is None
    plt.close(figure)


def test_plotly_figure_is_saved_as_an_interactive_page():
    go = pytest.importorskip("plotly.graph_objects")
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 1]))

    class TaskChart(d6tflow.tasks.TaskFigure):
        format = "html"

        def run(self):
            self.save(figure, include_plotlyjs=False)

    assert d6tflow.run(TaskChart(), execution_summary=False)
    page = TaskChart().outputLoad()
    assert page.suffix == ".html" and "d6tflow-figure" in page._repr_html_()


# -- several formats in one task ------------------------------------------------------------------


class TaskTrain(d6tflow.tasks.TaskData):
    persist = ["model", "metrics"]
    format = {"model": "joblib", "metrics": "json"}
    alpha = d6tflow.FloatParameter(default=1.0)

    def run(self):
        self.save({"model": {"coef": [self.alpha, 2.0]}, "metrics": {"r2": 0.9}})


def test_outputs_of_one_task_can_have_different_formats():
    assert d6tflow.run(TaskTrain(), execution_summary=False)
    targets = TaskTrain().output()
    assert targets["model"].path.suffix == ".joblib"
    assert targets["metrics"].path.suffix == ".json"
    assert json.loads(targets["metrics"].path.read_text()) == {"data": {"r2": 0.9}}
    assert TaskTrain().outputLoad(as_dict=True) == {
        "model": {"coef": [1.0, 2.0]},
        "metrics": {"r2": 0.9},
    }


def test_a_format_dict_missing_an_output_names_it():
    class TaskHalfFormat(d6tflow.tasks.TaskData):
        persist = ["model", "metrics"]
        format = {"model": "joblib"}

    with pytest.raises(NoOutputFormatError, match="no entry for the output 'metrics'"):
        TaskHalfFormat().output()


# -- provenance, atomic commits -------------------------------------------------------------------


SOURCE_VALUE = {"v": 1}


class TaskSource(d6tflow.tasks.TaskPqPolars):
    def run(self):
        self.save(pl.DataFrame({"v": [SOURCE_VALUE["v"]] * 3}))


@d6tflow.requires(TaskSource)
class TaskTotal(d6tflow.tasks.TaskJson):
    def run(self):
        self.save(int(self.inputLoad()["v"].sum()))


def rerun_alone(task) -> None:
    """Run ``task`` again by itself (its downstream tasks are left as they are)."""
    task.invalidate(confirm=False)
    assert d6tflow.run(task, execution_summary=False)


def test_changed_polars_output_makes_downstream_stale(monkeypatch):
    from d6tflow.graph import Graph

    assert d6tflow.run(TaskTotal(), execution_summary=False)
    assert TaskTotal().outputLoad() == 3
    monkeypatch.setitem(SOURCE_VALUE, "v", 5)
    rerun_alone(TaskSource())
    status = Graph([TaskTotal()]).states()[TaskTotal()]
    assert status.state.value == "STALE" and "upstream TaskSource output changed" in status.reasons
    assert d6tflow.run(TaskTotal(), execution_summary=False)
    assert TaskTotal().outputLoad() == 15


def test_a_save_that_raises_leaves_no_output_that_counts():
    class TaskBadModel(d6tflow.tasks.TaskJoblib):
        def run(self):
            self.save({"fine": 1})
            raise RuntimeError("training diverged")

    with pytest.raises(FlowFailedError):
        d6tflow.run(TaskBadModel(), execution_summary=False)
    folder = TaskBadModel().output().path.parent
    assert not TaskBadModel().complete()
    assert [p.name for p in folder.iterdir() if p.suffix == ".joblib"] == []


# -- SQL ------------------------------------------------------------------------------------------


class TaskSales(d6tflow.tasks.TaskSQL):
    def run(self):
        df = frame()
        df["i"] = df["i"] * SOURCE_VALUE["v"]
        self.save(df)


@d6tflow.requires(TaskSales)
class TaskSalesTotal(d6tflow.tasks.TaskJson):
    def run(self):
        self.save(int(self.inputLoad()["i"].sum()))


def tables(database: pathlib.Path) -> list[str]:
    return sorted(sa.inspect(sa.create_engine(f"sqlite:///{database}")).get_table_names())


def test_sql_table_round_trips_with_index_and_dtypes_in_the_data_folder(fresh_data_dir):
    assert d6tflow.run(TaskSalesTotal(), execution_summary=False)
    loaded = TaskSales().outputLoad()
    pd.testing.assert_frame_equal(loaded, frame())
    database = fresh_data_dir / "d6tflow.sqlite"
    table = TaskSales().task_id + "_data"
    assert tables(database) == [table]  # the staged table was swapped in
    with sa.create_engine(f"sqlite:///{database}").connect() as conn:
        assert conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{table}"').scalar() == 3
    marker = json.loads(TaskSales().output().path.read_text())
    assert marker["rows"] == 3 and marker["table"] == table and len(marker["hash"]) == 32
    assert TaskSalesTotal().outputLoad() == 6


def test_changed_sql_table_makes_downstream_stale_and_a_rerun_replaces_the_table(
    fresh_data_dir, monkeypatch
):
    from d6tflow.graph import Graph

    assert d6tflow.run(TaskSalesTotal(), execution_summary=False)
    monkeypatch.setitem(SOURCE_VALUE, "v", 100)
    rerun_alone(TaskSales())
    status = Graph([TaskSalesTotal()]).states()[TaskSalesTotal()]
    assert status.state.value == "STALE" and "upstream TaskSales output changed" in status.reasons
    assert d6tflow.run(TaskSalesTotal(), execution_summary=False)
    assert TaskSalesTotal().outputLoad() == 600
    assert tables(fresh_data_dir / "d6tflow.sqlite") == [TaskSales().task_id + "_data"]


def test_unchanged_sql_table_leaves_downstream_current(monkeypatch):
    from d6tflow.graph import Graph

    assert d6tflow.run(TaskSalesTotal(), execution_summary=False)
    rerun_alone(TaskSales())
    assert Graph([TaskSalesTotal()]).states()[TaskSalesTotal()].state.value == "COMPLETE"


def test_failed_sql_run_leaves_no_table_that_counts_and_the_next_save_tidies(fresh_data_dir):
    class TaskBadSQL(d6tflow.tasks.TaskSQL):
        def run(self):
            self.save(frame())
            raise RuntimeError("late failure")

    with pytest.raises(FlowFailedError):
        d6tflow.run(TaskBadSQL(), execution_summary=False)
    assert not TaskBadSQL().complete()
    table = TaskBadSQL().task_id + "_data"
    left = tables(fresh_data_dir / "d6tflow.sqlite")
    assert table not in left and all(name.startswith("d6tstage_") for name in left)
    TaskBadSQL().output().save(frame())
    assert tables(fresh_data_dir / "d6tflow.sqlite") == [table]


def test_sql_commit_interrupted_before_the_swap_is_finished_by_the_next_load(fresh_data_dir):
    from d6tflow.formats import sql

    target = TaskSales().output()
    target.path.parent.mkdir(parents=True)
    # The rename of the marker happened, the swap did not (the process died in between).
    finish = sql.SQLFormat().save(frame(), os.fspath(target))
    assert callable(finish)
    assert tables(fresh_data_dir / "d6tflow.sqlite")[0].startswith("d6tstage_")
    pd.testing.assert_frame_equal(target.load(), frame())
    assert tables(fresh_data_dir / "d6tflow.sqlite") == [TaskSales().task_id + "_data"]


def test_invalidating_a_sql_task_drops_its_table_and_orphans_keep_the_database(fresh_data_dir):
    assert d6tflow.run(TaskSales(), execution_summary=False)
    d6tflow.invalidate_orphans([TaskSales()], confirm=False)
    assert (fresh_data_dir / "d6tflow.sqlite").exists()
    TaskSales().invalidate(confirm=False)
    assert tables(fresh_data_dir / "d6tflow.sqlite") == []


def test_sql_task_writes_to_a_database_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"

    class TaskWarehouse(d6tflow.tasks.TaskSQL):
        format = d6tflow.formats.SQLFormat(url)

        def run(self):
            self.save(frame().reset_index())

    assert d6tflow.run(TaskWarehouse(), execution_summary=False)
    pd.testing.assert_frame_equal(TaskWarehouse().outputLoad(), frame().reset_index())
    assert tables(tmp_path / "warehouse.db") == [TaskWarehouse().task_id + "_data"]


# -- workers, missing extras ----------------------------------------------------------------------

FLOW = """
import numpy as np, pandas as pd, polars as pl
import d6tflow

class TaskP(d6tflow.tasks.TaskPqPolars):
    n = d6tflow.IntParameter()
    def run(self):
        self.save(pl.DataFrame({"n": [self.n] * 4}))

class TaskQ(d6tflow.tasks.TaskSQL):
    n = d6tflow.IntParameter()
    def run(self):
        self.save(pd.DataFrame({"n": [self.n] * 4}))

class TaskA(d6tflow.tasks.TaskNumpy):
    n = d6tflow.IntParameter()
    def run(self):
        self.save(np.full(4, self.n))

class TaskC(d6tflow.tasks.TaskCSVPolars):
    n = d6tflow.IntParameter()
    def run(self):
        self.save(pl.DataFrame({"n": [self.n] * 4}))

class TaskW(d6tflow.tasks.TaskPqArrow):
    n = d6tflow.IntParameter()
    def run(self):
        import pyarrow as pa
        self.save(pa.table({"n": [self.n] * 4}))

class TaskH(d6tflow.tasks.TaskH5Pandas):
    n = d6tflow.IntParameter()
    def run(self):
        self.save(pd.DataFrame({"n": [self.n] * 4}))

class TaskF(d6tflow.tasks.TaskFigure):
    n = d6tflow.IntParameter()
    def run(self):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        figure, axes = plt.subplots()
        axes.plot([0, self.n])
        self.save(figure)

class TaskM(d6tflow.tasks.TaskMarkdown):
    n = d6tflow.IntParameter()
    def run(self):
        self.save(f"# {self.n}")

@d6tflow.requires(
    {"p": TaskP, "q": TaskQ, "a": TaskA, "c": TaskC, "w": TaskW, "h": TaskH, "f": TaskF, "m": TaskM}
)
class TaskSum(d6tflow.tasks.TaskText):
    n = d6tflow.IntParameter()
    def run(self):
        data = self.inputLoad()
        assert data["f"].read_bytes()[1:4] == b"PNG" and data["m"] == f"# {self.n}"
        total = data["p"]["n"].sum() + data["q"]["n"].sum() + data["a"].sum()
        total += data["c"]["n"].sum() + data["w"]["n"].to_pylist()[0] * 4 + data["h"]["n"].sum()
        self.save(str(int(total)))
"""


def test_new_flavours_run_in_two_worker_processes(tmp_path, monkeypatch):
    (tmp_path / "flow_formats.py").write_text(FLOW)
    monkeypatch.syspath_prepend(str(tmp_path))
    import flow_formats

    tasks = [flow_formats.TaskSum(n=n) for n in (1, 2, 3)]
    assert d6tflow.run(tasks, workers=2, execution_summary=False)
    assert [t.outputLoad() for t in tasks] == ["24", "48", "72"]  # six tables of 4 rows of n


MISSING = """
import sys
sys.modules["polars"] = None  # as if polars were not installed: importing it raises ImportError
import d6tflow
from d6tflow.errors import FlowFailedError, MissingExtraError
d6tflow.set_dir(sys.argv[1])

class TaskFast(d6tflow.tasks.TaskPqPolars):
    def run(self):
        self.save(None)

try:
    d6tflow.run(TaskFast(), execution_summary=False)
except FlowFailedError as e:
    print(e)
"""


def test_a_missing_library_fails_the_task_naming_the_extra_to_install(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", MISSING, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert done.returncode == 0, done.stderr
    assert "TaskFast() failed: MissingExtraError: Cannot save" in done.stdout
    assert "TaskFast__99914b932b-data.parquet" in done.stdout
    assert "pip install 'd6tflow[polars]'" in done.stdout
    assert issubclass(MissingExtraError, ImportError)


MISSING_KALEIDO = """
import sys
sys.modules["kaleido"] = None  # as if kaleido were not installed: importing it raises ImportError
import plotly.graph_objects as go
import d6tflow
from d6tflow.errors import FlowFailedError
d6tflow.set_dir(sys.argv[1])

class TaskChart(d6tflow.tasks.TaskFigure):
    def run(self):
        self.save(go.Figure(go.Bar(y=[1, 2])))

try:
    d6tflow.run(TaskChart(), execution_summary=False)
except FlowFailedError as e:
    print(e)
"""


def test_a_plotly_image_without_kaleido_says_to_install_kaleido_not_an_extra(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", MISSING_KALEIDO, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert done.returncode == 0, done.stderr
    assert "TaskChart() failed: MissingExtraError" in done.stdout
    assert "pip install kaleido" in done.stdout and "d6tflow[" not in done.stdout
    assert not list((tmp_path / "data").rglob("*.png"))  # nothing half-written counts

"""The flavours of issue #18 on a real Dask cluster: outputs written by the workers (Polars
Parquet and CSV, Arrow, numpy, HDF5, a figure, Markdown, SQL into the data folder's SQLite file,
joblib and text) load back in the client."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import d6tflow

pl = pytest.importorskip("polars")
pytest.importorskip("sqlalchemy")
pytest.importorskip("distributed")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


class TaskDaskPolars(d6tflow.tasks.TaskPqPolars):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(pl.DataFrame({"n": [self.n] * 3}))


class TaskDaskSQL(d6tflow.tasks.TaskSQL):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(pd.DataFrame({"n": [self.n] * 3}, index=pd.Index([7, 8, 9], name="k")))


class TaskDaskArray(d6tflow.tasks.TaskNumpy):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(np.full(3, self.n))


class TaskDaskCSV(d6tflow.tasks.TaskCSVPolars):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(pl.DataFrame({"n": [self.n] * 3}))


class TaskDaskArrow(d6tflow.tasks.TaskPqArrow):
    n = d6tflow.IntParameter()

    def run(self):
        import pyarrow as pa

        self.save(pa.table({"n": [self.n] * 3}))


class TaskDaskH5(d6tflow.tasks.TaskH5Pandas):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(pd.DataFrame({"n": [self.n] * 3}))


class TaskDaskFigure(d6tflow.tasks.TaskFigure):
    n = d6tflow.IntParameter()

    def run(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots()
        axes.plot([0, self.n])
        self.save(figure)


class TaskDaskNote(d6tflow.tasks.TaskMarkdown):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(f"# run {self.n}")


INPUTS = {
    "p": TaskDaskPolars,
    "q": TaskDaskSQL,
    "a": TaskDaskArray,
    "c": TaskDaskCSV,
    "w": TaskDaskArrow,
    "h": TaskDaskH5,
    "f": TaskDaskFigure,
    "m": TaskDaskNote,
}


@d6tflow.requires(INPUTS)
class TaskDaskModel(d6tflow.tasks.TaskData):
    n = d6tflow.IntParameter()
    persist = ["model", "summary"]
    format = {"model": "joblib", "summary": "txt"}

    def run(self):
        data = self.inputLoad()
        assert data["f"].read_bytes()[1:4] == b"PNG" and data["m"] == f"# run {self.n}"
        total = int(
            data["p"]["n"].sum()
            + data["q"]["n"].sum()
            + data["a"].sum()
            + data["c"]["n"].sum()
            + sum(data["w"]["n"].to_pylist())
            + data["h"]["n"].sum()
        )
        self.save({"model": {"total": total}, "summary": f"total={total}"})


def test_new_flavours_run_on_the_dask_cluster(dask_cluster):
    tasks = [TaskDaskModel(n=n) for n in (1, 2)]
    assert d6tflow.run(
        tasks, executor="dask", address=dask_cluster.address, execution_summary=False
    )
    assert [t.outputLoad(keys="summary") for t in tasks] == ["total=18", "total=36"]
    assert tasks[1].outputLoad(keys="model") == {"total": 36}
    loaded = TaskDaskSQL(n=2).outputLoad()
    assert loaded.index.name == "k" and loaded["n"].tolist() == [2, 2, 2]

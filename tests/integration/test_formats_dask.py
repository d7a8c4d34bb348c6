"""The flavours of issue #18 on a real Dask cluster: outputs written by the workers (Polars,
numpy, SQL into the data folder's SQLite file, joblib) load back in the client."""

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


@d6tflow.requires({"p": TaskDaskPolars, "q": TaskDaskSQL, "a": TaskDaskArray})
class TaskDaskModel(d6tflow.tasks.TaskData):
    n = d6tflow.IntParameter()
    persist = ["model", "summary"]
    format = {"model": "joblib", "summary": "txt"}

    def run(self):
        data = self.inputLoad()
        total = int(data["p"]["n"].sum() + data["q"]["n"].sum() + data["a"].sum())
        self.save({"model": {"total": total}, "summary": f"total={total}"})


def test_new_flavours_run_on_the_dask_cluster(dask_cluster):
    tasks = [TaskDaskModel(n=n) for n in (1, 2)]
    assert d6tflow.run(
        tasks, executor="dask", address=dask_cluster.address, execution_summary=False
    )
    assert [t.outputLoad(keys="summary") for t in tasks] == ["total=9", "total=18"]
    assert tasks[1].outputLoad(keys="model") == {"total": 18}
    loaded = TaskDaskSQL(n=2).outputLoad()
    assert loaded.index.name == "k" and loaded["n"].tolist() == [2, 2, 2]

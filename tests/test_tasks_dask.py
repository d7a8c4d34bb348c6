"""TaskPqDask: a dask DataFrame saved as partitioned Parquet (a folder), loaded back as one."""

from __future__ import annotations

import os

import pytest

import d6tflow
from d6tflow import store

dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")


def frame(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame({"x": range(n), "y": [float(i) / 2 for i in range(n)]})


class TaskFrame(d6tflow.tasks.TaskPqDask):
    n = d6tflow.IntParameter(default=12)
    partitions = d6tflow.IntParameter(default=3)

    def run(self):
        self.save(dd.from_pandas(frame(self.n), npartitions=self.partitions))


@d6tflow.requires(TaskFrame)
class TaskMean(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter(default=12)
    partitions = d6tflow.IntParameter(default=3)

    def run(self):
        self.save(float(self.inputLoad()["y"].mean().compute()))


def test_dask_frame_is_saved_as_a_folder_of_parts_and_loads_back_lazily():
    assert d6tflow.run(TaskMean(), execution_summary=False)
    path = TaskFrame().output().path
    assert path.name.endswith("-data.pq") and path.is_dir()
    assert len(list(path.glob("*.parquet"))) == 3
    loaded = TaskFrame().outputLoad()
    assert isinstance(loaded, dd.DataFrame) and loaded.npartitions == 3
    pd.testing.assert_frame_equal(loaded.compute(), frame())
    assert TaskMean().outputLoad() == frame()["y"].mean()


def test_rerun_replaces_the_folder_and_reset_deletes_it():
    assert d6tflow.run(TaskMean(), execution_summary=False)
    assert d6tflow.run(TaskMean(), forced_all_upstream=True, execution_summary=False)
    assert TaskFrame().outputLoad().npartitions == 3
    TaskFrame().reset(confirm=False)
    assert not TaskFrame().output().path.exists()
    assert not TaskFrame().complete()


def test_saving_over_an_existing_folder_swaps_it_whole():
    target = TaskFrame().output()
    target.save(dd.from_pandas(frame(12), npartitions=4))
    target.save(dd.from_pandas(frame(5), npartitions=2))  # outside a run: swapped in directly
    assert len(list(target.path.glob("*.parquet"))) == 2
    pd.testing.assert_frame_equal(target.load().compute(), frame(5))
    leftovers = [p for p in os.listdir(target.path.parent) if p.startswith(store.TEMP_PREFIX)]
    assert leftovers == []


def test_failure_while_writing_leaves_the_previous_folder_and_no_temporary_one():
    target = TaskFrame().output()
    target.save(dd.from_pandas(frame(6), npartitions=2))

    bad = dd.from_pandas(frame(6), npartitions=2).map_partitions(
        lambda part: part.assign(z=1 / 0), meta=frame(0).assign(z=1.0)
    )
    with pytest.raises(ZeroDivisionError):
        target.save(bad)
    pd.testing.assert_frame_equal(target.load().compute(), frame(6))
    assert [p for p in os.listdir(target.path.parent) if p.startswith(store.TEMP_PREFIX)] == []


def test_a_part_changed_by_hand_makes_the_task_pending():
    assert d6tflow.run(TaskFrame(), execution_summary=False)
    part = sorted(TaskFrame().output().path.glob("*.parquet"))[0]
    part.write_bytes(part.read_bytes() + b"\0")
    assert not TaskFrame().complete()


def test_pandas_frame_is_accepted_as_one_partition():
    target = TaskFrame(n=4).output()
    target.save(frame(4))
    assert target.load().npartitions == 1


def test_dask_frames_run_in_worker_processes():
    tasks = [TaskMean(n=n) for n in (6, 8)]
    assert d6tflow.run(tasks, workers=2, execution_summary=False)
    assert [t.outputLoad() for t in tasks] == [frame(6)["y"].mean(), frame(8)["y"].mean()]

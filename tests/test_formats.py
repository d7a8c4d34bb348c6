"""Every output flavour round-trips what users save, formats of their own plug in by name, legacy
target classes still work, and a failed save never leaves a file behind."""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import pathlib
import pickle

import pandas as pd
import pyarrow.parquet as pq
import pytest
from tests.folders import files_in

import d6tflow


@dataclasses.dataclass
class Model:
    name: str
    weights: tuple


def frame():
    return pd.DataFrame(
        {"i": [1, 2, 3], "f": [0.5, 1.5, 2.5], "s": ["x", "y", "z"]},
        index=pd.Index([10, 20, 30], name="row"),
    )


_made = itertools.count()


def saved(base, obj, **save_kwargs):
    """An instance of a fresh subclass of ``base`` whose run() saves ``obj``; already run. Each
    call makes a class of its own name, so two calls never share an output file."""

    def run(self):
        self.save(obj, **save_kwargs)

    task = type(f"Saver{next(_made)}", (base,), {"run": run})()
    d6tflow.run(task, execution_summary=False)
    return task


# -- built-in flavours ----------------------------------------------------------------------------


def test_task_cache_returns_the_same_object_without_writing_files(fresh_data_dir):
    obj = {"anything": [1, 2]}
    task = saved(d6tflow.tasks.TaskCache, obj)
    assert task.outputLoad() is obj
    assert files_in(fresh_data_dir) == []


def test_task_cache_pandas_returns_the_same_frame():
    df = frame()
    task = saved(d6tflow.tasks.TaskCachePandas, df)
    assert task.outputLoad() is df


def test_task_pickle_round_trips_any_object():
    obj = {"model": Model("ols", (1.0, 2.0)), "seen": {1, 2}, "pair": (None, b"\x00")}
    task = saved(d6tflow.tasks.TaskPickle, obj)
    assert task.output().path.suffix == ".pkl"
    assert task.outputLoad() == obj
    assert pickle.loads(task.output().path.read_bytes()) == obj


def test_task_json_stores_data_wrapper_with_indent_4():
    obj = {"a": [1, 2], "b": {"c": None}}
    task = saved(d6tflow.tasks.TaskJson, obj)
    path = task.output().path
    assert path.name.endswith("-data.json")
    assert path.read_text() == json.dumps({"data": obj}, indent=4)
    assert task.outputLoad() == obj


def test_task_json_int_keys_come_back_as_str():
    task = saved(d6tflow.tasks.TaskJson, {1: "one", 2: [3]})
    assert task.outputLoad() == {"1": "one", "2": [3]}


def test_task_csv_pandas_does_not_write_the_index():
    task = saved(d6tflow.tasks.TaskCSVPandas, frame())
    path = task.output().path
    assert path.suffix == ".csv"
    assert path.read_text().splitlines()[0] == "i,f,s"
    loaded = task.outputLoad()
    pd.testing.assert_frame_equal(loaded, frame().reset_index(drop=True), check_dtype=False)


def test_task_csv_gz_pandas_writes_gzip_and_round_trips():
    task = saved(d6tflow.tasks.TaskCSVGZPandas, frame())
    path = task.output().path
    assert path.name.endswith("-data.csv.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(path.read_bytes()).decode().splitlines()[0] == "i,f,s"
    loaded = task.outputLoad()
    pd.testing.assert_frame_equal(loaded, frame().reset_index(drop=True), check_dtype=False)


def test_task_excel_pandas_round_trips_without_index():
    task = saved(d6tflow.tasks.TaskExcelPandas, frame())
    path = task.output().path
    assert path.suffix == ".xlsx"
    assert path.read_bytes()[:2] == b"PK"  # an xlsx is a zip archive
    loaded = task.outputLoad()
    pd.testing.assert_frame_equal(loaded, frame().reset_index(drop=True), check_dtype=False)


def test_task_pq_pandas_keeps_index_and_dtypes():
    df = frame().assign(
        flag=[True, False, True],
        when=pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"]),
        kind=pd.Categorical(["a", "b", "a"]),
        small=pd.Series([1, 2, 3], dtype="int8", index=frame().index),
    )
    task = saved(d6tflow.tasks.TaskPqPandas, df)
    assert task.output().path.suffix == ".parquet"
    loaded = task.outputLoad()
    pd.testing.assert_frame_equal(loaded, df)
    assert loaded.index.name == "row"
    assert list(loaded.index) == [10, 20, 30]


def test_save_kwargs_reach_the_format():
    default = saved(d6tflow.tasks.TaskPqPandas, frame())
    gz = saved(d6tflow.tasks.TaskPqPandas, frame(), compression="gzip")

    def codec(task):
        return pq.ParquetFile(task.output().path).metadata.row_group(0).column(0).compression

    assert codec(gz) == "GZIP"
    assert codec(default) != "GZIP"
    pd.testing.assert_frame_equal(gz.outputLoad(), frame())


def test_save_kwargs_reach_csv_writer():
    task = saved(d6tflow.tasks.TaskCSVPandas, frame(), sep=";")
    assert task.output().path.read_text().splitlines()[0] == "i;f;s"


# -- formats of one's own ------------------------------------------------------------------------


@d6tflow.formats.register
class ReversedText(d6tflow.formats.Format):
    name = "test-reversed-text"
    ext = "rtxt"

    def save(self, obj, path, **kwargs):
        pathlib.Path(path).write_text(obj[::-1])

    def load(self, path, **kwargs):
        return pathlib.Path(path).read_text()[::-1]


class TaskReversed(d6tflow.tasks.TaskData):
    format = "test-reversed-text"

    def run(self):
        self.save("hello")


def test_registered_format_is_used_by_name(fresh_data_dir):
    task = TaskReversed()
    d6tflow.run(task, execution_summary=False)
    path = fresh_data_dir / "TaskReversed" / "TaskReversed__99914b932b-data.rtxt"
    assert task.output().path == path
    assert path.read_text() == "olleh"
    assert task.outputLoad() == "hello"
    assert "test-reversed-text" in d6tflow.formats.registered_formats()


def test_unknown_format_name_lists_known_formats():
    class TaskTypo(d6tflow.tasks.TaskData):
        format = "parquett"

        def run(self):
            self.save(frame())

    with pytest.raises((LookupError, ValueError)) as excinfo:
        d6tflow.run(TaskTypo(), execution_summary=False)
    message = str(excinfo.value)
    assert "parquett" in message
    assert "parquet" in message.replace("parquett", "")
    assert "pickle" in message and "csv" in message


class UpperTarget(d6tflow.targets.DataTarget):
    """A target written by hand, overriding load/save as the original documented."""

    def load(self, cached=False, **kwargs):
        return self.path.read_text().lower()

    def save(self, obj, **kwargs):
        self.path.write_text(obj.upper())
        return self.path


def test_legacy_target_class_with_own_load_and_save(fresh_data_dir):
    class TaskUpper(d6tflow.tasks.TaskData):
        target_class = UpperTarget
        target_ext = "txt"

        def run(self):
            self.save("shout")

    task = TaskUpper()
    d6tflow.run(task, execution_summary=False)
    path = fresh_data_dir / "TaskUpper" / "TaskUpper__99914b932b-data.txt"
    assert task.output().path == path
    assert path.read_text() == "SHOUT"
    assert task.outputLoad() == "shout"
    task.reset(confirm=False)
    assert not path.exists()


class PandasPickleTarget(d6tflow.targets.DataTarget):
    """Written the way the original's own extra targets (h5, datatable, torch) are: passing the
    reader function and the writer method name to DataTarget."""

    def load(self, cached=False, **kwargs):
        return super().load(pd.read_pickle, cached, **kwargs)

    def save(self, df, **kwargs):
        return super().save(df, "to_pickle", **kwargs)


def test_legacy_target_class_delegating_to_data_target(fresh_data_dir):
    class TaskPdPickle(d6tflow.tasks.TaskData):
        target_class = PandasPickleTarget
        target_ext = "pdpkl"

        def run(self):
            self.save(frame())

    task = TaskPdPickle()
    d6tflow.run(task, execution_summary=False)
    path = fresh_data_dir / "TaskPdPickle" / "TaskPdPickle__99914b932b-data.pdpkl"
    assert path.exists()
    pd.testing.assert_frame_equal(pd.read_pickle(path), frame())
    pd.testing.assert_frame_equal(task.outputLoad(), frame())


# -- failed saves ---------------------------------------------------------------------------------


@d6tflow.formats.register
class HalfWritten(d6tflow.formats.Format):
    """Writes some bytes, then fails: a crash in the middle of a save."""

    name = "test-half-written"
    ext = "bin"

    def save(self, obj, path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    def load(self, path, **kwargs):
        return pathlib.Path(path).read_bytes()


class TaskHalf(d6tflow.tasks.TaskData):
    format = "test-half-written"

    def run(self):
        self.save(b"whole")


def test_failed_save_leaves_no_output_and_no_temp_file(fresh_data_dir):
    task = TaskHalf()
    with pytest.raises(OSError, match="disk full"):
        task.save(b"whole")
    assert not task.output().path.exists()
    assert not task.complete()
    assert files_in(fresh_data_dir) == []


def test_failed_save_during_run_fails_the_task_and_leaves_nothing(fresh_data_dir):
    result = d6tflow.run(TaskHalf(), abort=False, execution_summary=False)
    assert not result
    assert "disk full" in str(result.failures[0].exception)
    assert not TaskHalf().complete()
    leftovers = [p.name for p in files_in(fresh_data_dir)]
    assert leftovers == []
    assert not any(name.startswith(".tmp-") for name in leftovers)


def test_failed_resave_keeps_the_previous_output(fresh_data_dir):
    task = TaskHalf()
    task.output().path.parent.mkdir(parents=True, exist_ok=True)
    task.output().path.write_bytes(b"previous good output")
    with pytest.raises(OSError):
        task.save(b"new")
    assert task.output().path.read_bytes() == b"previous good output"
    assert files_in(fresh_data_dir) == [task.output().path]


def test_legacy_task_with_builtin_target_class_and_ext(fresh_data_dir):
    class TaskOldStyle(d6tflow.tasks.TaskData):
        target_class = d6tflow.targets.CSVPandasTarget
        target_ext = "csv"

        def run(self):
            self.save(frame())

    task = TaskOldStyle()
    d6tflow.run(task, execution_summary=False)
    path = fresh_data_dir / "TaskOldStyle" / "TaskOldStyle__99914b932b-data.csv"
    assert path.read_text().splitlines()[0] == "i,f,s"
    pd.testing.assert_frame_equal(
        task.outputLoad(), frame().reset_index(drop=True), check_dtype=False
    )


def test_legacy_task_with_target_class_but_no_target_ext_still_saves(fresh_data_dir):
    class TaskNoExt(d6tflow.tasks.TaskData):
        target_class = d6tflow.targets.PickleTarget

        def run(self):
            self.save({"k": 1})

    task = TaskNoExt()
    d6tflow.run(task, execution_summary=False)
    (written,) = [p for p in files_in(fresh_data_dir) if p.name != ".manifests.jsonl"]
    assert written.parent == fresh_data_dir / "TaskNoExt"
    assert written.name.startswith("TaskNoExt__99914b932b-data.")
    assert task.outputLoad() == {"k": 1}


def test_targets_can_be_used_directly(tmp_path):
    target = d6tflow.targets.PqPandasTarget(tmp_path / "sub" / "direct.parquet")
    assert not target.exists()
    target.save(frame())
    assert target.exists()
    pd.testing.assert_frame_equal(target.load(), frame())
    target.invalidate()
    assert not (tmp_path / "sub" / "direct.parquet").exists()

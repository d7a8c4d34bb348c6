"""Remote data folders, push/pull and the shared cache, on a real S3-compatible server (moto, a
separate process), on fsspec's memory:// and on a local folder used as a remote (file://)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import d6tflow
from d6tflow import stores
from d6tflow.errors import (
    RemoteStorageError,
    TaskNotCompleteError,
    TransferError,
    UntrustedPickleError,
)
from d6tflow.status import State
from d6tflow.summary import TaskState

ROOT = Path(__file__).resolve().parents[1]


class Raw(d6tflow.tasks.TaskPqPandas):
    n = d6tflow.IntParameter(default=3)

    def run(self):
        self.save(pd.DataFrame({"a": range(self.n)}))


@d6tflow.requires(Raw)
class Model(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save({"total": int(self.inputLoad()["a"].sum())})
        self.metaSave({"score": 0.5})


@d6tflow.requires(Model)
class Report(d6tflow.tasks.TaskJson):
    def run(self):
        self.save({"total": self.inputLoad()["total"]})


@pytest.fixture(params=["memory", "folder", "s3"])
def remote(request, tmp_path):
    """(url, storage options) of an empty remote folder of each kind."""
    if request.param == "memory":
        return "memory://team/project", {}
    if request.param == "folder":
        return "file://" + str(tmp_path / "remote"), {}
    server = request.getfixturevalue("s3")
    return server.new_bucket() + "/project", server.options


@pytest.fixture(params=["memory", "s3"])
def remote_dir(request):
    """A remote data folder of each kind, set with set_dir; returns its URL."""
    if request.param == "memory":
        url, options = "memory://data/project", {}
    else:
        server = request.getfixturevalue("s3")
        url, options = server.new_bucket() + "/data", server.options
    d6tflow.set_dir(url, **options)
    return url


def _new_local_folder(tmp_path: Path, name: str) -> Path:
    """Another machine's data folder: a fresh local folder and nothing remembered in memory."""
    d6tflow.set_dir(tmp_path / name)
    d6tflow.cache.data.clear()
    return tmp_path / name


def _objects(url: str, options: dict) -> dict[str, bytes]:
    fs, root = fsspec.core.url_to_fs(url, **options)
    fs.invalidate_cache()
    return {p[len(root) :]: fs.cat_file(p) for p in fs.find(root)}


# -- a remote data folder ----------------------------------------------------------------------


def test_a_remote_data_folder_runs_loads_and_checks_like_a_local_one(remote_dir):
    result = d6tflow.run(Report(n=4), execution_summary=False)
    assert set(result.status.values()) == {TaskState.DONE}
    assert Report(n=4).outputLoad() == {"total": 6}
    assert Model(n=4).outputLoad() == {"total": 6}
    assert Model(n=4).outputLoadMeta() == {"score": 0.5}
    assert list(Raw(n=4).outputLoad()["a"]) == [0, 1, 2, 3]
    assert Report(n=4).output().path.as_uri().startswith(remote_dir.split("://")[0])
    assert str(Report(n=4).output().path).startswith(remote_dir)
    assert d6tflow.run(Report(n=4), execution_summary=False).status == {
        Report(n=4): TaskState.COMPLETE
    }
    catalog = d6tflow.catalog()
    assert sorted(catalog["task_family"]) == ["Model", "Raw", "Report"]
    assert d6tflow.verify() == []

    Raw(n=4).invalidate(confirm=False)
    assert not Raw(n=4).complete()
    assert Report(n=4)._status().state is State.STALE
    assert d6tflow.run(Report(n=4), execution_summary=False).tasks(TaskState.DONE) == [Raw(n=4)]


def test_remote_data_folder_a_new_process_finds_the_outputs_complete(s3, tmp_path):
    url = s3.new_bucket() + "/data"
    script = tmp_path / "flow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            import pandas as pd
            import d6tflow

            class Raw(d6tflow.tasks.TaskPqPandas):
                def run(self):
                    self.save(pd.DataFrame({{"a": [1, 2]}}))

            d6tflow.set_dir({url!r}, **json.loads(sys.argv[1]))
            result = d6tflow.run(Raw(), execution_summary=False)
            print(json.dumps([s.value for s in result.status.values()]))
            """
        )
    )
    options = json.dumps(s3.options)

    def run() -> list[str]:
        out = subprocess.run(
            [sys.executable, str(script), options], capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert run() == ["done"]
    assert run() == ["complete"]


def test_remote_output_replaced_by_another_writer_is_not_complete(remote_dir):
    d6tflow.run(Model(n=2), execution_summary=False)
    target = Raw(n=2).output()
    store = stores.store_for(os.fspath(target))
    # Another writer uploads different bytes under the same name after the commit.
    local = Path("other.parquet")
    pd.DataFrame({"a": [9, 9]}).to_parquet(local)
    store.upload(str(local), os.fspath(target))
    d6tflow.manifests.begin_check()
    status = Raw(n=2)._status()
    assert status.state is State.PENDING
    assert "changed after it was written" in status.reasons[0]
    with pytest.raises(TaskNotCompleteError):
        Raw(n=2).outputLoad()


def test_remote_output_without_record_is_an_interrupted_commit_not_complete(remote_dir):
    # What a crash between a task's uploads and its record leaves: the object, no record.
    path = os.fspath(Raw(n=5).output())
    local = Path("half.parquet")
    pd.DataFrame({"a": range(5)}).to_parquet(local)
    stores.store_for(path).upload(str(local), path)
    d6tflow.manifests.begin_check()
    status = Raw(n=5)._status()
    assert status.state is State.PENDING
    assert "no record" in status.reasons[0]
    assert d6tflow.run(Raw(n=5), execution_summary=False).tasks(TaskState.DONE) == [Raw(n=5)]


def test_remote_records_are_merged_and_a_state_check_lists_each_folder_once(s3, tmp_path):
    url = s3.new_bucket() + "/data"
    d6tflow.set_dir(url, **s3.options)
    tasks = [Raw(n=i) for i in range(40)]  # more commits than COMPACT_SEGMENTS in one folder
    d6tflow.run(tasks, execution_summary=False)
    segments = [k for k in _objects(url, s3.options) if "/.manifests/" in k]
    assert len(segments) <= d6tflow.remote_storage.COMPACT_SEGMENTS
    # A new process's state check: a listing of the folder and the record segments, not a
    # request per output.
    script = tmp_path / "check.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            import d6tflow
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from test_remote import Raw
            d6tflow.set_dir({url!r}, **json.loads(sys.argv[1]))
            states = d6tflow.graph.Graph([Raw(n=i) for i in range(40)]).states()
            print(sum(s.complete for s in states.values()))
            """
        )
    )
    before = s3.requests()
    out = subprocess.run(
        [sys.executable, str(script), json.dumps(s3.options)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip().splitlines()[-1] == "40"
    assert s3.requests() - before <= 2 + len(segments)


@pytest.mark.parametrize("machines", [1, 2])
def test_two_processes_running_one_flow_on_one_remote_folder(s3, tmp_path, machines):
    """On one machine the tasks' locks make each task run once. Two machines share no lock
    (here: each process its own temporary folder, where a remote folder's locks live): a task
    may run on both, and whichever record comes last stands; nothing is corrupted."""
    url = s3.new_bucket() + "/data"
    runs = tmp_path / "runs.log"
    script = tmp_path / "flow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, os, sys, time
            import pandas as pd
            import d6tflow

            class Step(d6tflow.tasks.TaskPqPandas):
                i = d6tflow.IntParameter()
                def requires(self):
                    return Step(i=self.i - 1) if self.i else []
                def run(self):
                    with open({str(runs)!r}, "a") as f:
                        f.write(f"{{self.i}}\\n")
                    time.sleep(0.05)
                    self.save(pd.DataFrame({{"i": [self.i]}}))

            d6tflow.set_dir({url!r}, **json.loads(sys.argv[1]))
            d6tflow.run(Step(i=5), execution_summary=False)
            print(Step(i=5).outputLoad()["i"][0], d6tflow.verify())
            """
        )
    )
    args = [sys.executable, str(script), json.dumps(s3.options)]
    procs = []
    for n in range(2):
        temp = tmp_path / (f"machine{n}" if machines == 2 else "machine")
        temp.mkdir(exist_ok=True)
        env = {**os.environ, "TMPDIR": str(temp)}
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env))
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert [o.strip().splitlines()[-1] for o in outs] == ["5 []", "5 []"]
    ran = sorted(int(i) for i in runs.read_text().split())
    if machines == 1:
        assert ran == list(range(6))
    else:  # each task at least once, at most once per machine
        assert sorted(set(ran)) == list(range(6))
        assert all(ran.count(i) <= 2 for i in range(6))
    d6tflow.set_dir(url, **s3.options)
    assert d6tflow.verify() == []


def test_remote_server_down_gives_a_clear_error_and_loses_nothing_local(tmp_path):
    from tests.servers import s3_server, stop

    with s3_server(tmp_path) as server:
        options = {**server.options, "config_kwargs": {"retries": {"max_attempts": 1}}}
        url = server.new_bucket() + "/data"
        d6tflow.set_remote(url, **options)
        d6tflow.run(Model(n=2), execution_summary=False)
        assert d6tflow.push(Model(n=2), show=False).tasks
        stop(server.process)
        with pytest.raises(RemoteStorageError, match=url):
            d6tflow.push(Report(n=2), show=False)
        # The shared cache cannot be reached: the tasks run here, and their outputs stay.
        result = d6tflow.run(Report(n=2), remote=True, execution_summary=False)
        assert result.tasks(TaskState.DONE) == [Report(n=2)]
        assert Report(n=2).outputLoad() == {"total": 1}
        d6tflow.set_dir(url, **options)
        with pytest.raises(RemoteStorageError, match="Could not list"):
            d6tflow.preview(Model(n=2))


def test_memory_folder_is_refused_with_worker_processes():
    d6tflow.set_dir("memory://data/x")
    with pytest.raises(d6tflow.errors.DataFolderNotSharedError, match="memory"):
        d6tflow.run(Raw(), workers=2, execution_summary=False)


def test_storage_options_on_a_local_folder_are_an_error():
    with pytest.raises(d6tflow.errors.ConfigurationError, match="storage options"):
        d6tflow.set_dir("data", endpoint_url="http://x")


def test_enable_cloud_storage_sets_a_remote_data_folder():
    assert d6tflow.enable_cloud_storage("memory", "bucket", "proj/") == "memory://bucket/proj"
    assert d6tflow.settings.cloud_fs_enabled
    d6tflow.run(Raw(), execution_summary=False)
    assert str(Raw().output().path).startswith("memory://bucket/proj/Raw/")


# -- push and pull ---------------------------------------------------------------------------------


def test_push_then_pull_elsewhere_moves_only_what_differs_and_loads(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, trusted=True, **options)
    d6tflow.run(Report(n=3), execution_summary=False)
    pushed = d6tflow.push(Report(n=3), show=False)
    assert sorted(pushed.tasks) == sorted(t.task_id for t in (Raw(n=3), Model(n=3), Report(n=3)))
    assert pushed.files == 4  # three outputs and Model's metadata
    assert pushed.bytes > 0
    again = d6tflow.push(Report(n=3), show=False)
    assert (again.tasks, again.files, len(again.same)) == ([], 0, 3)

    _new_local_folder(tmp_path, "colleague")
    assert not Report(n=3).complete()
    pulled = d6tflow.pull(Report(n=3), show=False)
    assert len(pulled.tasks) == 3
    assert pulled.bytes == pushed.bytes
    assert Report(n=3)._status().state is State.COMPLETE
    assert Report(n=3).outputLoad() == {"total": 3}
    assert Model(n=3).outputLoad() == {"total": 3}
    assert Model(n=3).outputLoadMeta() == {"score": 0.5}
    assert d6tflow.verify() == []
    assert d6tflow.pull(Report(n=3), show=False).tasks == []


def test_push_prints_a_one_line_summary(remote, capsys):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run(Model(n=1), execution_summary=False)
    d6tflow.push(Model(n=1), upstream=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pushed 1 task(s), 2 file(s)")
    assert lines[0].endswith(url)


def test_after_a_change_only_the_changed_tasks_move(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run([Report(n=3), Report(n=4)], execution_summary=False)
    d6tflow.push([Report(n=3), Report(n=4)], show=False)
    Report(n=4).invalidate(confirm=False)
    d6tflow.run(Report(n=4), execution_summary=False)  # same content, new record
    moved = d6tflow.push([Report(n=3), Report(n=4)], show=False)
    assert moved.tasks == []  # the same content hashes: nothing to move
    assert len(moved.same) == 6


def test_untrusted_pickles_are_not_loaded_but_parquet_and_json_are(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run(Report(n=2), execution_summary=False)
    d6tflow.push(Report(n=2), show=False)
    _new_local_folder(tmp_path, "colleague")
    d6tflow.pull(Report(n=2), show=False)
    assert Report(n=2).outputLoad() == {"total": 1}  # JSON: no code runs
    assert list(Raw(n=2).outputLoad()["a"]) == [0, 1]  # Parquet
    with pytest.raises(UntrustedPickleError, match=r"trusted=True"):
        Model(n=2).outputLoad()
    with pytest.raises(UntrustedPickleError, match="metadata"):
        Model(n=2).outputLoadMeta()
    d6tflow.set_remote(url, trusted=True, **options)
    assert Model(n=2).outputLoad() == {"total": 1}
    assert Model(n=2).outputLoadMeta() == {"score": 0.5}


def test_pull_trusted_argument_marks_the_remote_trusted(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run(Model(n=2), execution_summary=False)
    d6tflow.push(Model(n=2), show=False)
    _new_local_folder(tmp_path, "colleague")
    d6tflow.pull(Model(n=2), trusted=True, show=False)
    assert Model(n=2).outputLoad() == {"total": 1}


def test_a_corrupted_remote_object_is_refused_by_name_and_nothing_is_published(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run(Model(n=3), execution_summary=False)
    d6tflow.push(Model(n=3), show=False)
    remote_store = stores.get_remote()
    name = os.path.basename(os.fspath(Raw(n=3).output()))
    corrupted = f"{url}/Raw/{name}"
    remote_store.fs.pipe_file(remote_store.key(corrupted), b"not parquet at all")
    remote_store.forget_folders()

    folder = _new_local_folder(tmp_path, "colleague")
    with pytest.raises(TransferError, match=name):
        d6tflow.pull(Model(n=3), show=False)
    assert [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")] == []
    assert not Raw(n=3).complete() and not Model(n=3).complete()


def _raw_with(values: list[int]) -> type:
    """A ``Raw`` whose code makes other content: the same task ids, other bytes."""

    class Raw(d6tflow.tasks.TaskPqPandas):
        n = d6tflow.IntParameter(default=3)

        def run(self):
            self.save(pd.DataFrame({"a": values}))

    return Raw


def test_pull_does_not_replace_a_local_output_that_differs_without_force(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run(Raw(n=3), execution_summary=False)
    d6tflow.push(Raw(n=3), show=False)
    _new_local_folder(tmp_path, "colleague")
    mine = _raw_with([7])
    d6tflow.run(mine(n=3), execution_summary=False)
    with pytest.raises(TransferError, match="force=True"):
        d6tflow.pull(mine(n=3), show=False)
    assert list(mine(n=3).outputLoad()["a"]) == [7]
    d6tflow.pull(mine(n=3), force=True, show=False)
    assert list(pd.read_parquet(mine(n=3).output().path)["a"]) == [0, 1, 2]


def test_push_does_not_replace_a_remote_output_made_later_without_force(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    mine = _raw_with([1])
    d6tflow.run(mine(n=3), execution_summary=False)  # made first, pushed last
    _new_local_folder(tmp_path, "theirs")
    theirs = _raw_with([2])
    d6tflow.run(theirs(n=3), execution_summary=False)
    d6tflow.push(theirs(n=3), show=False)
    d6tflow.set_dir(tmp_path / "data")
    with pytest.raises(TransferError, match="made later"):
        d6tflow.push(mine(n=3), show=False)
    assert len(d6tflow.push(mine(n=3), force=True, show=False).tasks) == 1
    _new_local_folder(tmp_path, "third")
    d6tflow.pull(mine(n=3), show=False)
    assert list(pd.read_parquet(mine(n=3).output().path)["a"]) == [1]


def test_flows_and_tasks_push_and_pull_with_their_own_methods(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, trusted=True, **options)
    flow = d6tflow.Workflow(Report, {"n": 2})
    flow.run(execution_summary=False)
    assert len(flow.push(show=False).tasks) == 3
    multi = d6tflow.WorkflowMulti(Report, {"a": {"n": 2}, "b": {"n": 5}})
    multi.run(execution_summary=False)
    assert len(multi.push(show=False).tasks) == 3  # flow a's are there already
    _new_local_folder(tmp_path, "colleague")
    assert len(Report(n=5).pull(show=False).tasks) == 3
    assert Report(n=5).outputLoad() == {"total": 10}
    assert len(multi.pull(flow="a", show=False).tasks) == 3


def test_push_without_a_remote_says_how_to_set_one():
    with pytest.raises(d6tflow.errors.ConfigurationError, match="set_remote"):
        d6tflow.push(Raw())


# -- the shared cache ------------------------------------------------------------------------------


def test_shared_cache_pulls_what_was_made_the_same_way_and_pushes_what_runs(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, trusted=True, **options)
    first = d6tflow.run(Report(n=3), remote=True, execution_summary=False)
    assert set(first.status.values()) == {TaskState.DONE}

    _new_local_folder(tmp_path, "colleague")
    second = d6tflow.run(Report(n=3), remote=True)
    assert set(second.status.values()) == {TaskState.PULLED}
    assert "pulled from remote" in second.summary
    assert Report(n=3).outputLoad() == {"total": 3}
    assert Model(n=3).outputLoadMeta() == {"score": 0.5}


def test_shared_cache_does_not_pull_what_other_code_made(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run(Raw(n=3), remote=True, execution_summary=False)
    _new_local_folder(tmp_path, "colleague")
    edited = _edited_raw()
    result = d6tflow.run(edited(n=3), remote=True, push=False, execution_summary=False)
    assert result.tasks(TaskState.DONE) == [edited(n=3)]
    assert list(edited(n=3).outputLoad().columns) == ["a", "b"]
    # push=False: the remote still has the first version.
    _new_local_folder(tmp_path, "third")
    d6tflow.pull(Raw(n=3), show=False)
    assert list(Raw(n=3).outputLoad().columns) == ["a"]


def _edited_raw() -> type:
    """``Raw`` with its code edited: the same task ids, a new code fingerprint."""

    class Raw(d6tflow.tasks.TaskPqPandas):
        n = d6tflow.IntParameter(default=3)

        def run(self):
            self.save(pd.DataFrame({"a": range(self.n), "b": 1}))

    return Raw


def test_shared_cache_with_worker_processes(s3, tmp_path):
    url = s3.new_bucket() + "/cache"
    d6tflow.set_remote(url, trusted=True, **s3.options)
    d6tflow.run(Report(n=4), remote=True, workers=2, execution_summary=False)
    _new_local_folder(tmp_path, "colleague")
    result = d6tflow.run(Report(n=4), remote=True, workers=2, execution_summary=False)
    assert set(result.status.values()) == {TaskState.PULLED}
    assert Report(n=4).outputLoad() == {"total": 6}


# -- the rule, against an oracle ---------------------------------------------------------------

# What can happen to a task's output on a remote folder between two state checks: the task runs
# (a commit), another writer replaces the object with other bytes or with the very bytes it had,
# the object is deleted, or the record's segments are deleted (a commit that never got to its
# record, seen from the other side).
EVENTS = st.lists(
    st.sampled_from(["run", "other bytes", "same bytes", "delete object", "delete records"]),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=EVENTS)
def test_remote_completeness_follows_the_record_and_the_content(events):
    """Complete exactly when a record exists and every output has the content it names."""
    import hashlib

    d6tflow.set_dir("memory://oracle/p")
    fs = fsspec.filesystem("memory")
    for path in fs.find("/oracle"):
        fs.rm(path)
    stores.store_for("memory://oracle/p").forget_folders()
    d6tflow.manifests.begin_check()

    task = Raw(n=4)
    path = os.fspath(task.output())
    store = stores.store_for(path)
    recorded: str | None = None  # the oracle: the content digest the current record names
    for event in events:
        if event == "run":
            d6tflow.run(task, forced_all=True, execution_summary=False)
            recorded = hashlib.sha256(fs.cat_file(store.key(path))).hexdigest()
        elif event in ("other bytes", "same bytes") and fs.exists(store.key(path)):
            data = fs.cat_file(store.key(path))
            if event == "other bytes":
                other = Path("other.parquet")
                pd.DataFrame({"a": [len(data)]}).to_parquet(other)
                data = other.read_bytes()
            fs.pipe_file(store.key(path), data)
        elif event == "delete object" and fs.exists(store.key(path)):
            fs.rm(store.key(path))
        elif event == "delete records":
            for segment in fs.find(store.key(path).rpartition("/")[0] + "/.manifests"):
                fs.rm(segment)
            recorded = None
        store.forget_folders()
        d6tflow.manifests.begin_check()
        present = fs.exists(store.key(path))
        content = hashlib.sha256(fs.cat_file(store.key(path))).hexdigest() if present else None
        expected = recorded is not None and content == recorded
        assert task._status().complete is expected, (events, event)


def test_a_remote_named_by_url_is_not_trusted_unless_said(remote, tmp_path):
    url, options = remote
    d6tflow.run(Model(n=2), execution_summary=False)
    d6tflow.push(Model(n=2), remote=url, storage_options=options or None, show=False)
    _new_local_folder(tmp_path, "colleague")
    stores._remotes.clear()  # a new process: nothing registered
    d6tflow.pull(Model(n=2), remote=url, storage_options=options or None, show=False)
    with pytest.raises(UntrustedPickleError):
        Model(n=2).outputLoad()
    d6tflow.pull(Model(n=2), remote=url, trusted=True, show=False)
    assert Model(n=2).outputLoad() == {"total": 1}


def test_push_with_force_repairs_an_object_damaged_on_the_remote(remote, tmp_path):
    url, options = remote
    d6tflow.set_remote(url, **options)
    d6tflow.run(Raw(n=3), execution_summary=False)
    d6tflow.push(Raw(n=3), show=False)
    remote_store = stores.get_remote()
    name = os.path.basename(os.fspath(Raw(n=3).output()))
    remote_store.fs.pipe_file(remote_store.key(f"{url}/Raw/{name}"), b"damaged")
    remote_store.forget_folders()
    assert d6tflow.push(Raw(n=3), show=False).tasks == []  # the records agree: nothing to move
    assert d6tflow.push(Raw(n=3), force=True, show=False).files == 1
    _new_local_folder(tmp_path, "colleague")
    d6tflow.pull(Raw(n=3), show=False)
    assert list(Raw(n=3).outputLoad()["a"]) == [0, 1, 2]


def test_an_object_replaced_during_the_commit_gets_no_record(s3, monkeypatch):
    # Another machine's upload landing between this commit's upload and its record cannot be
    # timed for real: the test makes that second upload itself, to the real server, right
    # after the commit's own.
    url = s3.new_bucket() + "/data"
    d6tflow.set_dir(url, **s3.options)
    store = stores.store_for(url)
    upload = type(store).upload

    def upload_then_other_writer(self, local, path):
        upload(self, local, path)
        self.fs.pipe_file(self.key(path), b"the other writer's bytes")

    monkeypatch.setattr(type(store), "upload", upload_then_other_writer)
    result = d6tflow.run(Raw(n=3), execution_summary=False, abort=False)
    assert result.tasks(TaskState.FAILED) == [Raw(n=3)]
    assert "replaced by another writer" in str(result.failures[0].exception)
    monkeypatch.undo()
    d6tflow.manifests.begin_check()
    assert not Raw(n=3).complete()
    assert d6tflow.run(Raw(n=3), execution_summary=False)
    assert list(Raw(n=3).outputLoad()["a"]) == [0, 1, 2]

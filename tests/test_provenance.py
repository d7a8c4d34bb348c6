"""Reruns after code, data and input changes, with the reason shown; manifests, verification,
the catalog, orphans and concurrent runs."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import d6tflow
from d6tflow import TaskState
from d6tflow.errors import TaskNotCompleteError
from d6tflow.graph import Graph
from d6tflow.status import State

FLOW_MODULE = '''
import d6tflow
import flowhelpers

class Source(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save([1, 2, 3])

@d6tflow.requires(Source)
class Doubled(d6tflow.tasks.TaskPickle):
    """Doubles the numbers."""

    def run(self):
        """Scales what Source saved."""
        self.save(flowhelpers.scale(self.inputLoad()))  # RUN_BODY
'''

HELPERS = """
def factor():
    return 2

def scale(values):
    '''Each value times factor().'''
    return [v * factor() for v in values]
"""


@pytest.fixture
def flow_module(tmp_path, monkeypatch):
    """A user's module on disk, importable, that tests edit and re-import."""
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "flowhelpers.py").write_text(HELPERS)
    (tmp_path / "userflow.py").write_text(FLOW_MODULE)
    importlib.invalidate_caches()
    for name in ("userflow", "flowhelpers"):
        sys.modules.pop(name, None)
    module = importlib.import_module("userflow")

    def edit(filename: str, old: str, new: str):
        path = tmp_path / filename
        path.write_text(path.read_text().replace(old, new))
        importlib.invalidate_caches()
        importlib.reload(sys.modules["flowhelpers"])
        return importlib.reload(sys.modules["userflow"])

    module.edit = edit
    yield module
    for name in ("userflow", "flowhelpers"):
        sys.modules.pop(name, None)


def status_of(task):
    return Graph([task]).states()[task]


def test_first_run_reason_is_parameters_new_and_is_reported(flow_module, capsys):
    assert status_of(flow_module.Doubled()).reasons == ("parameters new",)
    d6tflow.run(flow_module.Doubled())
    assert "- 1 Doubled() [parameters new]" in capsys.readouterr().out
    assert status_of(flow_module.Doubled()).state is State.COMPLETE


def test_manifest_records_how_the_output_was_made(flow_module, fresh_data_dir):
    d6tflow.run(flow_module.Doubled(), execution_summary=False)
    path = fresh_data_dir / "Doubled" / ".manifests.jsonl"
    # One line per committed run in the folder, after a line with what its code digest covers.
    code_line, manifest = [json.loads(line) for line in path.read_text().splitlines()]
    assert manifest["task_id"] == "Doubled__99914b932b"
    assert manifest["task_family"] == "Doubled"
    assert manifest["params"] == {}
    assert set(manifest["upstream"]) == {"Source__99914b932b"}
    output = manifest["outputs"]["data"]
    assert output["file"] == "Doubled__99914b932b-data.pkl"
    assert output["size"] == (path.parent / output["file"]).stat().st_size
    assert manifest["code"] == code_line["code"]
    assert "Doubled.run" in code_line["members"] and "flowhelpers.scale" in code_line["members"]
    assert manifest["duration"] >= 0 and manifest["d6tflow"] == d6tflow.__version__


def test_editing_run_makes_the_task_stale_and_names_the_method(flow_module):
    d6tflow.run(flow_module.Doubled(), execution_summary=False)
    module = flow_module.edit("userflow.py", "self.inputLoad()))", "self.inputLoad()[:2]))")
    status = status_of(module.Doubled())
    assert status.state is State.STALE
    assert status.reasons == ("code of Doubled.run changed",)
    assert status_of(module.Source()).state is State.COMPLETE
    result = d6tflow.run(module.Doubled(), execution_summary=False)
    assert result.status == {module.Doubled(): TaskState.DONE, module.Source(): TaskState.COMPLETE}
    assert result.reasons[module.Doubled()] == ("code of Doubled.run changed",)
    assert module.Doubled().outputLoad() == [2, 4]


def test_changed_code_is_named_by_class_when_the_log_lost_the_details(flow_module, fresh_data_dir):
    d6tflow.run(flow_module.Doubled(), execution_summary=False)
    path = fresh_data_dir / "Doubled" / ".manifests.jsonl"
    # A log edited by hand (or by another tool) without the line that maps the code digest.
    path.write_text(
        "".join(x + "\n" for x in path.read_text().splitlines() if '"members"' not in x)
    )
    assert status_of(flow_module.Doubled()).state is State.COMPLETE  # the digest still matches
    module = flow_module.edit("userflow.py", "self.inputLoad()))", "self.inputLoad()[:2]))")
    assert status_of(module.Doubled()).reasons == ("code of Doubled changed",)


def test_comments_docstrings_and_formatting_do_not_count(flow_module):
    d6tflow.run(flow_module.Doubled(), execution_summary=False)
    module = flow_module.edit("userflow.py", "# RUN_BODY", "# a new comment")
    module = flow_module.edit("userflow.py", '"""Doubles the numbers."""', '"""Twice."""')
    module = flow_module.edit("userflow.py", "Scales what Source saved.", "Calls scale().")
    module = flow_module.edit("flowhelpers.py", "Each value times factor().", "Scaled.")
    module = flow_module.edit(
        "userflow.py", "self.save(flowhelpers.scale(", "self.save(  flowhelpers.scale(  "
    )
    assert status_of(module.Doubled()).state is State.COMPLETE


def test_editing_a_helper_function_the_task_calls_is_detected_transitively(flow_module):
    d6tflow.run(flow_module.Doubled(), execution_summary=False)
    module = flow_module.edit("flowhelpers.py", "return 2", "return 3")
    status = status_of(module.Doubled())
    assert status.state is State.STALE
    assert status.reasons == ("code of flowhelpers.factor changed",)
    d6tflow.run(module.Doubled(), execution_summary=False)
    assert module.Doubled().outputLoad() == [3, 6, 9]


def test_code_version_replaces_the_automatic_fingerprint(flow_module):
    module = flow_module.edit("userflow.py", '"""Doubles the numbers."""', 'code_version = "1"')
    d6tflow.run(module.Doubled(), execution_summary=False)
    module = flow_module.edit("flowhelpers.py", "return 2", "return 3")
    assert status_of(module.Doubled()).state is State.COMPLETE
    module = flow_module.edit("userflow.py", 'code_version = "1"', 'code_version = "2"')
    assert status_of(module.Doubled()).reasons == ("code of Doubled.code_version changed",)


def test_code_tracking_can_be_turned_off(flow_module):
    d6tflow.run(flow_module.Doubled(), execution_summary=False)
    module = flow_module.edit("flowhelpers.py", "return 2", "return 3")
    d6tflow.settings.track_code = False
    assert status_of(module.Doubled()).state is State.COMPLETE


counter = {"value": 1}


class Upstream(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(counter["value"])


@d6tflow.requires(Upstream)
class Downstream(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(self.inputLoad() * 10)


def test_upstream_output_that_changed_makes_downstream_stale():
    counter["value"] = 1
    d6tflow.run(Downstream(), execution_summary=False)
    counter["value"] = 2
    d6tflow.run(Upstream(), forced_all=True, execution_summary=False)
    status = status_of(Downstream())
    assert status.state is State.STALE
    assert status.reasons == ("upstream Upstream output changed",)
    d6tflow.run(Downstream(), execution_summary=False)
    assert Downstream().outputLoad() == 20


def test_upstream_rerun_with_the_same_output_leaves_downstream_alone():
    counter["value"] = 5
    d6tflow.run(Downstream(), execution_summary=False)
    Upstream().reset(confirm=False)
    assert status_of(Downstream()).reasons == ("upstream Upstream pending",)
    result = d6tflow.run(Downstream(), execution_summary=False)
    assert result.status[Upstream()] is TaskState.DONE
    assert result.status[Downstream()] is TaskState.UP_TO_DATE
    assert "1 was up to date: its upstream reran with the same output" in result.summary


class Reader(d6tflow.tasks.TaskPickle):
    input_files = ["raw.csv"]

    def run(self):
        with open("raw.csv") as f:
            self.save(f.read())


def test_changed_input_file_makes_the_task_stale_but_touching_it_does_not(tmp_path):
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b\n1,2\n")
    d6tflow.run(Reader(), execution_summary=False)
    os.utime(raw, ns=(time.time_ns(), time.time_ns() + 10**9))  # same content, new mtime
    assert status_of(Reader()).state is State.COMPLETE
    raw.write_text("a,b\n1,3\n")
    status = status_of(Reader())
    assert (status.state, status.reasons) == (State.STALE, ("input file raw.csv changed",))
    d6tflow.run(Reader(), execution_summary=False)
    assert Reader().outputLoad() == "a,b\n1,3\n"


def test_missing_input_file_is_named(tmp_path):
    (tmp_path / "raw.csv").write_text("x")
    d6tflow.run(Reader(), execution_summary=False)
    (tmp_path / "raw.csv").unlink()
    assert status_of(Reader()).reasons == ("input file raw.csv missing",)


def test_truncated_output_is_invalid_not_loaded_and_verify_reports_it(fresh_data_dir):
    d6tflow.run(Downstream(), execution_summary=False)
    path = Downstream().output().path
    path.write_bytes(path.read_bytes()[:3])
    status = status_of(Downstream())
    assert status.state is State.PENDING
    assert status.reasons[0].startswith("output changed after it was written")
    with pytest.raises(TaskNotCompleteError, match="changed after it was written"):
        Downstream().outputLoad()
    (problem,) = d6tflow.verify()
    assert problem["task_id"] == Downstream().task_id and problem["output"] == "data"
    assert problem["problem"].startswith("size 3 bytes")
    d6tflow.run(Downstream(), execution_summary=False)
    assert d6tflow.verify([Downstream()]) == []


def test_verify_finds_same_size_edits_that_the_cheap_check_cannot(fresh_data_dir):
    d6tflow.run(Upstream(), execution_summary=False)
    path = str(Upstream().output().path)
    st = os.stat(path)
    data = bytearray(Upstream().output().path.read_bytes())
    data[-2] ^= 1
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert status_of(Upstream()).state is State.COMPLETE  # size and mtime as recorded
    assert [p["problem"] for p in d6tflow.verify()] == ["content differs from what was written"]


def test_report_only_mode_keeps_stale_outputs(flow_module, capsys):
    d6tflow.run(flow_module.Doubled(), execution_summary=False)
    module = flow_module.edit("flowhelpers.py", "return 2", "return 5")
    result = d6tflow.run(module.Doubled(), rerun_stale=False)
    assert result.status == {module.Doubled(): TaskState.STALE_KEPT}
    assert "1 was stale and kept as it is" in capsys.readouterr().out
    d6tflow.settings.rerun_stale = False
    assert module.Doubled().outputLoad() == [2, 4, 6]
    d6tflow.preview(module.Doubled())
    assert "(STALE)] code of flowhelpers.factor changed" in capsys.readouterr().out


def test_save_by_hand_replaces_the_manifest(fresh_data_dir):
    d6tflow.run(Upstream(), execution_summary=False)
    Upstream().save(99)
    status = status_of(Upstream())
    assert status.state is State.COMPLETE and status.legacy
    assert Upstream().outputLoad() == 99


def test_catalog_lists_every_run_output(fresh_data_dir):
    counter["value"] = 1
    d6tflow.run(Downstream(), execution_summary=False)
    table = d6tflow.catalog()
    assert sorted(table["task_family"]) == ["Downstream", "Upstream"]
    row = table.set_index("task_family").loc["Downstream"]
    assert row["task_id"] == "Downstream__99914b932b"
    assert row["size"] == Downstream().output().path.stat().st_size
    assert row["outputs"] == ["Downstream__99914b932b-data.pkl"]
    assert list(table.columns[:4]) == ["task_family", "task_id", "params", "started"]


class Sized(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter()

    def run(self):
        self.save(self.n)


def test_invalidate_orphans_keeps_what_the_flows_produce(fresh_data_dir, answer):
    d6tflow.run([Sized(n=1), Sized(n=2), Downstream()], execution_summary=False)
    prompts = answer("y")
    deleted = d6tflow.invalidate_orphans([Sized(n=1)])
    assert prompts
    assert Sized(n=1).complete() and not Sized(n=2).complete() and not Downstream().complete()
    assert all(p.name.startswith("Sized_2_") or "stream" in p.parent.name for p in deleted)
    assert not (fresh_data_dir / "Upstream").exists()
    # the deleted run is dropped from the folder's manifest log, the kept one stays
    log = (fresh_data_dir / "Sized" / ".manifests.jsonl").read_text()
    assert "Sized_1_" in log and json.loads(log.splitlines()[-1])["removed"] is True
    with pytest.raises(TypeError, match="invalidate_all"):
        d6tflow.invalidate_orphans()


class TextTarget(d6tflow.targets.Target):
    """A target class of one's own, not built on DataTarget (the original's documented way)."""

    def __init__(self, path):
        self.path = path

    def exists(self):
        return os.path.exists(self.path)

    def save(self, obj, **kwargs):
        with open(self.path, "w") as f:
            f.write(obj)


class WrittenByOwnTarget(d6tflow.tasks.TaskData):
    target_class = TextTarget
    target_ext = "txt"

    def run(self):
        self.save("kept")


def test_invalidate_orphans_keeps_outputs_of_a_target_class_of_ones_own(fresh_data_dir):
    d6tflow.run(WrittenByOwnTarget(), execution_summary=False)
    d6tflow.invalidate_orphans([WrittenByOwnTarget()], confirm=False)
    assert WrittenByOwnTarget().complete()


def test_invalidate_orphans_asks_and_cancels(fresh_data_dir, answer):
    d6tflow.run([Sized(n=1), Sized(n=2)], execution_summary=False)
    answer("n")
    assert d6tflow.invalidate_orphans(Sized(n=1)) == []
    assert Sized(n=2).complete()


CONCURRENT = textwrap.dedent(
    """
    import os, sys, time
    import d6tflow

    def log(name):
        fd = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        os.write(fd, (name + "\\n").encode())
        os.close(fd)

    class Slow(d6tflow.tasks.TaskPickle):
        n = d6tflow.IntParameter()

        def run(self):
            log(f"Slow{self.n}")
            time.sleep(0.3)
            self.save(list(range(100_000 * (self.n + 1))))

    class Total(d6tflow.tasks.TaskPickle):
        def requires(self):
            return [Slow(n=n) for n in range(3)]

        def run(self):
            log("Total")
            self.save(sum(len(x) for x in self.inputLoad()))

    d6tflow.set_dir(sys.argv[1])
    d6tflow.run(Total(), execution_summary=False)
    print(Total().outputLoad())
    """
)


@pytest.mark.slow
def test_two_processes_running_the_same_flow_run_each_task_once(tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(CONCURRENT)
    log = tmp_path / "runs.log"
    args = [sys.executable, str(script), str(tmp_path / "data"), str(log)]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert [o.strip() for o in outs] == ["600000", "600000"]
    assert sorted(log.read_text().split()) == ["Slow0", "Slow1", "Slow2", "Total"]


SCRIPT_FLOW = """
import d6tflow


def scale(values):
    '''Each value times factor().'''
    return [v * 2 for v in values]


class Numbers(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save([1, 2, 3])


@d6tflow.requires(Numbers)
class Scaled(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(scale(self.inputLoad()))


if __name__ == "__main__":
    d6tflow.set_dir("data")
    d6tflow.run(Scaled(), execution_summary=False)
"""


def test_a_flow_run_as_a_script_is_complete_when_imported(tmp_path):
    # `python flow.py`, then a notebook does `from flow import Scaled`: same code, same outputs.
    (tmp_path / "scriptflow.py").write_text(SCRIPT_FLOW)
    subprocess.run([sys.executable, "scriptflow.py"], cwd=tmp_path, check=True)
    check = (
        "import d6tflow, scriptflow; from d6tflow.graph import Graph; d6tflow.set_dir('data');"
        "print(Graph([scriptflow.Scaled()]).states()[scriptflow.Scaled()].describe());"
        "print(scriptflow.Scaled().outputLoad())"
    )
    out = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[:2] == ["COMPLETE", "[2, 4, 6]"], out.stdout


@pytest.mark.parametrize("size", [0, 5, (1 << 20) - 1, 1 << 20, (1 << 20) + 7, 3 << 20])
def test_output_fingerprint_covers_every_byte(tmp_path, size):
    """The recorded hash is the xxh3-128 of the whole file, whatever its size next to the read
    chunk, so a change in any byte is seen."""
    import xxhash

    from d6tflow.fingerprint import file_record

    data = os.urandom(size)
    path = tmp_path / "out.bin"
    path.write_bytes(data)
    assert file_record(path) == (size, path.stat().st_mtime_ns, xxhash.xxh3_128_hexdigest(data))


@pytest.mark.parametrize(
    "path", ["data/Task/Task_1-data.pkl", "/x.pkl", "x.pkl", "a//b.pkl", "a/b/", "//x", ""]
)
def test_output_folder_is_the_dirname_of_the_output(path):
    """The manifest log of an output is found by its folder, computed on a shortcut for the usual
    path shape; any other shape must give what os.path.dirname gives, or a task would get a
    second, out-of-date copy of its folder's log."""
    from d6tflow.provenance import _parent

    assert _parent(path) == os.path.dirname(path)


def test_outputs_dropped_from_persist_keep_their_recorded_hashes(fresh_data_dir, monkeypatch):
    """A task whose persist list shrank (code tracking off, or it would be stale for that) is
    still complete; downstream tasks compare against all the hashes its manifest recorded."""
    monkeypatch.setattr(d6tflow.settings, "track_code", False)

    class Pair(d6tflow.tasks.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save({"a": 1, "b": 2})

    d6tflow.run(Pair())
    Pair.persist = ["a"]
    status = Graph([Pair()]).states()[Pair()]
    assert status.state is State.COMPLETE
    assert set(status.hashes) == {"a", "b"}


def test_an_output_added_to_persist_whose_file_no_run_recorded_is_not_complete(
    fresh_data_dir, monkeypatch
):
    """The file of a key put back into persist is left from an older version of the task: the
    latest run did not make it, so the task must run again rather than serve it."""
    monkeypatch.setattr(d6tflow.settings, "track_code", False)

    class Pair(d6tflow.tasks.TaskPickle):
        persist = ["a", "b"]

        def run(self):
            self.save({key: f"{key} of {self.persist}" for key in self.persist})

    d6tflow.run(Pair(), execution_summary=False)
    Pair.persist = ["a"]
    d6tflow.run(Pair(), forced=Pair(), execution_summary=False)
    Pair.persist = ["a", "b"]
    assert os.path.exists(Pair().output()["b"].path)  # the first version's file is still there

    status = Graph([Pair()]).states()[Pair()]
    assert status.state is State.PENDING
    assert status.reasons[0].startswith("output b changed")
    d6tflow.run(Pair(), execution_summary=False)
    assert Pair().outputLoad() == ["a of ['a', 'b']", "b of ['a', 'b']"]


# -- the words of a verdict ------------------------------------------------------------------


class Kept(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(1)


class Other(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(2)


@d6tflow.requires(Kept, Other)
class Both(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(3)


def test_after_reset_the_reason_is_output_deleted_in_this_and_a_new_process(fresh_data_dir):
    d6tflow.run(Kept(), execution_summary=False)
    Kept().reset(confirm=False)
    assert status_of(Kept()).reasons == ("output deleted",)
    script = f"""
        import d6tflow
        from d6tflow.graph import Graph
        d6tflow.set_dir({str(fresh_data_dir)!r})


        class Kept(d6tflow.tasks.TaskPickle):
            def run(self):
                self.save(1)


        print(Graph([Kept()]).states()[Kept()].reasons)
    """
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True
    )
    assert out.stdout.strip() == "('output deleted',)", out.stderr
    result = d6tflow.run(Kept(), execution_summary=False)  # the rerun decision is the same
    assert result.status[Kept()] is TaskState.DONE
    assert result.reasons[Kept()] == ("output deleted",)
    assert status_of(Kept()).state is State.COMPLETE


def test_a_task_never_run_is_still_parameters_new():
    assert status_of(Kept()).reasons == ("parameters new",)


def test_several_upstream_tasks_waited_on_are_named_in_one_reason():
    d6tflow.run(Both(), execution_summary=False)
    Kept().reset(confirm=False)
    Other().reset(confirm=False)
    assert status_of(Both()).reasons == ("upstream Kept, Other pending",)

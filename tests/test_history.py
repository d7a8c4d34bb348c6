"""d6tflow.history(): every run of a task over time, with why it ran, how long it took and the
metadata it saved; it outlives compaction of the record log and reruns that replace outputs."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.user_modules import user_modules_in

import d6tflow
from d6tflow import manifests


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    yield from user_modules_in(tmp_path, monkeypatch)


FLOW = """
import d6tflow

class Scored(d6tflow.tasks.TaskPickle):
    n = d6tflow.IntParameter(default=1)

    def run(self):
        self.save(self.n * 2)
        self.metaSave({"score": self.n / 10})
"""


def test_history_lists_each_run_with_its_reason_duration_and_metadata(user_modules):
    flow = user_modules.write("scoredflow", FLOW)
    d6tflow.run([flow.Scored(n=1), flow.Scored(n=2)], execution_summary=False)
    flow = user_modules.edit("scoredflow", "self.n * 2", "self.n * 3")
    d6tflow.run(flow.Scored(n=1), execution_summary=False)

    runs = d6tflow.history()
    assert list(runs.columns) == [
        "task_family",
        "task_id",
        "params",
        "started",
        "duration",
        "reason",
        "accepted",
        "metadata",
        "size",
        "code",
    ]
    assert [r["n"] for r in runs["params"]] == ["1", "2", "1"]  # newest last
    assert list(runs["reason"]) == [
        "parameters new",
        "parameters new",
        "code of Scored.run changed",
    ]
    assert list(runs["metadata"]) == [{"score": 0.1}, {"score": 0.2}, {"score": 0.1}]
    assert runs["started"].is_monotonic_increasing
    assert (runs["duration"] >= 0).all() and (runs["size"] > 0).all()
    assert runs["code"].iloc[0] != runs["code"].iloc[2]  # the code that made each
    assert runs["accepted"].isna().all()
    # The catalog stays one row per current output; history() of a task lists its runs only.
    assert len(d6tflow.catalog()) == 2
    assert list(d6tflow.history(flow.Scored(n=1))["task_id"]) == [flow.Scored(n=1).task_id] * 2


def test_history_survives_compaction_of_the_record_log(user_modules, monkeypatch, fresh_data_dir):
    monkeypatch.setattr(manifests, "COMPACT_AFTER", 3)
    flow = user_modules.write("scoredflow", FLOW)
    d6tflow.run([flow.Scored(n=1), flow.Scored(n=2)], execution_summary=False)
    for _ in range(6):
        d6tflow.run(flow.Scored(n=1), forced_all=True, execution_summary=False)

    log = fresh_data_dir / "Scored" / ".manifests.jsonl"
    assert len(log.read_text().splitlines()) < 8  # compacted: superseded runs left the log
    runs = d6tflow.history(flow.Scored(n=1))
    assert len(runs) == 7
    assert runs["started"].is_unique
    assert len(d6tflow.history()) == 8


def test_a_forced_rerun_of_a_folders_only_task_keeps_its_history(user_modules):
    flow = user_modules.write("scoredflow", FLOW)
    for _ in range(3):  # each forced run deletes the folder's only output, and its log
        d6tflow.run(flow.Scored(), forced_all=True, execution_summary=False)
    assert len(d6tflow.history(flow.Scored())) == 3


def test_metadata_is_recorded_when_it_is_small_json_data(user_modules):
    numpy = pytest.importorskip("numpy")
    flow = user_modules.write(
        "metaflow",
        FLOW
        + """
import numpy

class Numpy(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(1)
        self.metaSave({"auc": numpy.float32(0.5), "n": numpy.int64(3)})

class Large(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(1)
        self.metaSave({"weights": list(range(10_000))})

class NotJson(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(1)
        self.metaSave({"when": object()})

class NoMeta(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(1)
""",
    )
    assert numpy is not None
    tasks = [flow.Numpy(), flow.Large(), flow.NotJson(), flow.NoMeta()]
    d6tflow.run(tasks, execution_summary=False)
    runs = d6tflow.history().set_index("task_family")["metadata"]
    assert runs["Numpy"] == {"auc": 0.5, "n": 3}
    assert runs["Large"] is None and runs["NotJson"] is None and runs["NoMeta"] is None
    assert flow.Large().outputLoadMeta()["weights"][-1] == 9_999  # the file keeps it all


def test_history_of_a_remote_data_folder_reads_its_record_segments(user_modules):
    flow = user_modules.write("scoredflow", FLOW)
    d6tflow.set_dir("memory://bucket/history")
    for _ in range(2):
        d6tflow.run(flow.Scored(), forced_all=True, execution_summary=False)
    runs = d6tflow.history()
    assert list(runs["reason"]) == ["parameters new", "output deleted"]  # as the summaries said
    assert list(runs["metadata"]) == [{"score": 0.1}] * 2


# -- property: every commit is one row, whatever compaction and resets did -------------------------

OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["run", "force", "reset"]), st.integers(1, 3)), max_size=12
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS, compact_after=st.integers(0, 4))
def test_history_has_one_row_per_commit_in_order(
    operations, compact_after, user_modules, monkeypatch, fresh_data_dir
):
    monkeypatch.setattr(manifests, "COMPACT_AFTER", compact_after)
    flow = (
        user_modules.write("scoredflow", FLOW)
        if "scoredflow" not in user_modules.names
        else (user_modules["scoredflow"])
    )
    d6tflow.invalidate_all(confirm=False)
    committed: list[str] = []  # the oracle: task ids in the order their runs committed
    for operation, n in operations:
        task = flow.Scored(n=n)
        if operation == "reset":
            task.reset(confirm=False)
            continue
        result = d6tflow.run(task, forced_all=operation == "force", execution_summary=False)
        if result.status[task] is d6tflow.TaskState.DONE:
            committed.append(task.task_id)
    assert list(d6tflow.history()["task_id"]) == committed
    # What the log holds now is what counts: the catalog agrees with the last run of each task.
    current = {r["task_id"]: r for r in map(json.loads, _log_lines(fresh_data_dir))}
    assert set(d6tflow.catalog()["task_id"]) == {t for t in current if "outputs" in current[t]}


def _log_lines(data):
    log = data / "Scored" / ".manifests.jsonl"
    return (
        [line for line in log.read_text().splitlines() if '"task_id"' in line]
        if log.exists()
        else []
    )


def test_a_forced_rerun_is_recorded_with_the_reason_its_summary_gave(user_modules):
    flow = user_modules.write("scoredflow", FLOW)
    d6tflow.run(flow.Scored(n=1), execution_summary=False)
    forced = d6tflow.run(flow.Scored(n=1), forced_all=True, execution_summary=False)
    assert forced.reasons[flow.Scored(n=1)] == ("output deleted",)
    assert list(d6tflow.history(flow.Scored(n=1))["reason"]) == ["parameters new", "output deleted"]

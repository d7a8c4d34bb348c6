"""The manifest log of a folder: appends, torn lines, readers that catch up, compaction."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from d6tflow import manifests
from d6tflow.manifests import LOG_NAME, ManifestLog


def record(task_id, n=0):
    output = {"file": f"{task_id}.pkl", "size": 1, "mtime_ns": 1, "hash": str(n)}
    return {"task_id": task_id, "outputs": {"data": output}}


@pytest.fixture
def folder(tmp_path):
    return str(tmp_path / "Task")


def test_latest_line_of_a_task_counts_and_a_tombstone_removes_it(folder):
    log = ManifestLog(folder)
    log.append(record("A", 1))
    log.append(record("B", 1))
    log.append(record("A", 2))
    reader = ManifestLog(folder)  # another process's view, reading the file from scratch
    assert reader.get("A")["outputs"]["data"]["hash"] == "2"
    log.remove("B")
    assert reader.get("B", fresh=True) is None and reader.get("A") is not None


def test_a_removal_is_remembered_by_other_readers_until_the_task_commits_again(folder):
    log = ManifestLog(folder)
    log.append(record("A"))
    log.remove("A")  # the folder's last record: its tombstone stays, so the log does
    reader = ManifestLog(folder)
    assert reader.get("A") is None and reader.was_removed("A")
    log.append(record("A"))
    assert reader.get("A", fresh=True) is not None and not reader.was_removed("A")


def test_compaction_keeps_the_tombstones(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(manifests, "COMPACT_AFTER", 3)
    log = ManifestLog(folder)
    log.append(record("gone"))
    log.remove("gone")
    for n in range(6):  # superseded lines pile up: the log is rewritten
        log.append(record("A", n))
    lines = [json.loads(x) for x in (tmp_path / "Task" / LOG_NAME).read_text().splitlines()]
    assert len(lines) < 8, lines  # compacted: 8 lines were appended
    assert [x for x in lines if x["task_id"] == "gone"] == [{"task_id": "gone", "removed": True}]
    assert ManifestLog(folder).was_removed("gone")


def test_a_torn_line_is_ignored_and_the_next_append_cuts_it_off(folder, tmp_path):
    log = ManifestLog(folder)
    log.append(record("A"))
    # What a process killed in the middle of an append leaves: part of a line, no newline.
    path = tmp_path / "Task" / LOG_NAME
    with open(path, "a") as f:
        f.write(json.dumps(record("B"))[:25])
    assert ManifestLog(folder).get("B") is None
    log.append(record("C"))
    fresh = ManifestLog(folder)
    assert fresh.get("A") is not None and fresh.get("C") is not None and fresh.get("B") is None
    assert path.read_text().count("\n") == 2  # A and C: the torn B is gone
    assert '"B"' not in path.read_text()


@pytest.mark.timeout(60)
def test_a_log_that_is_only_a_torn_line_is_cut_to_nothing_by_the_next_append(folder, tmp_path):
    # A process killed during the very first commit in a folder: no newline anywhere.
    path = tmp_path / "Task" / LOG_NAME
    path.parent.mkdir()
    path.write_text(json.dumps(record("B"))[:25])
    ManifestLog(folder).append(record("C"))
    assert path.read_text() == json.dumps(record("C"), separators=(",", ":")) + "\n"
    assert set(ManifestLog(folder).all()) == {"C"}


def test_a_whole_record_without_its_newline_never_counts(folder, tmp_path):
    # A write cut short exactly before the newline parses: it still must not count, before or
    # after the next append (which once began a new line after it, making it count).
    log = ManifestLog(folder)
    log.append(record("A"))
    path = tmp_path / "Task" / LOG_NAME
    with open(path, "a") as f:
        f.write(json.dumps(record("B")))
    assert ManifestLog(folder).get("B") is None
    ManifestLog(folder).append(record("C"))
    fresh = ManifestLog(folder)
    assert fresh.get("B") is None and fresh.get("A") is not None and fresh.get("C") is not None


def test_blank_lines_and_garbage_in_the_log_cost_only_themselves(folder, tmp_path):
    log = ManifestLog(folder)
    log.append(record("A"))
    path = tmp_path / "Task" / LOG_NAME
    with open(path, "ab") as f:
        f.write(b"\n  \n\xff\xfe not json\n" + json.dumps(record("B")).encode() + b"\n")
    fresh = ManifestLog(folder)
    assert fresh.get("A") is not None and fresh.get("B") is not None
    assert set(fresh.all()) == {"A", "B"}


def test_a_reader_takes_only_complete_lines_and_catches_up_later(folder, tmp_path):
    ManifestLog(folder).append(record("A"))
    reader = ManifestLog(folder)
    assert reader.get("A") is not None
    line = json.dumps(record("B")) + "\n"
    path = tmp_path / "Task" / LOG_NAME
    with open(path, "a") as f:
        f.write(line[:10])  # a writer in the middle of its line
    assert reader.get("B", fresh=True) is None
    with open(path, "a") as f:
        f.write(line[10:])
    assert reader.get("B", fresh=True) is not None


def test_a_state_check_looks_at_each_log_once(folder):
    writer, reader = ManifestLog(folder), ManifestLog(folder)
    writer.append(record("A"))
    manifests.begin_check()
    assert reader.get("A") is not None
    writer.append(record("B"))
    assert reader.get("B") is None  # same check: not looked at again
    assert reader.get("B", fresh=True) is not None
    writer.append(record("C"))
    manifests.begin_check()
    assert reader.get("C") is not None


def test_a_log_replaced_by_a_bigger_one_is_read_from_its_start(folder, tmp_path):
    """A folder copied over from elsewhere (rsync, untar, a colleague's results) replaces the
    log with another file that may be longer than what this process read: every record is the
    new file's, not the old one's topped up from where reading stopped."""
    log = ManifestLog(folder)
    log.append(record("A", 1))
    reader = ManifestLog(folder)
    assert reader.get("A")["outputs"]["data"]["hash"] == "1"
    elsewhere = str(tmp_path / "elsewhere")
    other = ManifestLog(elsewhere)
    for name, n in [("A", 2), ("B", 2), ("C", 2)]:
        other.append(record(name, n))
    os.replace(os.path.join(elsewhere, LOG_NAME), os.path.join(folder, LOG_NAME))

    assert reader.get("A", fresh=True)["outputs"]["data"]["hash"] == "2"
    assert {k: r["outputs"]["data"]["hash"] for k, r in reader.all().items()} == {
        "A": "2",
        "B": "2",
        "C": "2",
    }


def test_appends_from_another_process_are_seen(folder):
    log = ManifestLog(folder)
    log.append(record("A"))
    assert log.get("A") is not None
    script = textwrap.dedent(
        f"""
        from d6tflow.manifests import ManifestLog
        ManifestLog({folder!r}).append({record("B")!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert log.get("B", fresh=True) == record("B")
    log.append(record("C"))  # our own append after theirs: nothing is lost
    assert set(ManifestLog(folder).all()) == {"A", "B", "C"}


def test_the_log_is_compacted_when_superseded_lines_pile_up(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(manifests, "COMPACT_AFTER", 10)
    log = ManifestLog(folder)
    reader = ManifestLog(folder)
    for n in range(30):
        log.append(record("A", n))
        log.append(record("B", n))
    lines = (tmp_path / "Task" / LOG_NAME).read_text().splitlines()
    assert len(lines) < 30
    assert reader.get("A", fresh=True)["outputs"]["data"]["hash"] == "29"
    assert set(reader.all()) == {"A", "B"}


def coded(task_id, digest, n=0):
    return {**record(task_id, n), "code": digest}


def test_what_a_code_digest_stands_for_is_written_once_per_folder(folder, tmp_path):
    log = ManifestLog(folder)
    members = {"Task.run": "1f", "Task.n": "2e"}
    for name in "ABC":
        log.append(coded(name, "d1"), code_members=members)
    lines = [json.loads(x) for x in (tmp_path / "Task" / LOG_NAME).read_text().splitlines()]
    assert lines[0] == {"code": "d1", "members": members}
    assert [line.get("task_id") for line in lines[1:]] == ["A", "B", "C"]
    reader = ManifestLog(folder)
    assert reader.code_members(reader.get("B")["code"]) == members


def test_compaction_keeps_the_code_lines_that_manifests_refer_to(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(manifests, "COMPACT_AFTER", 10)
    log = ManifestLog(folder)
    log.append(coded("Gone", "old"), code_members={"Task.run": "0a"})
    log.remove("Gone")
    for n in range(30):
        log.append(coded("A", "d1", n), code_members={"Task.run": "1f"})
    lines = (tmp_path / "Task" / LOG_NAME).read_text().splitlines()
    assert len(lines) < 30
    reader = ManifestLog(folder)
    assert reader.code_members("d1") == {"Task.run": "1f"}
    assert reader.code_members("old") is None  # nothing refers to it any more


def test_a_manifest_of_the_first_development_builds_carries_its_code_map_inline(
    folder, monkeypatch
):
    monkeypatch.setattr(manifests, "COMPACT_AFTER", 10)
    log = ManifestLog(folder)
    log.append({**record("A"), "code": {"Task.run": "1f"}})
    for n in range(30):  # compaction keeps such a line as it is
        log.append(coded("B", "d1", n), code_members={"Task.run": "2e"})
    reader = ManifestLog(folder)
    assert reader.code_members(reader.get("A")["code"]) == {"Task.run": "1f"}
    assert reader.code_members(reader.get("B")["code"]) == {"Task.run": "2e"}


def test_a_log_just_compacted_still_says_what_each_code_digest_stands_for(
    folder, tmp_path, monkeypatch
):
    """Then a later code change is still named by method, not only by class."""
    monkeypatch.setattr(manifests, "COMPACT_AFTER", 10)
    log, path = ManifestLog(folder), tmp_path / "Task" / LOG_NAME
    members = {"Task.run": "1f"}
    for n in range(100):
        lines = path.read_text().count("\n") if path.exists() else 0
        log.append(coded("A", "d1", n), code_members=members)
        if path.read_text().count("\n") < lines:
            break  # this append compacted the log: nothing is appended after it
    else:
        pytest.fail("the log was never compacted")
    reader = ManifestLog(folder)
    assert reader.get("A")["outputs"]["data"]["hash"] == str(n)
    assert reader.code_members(reader.get("A")["code"]) == members

"""How many requests an s3:// data folder costs, counted in the log of a real S3-compatible server
(moto, tests/servers.py): requests are what a remote folder's time and bill grow with."""

from __future__ import annotations

import pytest

import d6tflow
from d6tflow.summary import TaskState


class Leaf(d6tflow.tasks.TaskJson):
    i = d6tflow.IntParameter()

    def run(self):
        self.save({"i": self.i})


def listings_of(lines: list[str], prefix: str) -> int:
    """Listing requests whose prefix is exactly ``prefix`` (not a folder below it)."""
    return sum(1 for line in lines if "list-type=2" in line and f"prefix={prefix}&" in line)


@pytest.mark.slow  # starts a server process
def test_committing_to_an_s3_folder_does_not_list_its_outputs_again(s3):
    # Each listing of a folder returns every output in it: a commit that listed its folder made
    # a first run of N tasks in one folder cost N listings of up to N objects each.
    bucket = s3.new_bucket()
    d6tflow.set_dir(f"{bucket}/data", **s3.options)
    d6tflow.run([Leaf(i=i) for i in range(3)], execution_summary=False)
    seen = len(s3.log.read_text().splitlines())

    result = d6tflow.run([Leaf(i=i) for i in range(5)], execution_summary=False)

    assert [result.status[Leaf(i=i)] for i in range(5)] == [TaskState.COMPLETE] * 3 + [
        TaskState.DONE
    ] * 2
    lines = s3.log.read_text().splitlines()[seen:]
    # The run's state check lists the folder once; the two commits list only its records.
    assert listings_of(lines, "data/Leaf/") == 1
    assert listings_of(lines, "data/Leaf/.manifests/") == 4
    # What the commits recorded matches what is on the store, for a process that starts afresh.
    d6tflow.set_dir(f"{bucket}/data", **s3.options)
    again = d6tflow.run([Leaf(i=i) for i in range(5)], execution_summary=False)
    assert set(again.status.values()) == {TaskState.COMPLETE}
    assert Leaf(i=4).outputLoad() == {"i": 4}

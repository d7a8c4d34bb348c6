"""The docs build for pictures: draws the flows of README.md and docs/seeing.md with
``d6tflow.draw`` and writes each as DOT text and SVG into docs/img (commit both).

    python docs/build_pictures.py    # the SVGs need dot: apt-get install graphviz

tests/test_doc_pictures.py checks that the committed files are what this script makes now.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

import d6tflow

SALES = {"amount": [120, 80, 45, 200]}


class TaskSales(d6tflow.tasks.TaskPqPandas):
    def run(self):
        regions = ["north", "south", "north", "east"]
        self.save(pd.DataFrame({"region": regions, "amount": SALES["amount"]}))


@d6tflow.requires(TaskSales)
class TaskLargeSales(d6tflow.tasks.TaskPqPandas):
    threshold = d6tflow.IntParameter(default=100)

    def run(self):
        df = self.inputLoad()
        self.save(df[df["amount"] >= self.threshold])


@d6tflow.requires(TaskLargeSales)
class TaskReport(d6tflow.tasks.TaskJson):
    def run(self):
        self.save(self.inputLoad().groupby("region")["amount"].sum().to_dict())


def pictures() -> dict[str, object]:
    """``{file stem: picture}``, made in the current directory's data folder."""
    d6tflow.set_dir("data")
    d6tflow.run(TaskReport(), execution_summary=False)
    # README: after the quickstart's first run, threshold=50 needs only the last two tasks.
    found = {"quickstart": d6tflow.draw(TaskReport(threshold=50))}
    # docs/seeing.md: the sales data changed, so what was made from it is stale.
    SALES["amount"] = [120, 80, 45, 210]
    try:
        d6tflow.run(TaskSales(), forced_all=True, execution_summary=False)
    finally:
        SALES["amount"] = [120, 80, 45, 200]
    flows = d6tflow.WorkflowMulti(TaskReport, {"threshold": [50, 100]})
    found["experiments"] = d6tflow.draw(flows)
    found["experiments-mermaid"] = d6tflow.draw(flows, format="mermaid")
    return found


def build(out: Path, svg: bool = True) -> list[Path]:
    """Write the pictures into ``out`` (.dot and .svg; Mermaid as .mmd); return the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as work:
        os.chdir(work)
        try:
            made = pictures()
        finally:
            os.chdir(here)
    for stem, picture in made.items():
        if isinstance(picture, str):
            written.append(out / f"{stem}.mmd")
            written[-1].write_text(picture)
            continue
        written.append(out / f"{stem}.dot")
        written[-1].write_text(picture.source)
        if svg:
            written.append(out / f"{stem}.svg")
            written[-1].write_text(picture.pipe(format="svg", encoding="utf-8"))
    return written


if __name__ == "__main__":
    for path in build(Path(__file__).parent / "img", svg="--no-svg" not in sys.argv):
        print(path)

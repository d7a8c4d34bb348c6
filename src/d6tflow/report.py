"""``d6tflow.report``: one self-contained HTML file about a flow — its picture, a table of its
tasks (state, why, duration, output sizes, metadata) and the runs on record.

It reads states, manifests and metadata; it runs nothing. The file loads nothing from the network:
the picture is inline SVG and the styles are in the page.
"""

from __future__ import annotations

import datetime
import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from d6tflow.display import STATE_COLOURS, params_text, roots_of
from d6tflow.draw import draw
from d6tflow.errors import D6tflowError, MissingDependencyError
from d6tflow.graph import Graph
from d6tflow.notebook import state_badge, table_html
from d6tflow.provenance import manifest_of
from d6tflow.run_history import history
from d6tflow.status import Status, counts_as_done
from d6tflow.task import Task
from d6tflow.task_data import TaskData, load_meta

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["report"]

_META_WIDTH = 300  # characters of a task's metadata shown in the table
_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
.picture svg { max-width: 100%; height: auto; }
td code, td pre { font-size: 0.9em; white-space: pre-wrap; margin: 0; }
.note { color: #555; }
"""


def report(
    tasks_or_flow: Any,
    path: str | os.PathLike = "report.html",
    history: pd.DataFrame | None = None,
) -> Path:
    """Write an HTML report about ``tasks_or_flow`` (a task, a list of tasks, a ``Workflow`` or a
    ``WorkflowMulti``) to ``path`` and return its path: the flow's picture (``d6tflow.draw``),
    one row per task (state and why, last run's start and duration, output sizes, metadata)
    and the run history. ``history``: a DataFrame to show there instead of the outputs on
    record for these tasks.

    The picture needs Graphviz's ``dot`` program (``apt-get install graphviz`` on
    Debian/Ubuntu); without it the report holds the graph's DOT text instead.

    >>> d6tflow.report(TaskTrain(), "report.html")
    """
    graph = Graph(roots_of(tasks_or_flow))
    statuses = graph.states()
    tasks = list(reversed(graph.order))  # the final tasks first, as in the preview
    frame = _history(tasks) if history is None else history
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>d6tflow report</title><style>{_STYLE}</style></head><body>"
        f"<h1>d6tflow report</h1><p class='note'>{len(tasks)} tasks, checked {now}</p>"
        f"<h2>Flow</h2><div class='picture'>{_picture(tasks_or_flow)}</div>"
        f"<h2>Tasks</h2>{_tasks_table(tasks, statuses)}"
        f"<h2>Run history</h2>{_frame_html(frame)}"
        "</body></html>\n"
    )
    target = Path(path)
    target.write_text(page, encoding="utf-8")
    return target


def _picture(tasks_or_flow: Any) -> str:
    try:
        picture = draw(tasks_or_flow)
    except MissingDependencyError as e:
        return f"<p class='note'>{html.escape(str(e))}</p>"
    try:
        svg = picture.pipe(format="svg", encoding="utf-8")
    except Exception as e:  # graphviz.ExecutableNotFound, or dot failing: the DOT text stays
        note = (
            f"No picture: {type(e).__name__}: {e}. Graphviz's dot program draws it "
            "(apt-get install graphviz on Debian/Ubuntu). The graph in DOT:"
        )
        return f"<p class='note'>{html.escape(note)}</p><pre>{html.escape(picture.source)}</pre>"
    # Inline in HTML, an SVG needs no XML prolog or doctype.
    return svg[svg.index("<svg") :]


def _tasks_table(tasks: list[Task], statuses: dict[Task, Status]) -> str:
    rows = []
    for task in tasks:
        status = statuses[task]
        manifest = manifest_of(task)
        started = duration = outputs = ""
        if manifest is not None:
            started = html.escape(_utc_text(manifest["started"]))
            duration = f"{manifest['duration']:.3f} s"
            outputs = "<br>".join(
                f"{html.escape(str(key))}: {_size(record['size'])}"
                for key, record in manifest["outputs"].items()
            )
        rows.append(
            (
                f"<b>{html.escape(task.task_family)}</b>-{html.escape(params_text(task))}",
                state_badge(status.state.value, STATE_COLOURS[status.state]),
                html.escape("; ".join(status.reasons)),
                started,
                duration,
                outputs,
                _metadata(task, status),
            )
        )
    header = ("task", "state", "why", "last run", "duration", "outputs", "metadata")
    return table_html(header, rows, "d6tflow-tasks")


def _metadata(task: Task, status: Status) -> str:
    if not isinstance(task, TaskData) or not counts_as_done(status):
        return ""
    try:
        meta = load_meta(task, status)
    except D6tflowError:  # none saved, or not loadable (an untrusted pickle): nothing to show
        return ""
    text = repr(meta)
    if len(text) > _META_WIDTH:
        text = text[: _META_WIDTH - 3] + "..."
    return f"<code>{html.escape(text)}</code>"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    scaled, unit = size / 1024, "KB"
    for bigger in ("MB", "GB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


def _history(tasks: list[Task]) -> pd.DataFrame:
    """Every run on record for ``tasks`` (``d6tflow.history``), newest first."""
    import pandas as pd

    frame = history(tasks).iloc[::-1]
    if frame.empty:
        return frame
    return frame.assign(
        started=frame["started"].dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
        duration=frame["duration"].map("{:.3f} s".format),
        size=frame["size"].map(_size),
        accepted=frame["accepted"].map(lambda t: "" if t is None or pd.isna(t) else "accepted"),
        metadata=frame["metadata"].map(lambda m: "" if m is None else str(m)),
    )[["started", "task_family", "params", "reason", "duration", "size", "metadata", "accepted"]]


def _utc_text(started: str) -> str:
    """A manifest's start time (ISO, UTC) as the report shows times."""
    return started.replace("T", " ")[:19] + " UTC"


def _frame_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p class='note'>No runs on record.</p>"
    return frame.to_html(index=False, border=0, classes="d6tflow-history")

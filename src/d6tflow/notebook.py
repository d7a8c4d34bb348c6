"""Tasks, flows, previews and run results as HTML in Jupyter (their ``_repr_html_``).

Each is drawn from what the object already holds or from a state check, as ``preview`` prints
it: a tree with coloured states and the reasons, or, for a run, a table of what each task did.
Importing this module registers the renderers (``viewing.py``); it imports nothing heavy.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from d6tflow.display import (
    STATE_COLOURS,
    Preview,
    Row,
    flows_preview,
    make_preview,
    params_text,
)
from d6tflow.status import State
from d6tflow.summary import RunResult, TaskState
from d6tflow.task import Task
from d6tflow.viewing import register_html

__all__ = ["flow_html", "preview_html", "result_html", "results_html", "state_badge", "table_html"]

# What a run did, in the colours of the states before it: done is complete now, failed red.
_RUN_COLOURS = {
    TaskState.COMPLETE: STATE_COLOURS[State.COMPLETE],
    TaskState.DONE: ("#a5d6a7", "#1b5e20"),
    TaskState.PULLED: ("#b2dfdb", "#00695c"),
    TaskState.UP_TO_DATE: ("#c8e6c9", "#2e7d32"),
    TaskState.STALE_KEPT: ("#ffe0b2", "#ef6c00"),
    TaskState.FAILED: ("#ffcdd2", "#c62828"),
    TaskState.SKIPPED: ("#e0e0e0", "#616161"),
}
_BADGE = "background:{};border:1px solid {};border-radius:3px;padding:0 4px"
_TABLE = "border-collapse:collapse;text-align:left"
_CELL = "border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top"
_WHY = "color:#555"


def state_badge(text: str, colours: tuple[str, str]) -> str:
    """``text`` in a small coloured box (``colours``: fill, border)."""
    return f'<span style="{_BADGE.format(*colours)}">{html.escape(text)}</span>'


def _row_html(row: Row, show_params: bool, clip_params: bool) -> str:
    task = row.task
    name = f"<b>{html.escape(task.task_family)}</b>"
    params = html.escape("-" + params_text(task, show_params, clip_params))
    head = (
        f'{html.escape(row.prefix)}<span title="{html.escape(task.task_id)}">{name}{params}</span>'
    )
    if row.status is None:
        return f'{head} <span style="{_WHY}">({html.escape(row.note)})</span>'
    badge = state_badge(row.status.state.value, STATE_COLOURS[row.status.state])
    why = "; ".join(row.status.reasons)
    if row.note:
        why = f"{why} ({row.note})" if why else f"({row.note})"
    tail = f' <span style="{_WHY}">{html.escape(why)}</span>' if why else ""
    return f"{head} {badge}{tail}"


def preview_html(view: Preview) -> str:
    """The trees of a preview in a ``<pre>`` (the branch markers line up), states as badges."""
    lines = []
    for i, (title, rows) in enumerate(view.sections):
        if title is not None:
            lines.extend(
                [f"<b>{html.escape(title)}</b>"] if i == 0 else ["", f"<b>{html.escape(title)}</b>"]
            )
        lines.extend(_row_html(row, view.show_params, view.clip_params) for row in rows)
    body = "\n".join(lines)
    return f'<div class="d6tflow-preview"><pre style="line-height:1.4">{body}</pre></div>'


def table_html(header: Iterable[str], rows: Iterable[Iterable[str]], css_class: str) -> str:
    """A plain table; the cells are HTML already (escape text before)."""
    head = "".join(f'<th style="{_CELL}">{html.escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{cell}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return (
        f'<table class="{css_class}" style="{_TABLE}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def result_html(result: RunResult) -> str:
    """What a run did: one line of counts, then a row per task (state and why), then the
    failures with their tracebacks folded."""
    counts = ", ".join(
        f"{n} {state.value}" for state in TaskState if (n := len(result.tasks(state)))
    )
    verdict = "cancelled" if result.cancelled else ("ok" if result else "failed")
    rows = [
        (
            html.escape(repr(task)),
            state_badge(state.value, _RUN_COLOURS[state]),
            html.escape("; ".join(result.reasons.get(task, ()))),
        )
        for task, state in result.status.items()
    ]
    failures = "".join(
        f"<details><summary>{html.escape(str(failure))}</summary>"
        f"<pre>{html.escape(failure.traceback)}</pre></details>"
        for failure in result.failures
    )
    return (
        f'<div class="d6tflow-run"><p><b>d6tflow run: {verdict}</b> — {html.escape(counts)} '
        f"in {result.duration:.2f} s</p>"
        f"{table_html(('task', 'state', 'why'), rows, 'd6tflow-summary')}{failures}</div>"
    )


def results_html(results: Mapping[Any, RunResult]) -> str:
    """The results of several flows, each under its name."""
    return "".join(
        f"<h4>Flow {html.escape(repr(name))}</h4>{result_html(r)}" for name, r in results.items()
    )


def flow_html(flow: Any) -> str | None:
    """A ``Workflow`` or ``WorkflowMulti`` as its preview, titled with its repr (None: a
    ``Workflow`` without a default task has no tree to show)."""
    title = f"<p><code>{html.escape(repr(flow))}</code></p>"
    found = flow.get_task() if getattr(flow, "default_task", None) is not None else None
    if found is None:
        return None
    if isinstance(found, dict):
        return title + preview_html(flows_preview({name: [t] for name, t in found.items()}))
    return title + preview_html(make_preview(found))


def _task_html(task: Task) -> str:
    return preview_html(make_preview(task))


register_html(Task, _task_html)
register_html(Preview, preview_html)
register_html(RunResult, result_html)

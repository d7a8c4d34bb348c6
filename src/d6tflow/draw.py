"""Pictures of a flow: ``d6tflow.draw`` gives a Graphviz graph (SVG, PNG, DOT) or Mermaid text,
each task coloured by its state, with why it is pending or stale.

Like the preview, a picture only reads states; it never runs anything. The Graphviz graph comes
from the ``graphviz`` package (``pip install 'd6tflow[draw]'``); turning it into an image needs
Graphviz's ``dot`` program (on Debian/Ubuntu: ``apt-get install graphviz``). Its DOT text
(``.source``) and the Mermaid text need neither program.
"""

from __future__ import annotations

from typing import Any

from d6tflow.display import STATE_COLOURS, params_text, roots_of
from d6tflow.errors import InvalidArgumentError, MissingDependencyError
from d6tflow.graph import Graph
from d6tflow.status import Status
from d6tflow.task import Task

__all__ = ["draw", "node_label"]

_PARAM_WIDTH = 30  # longer parameter values are clipped in the picture (the tooltip has all)


def node_label(task: Task, status: Status) -> list[str]:
    """The lines of a task's box: its class, one ``name=value`` per parameter, its state."""
    params = task.to_str_params(only_significant=True)
    lines = [task.task_family]
    for name, value in params.items():
        clipped = value if len(value) <= _PARAM_WIDTH else value[: _PARAM_WIDTH - 3] + "..."
        lines.append(f"{name}={clipped}")
    lines.append(status.state.value)
    return lines


def _tooltip(task: Task, status: Status) -> str:
    return f"{task.task_family}-{params_text(task)}\n{status.describe()}"


def draw(tasks_or_flow: Any, format: str = "svg") -> Any:
    """The dependency graph of ``tasks_or_flow`` (a task, a list of tasks, a ``Workflow`` or a
    ``WorkflowMulti``): each task a box with its parameters and state, coloured by state
    (complete green, pending blue, stale orange), its tooltip saying why; arrows point from a
    task to the tasks that use its output.

    Returns a ``graphviz.Digraph`` (a notebook shows it; ``.source`` is the DOT text,
    ``.pipe()`` the image in ``format``, ``.render(name)`` writes it), or, with
    ``format="mermaid"``, Mermaid text for Markdown (GitHub draws it).

    >>> d6tflow.draw(TaskTrain()).pipe()             # SVG bytes
    >>> d6tflow.draw(TaskTrain(), format="png").render("flow")   # writes flow.png
    >>> print(d6tflow.draw(TaskTrain(), format="mermaid"))
    """
    if format == "mermaid":
        graph = Graph(roots_of(tasks_or_flow))
        return _mermaid(graph, graph.states())
    try:
        import graphviz
    except ImportError as e:
        raise MissingDependencyError(
            "d6tflow.draw needs the graphviz package: pip install 'd6tflow[draw]' (and, to "
            "render images, Graphviz's dot program: apt-get install graphviz on Debian/Ubuntu). "
            "draw(..., format='mermaid') needs neither"
        ) from e
    if format not in graphviz.FORMATS:
        raise InvalidArgumentError(
            f"d6tflow.draw(format={format!r}): not an image format of Graphviz; use 'svg', "
            "'png', 'pdf', 'dot' … or 'mermaid'"
        )
    graph = Graph(roots_of(tasks_or_flow))
    statuses = graph.states()
    picture = graphviz.Digraph(
        "d6tflow",
        format=format,
        graph_attr={"rankdir": "TB", "tooltip": "d6tflow"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica"},
    )
    ids = {task: f"t{i}" for i, task in enumerate(graph.order)}
    for task in graph.order:
        status = statuses[task]
        fill, border = STATE_COLOURS[status.state]
        lines = [graphviz.escape(line) for line in node_label(task, status)]
        picture.node(
            ids[task],
            label="\\n".join(lines),
            tooltip=graphviz.escape(_tooltip(task, status)).replace("\n", "\\n"),
            fillcolor=fill,
            color=border,
        )
    for task in graph.order:
        for dep in graph.deps[task]:
            picture.edge(ids[dep], ids[task])
    return picture


def _mermaid_text(text: str) -> str:
    # Mermaid's entity codes: '#' first, as the others start with it.
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def _mermaid(graph: Graph, statuses: dict[Task, Status]) -> str:
    ids = {task: f"t{i}" for i, task in enumerate(graph.order)}
    lines = ["flowchart TD"]
    for task in graph.order:
        status = statuses[task]
        label = "<br/>".join(_mermaid_text(line) for line in node_label(task, status))
        lines.append(f'    {ids[task]}["{label}"]:::{status.state.value.lower()}')
    for task in graph.order:
        lines.extend(f"    {ids[dep]} --> {ids[task]}" for dep in graph.deps[task])
    for state, (fill, border) in STATE_COLOURS.items():
        lines.append(f"    classDef {state.value.lower()} fill:{fill},stroke:{border}")
    return "\n".join(lines) + "\n"

"""Progress while a flow runs: the scheduler reports each task it starts and finishes to an
observer made here, which shows it. It reads what it is told and decides nothing.

Where it shows (``d6tflow.run(progress=True)``, the default, or ``settings.progress``):

- in a terminal: a live display with rich (``pip install d6tflow[progress]``), redrawn
  ``REFRESH_PER_SECOND`` times a second whatever the rate of tasks; without rich, a line per
  finished task on stderr;
- in Jupyter: one output area updated in place at the same rate;
- elsewhere (output to a file or a pipe): a line per finished task through the ``d6tflow``
  logger at INFO level, so ``settings.log_level = "INFO"`` shows them and the default is quiet.

Only runs that run something show progress: a no-op rerun starts nothing. A run started inside a
task's ``run()`` (a task yielding tasks) joins the display of the run around it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from d6tflow.summary import TaskState

logger = logging.getLogger("d6tflow")

#: How often a live display redraws.
REFRESH_PER_SECOND = 4
# How many running and recently finished tasks a display lists.
_RUNNING_SHOWN = 4
_RECENT_SHOWN = 3
_BAR_WIDTH = 30


class Progress:
    """What the run has done so far, told by the scheduler; shows nothing itself (the forms
    below draw it). Cheap per event: a display redraws on its own clock, not per task."""

    def __init__(self, total: int):
        self.total = total
        self.finished = 0  # tasks that ran, failed, were found up to date or were skipped
        self.failed = 0
        self.running: dict[Any, float] = {}  # task -> when it started
        self.recent: deque[tuple[Any, TaskState, float | None]] = deque(maxlen=_RECENT_SHOWN)
        self.started_at = time.perf_counter()

    def add(self, tasks: int) -> None:
        """A nested run (tasks a task yields) brings more tasks."""
        self.total += tasks

    def task_started(self, task: Any) -> None:
        self.running[task] = time.perf_counter()

    def task_finished(self, task: Any, state: TaskState) -> None:
        start = self.running.pop(task, None)
        seconds = None if start is None else time.perf_counter() - start
        self.finished += 1
        if state is TaskState.FAILED:
            self.failed += 1
        self.recent.append((task, state, seconds))
        self.on_finished(task, state, seconds)

    def tasks_skipped(self, count: int) -> None:
        """Tasks that will not run because something they need failed."""
        self.finished += count

    def on_finished(self, task: Any, state: TaskState, seconds: float | None) -> None:
        """A form that writes a line per task writes it here."""

    def close(self) -> None:
        """The run ended (also after an error or Ctrl-C): draw the last state, stop drawing."""

    # -- what a display shows ---------------------------------------------------------------------

    def headline(self) -> str:
        elapsed = time.perf_counter() - self.started_at
        parts = [f"{self.finished}/{self.total} tasks", f"{_clock(elapsed)} elapsed"]
        if self.finished and self.finished < self.total:
            parts.append(f"ETA {_clock(elapsed / self.finished * (self.total - self.finished))}")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return " · ".join(parts)

    def detail_lines(self) -> list[str]:
        now = time.perf_counter()
        running = list(self.running.items())  # a copy: the run loop changes it meanwhile
        lines = [
            f"  running  {task!r}  {_seconds(now - start)}"
            for task, start in running[:_RUNNING_SHOWN]
        ]
        if len(running) > _RUNNING_SHOWN:
            lines.append(f"  running  … and {len(running) - _RUNNING_SHOWN} more")
        for task, state, seconds in list(self.recent):
            took = f"  {_seconds(seconds)}" if seconds is not None else ""
            lines.append(f"  {state.value:<8} {task!r}{took}")
        return lines

    def text(self) -> str:
        return "\n".join(["d6tflow " + self.headline(), *self.detail_lines()])


class LineProgress(Progress):
    """A line per finished task, with its duration: ``[3/10] TaskTrain(model=ols) done in
    1.20 s``."""

    def __init__(self, total: int, write: Callable[[str], None]):
        super().__init__(total)
        self._write = write

    def on_finished(self, task: Any, state: TaskState, seconds: float | None) -> None:
        took = f" in {_seconds(seconds)}" if seconds is not None else ""
        self._write(f"[{self.finished}/{self.total}] {task!r} {state.value}{took}")

    def close(self) -> None:
        elapsed = time.perf_counter() - self.started_at
        self._write(f"{self.finished}/{self.total} tasks in {_seconds(elapsed)}")


class _Ticking(Progress):
    """A display redrawn by a thread of its own at a fixed rate."""

    def __init__(self, total: int):
        super().__init__(total)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="d6tflow-progress", daemon=True)

    def start(self) -> None:
        self.draw()
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(1 / REFRESH_PER_SECOND):
            try:
                self.draw()
            except Exception:  # drawing must never break a run
                logger.debug("progress display failed", exc_info=True)
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.draw()

    def draw(self) -> None:
        """Show the current state; each form its own way."""


class RichProgress(_Ticking):
    """The live display in a terminal (rich). Whatever tasks print shows above it."""

    def __init__(self, total: int):
        from rich.console import Console
        from rich.live import Live

        super().__init__(total)
        self._live = Live(
            console=Console(file=sys.stderr),
            auto_refresh=False,  # our clock redraws: rich's would call back per frame anyway
            transient=False,
        )

    def start(self) -> None:
        self._live.start()
        super().start()

    def draw(self) -> None:
        self._live.update(self._renderable(), refresh=True)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._live.stop()

    def _renderable(self) -> Any:
        # One Text with styled spans: a grid of renderables cost several times more per frame.
        from rich.text import Text

        done = round(_BAR_WIDTH * self.finished / self.total) if self.total else _BAR_WIDTH
        text = Text.assemble(
            ("d6tflow ", "bold"),
            ("━" * done, "green" if not self.failed else "red"),
            ("━" * (_BAR_WIDTH - done), "grey23"),
            " " + self.headline(),
        )
        for line in self.detail_lines():
            text.append("\n" + line, style="dim")
        return text


class NotebookProgress(_Ticking):
    """In Jupyter: one output area, replaced in place (no widget library needed)."""

    def __init__(self, total: int):
        from IPython.display import Pretty, display

        super().__init__(total)
        self._pretty = Pretty
        self._handle = display(Pretty(self.text()), display_id=True)

    def draw(self) -> None:
        self._handle.update(self._pretty(self.text()))


def _in_notebook() -> bool:
    """Running in a Jupyter kernel? Asked only if IPython is loaded already (never imported
    here: it is slow to import and most runs are not in a notebook)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


def _stderr_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def display_for(total: int) -> Progress | None:
    """The form progress takes here (see the module's docstring), or None for none at all."""
    if _in_notebook():
        try:
            shown: _Ticking = NotebookProgress(total)
        except ImportError:
            return LineProgress(total, _stderr_line)
        shown.start()
        return shown
    if _isatty(sys.stderr):
        try:
            shown = RichProgress(total)
        except ImportError:  # rich is optional: never fail a run for a display
            return LineProgress(total, _stderr_line)
        shown.start()
        return shown
    if logger.isEnabledFor(logging.INFO):
        return LineProgress(total, logger.info)
    return None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced by an object without it, or closed
        return False


# -- one display per run, nested runs joining it ----------------------------------------------

_runs = threading.local()  # per thread: two flows run from two threads show apart


def begin(to_run: int, show: bool) -> Progress | None:
    """The observer of a run that is about to run ``to_run`` tasks (None: nothing to tell). A run
    inside a running one (a task yielding tasks) adds its tasks to the outer one's display."""
    depth = getattr(_runs, "depth", 0)
    if depth:
        _runs.depth = depth + 1
        current: Progress | None = _runs.current
        if current is not None and to_run:
            current.add(to_run)
        return current
    current = display_for(to_run) if show and to_run else None
    _runs.current, _runs.depth = current, 1
    return current


def end(observer: Progress | None) -> None:
    """The run of :func:`begin` ended; the outermost one closes the display."""
    _runs.depth -= 1
    if not _runs.depth:
        _runs.current = None
        if observer is not None:
            observer.close()


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return _clock(seconds)

"""Ctrl-C while tasks run in other processes: acted on where d6tflow holds no lock.

Python raises KeyboardInterrupt in the main thread between any two bytecodes, also inside the
code of ``concurrent.futures``: in ``wait()`` between taking the locks of two futures, or in a
future's ``done()`` right after taking its lock. Such a lock then stays taken; the thread that
hands over the workers' results blocks on it, so does shutting the pool down, and the run hangs
instead of stopping. So while the scheduler waits on worker processes (or a cluster) and hands
them work, a Ctrl-C is only noted, and the handler that was in place gets it at the next safe
point (:func:`check`, or the end of the :class:`held` block): within a fraction of a second.

A task's own code running in this process (the inline executor) is not held: Ctrl-C interrupts
it at once, as it always does in Python.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

# The SIGINT handlers that held blocks replaced, outermost first (main thread only).
_replaced: list[Any] = []
_pending = False


def _note(signum: int, frame: Any) -> None:
    global _pending
    _pending = True


class held:
    """While inside (in the main thread): a Ctrl-C is noted, not acted on. When the block ends
    normally, the SIGINT handler that was in place gets it (by default: KeyboardInterrupt is
    raised there). When it ends with an exception, that exception goes on and the Ctrl-C is
    dropped: the run stops either way. Handlers that are not Python's (``SIG_IGN``,
    ``SIG_DFL``) are left alone."""

    __slots__ = ("_replacing",)

    def __enter__(self) -> None:
        self._replacing = False
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only
        current = signal.getsignal(signal.SIGINT)
        if not callable(current):
            return
        signal.signal(signal.SIGINT, _note)
        _replaced.append(current)
        self._replacing = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        global _pending
        if not self._replacing:
            return
        handler = _replaced.pop()
        signal.signal(signal.SIGINT, handler)
        if exc_type is not None:
            if not _replaced:
                _pending = False
            return
        if _pending and handler is not _note:
            _pending = False
            handler(signal.SIGINT, sys._getframe(1))


def check() -> None:
    """Inside a :class:`held` block: act on a Ctrl-C noted so far, now."""
    global _pending
    if _pending and _replaced:
        _pending = False
        _replaced[0](signal.SIGINT, sys._getframe(1))

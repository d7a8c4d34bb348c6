"""A task's state before a run, and why: COMPLETE, PENDING (outputs missing) or STALE (outputs
there, but made from other code, other upstream outputs or other input files)."""

from __future__ import annotations

import enum
from typing import NamedTuple


class State(str, enum.Enum):
    COMPLETE = "COMPLETE"
    PENDING = "PENDING"
    STALE = "STALE"


class Status(NamedTuple):
    """A task's verdict. A named tuple rather than a frozen dataclass: a state check of a large
    flow makes one per task, and a tuple is several times cheaper to create."""

    state: State
    reasons: tuple[str, ...] = ()
    #: Stale only because an upstream task will rerun: if that rerun leaves its output unchanged,
    #: this task is up to date after all (checked again just before it would run).
    upstream_only: bool = False
    #: Outputs written by the original d6tflow (no manifest): complete, never rerun unless forced.
    legacy: bool = False
    #: ``{output key: content hash}`` from the manifest, for comparisons by downstream tasks.
    hashes: dict | None = None

    @property
    def complete(self) -> bool:
        return self.state is State.COMPLETE

    def describe(self) -> str:
        return self.state.value + (": " + "; ".join(self.reasons) if self.reasons else "")


COMPLETE = Status(State.COMPLETE)


def counts_as_done(status: Status) -> bool:
    """Complete, or stale while ``settings.rerun_stale`` is off (reported, not rerun)."""
    from d6tflow import settings

    return status.complete or (status.state is State.STALE and not settings.rerun_stale)

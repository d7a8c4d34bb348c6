"""Module-level settings, with the original d6tflow's names. Read at call time, so assigning
``d6tflow.settings.check_dependencies = False`` takes effect immediately."""

from __future__ import annotations

from pathlib import Path

dir: str = "data"
dirpath: Path = Path(dir)

#: ``complete()`` also requires every upstream task to be complete (recursively).
check_dependencies: bool = True
#: Keep every loaded output in memory (``d6tflow.data``) and serve later loads from there.
cached: bool = False
#: ``False``: file names are ``<key>.<ext>`` without the task id (parameter settings share a file).
save_with_param: bool = True
#: Default of ``d6tflow.run(execution_summary=None)``: print the summary after a run.
execution_summary: bool = True
#: Rerun a task when its code changed (its class, or user functions it calls). Off: only
#: parameters, upstream outputs and input files count.
track_code: bool = True
#: Rerun stale tasks. Off: stale tasks are reported (preview, run summary) but their outputs are
#: used as they are; for long trainings where a cosmetic change should not retrain.
rerun_stale: bool = True
#: Make every commit survive a power loss or an operating-system crash: outputs, their record and
#: the folder are flushed to disk (fsync) before the run goes on. Off (the default), a commit
#: survives the process being killed at any point; after a power loss the last commits may be
#: lost, and are then found missing or changed and rerun. See docs/provenance.md.
durable: bool = False
#: Default of ``d6tflow.run(progress=None)``: show progress while tasks run (d6tflow.progress:
#: live in a terminal or notebook, log lines at INFO level otherwise).
progress: bool = True
#: Level of the ``d6tflow`` logger while ``d6tflow.run`` works; the level the logger had before
#: the run is restored after it.
log_level: str = "WARNING"

#: Set by ``enable_cloud_storage`` (the original's names): the URL of the remote data folder.
cloud_fs_prefix: str | None = None
cloud_fs_enabled: bool = False

isinit: bool = False
isinitpipe: bool = False

# Kept so code that sets them keeps working; the original never read them either.
check_crc: bool = False
uri: str | None = None
db: Path = dirpath / ".d6tflow.json"

# The task id keeps the first ``_id_nparams`` parameters, each cut at ``_id_param_len`` characters.
_id_nparams: int = 20
_id_param_len: int = 64


def set_parameter_len(nparams: int = 20, len: int = 64) -> None:
    """How many parameters (and characters of each) the readable part of a task id shows."""
    global _id_nparams, _id_param_len
    _id_nparams, _id_param_len = nparams, len

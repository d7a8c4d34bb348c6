"""``from d6tflow.tasks.h5 import TaskH5Pandas``, as in the original d6tflow."""

from __future__ import annotations

from d6tflow.task_data import TaskData

__all__ = ["TaskH5Pandas"]


class TaskH5Pandas(TaskData):
    """A DataFrame in an ``.hdf5`` file (key ``data``); needs ``pip install 'd6tflow[h5]'``."""

    format = "hdf5"

"""preview/show: the dependency tree with every task's parameters and state."""

from __future__ import annotations

import d6tflow


class TaskGetData(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save([1, 2, 3])


@d6tflow.requires(TaskGetData)
class TaskPreprocess(d6tflow.tasks.TaskPickle):
    do_preprocess = d6tflow.BoolParameter(default=True)

    def run(self):
        self.save(self.inputLoad())


@d6tflow.requires(TaskPreprocess)
class TaskTrain(d6tflow.tasks.TaskPickle):
    def run(self):
        self.save(sum(self.inputLoad()))


def tree(capsys, task) -> list[str]:
    assert d6tflow.preview(task) is None
    return [line for line in capsys.readouterr().out.splitlines() if "[" in line]


def test_preview_shows_parameters_and_state_on_every_line(capsys):
    assert tree(capsys, TaskTrain()) == [
        "└─--[TaskTrain-{'do_preprocess': 'True'} (PENDING)] parameters new",
        "   └─--[TaskPreprocess-{'do_preprocess': 'True'} (PENDING)] parameters new",
        "      └─--[TaskGetData-{} (PENDING)] parameters new",
    ]


def test_preview_after_a_parameter_change_shows_what_reruns(capsys):
    d6tflow.run(TaskTrain(), execution_summary=False)
    assert tree(capsys, TaskTrain(do_preprocess=False)) == [
        "└─--[TaskTrain-{'do_preprocess': 'False'} (PENDING)] parameters new",
        "   └─--[TaskPreprocess-{'do_preprocess': 'False'} (PENDING)] parameters new",
        "      └─--[TaskGetData-{} (COMPLETE)]",
    ]


def test_show_is_preview_and_accepts_lists(capsys):
    d6tflow.show([TaskGetData(), TaskPreprocess()])
    out = capsys.readouterr().out
    assert out.count("[TaskGetData-{} (PENDING)]") == 2
    assert "Execution Preview" in out


def test_siblings_use_branch_markers_and_shared_upstream_is_printed_once(capsys):
    class Both(d6tflow.tasks.TaskPickle):
        def requires(self):
            return [TaskPreprocess(), TaskPreprocess(do_preprocess=False), TaskPreprocess()]

    lines = tree(capsys, Both())
    assert lines[0] == "└─--[Both-{} (PENDING)] parameters new"
    assert lines[1] == "   |--[TaskPreprocess-{'do_preprocess': 'True'} (PENDING)] parameters new"
    assert lines[2] == "   |  └─--[TaskGetData-{} (PENDING)] parameters new"
    assert lines[3] == "   └─--[TaskPreprocess-{'do_preprocess': 'False'} (PENDING)] parameters new"
    assert lines[4] == "      └─--[TaskGetData-{} (PENDING)] parameters new"
    assert len(lines) == 5  # requires() listed TaskPreprocess() twice: one node in the graph


def test_repeated_subtree_is_referenced_not_repeated(capsys):
    class Left(d6tflow.tasks.TaskPickle):
        def requires(self):
            return TaskPreprocess()

    class Right(d6tflow.tasks.TaskPickle):
        def requires(self):
            return TaskPreprocess()

    class Top(d6tflow.tasks.TaskPickle):
        def requires(self):
            return [Left(), Right()]

    lines = tree(capsys, Top())
    assert lines[-1].endswith(
        "[TaskPreprocess-{'do_preprocess': 'True'} (PENDING)] parameters new"
        " (dependencies shown above)"
    )
    assert sum("TaskGetData" in line for line in lines) == 1


def test_no_colour_when_not_a_terminal(capsys):
    d6tflow.preview(TaskGetData())
    assert "\x1b[" not in capsys.readouterr().out


def test_show_params_off_and_clipping(capsys):
    class Long(d6tflow.tasks.TaskPickle):
        text = d6tflow.Parameter(default="x" * 50)

    d6tflow.preview(Long(), show_params=False)
    assert "[Long- (PENDING)]" in capsys.readouterr().out
    d6tflow.preview(Long(), clip_params=True)
    assert "'xxxxxxxxxxxxxxxxx...'" in capsys.readouterr().out

"""The command line, a thin layer over the API: ``d6tflow run flow.py:TaskTrain -p alpha=0.5``
(or ``python -m d6tflow ...``). Each command names its tasks, calls one d6tflow function and
turns the outcome into an exit code: 0 success, 1 a task failed (or verify found problems),
2 bad usage.

Tasks are named ``module:Task`` (importable; the working directory is on the path) or
``path/flow.py:Task``. A flow file is imported under its file name, as ``import flow`` would: its
``if __name__ == "__main__":`` block does not run, and its code fingerprints are those of
``python flow.py`` (d6tflow names a script's code after its file), so what the script ran is
complete here too.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from d6tflow import invalidation, settings
from d6tflow.acceptance import accept
from d6tflow.catalog import catalog, verify
from d6tflow.display import preview
from d6tflow.draw import draw
from d6tflow.errors import (
    ConfigurationError,
    D6tflowError,
    FlowFailedError,
    InvalidArgumentError,
    MissingDependencyError,
    ParameterError,
    UnknownNameError,
    UsageError,
)
from d6tflow.explain import why
from d6tflow.graph import Graph
from d6tflow.params import Parameter
from d6tflow.report import report
from d6tflow.run_history import history
from d6tflow.scheduler import run
from d6tflow.sharing import pull, push
from d6tflow.stores import set_dir
from d6tflow.task import Task
from d6tflow.version import __version__

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Errors that mean the command line asked for something that cannot be: exit 2, one line.
_USAGE_ERRORS = (
    UsageError,
    InvalidArgumentError,
    UnknownNameError,
    ParameterError,
    ConfigurationError,
    MissingDependencyError,
)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (the ``d6tflow`` console script exits with it).

    >>> main(["run", "flow.py:TaskTrain", "--param", "alpha=0.5"])
    0
    """
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help(sys.stderr)
        return EXIT_USAGE
    try:
        if args.dir is not None:
            set_dir(args.dir)
        tasks = _tasks(args.tasks, args.params) if "tasks" in args else []
        if args.dir is not None:  # wins over a set_dir() the flow file ran when imported
            set_dir(args.dir)
        return args.handler(args, tasks)
    except FlowFailedError as e:
        print(e, file=sys.stderr)
        return EXIT_FAILED
    except _USAGE_ERRORS as e:
        print(f"d6tflow {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except D6tflowError as e:
        print(f"d6tflow {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAILED


# -- naming tasks -------------------------------------------------------------------------------


def _tasks(refs: list[str], pairs: list[str]) -> list[Task]:
    """The tasks named by ``refs``, each with the ``--param`` values it declares."""
    classes = [_task_class(ref) for ref in refs]
    given = _split_pairs(pairs)
    known = {name for cls in classes for name, _ in cls.get_params()}
    for name in given:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else "."
            about = " ".join(_describe(cls) for cls in classes)
            raise UsageError(f"--param {name}: no task named here has this parameter{hint} {about}")
    return [_task(cls, given) for cls in classes]


def _split_pairs(pairs: list[str]) -> dict[str, str]:
    given = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r}: write name=value, e.g. --param alpha=0.5")
        given[name.strip()] = text
    return given


def _task(cls: type[Task], given: dict[str, str]) -> Task:
    values = {}
    for name, param in cls.get_params():
        if name not in given:
            continue
        try:
            values[name] = param.parse(given[name])
        except Exception as e:
            raise UsageError(
                f"--param {name}={given[name]}: not a value of {cls.__name__}.{name} "
                f"({type(param).__name__}): {e}"
            ) from e
    try:
        return cls(**values)
    except ParameterError as e:
        raise UsageError(f"{e} {_describe(cls)}") from e


def _describe(cls: type[Task]) -> str:
    params = cls.get_params()
    if not params:
        return f"{cls.__name__} has no parameters."
    return f"Parameters of {cls.__name__}: " + ", ".join(_describe_param(n, p) for n, p in params)


def _describe_param(name: str, param: Parameter) -> str:
    default = f"default {param.default!r}" if param.has_default else "required"
    return f"{name} ({type(param).__name__}, {default})"


def _task_class(ref: str) -> type[Task]:
    where, sep, name = ref.rpartition(":")
    if not sep or not where or not name:
        found = _task_names(_module(ref)) if ref.endswith(".py") else []
        listed = f" Tasks in {ref}: {', '.join(found)}." if found else ""
        if "=" in ref:
            listed = f" A parameter value goes after --param: --param {ref}"
        raise UsageError(f"{ref!r}: name a task as module:Task or path/flow.py:Task.{listed}")
    module = _module(where)
    found = getattr(module, name, None)
    if isinstance(found, type) and issubclass(found, Task):
        return found
    names = _task_names(module)
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    listed = ", ".join(names) or "none"
    raise UsageError(f"{where} has no task {name!r}.{hint} Tasks in {where}: {listed}")


def _task_names(module: ModuleType) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, Task)
        and value.__module__ != "d6tflow"
        and not value.__module__.startswith("d6tflow.")
    )


def _module(where: str) -> ModuleType:
    """The module ``where`` names: a file (path/flow.py), imported under its file name with its
    folder first on the path, as ``python path/flow.py`` would see it; or an importable name."""
    if not (where.endswith(".py") or "/" in where or os.sep in where):
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        return _import(where, where)
    path = Path(where).resolve()
    if not path.is_file():
        raise UsageError(f"no flow file {where} (looked from {os.getcwd()})")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module = _import(path.stem, where)
    loaded = getattr(module, "__file__", None)
    if loaded is None or Path(loaded).resolve() != path:
        raise UsageError(
            f"{where} loads as module {path.stem!r}, but that name is taken by "
            f"{loaded or 'a built-in module'}: rename the flow file"
        )
    return module


def _import(name: str, where: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and (name == e.name or name.startswith(e.name + ".")):
            raise UsageError(
                f"no module named {name!r} (the working directory {os.getcwd()} and installed "
                "packages were searched); name a flow file as path/flow.py:Task"
            ) from None
        traceback.print_exc()
        raise UsageError(f"{where} could not be imported: {e} (traceback above)") from e
    except Exception as e:
        traceback.print_exc()
        raise UsageError(
            f"{where} raised {type(e).__name__} while being imported (traceback above)"
        ) from e


# -- commands -----------------------------------------------------------------------------------


def _run(args: argparse.Namespace, tasks: list[Task]) -> int:
    result = run(
        tasks, workers=args.workers, executor=args.executor, forced_all=args.force, abort=False
    )
    # Each failure's traceback went to stderr as it happened (the d6tflow logger): one line each.
    for failure in result.failures:
        print(failure, file=sys.stderr)
    return EXIT_OK if result else EXIT_FAILED


def _preview(args: argparse.Namespace, tasks: list[Task]) -> int:
    preview(tasks)
    return EXIT_OK


def why_text(tasks: list[Task]) -> str:
    """``d6tflow.why`` of each task of the flow that would run, upstream first; for a flow with
    nothing to run, of the named tasks (COMPLETE)."""
    graph = Graph(tasks)
    states = graph.states()
    waiting = [t for t in graph.order if not states[t].complete]
    return "\n\n".join(str(why(t)) for t in waiting or tasks)


def _why(args: argparse.Namespace, tasks: list[Task]) -> int:
    print(why_text(tasks))
    return EXIT_OK


def _accept(args: argparse.Namespace, tasks: list[Task]) -> int:
    accepted = accept(tasks, confirm=not args.yes)
    print(f"accepted {len(accepted)} task(s)" + "".join(f"\n  {t!r}" for t in accepted))
    return EXIT_OK


def _ls(args: argparse.Namespace, tasks: list[Task]) -> int:
    table = history() if args.history else catalog()
    if table.empty:
        print(f"No outputs recorded under {settings.dirpath}")
        return EXIT_OK
    table = table.sort_values("started")
    table["started"] = table["started"].dt.strftime("%Y-%m-%d %H:%M:%S")
    table["duration"] = table["duration"].round(3)
    if args.history:
        columns = ["task_family", "params", "started", "duration", "reason", "metadata", "size"]
    else:
        table["outputs"] = table["outputs"].str.join(", ")
        columns = ["task_family", "params", "started", "duration", "size", "outputs"]
    print(table[columns].to_string(index=False))
    return EXIT_OK


def _invalidate(args: argparse.Namespace, tasks: list[Task]) -> int:
    chosen = list(dict.fromkeys(Graph(tasks).order if args.upstream else tasks))
    if not args.yes:
        print(f"The outputs of {len(chosen)} task(s) would be deleted (add --yes to delete):")
        for task in chosen:
            print(f"  {task!r}")
        return EXIT_OK
    invalidation.invalidate_tasks(chosen, confirm=False, action="invalidating")
    print(f"Deleted the outputs of {len(chosen)} task(s)")
    return EXIT_OK


def _gc(args: argparse.Namespace, tasks: list[Task]) -> int:
    if args.yes:
        if tasks:
            gone = invalidation.invalidate_orphans(tasks, confirm=False)
        else:
            gone = invalidation.dead_temps(remove=True)
        print(f"Deleted {len(gone)} file(s)")
        return EXIT_OK
    found = invalidation.orphans(tasks) if tasks else invalidation.dead_temps()
    what = "no flow named here produces" if tasks else "that ended runs left behind"
    print(f"{len(found)} file(s) {what} would be deleted (add --yes to delete):")
    for path in found:
        print(f"  {path}")
    if not tasks:
        print("Name the flows to keep (d6tflow gc flow.py:TaskTrain) to list orphan outputs too.")
    return EXIT_OK


def _verify(args: argparse.Namespace, tasks: list[Task]) -> int:
    problems = verify(tasks or None)
    for p in problems:
        print(f"{p['file']}: {p['problem']} ({p['task_id']})")
    if problems:
        print(f"{len(problems)} output(s) differ from what was written: rerun their tasks")
        return EXIT_FAILED
    print("Every recorded output has the content it was written with")
    return EXIT_OK


def _push(args: argparse.Namespace, tasks: list[Task]) -> int:
    push(tasks, remote=args.remote, upstream=args.upstream, force=args.force)
    return EXIT_OK


def _pull(args: argparse.Namespace, tasks: list[Task]) -> int:
    trusted = True if args.trusted else None
    pull(tasks, remote=args.remote, upstream=args.upstream, force=args.force, trusted=trusted)
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------------------

_TASKS_HELP = "tasks as module:Task or path/flow.py:Task"


def _draw(args: argparse.Namespace, tasks: list[Task]) -> int:
    if args.format == "mermaid":
        text = draw(tasks, format="mermaid")
    elif args.format == "dot":
        text = draw(tasks).source
    else:
        target = Path(args.output or f"{tasks[0].task_family}.{args.format}")
        target.write_bytes(draw(tasks, format=args.format).pipe())
        print(target)
        return EXIT_OK
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(args.output)
    else:
        print(text)
    return EXIT_OK


def _report(args: argparse.Namespace, tasks: list[Task]) -> int:
    print(report(tasks, args.output))
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="d6tflow",
        description="Run and inspect d6tflow tasks. Exit codes: 0 success, 1 a task failed "
        "(or verify found problems), 2 bad usage.",
    )
    parser.add_argument("--version", action="version", version=f"d6tflow {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", help="the data folder (d6tflow.set_dir); default: ./data")
    named = argparse.ArgumentParser(add_help=False, parents=[common])
    named.add_argument(
        "-p",
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter value, read by the parameter's own type (repeat for several)",
    )

    def command(
        name: str,
        handler: Callable[[argparse.Namespace, list[Task]], int],
        help: str,
        tasks: str | None = "+",
        aliases: tuple[str, ...] = (),
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            aliases=list(aliases),
            help=help,
            description=help,
            parents=[named if tasks else common],
        )
        if tasks:
            sub.add_argument("tasks", nargs=tasks, metavar="TASK", help=_TASKS_HELP)
        sub.set_defaults(handler=handler)
        return sub

    runner = command("run", _run, "run the tasks and whatever they need that is not complete")
    runner.add_argument(
        "--workers", type=int, default=1, metavar="N", help="tasks run at once (default 1)"
    )
    runner.add_argument(
        "--executor",
        metavar="NAME",
        help="inline, process or dask (default: inline, or process with --workers > 1)",
    )
    runner.add_argument("--force", action="store_true", help="rerun the named tasks themselves")
    command("preview", _preview, "print the dependency tree with states and why", aliases=("show",))
    command(
        "why",
        _why,
        "why each task of the flow that is not complete would run: reasons, code diffs, "
        "parameters, upstream outputs and input files that changed",
    )
    acceptor = command(
        "accept",
        _accept,
        "record today's code as what made the current outputs (after a change that does not "
        "matter), without rerunning",
    )
    acceptor.add_argument("--yes", action="store_true", help="do not ask first")
    lister = command(
        "ls", _ls, "list the outputs recorded in the data folder (the catalog)", tasks=None
    )
    lister.add_argument(
        "--history", action="store_true", help="every recorded run, with why it ran"
    )
    inv = command(
        "invalidate", _invalidate, "delete the tasks' outputs so they rerun", aliases=("reset",)
    )
    inv.add_argument("--upstream", action="store_true", help="also every task they need")
    inv.add_argument("--yes", action="store_true", help="delete (default: only list)")
    gc = command(
        "gc",
        _gc,
        "delete files the named flows no longer produce, and temporary files of ended runs",
        tasks="*",
    )
    gc.add_argument("--yes", action="store_true", help="delete (default: only list)")
    command(
        "verify",
        _verify,
        "re-hash outputs and list those that changed since written "
        "(all recorded ones, or the named tasks and what they need)",
        tasks="*",
    )
    drawer = command("draw", _draw, "draw the dependency graph, each task coloured by its state")
    drawer.add_argument(
        "--format",
        choices=("svg", "png", "dot", "mermaid"),
        default="svg",
        help="svg or png: an image file (needs Graphviz's dot); dot or mermaid: the text "
        "(default: svg)",
    )
    drawer.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write (default: <Task>.svg or .png; the text formats print)",
    )
    reporter = command("report", _report, "write an HTML report: picture, tasks, run history")
    reporter.add_argument(
        "-o", "--output", default="report.html", metavar="FILE", help="default: report.html"
    )
    for name, handler, verb in (("push", _push, "upload"), ("pull", _pull, "download")):
        sub = command(name, handler, f"{verb} the tasks' outputs and their records")
        sub.add_argument("--remote", help="the remote folder URL (default: set_remote's)")
        sub.add_argument("--force", action="store_true", help="replace outputs that differ")
        sub.add_argument(
            "--no-upstream",
            dest="upstream",
            action="store_false",
            help="only the named tasks, not what they need",
        )
        if name == "pull":
            sub.add_argument(
                "--trusted", action="store_true", help="trust the remote: its pickles may be loaded"
            )
    return parser

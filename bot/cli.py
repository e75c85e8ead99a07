"""Right-size Kubernetes workloads from measured usage, through one reviewed GitOps pull request.

Each subcommand lives in bot/commands/<name>.py and exposes register(subparsers) and run(args) -> int.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bot import __version__
from bot.errors import EXIT_FAILURE, EXIT_INPUT, InputError, RunError

SUBCOMMANDS = ("demo", "plan", "snapshot", "run", "event")


class _CommandLineError(Exception):
    def __init__(self, prog: str, message: str):
        super().__init__(f"{message} (see `{prog} --help`)")
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes end like every other bad input: one line, exit 2 (argparse would print the
    whole usage block first, burying the message in an Actions log)."""

    def error(self, message: str):  # type: ignore[override]
        raise _CommandLineError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rightsizer", description=__doc__.split("\n")[0],
                     epilog="Exit codes: 0 done, 2 bad input (nothing written), 1 other failures.")
    parser.add_argument("--version", action="version", version=f"rightsizer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"bot.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except _CommandLineError as err:
        print(f"{err.prog}: error: {err}", file=sys.stderr)
        if "--github-annotations" in argv:  # the Action always passes it: show the mistake on the run page too
            text = str(err).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            print(f"::error title=rightsizer::{text}")
        return EXIT_INPUT
    try:
        return int(args.run(args) or 0)
    except InputError as err:
        print(f"rightsizer: error: {err}", file=sys.stderr)
        if getattr(args, "github_annotations", False):
            print(err.annotation())
        return EXIT_INPUT
    except RunError as err:
        print(f"rightsizer: error: {err}", file=sys.stderr)
        if getattr(args, "github_annotations", False):
            print(f"::error title=rightsizer::{err}")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130

"""Right-size Kubernetes workloads from measured usage, through one reviewed GitOps pull request.

Each subcommand lives in bot/commands/<name>.py and exposes register(subparsers) and run(args) -> int.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys

from bot import __version__, timing
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
    """Run one subcommand. Everything printed goes through one redaction step (bot.redact),
    and every exception ends in one line and exit 1 or 2, never a traceback
    (RIGHTSIZER_DEBUG=1 adds the redacted traceback for developers)."""
    import os

    from bot import redact

    redact.register_env(os.environ, [os.environ.get("IN_PROMETHEUS_URL"), os.environ.get("IN_PUSHGATEWAY_URL"), *_urls(argv if argv is not None else sys.argv[1:])])
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = redact.RedactingStream(out), redact.RedactingStream(err)
    restore_factory = _redacting_log_records()
    try:
        return _without_cycle_collector(argv)
    finally:
        restore_factory()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        sys.stdout, sys.stderr = out, err


def _urls(argv: list[str]) -> list[str]:
    return [a.split("=", 1)[-1] for a in argv if "://" in a]


def _redacting_log_records():
    """Library log lines (urllib3 retries, PyGithub) are formatted through the same redaction."""
    import logging

    from bot.redact import redact

    old = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = old(*args, **kwargs)
        try:
            record.msg, record.args = redact(record.getMessage()), None
        except Exception:  # noqa: BLE001 - a malformed log call must not break the run
            pass
        return record

    logging.setLogRecordFactory(factory)
    return lambda: logging.setLogRecordFactory(old)


def _without_cycle_collector(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # A command builds one large heap of small objects that live to its end and hold no cycles (snapshot, plan,
    # report). The cyclic collector re-walked that heap every few hundred allocations: a quarter of the CPU at
    # 20,000 containers. Reference counting frees what is dropped; the collector is back on when main returns.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if was_enabled:
            gc.enable()
        timing.report()


def _main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except _CommandLineError as err:
        print(f"{err.prog}: error: {err}", file=sys.stderr)
        if "--github-annotations" in argv:  # the Action always passes it: show the mistake on the run page too
            text = str(err).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
            print(f"::error title=rightsizer::{text}")
        return EXIT_INPUT
    annotate = getattr(args, "github_annotations", False)
    try:
        return int(args.run(args) or 0)
    except InputError as err:
        return _fail(EXIT_INPUT, str(err), err.annotation() if annotate else None)
    except RunError as err:
        return _fail(EXIT_FAILURE, str(err), f"::error title=rightsizer::{err}" if annotate else None)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line per failure, whatever library raised it
        code, text = classify(exc)
        if os.environ.get("RIGHTSIZER_DEBUG"):
            import traceback

            traceback.print_exc()
        return _fail(code, text, f"::error title=rightsizer::{text}" if annotate else None)


def _fail(code: int, text: str, annotation: str | None) -> int:
    print(f"rightsizer: error: {text}", file=sys.stderr)
    if annotation:
        print(annotation)
    return code


def classify(exc: BaseException) -> tuple[int, str]:
    """Exit code and one line for an exception no layer turned into InputError/RunError."""
    first = (str(exc).strip().splitlines() or [""])[0][:500]
    name = type(exc).__name__
    try:
        import requests

        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                            requests.exceptions.MissingSchema, requests.exceptions.InvalidHeader,
                            requests.exceptions.URLRequired)):
            return EXIT_INPUT, f"bad connection setting ({name}): {first}"
        if isinstance(exc, requests.exceptions.RequestException):
            return EXIT_FAILURE, f"network request failed ({name}): {first}"
    except ImportError:  # pragma: no cover
        pass
    try:
        from bot.github.client import explain_failure

        explained = explain_failure(exc)
        if explained:
            return EXIT_FAILURE, explained
    except ImportError:  # pragma: no cover
        pass
    from bot.quantity import QuantityError

    if isinstance(exc, (QuantityError, UnicodeError)):
        return EXIT_INPUT, f"bad input ({name}): {first}"
    if isinstance(exc, OSError):
        return EXIT_FAILURE, f"{name}: {first or exc.strerror}"
    return EXIT_FAILURE, f"unexpected {name}: {first} (set RIGHTSIZER_DEBUG=1 for the traceback)"

"""Parsing ``/rightsize …`` comment commands (first line of a comment only).

Parsing is pure and total: every input gives either a :class:`Command` or a
:class:`CommandError` carrying a helpful message for the reply. Quantities go through
``bot.quantity`` so ``cpu=250m`` and ``memory=1.5Gi`` mean exactly what Kubernetes means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.policy import Pin
from bot.quantity import MAX_CPU_MILLICORES, QuantityError, QuantityOutOfRange, parse_cpu, parse_memory, suggestion

PREFIX = "/rightsize"
VERBS = ("help", "recompute", "rebase", "skip", "pin", "explain")
# A Kubernetes name: DNS-1123 label/subdomain characters only, so a ref can never carry markdown,
# PromQL or shell syntax into anything we build from it.
_NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
_REF2 = re.compile(rf"^{_NAME}/{_NAME}$")
_REF3 = re.compile(rf"^{_NAME}/{_NAME}/{_NAME}$")

USAGE = {
    "help": "`/rightsize help`",
    "recompute": "`/rightsize recompute`",
    "rebase": "`/rightsize rebase`",
    "skip": "`/rightsize skip <namespace>/<workload>[/<container>]`",
    "pin": "`/rightsize pin <namespace>/<workload>/<container> cpu=<quantity> memory=<quantity>` (either or both)",
    "explain": "`/rightsize explain <namespace>/<workload>[/<container>]`",
}


@dataclass(frozen=True)
class Command:
    verb: str
    ref: str | None = None
    pin: Pin | None = None


class CommandError(ValueError):
    """A malformed command; the message is written for the person who typed it."""


def is_command(body: str | None) -> bool:
    first = first_line(body)
    return first == PREFIX or first.startswith(PREFIX + " ") or first.startswith(PREFIX + "\t")


def first_line(body: str | None) -> str:
    return (body or "").lstrip("\ufeff").split("\n", 1)[0].strip()


def parse(body: str) -> Command:
    words = first_line(body).split()
    if not words or words[0] != PREFIX:
        raise CommandError("Commands start with `/rightsize` on the first line of the comment.")
    if len(words) == 1:
        raise CommandError("Which command? " + _known())
    verb, args = words[1].lower(), words[2:]
    if verb not in VERBS:
        raise CommandError(f"`{_shown(words[1])}` is not a command. " + _known())
    if verb in ("help", "recompute", "rebase"):
        if args:
            raise CommandError(f"`{verb}` takes no arguments. Usage: {USAGE[verb]}")
        return Command(verb)
    if not args:
        raise CommandError(f"`{verb}` needs a target. Usage: {USAGE[verb]}")
    ref = args[0]
    if verb == "skip":
        if len(args) != 1 or not (_REF2.match(ref) or _REF3.match(ref)):
            raise CommandError(f"`{_shown(ref)}` is not `namespace/workload` or `namespace/workload/container`. Usage: {USAGE['skip']}")
        return Command("skip", ref=ref)
    if verb == "explain":
        if len(args) != 1 or not (_REF2.match(ref) or _REF3.match(ref)):
            raise CommandError(f"`{_shown(ref)}` is not `namespace/workload` or `namespace/workload/container`. Usage: {USAGE['explain']}")
        return Command("explain", ref=ref)
    # pin
    if not _REF3.match(ref):
        raise CommandError(f"`{_shown(ref)}` is not `namespace/workload/container`. Usage: {USAGE['pin']}")
    values: dict[str, int] = {}
    for arg in args[1:]:
        key, sep, text = arg.partition("=")
        key = key.lower()
        if not sep or key not in ("cpu", "memory") or not text:
            raise CommandError(f"`{_shown(arg)}` should be `cpu=<quantity>` or `memory=<quantity>`. Usage: {USAGE['pin']}")
        if key in values:
            raise CommandError(f"`{key}` is given twice.")
        try:
            values[key] = parse_cpu(text) if key == "cpu" else parse_memory(text)
        except (QuantityError, ArithmeticError) as exc:
            raise CommandError(_bad_quantity(key, text, exc)) from None
        if values[key] <= 0:
            raise CommandError(f"{key} must be greater than zero.")
    if not values:
        raise CommandError(f"`pin` needs `cpu=…`, `memory=…` or both. Usage: {USAGE['pin']}")
    return Command("pin", ref=ref, pin=Pin(ref=ref, cpu=values.get("cpu"), memory=values.get("memory")))


def _bad_quantity(key: str, text: str, exc: Exception) -> str:
    """Why a pin value was refused, with the CLI's likely fix for near misses (7GB → 7G or 7Gi)."""
    if isinstance(exc, (QuantityOutOfRange, ArithmeticError)):
        most = f"{MAX_CPU_MILLICORES // 1000} cores" if key == "cpu" else "1Ei"
        return f"`{_shown(text)}` is out of range for {key} (at most {most})."
    guess = suggestion(text, key)
    if guess:
        return f"`{_shown(text)}` is not a Kubernetes quantity for {key}: did you mean {_shown(guess)}?"
    example = "250m or 0.5" if key == "cpu" else "512Mi or 1.5Gi"
    return f"`{_shown(text)}` is not a Kubernetes quantity for {key} (e.g. {example})."


def _known() -> str:
    return "Known commands: " + ", ".join(f"`{v}`" for v in VERBS) + " (`/rightsize help` lists them)."


def _shown(text: str) -> str:
    """User text echoed back inside backticks: bounded and without backticks/newlines."""
    return re.sub(r"[`\r\n]", "", text)[:80]

"""Building PromQL safely: every user string goes through here, quoted and escaped."""

from __future__ import annotations

import re
from typing import Iterable, Mapping

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def quote(value: str) -> str:
    """A PromQL string literal holding exactly ``value`` (backslash, quote and control characters escaped)."""
    out = ['"']
    for ch in str(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def label_name(name: str) -> str:
    if not _LABEL_NAME.match(name):
        raise ValueError(f"{name!r} is not a Prometheus label name")
    return name


def regex_alternatives(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly these strings (each one escaped)."""
    return "|".join(re.escape(v) for v in sorted(set(values)))


def matchers(equal: Mapping[str, str] | None = None, any_of: Mapping[str, Iterable[str]] | None = None,
             extra: Iterable[str] = ()) -> str:
    """``{a="x",b=~"y|z",…}`` from plain values; ``extra`` holds fixed matchers written by us, never by users."""
    parts = list(extra)
    for name, value in (equal or {}).items():
        parts.append(f"{label_name(name)}={quote(value)}")
    for name, values in (any_of or {}).items():
        values = list(values)
        if values:
            parts.append(f"{label_name(name)}=~{quote(regex_alternatives(values))}")
    return "{" + ",".join(parts) + "}"

"""Terraform node counts: read and change `worker_count = 2` in .tfvars or a variable's `default` in
variables.tf, leaving every other byte alone. Anything but a plain number is reported, not guessed."""

from __future__ import annotations

import re
from pathlib import Path


class CountError(Exception):
    pass


def _assignment(variable: str) -> re.Pattern:
    # worker_count = 2   # comment   (tfvars)
    return re.compile(rf"^(?P<pre>[ \t]*{re.escape(variable)}[ \t]*=[ \t]*)(?P<value>[^#\r\n]*?)(?P<post>[ \t]*(?:#.*|//.*)?)$", re.M)


def _variable_default() -> re.Pattern:
    return re.compile(r"^(?P<pre>[ \t]*default[ \t]*=[ \t]*)(?P<value>[^#\r\n]*?)(?P<post>[ \t]*(?:#.*|//.*)?)$", re.M)


def _locate(text: str, variable: str, where: str) -> re.Match:
    if where.endswith(".tf"):
        block = re.search(rf'^variable[ \t]+"{re.escape(variable)}"[ \t]*\{{', text, re.M)
        if not block:
            raise CountError(f"{where}: no variable \"{variable}\" block")
        depth, i = 0, block.end() - 1
        while i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
            if depth == 0:
                break
        m = _variable_default().search(text, block.end(), i)
        if not m:
            raise CountError(f"{where}: variable \"{variable}\" has no default to change")
        return m
    matches = list(_assignment(variable).finditer(text))
    if not matches:
        raise CountError(f"{where}: no `{variable} = …` line")
    if len(matches) > 1:
        raise CountError(f"{where}: `{variable}` is set {len(matches)} times")
    return matches[0]


def read_count(path: Path, variable: str) -> int:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CountError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return read_count_text(text, variable, str(path))


def read_count_text(text: str, variable: str, where: str) -> int:
    return _value(_locate(text, variable, where), variable, where)


def _value(m: re.Match, variable: str, where: str) -> int:
    raw = m.group("value").strip()
    if not re.fullmatch(r"\d+", raw):
        raise CountError(f"{where}: `{variable}` is `{raw}`, not a plain number (a map of nodes or an expression): change it by hand")
    return int(raw)


def set_count(text: str, variable: str, value: int, where: str = "terraform.tfvars") -> str:
    m = _locate(text, variable, where)
    _value(m, variable, where)
    return text[: m.start("value")] + str(int(value)) + text[m.end("value"):]

"""Reading user YAML with positions, so every error can name its line."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from bot.errors import InputError
from bot.safefs import PathRefused, read_regular


MAX_POLICY_BYTES = 256 * 1024  # a policy is a page or two of settings
MAX_YAML_BYTES = 4 * 1024 * 1024  # position-keeping YAML of any kind (snapshots written by hand)
# The position-keeping parser handles ~20,000 items a second: count items (lines and flow
# commas) before parsing, so no file can keep it busy for more than a few seconds.
MAX_YAML_ITEMS = 60_000
MAX_NODES = 500_000  # values after aliases are expanded: an alias bomb expands to billions
MAX_DEPTH = 64
# Flow brackets open at once, counted before parsing: the parser's scanner is quadratic in them (5,000
# took 8 s). Far past MAX_DEPTH, so only a file refused anyway (or one with hundreds of unbalanced
# brackets in unquoted text) is refused by it.
MAX_FLOW_OPEN = 256


def load_documents(path: Path, display: str | None = None, *, limit: int = MAX_YAML_BYTES,
                   max_nodes: int = MAX_NODES) -> list[Any]:
    """All documents of a YAML (or JSON) file, with line information kept.

    Bounded: a special file (FIFO, device), a file over ``limit`` bytes, nesting deeper than
    MAX_DEPTH or aliases that expand past ``max_nodes`` values are refused, naming the file."""
    display = display or str(path)
    try:
        raw = read_regular(path, limit)
    except PathRefused as exc:
        raise InputError(display, str(exc)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(display, "is not UTF-8 text") from None
    return parse_text(text, display, max_nodes=max_nodes)


def parse_text(text: str, display: str, *, max_nodes: int = MAX_NODES) -> list[Any]:
    items = text.count("\n") + text.count(",")
    if items > MAX_YAML_ITEMS:
        raise InputError(display, f"has about {items} lines and list items; at most {MAX_YAML_ITEMS} are parsed "
                                  "(write large snapshots as JSON, as `rightsizer snapshot` does)")
    deep = _flow_too_deep(text)
    if deep:
        raise InputError(display, f"is nested too deeply (more than {MAX_DEPTH} levels)", line=deep)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        docs = [d for d in yaml.load_all(text) if d is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(display, f"is not valid YAML: {_first_line(exc.problem or exc)}", line=line) from None
    except RecursionError:
        raise InputError(display, f"is nested too deeply (more than {MAX_DEPTH} levels)") from None
    except Exception as exc:  # ruamel raises a few non-marked errors (duplicate keys)
        raise InputError(display, f"is not valid YAML: {_first_line(exc)}") from None
    for doc in docs:
        check_bounded(doc, display, max_nodes)
    return docs


def _flow_too_deep(text: str) -> int | None:
    """The line where more than MAX_FLOW_OPEN flow brackets are open at once, outside quotes and comments;
    None when no line is (at once when the whole text has too few brackets)."""
    if text.count("[") + text.count("{") <= MAX_FLOW_OPEN:
        return None
    depth, line, quote, prev = 0, 1, "", "\n"
    chars = iter(text)
    for ch in chars:
        if ch == "\n":
            line += 1
        elif quote:
            if ch == "\\" and quote == '"':
                next(chars, None)
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev in " \t\n":
            for ch in chars:
                if ch == "\n":
                    line += 1
                    break
        elif ch in "[{":
            depth += 1
            if depth > MAX_FLOW_OPEN:
                return line
        elif ch in "]}":
            depth = max(0, depth - 1)
        prev = ch
    return None


def _first_line(exc: Any) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_bounded(doc: Any, display: str, max_nodes: int = MAX_NODES) -> None:
    """Refuse a tree whose aliases expand past ``max_nodes`` values, that refers to itself, or
    that nests deeper than MAX_DEPTH. Shared (aliased) nodes are counted once per use but
    visited once, so the check itself stays linear in the file."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any, depth: int, path: list[Any]) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise InputError(display, "an alias refers to a node that contains it (a recursive alias)",
                             line=line_of(doc, path), field=field_name(path))
        if depth > MAX_DEPTH:
            raise InputError(display, f"is nested too deeply (more than {MAX_DEPTH} levels)",
                             line=line_of(doc, path), field=field_name(path))
        active.add(key)
        total = 1
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, child in items:
            total += size(child, depth + 1, path + [k] if len(path) < MAX_DEPTH else path)
            if total > max_nodes:
                raise InputError(display, f"expands to more than {max_nodes} values (aliases expanded); refused",
                                 line=line_of(doc, path), field=field_name(path))
        active.discard(key)
        sizes[key] = total
        return total

    size(doc, 0, [])


def check_finite(doc: Any, data: Any, display: str) -> None:
    """NaN and ±infinity (``.nan``, ``.inf``, ``1e309``) pass every minimum and maximum a schema
    sets, because every comparison with NaN is false: refuse them where they are written."""
    stack: list[tuple[Any, list[Any]]] = [(data, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise InputError(display, f"{node!r} is not a finite number", line=line_of(doc, path), field=field_name(path))
        if isinstance(node, dict):
            stack.extend((v, path + [k]) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, path + [i]) for i, v in enumerate(node))


def line_of(doc: Any, path: Iterable[Any]) -> int | None:
    """1-based line of the node at ``path`` (or of its nearest existing parent)."""
    node, line = doc, None
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            try:
                line = node.lc.key(key)[0] + 1
            except (KeyError, TypeError, AttributeError):
                pass
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            try:
                line = node.lc.item(key)[0] + 1
            except (KeyError, TypeError, AttributeError):
                pass
            node = node[key]
        else:
            break
    if line is None and hasattr(doc, "lc"):
        line = doc.lc.line + 1
    return line


def field_name(path: Iterable[Any]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(document)"


def plain(value: Any) -> Any:
    """ruamel's commented containers to plain dicts/lists (for jsonschema and dataclasses)."""
    return json.loads(json.dumps(value, default=str))

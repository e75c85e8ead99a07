"""Reading user YAML with positions, so every error can name its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from bot.errors import InputError


def load_documents(path: Path, display: str | None = None) -> list[Any]:
    """All documents of a YAML (or JSON) file, with line information kept."""
    display = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(display, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(display, "is not UTF-8 text") from None
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        return [d for d in yaml.load_all(text) if d is not None]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(display, f"is not valid YAML: {exc.problem or exc}", line=line) from None
    except Exception as exc:  # ruamel raises a few non-marked errors (duplicate keys)
        raise InputError(display, f"is not valid YAML: {exc}") from None


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

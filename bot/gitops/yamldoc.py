"""YAML files as text plus positions: parse with ruamel.yaml only to learn where things are.

Edits are made on the text itself, line by line, so every byte we do not mean
to change stays as it was — comments, quoting, anchors, flow style, CRLF,
document separators — which no YAML dumper can promise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

MAX_FILE_BYTES = 2 * 1024 * 1024  # vendored CRD bundles are not where resources live


class YamlFileError(Exception):
    pass


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = True  # real files have them; we only read positions
    y.preserve_quotes = True
    return y


@dataclass
class YamlFile:
    path: Path
    rel: str
    text: str
    docs: list[Any] = field(default_factory=list)

    @staticmethod
    def load(path: Path, rel: str, root: Path | None = None) -> "YamlFile":
        """``root``: the repository; ``rel`` then goes through the path gate (no symlinks,
        no special files, nothing outside the root)."""
        from bot.safefs import PathRefused, read_inside, read_regular

        try:
            raw = read_inside(root, rel, MAX_FILE_BYTES) if root is not None else read_regular(path, MAX_FILE_BYTES)
        except PathRefused as exc:
            reason = str(exc)
            if "over the limit" in reason:
                reason = f"larger than {MAX_FILE_BYTES // 1024 // 1024} MiB"
            raise YamlFileError(f"{rel}: {reason.removeprefix(rel + ': ')}, skipped") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlFileError(f"{rel}: not UTF-8") from exc
        return YamlFile(path, rel, text, parse_documents(text, rel))

    @property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"


def parse_documents(text: str, rel: str = "<text>") -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reused anchors are legal YAML 1.2
        try:
            return list(_yaml().load_all(text))
        except Exception as exc:  # any parse problem: the file is not ours to touch
            raise YamlFileError(f"{rel}: not parseable YAML ({str(exc).splitlines()[0]})") from None


def duplicate_key(text: str) -> str | None:
    """"key X appears twice at line N" when a mapping repeats a key, else None.

    Positions are read with duplicates allowed (real files have them); a file we edit must not
    have any, because which copy a consumer honours is up to the consumer."""
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            list(y.load_all(text))
        except Exception as exc:  # noqa: BLE001 - only the duplicate-key error is of interest here
            if type(exc).__name__ == "DuplicateKeyError":
                mark = getattr(exc, "problem_mark", None)
                key = str(getattr(exc, "problem", "") or "").strip()
                return f"{key or 'a duplicate key'}" + (f" (line {mark.line + 1})" if mark else "")
    return None


def get_path(node: Any, path: tuple) -> Any:
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def end_line(node: Any) -> int:
    """0-based last line occupied by a block collection's content."""
    last = node.lc.line
    if isinstance(node, CommentedMap):
        for key in node:
            kl, _ = node.lc.key(key)
            last = max(last, kl)
            value = node[key]
            if isinstance(value, (CommentedMap, CommentedSeq)) and len(value):
                last = max(last, end_line(value))
            else:
                vl, _ = node.lc.value(key)
                last = max(last, vl)
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            il, _ = node.lc.item(i)
            last = max(last, il)
            if isinstance(value, (CommentedMap, CommentedSeq)) and len(value):
                last = max(last, end_line(value))
    return last


def is_flow(node: Any) -> bool:
    return bool(getattr(node, "fa", None) and node.fa.flow_style())


def reach_counts(root: Any) -> dict[int, int]:
    """How many times each collection in a document is reached (more than once: behind an alias)."""
    seen: dict[int, int] = {}

    def count(node: Any) -> None:
        if isinstance(node, (CommentedMap, CommentedSeq)):
            seen[id(node)] = seen.get(id(node), 0) + 1
            if seen[id(node)] > 1:
                return
            for child in (node.values() if isinstance(node, CommentedMap) else node):
                count(child)

    count(root)
    return seen


def shared_along(root: Any, path: tuple, seen: dict[int, int] | None = None) -> str | None:
    """The anchor name when any collection on ``path`` is reachable twice (a YAML anchor with aliases):
    editing it would change every place that uses it."""
    seen = seen if seen is not None else reach_counts(root)
    node = root
    for key in path:
        node = get_path(node, (key,))
        if node is None:
            return None
        if isinstance(node, (CommentedMap, CommentedSeq)) and seen.get(id(node), 0) > 1:
            anchor = getattr(getattr(node, "anchor", None), "value", None)
            return anchor or "an anchor"
    return None

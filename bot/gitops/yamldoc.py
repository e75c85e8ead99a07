"""YAML files as text plus positions: parse with ruamel.yaml only to learn where things are.

Edits are made on the text itself, line by line, so every byte we do not mean
to change stays as it was — comments, quoting, anchors, flow style, CRLF,
document separators — which no YAML dumper can promise.
"""

from __future__ import annotations

import re
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


def parse_documents(text: str, rel: str = "<text>", *, fast: bool = True) -> list[Any]:
    """The documents with ruamel's positions: built from libyaml's parse where bot.gitops.fastyaml can vouch
    for the result (``fast``), else by ruamel itself."""
    if fast:
        from bot.gitops import fastyaml

        docs = fastyaml.load(text)
        if docs is not None:
            return docs
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
    from bot.gitops import fastyaml

    if fastyaml.load(text) is not None:  # it refuses duplicate keys: ruamel, ~20× slower, only decides the rest
        return None
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


_KEEP_SCALAR = re.compile(r"(?:^|[:\-?]\s+)(?:&\S+\s+)?(?:!\S*\s+)?[|>](?:[1-9]?\+|\+[1-9]?)\s*(?:#.*)?$")


def block_end(lines: list[str], node: Any) -> int:
    """0-based last line of a block mapping's content, read from the text.

    ruamel gives only where each value *starts*; a block scalar (`|`, `>-`, `|2+`), a plain or quoted
    scalar folded over lines, or a flow collection whose closing bracket sits on a later line goes on
    past that. Everything indented deeper than the mapping's keys belongs to it, as do sequence items
    and flow closers at the keys' own column; a line indented less (or a document marker) ends it.
    Comment lines at the keys' column that end the mapping are left after it, with what they introduce.
    A keep-chomped block scalar (`|+`) owns its trailing blank lines, so they stay inside too.
    """
    last = end_line(node)
    if not isinstance(node, CommentedMap) or not len(node):
        return last
    col = node.lc.key(next(iter(node)))[1]
    i = last + 1
    while i < len(lines):
        line = lines[i].rstrip("\r\n")
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if not stripped:
            i += 1
            continue
        if indent == 0 and (line.startswith("---") or line.startswith("...")) and line[3:4] in ("", " ", "\t"):
            break
        if indent < col:
            break
        if indent > col or stripped[0] in "-]}" or not stripped.startswith("#"):
            last = i
        i += 1
    if _KEEP_SCALAR.search(_last_value_line(lines, node)):
        while last + 1 < i and not lines[last + 1].strip():
            last += 1
    return last


def _last_value_line(lines: list[str], node: CommentedMap) -> str:
    """The text of the line where the last (deepest, last) value of a block mapping starts."""
    while True:
        key = list(node)[-1]
        value = node[key]
        if isinstance(value, CommentedMap) and len(value) and not is_flow(value):
            node = value
            continue
        line = node.lc.value(key)[0]
        return lines[line].rstrip("\r\n") if line < len(lines) else ""


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


# YAML kept as text inside a literal block scalar (an Argo CD `helm.values: |`, a kustomize inline `patch: |-`) is
# edited as a file of its own: its key names the outer file, document and path, and the edit is spliced back,
# re-indented, leaving every other line of the outer file as it was.
EMBEDDED = "#"


def embedded_key(rel: str, doc: int, path: tuple) -> str:
    return f"{rel}{EMBEDDED}{doc}:{'.'.join(map(str, path))}"


def split_embedded(key: str) -> tuple[str, int, tuple] | None:
    if EMBEDDED not in key:
        return None
    rel, _, rest = key.rpartition(EMBEDDED)
    doc, _, path = rest.partition(":")
    return rel, int(doc), tuple(int(p) if p.isdigit() else p for p in path.split("."))


_LITERAL = re.compile(r"\|[+-]?\s*(?:#.*)?$")


def literal_span(lines: list[str], root: Any, path: tuple) -> tuple[int, int, int]:
    """(first, last, indent) of the content lines of the literal block scalar at ``path`` (0-based, inclusive).
    Only a plain `|`, `|-` or `|+` is accepted: folding (`>`) or an explicit indentation digit would make the
    text we edit differ from the value the tool reads."""
    parent, key = get_path(root, path[:-1]), path[-1]
    if not isinstance(parent, CommentedMap) or not isinstance(parent.get(key), str):
        raise YamlFileError("not a string value")
    line, col = parent.lc.value(key)
    if not _LITERAL.match(lines[line].rstrip("\r\n")[col:]):
        raise YamlFileError("not a literal block scalar (`|`)")
    first, last, indent = line + 1, line, None
    for i in range(line + 1, len(lines)):
        text = lines[i].rstrip("\r\n")
        if not text.strip():
            continue
        ind = len(text) - len(text.lstrip(" "))
        if indent is None:
            indent = ind
        if ind < indent:
            break
        last = i
    if indent is None or last < first:
        raise YamlFileError("empty block scalar")
    return first, last, indent


def inner_text(lines: list[str], span: tuple[int, int, int]) -> str:
    first, last, indent = span
    return "".join(l[indent:] if l.strip() else l.lstrip(" \t") for l in lines[first:last + 1])


def splice(lines: list[str], span: tuple[int, int, int], old_inner: str, new_inner: str) -> list[str]:
    """The outer lines with the block scalar's content replaced: lines the edit kept stay byte for byte."""
    import difflib

    first, last, indent = span
    old, new = old_inner.splitlines(keepends=True), new_inner.splitlines(keepends=True)
    outer = lines[first:last + 1]
    out: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            out.extend(outer[i1:i2])
        else:
            out.extend((" " * indent + l) if l.strip() else l for l in new[j1:j2])
    return lines[:first] + out + lines[last + 1:]

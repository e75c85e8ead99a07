"""Surgical edits of a `resources:` block: change a value in place, add a missing key, or add the
whole block, in the file's own indentation, quoting, unit style and line endings.

Each edit re-reads positions from a fresh parse, so edits never fight each other;
the caller verifies the result by parsing it again.
"""

from __future__ import annotations

from typing import Any, Iterable

from ruamel.yaml.comments import CommentedMap

from bot import quantity
from bot.gitops.yamldoc import block_end, get_path, is_flow, parse_documents

FIELD_ORDER = (("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory"))


class PatchError(Exception):
    pass


def _scalar_span(line: str, col: int) -> tuple[int, int]:
    """Start and end (exclusive) of the scalar written at ``col``, quotes included."""
    if col >= len(line):
        return col, col
    q = line[col]
    if q in "\"'":
        i = col + 1
        while i < len(line):
            if q == "'" and line[i] == "'" and i + 1 < len(line) and line[i + 1] == "'":
                i += 2
                continue
            if q == '"' and line[i] == "\\":
                i += 2
                continue
            if line[i] == q:
                return col, i + 1
            i += 1
        raise PatchError("unterminated quoted scalar")
    end = len(line.rstrip("\r\n"))
    for stop in (" #", ",", "}", "]"):
        j = line.find(stop, col)
        if j != -1:
            end = min(end, j)
    while end > col and line[end - 1] in " \t":
        end -= 1
    return col, end


def _render(resource: str, value: int, style_source: Any, quote: str = "") -> str:
    style = quantity.Style.of(resource, style_source)
    out = quantity.format_quantity(resource, value, style)
    return f"{quote}{out}{quote}" if quote else str(out)


def _style_source(res_node: Any, kind: str, resource: str) -> Any:
    """The value whose unit style a new value should copy: itself, else its sibling in requests/limits."""
    if not isinstance(res_node, CommentedMap):
        return None
    for k in (kind, "limits" if kind == "requests" else "requests"):
        m = res_node.get(k)
        if isinstance(m, CommentedMap) and m.get(resource) is not None:
            return m.get(resource)
    return None


def _indent_step(res_node: Any, default: int = 2) -> int:
    if isinstance(res_node, CommentedMap) and len(res_node):
        first = next(iter(res_node))
        child = res_node[first]
        if isinstance(child, CommentedMap) and len(child) and not is_flow(child):
            return max(1, child.lc.key(next(iter(child)))[1] - res_node.lc.key(first)[1])
    return default


class _Text:
    def __init__(self, text: str):
        self.lines = text.splitlines(keepends=True)
        self.nl = "\r\n" if "\r\n" in text else "\n"

    def __str__(self) -> str:
        return "".join(self.lines)

    def replace_scalar(self, line: int, col: int, new: str) -> None:
        src = self.lines[line]
        start, end = _scalar_span(src, col)
        old = src[start:end]
        if old[:1] in "\"'" and new[:1] not in "\"'":
            new = f"{old[0]}{new}{old[0]}"
        rest = src[end:]
        # Keep an aligned trailing comment where it was: take the extra width out of the spaces before it.
        grow = len(new) - len(old)
        gap = len(rest) - len(rest.lstrip(" "))
        if rest.lstrip(" ").startswith("#") and grow > 0 and gap - grow >= 1:
            rest = rest[grow:]
        elif rest.lstrip(" ").startswith("#") and grow < 0:
            rest = " " * (-grow) + rest
        self.lines[line] = src[:start] + new + rest

    def insert(self, after_line: int, new_lines: Iterable[str]) -> None:
        at = after_line + 1
        if at > 0 and at <= len(self.lines) and not self.lines[at - 1].endswith(("\n", "\r")):
            self.lines[at - 1] += self.nl
        self.lines[at:at] = [l + self.nl for l in new_lines]

    def delete(self, line: int) -> None:
        del self.lines[line]


def set_field(text: str, doc: int, block: tuple, kind: str, resource: str, value: int | None, indent_default: int = 2) -> str:
    """The text with ``<block>.<kind>.<resource>`` set to ``value`` (None removes it)."""
    return set_field_reusing(text, None, doc, block, kind, resource, value, indent_default)[0]


def set_field_reusing(text: str, docs: list | None, doc: int, block: tuple, kind: str, resource: str, value: int | None,
                      indent_default: int = 2) -> tuple[str, list | None]:
    """Like set_field, reusing a parse of ``text``; returns the new text and a parse still valid for it, or None.

    A value replaced in place in a block mapping moves nothing else (it is the last thing on its line), so the
    old positions stay true; any insertion, removal or flow-style edit needs a fresh parse.
    """
    docs = docs if docs is not None else parse_documents(text)
    root = docs[doc]
    res_node = get_path(root, block)
    kind_node = res_node.get(kind) if isinstance(res_node, CommentedMap) else None
    in_place = (
        value is not None and isinstance(kind_node, CommentedMap) and resource in kind_node
        and len(kind_node) and not is_flow(kind_node) and not is_flow(res_node)
    )
    return _set_field(text, root, block, kind, resource, value, indent_default), (docs if in_place else None)


def _set_field(text: str, root: Any, block: tuple, kind: str, resource: str, value: int | None, indent_default: int) -> str:
    res_node = get_path(root, block)
    t = _Text(text)
    if value is None:
        return _remove(t, res_node, kind, resource)
    if res_node is None:
        parent = get_path(root, block[:-1])
        if not isinstance(parent, CommentedMap) or is_flow(parent):
            raise PatchError(f"cannot add {'.'.join(map(str, block))}: its parent is not a block mapping")
        if not len(parent):
            raise PatchError("cannot add resources to an empty mapping")
        first = next(iter(parent))
        ind = " " * parent.lc.key(first)[1]
        step = " " * indent_default
        t.insert(block_end(t.lines, parent), [
            f"{ind}{block[-1]}:",
            f"{ind}{step}{kind}:",
            f"{ind}{step}{step}{resource}: {_render(resource, value, None)}",
        ])
        return str(t)
    if not isinstance(res_node, CommentedMap):
        raise PatchError("the resources value is not a mapping")
    style_src = _style_source(res_node, kind, resource)
    rendered = _render(resource, value, style_src)
    if is_flow(res_node) or not len(res_node):  # `resources: {}` is flow even when ruamel does not say so
        return _set_in_flow(t, res_node, kind, resource, rendered)
    kind_node = res_node.get(kind)
    if kind_node is None:
        if len(res_node):
            ind = " " * res_node.lc.key(next(iter(res_node)))[1]
            step = " " * _indent_step(res_node, indent_default)
            # requests read best first (right after `resources:`), limits last
            after = block_end(t.lines, res_node) if kind == "limits" else res_node.lc.key(next(iter(res_node)))[0] - 1
            t.insert(after, [f"{ind}{kind}:", f"{ind}{step}{resource}: {rendered}"])
            return str(t)
        raise PatchError("empty resources mapping")
    if not isinstance(kind_node, CommentedMap):
        raise PatchError(f"resources.{kind} is not a mapping")
    if resource in kind_node:
        line, col = kind_node.lc.value(resource)
        t.replace_scalar(line, col, rendered)
        return str(t)
    if is_flow(kind_node) or not len(kind_node):
        return _append_flow(t, kind_node, resource, rendered)
    keys = list(kind_node)
    ind = " " * kind_node.lc.key(keys[0])[1]
    if resource == "cpu":
        # cpu before memory, as people write it
        t.insert(kind_node.lc.key(keys[0])[0] - 1, [f"{ind}{resource}: {rendered}"])
    else:
        t.insert(block_end(t.lines, kind_node), [f"{ind}{resource}: {rendered}"])
    return str(t)


def _set_in_flow(t: _Text, res_node: CommentedMap, kind: str, resource: str, rendered: str) -> str:
    kind_node = res_node.get(kind)
    if isinstance(kind_node, CommentedMap) and resource in kind_node:
        line, col = kind_node.lc.value(resource)
        t.replace_scalar(line, col, rendered)
        return str(t)
    if isinstance(kind_node, CommentedMap):
        return _append_flow(t, kind_node, resource, rendered)
    if kind_node is None:
        return _append_flow(t, res_node, kind, f"{{{resource}: {rendered}}}")
    raise PatchError(f"resources.{kind} is not a mapping")


def _append_flow(t: _Text, node: CommentedMap, key: str, rendered: str) -> str:
    """Add ``key: value`` before the closing brace of a flow mapping."""
    if not len(node):
        line, col = node.lc.line, node.lc.col
        src = t.lines[line]
        close = src.find("}", col)
        if close == -1:
            raise PatchError("flow mapping spans lines")
        t.lines[line] = src[:close] + f"{key}: {rendered}" + src[close:]
        return str(t)
    last = list(node)[-1]
    line, col = node.lc.value(last)
    src = t.lines[line]
    _, end = _scalar_span(src, col)
    value = node[last]
    if isinstance(value, CommentedMap):
        depth, i = 0, col
        while i < len(src):
            depth += {"{": 1, "}": -1}.get(src[i], 0)
            i += 1
            if depth == 0:
                break
        end = i
    close = src.find("}", end)
    if close == -1:
        raise PatchError("flow mapping spans lines")
    t.lines[line] = src[:close].rstrip() + f", {key}: {rendered}" + (" " if src[close - 1] == " " else "") + src[close:]
    return str(t)


def _remove(t: _Text, res_node: Any, kind: str, resource: str) -> str:
    if not isinstance(res_node, CommentedMap):
        return str(t)
    kind_node = res_node.get(kind)
    if not isinstance(kind_node, CommentedMap) or resource not in kind_node:
        return str(t)
    if is_flow(kind_node) or is_flow(res_node):
        raise PatchError("removing a key from a flow mapping is not supported; edit it by hand")
    line, _ = kind_node.lc.key(resource)
    if len(kind_node) == 1:
        t.delete(line)
        t.delete(res_node.lc.key(kind)[0])
    else:
        t.delete(line)
    return str(t)


def read_spec(root: Any, block: tuple) -> dict[tuple[str, str], int | None]:
    """The four values at a resources block, parsed (None where unset or unparseable)."""
    node = get_path(root, block)
    out: dict[tuple[str, str], int | None] = {}
    for kind, resource in FIELD_ORDER:
        value = None
        if isinstance(node, CommentedMap) and isinstance(node.get(kind), CommentedMap):
            raw = node[kind].get(resource)
            if raw is not None:
                try:
                    value = quantity.parse(resource, raw)
                except quantity.QuantityError:
                    value = None
        out[(kind, resource)] = value
    return out

"""The documents and positions ruamel.yaml would give, built from libyaml's node graph (~20× faster).

Discovery reads every YAML file of a repository; with ruamel's pure-Python parser that was most of a
run on a real repository (3 s of 4.5 s on the largest of the shared corpus). libyaml (PyYAML's C
parser) composes the same nodes with the same start marks, because both implement the same scanner.
What differs is what the nodes mean, and there this module does not guess:

- a plain scalar that could be anything but a string (a number, a boolean, null, a timestamp) is
  resolved by ruamel itself, with the loader discovery uses (YAML 1.2), one distinct text once;
- quoted, literal and folded scalars get ruamel's string types (``preserve_quotes``);
- an anchored scalar (``&app my-app``) is read by ruamel from its own text (it keeps the anchor); an
  anchored collection gets its anchor as ruamel's constructor sets it; an alias is the anchored object
  itself, at the anchor's position, as in ruamel (shared blocks are found by that identity);
- anything rarer — merge keys (``<<``), tags, directives, complex or duplicate keys, a byte-order mark,
  line breaks other than LF and CRLF — returns None, and ruamel parses the file as before.

tests/gitops/test_fastyaml.py holds the result equal to ruamel's — every value and its type, every
key, value and item position, every flow style — on every file of the shared corpus.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (DoubleQuotedScalarString, FoldedScalarString, LiteralScalarString,
                                      SingleQuotedScalarString)

# A tag where a node may start (after a space, a flow indicator or a line start), or a directive: the file
# goes to ruamel. It may also match inside a string ("a != b"): then the file only takes the slower road.
# So does an anchor or alias name holding a colon (`*app:`): YAML 1.2 lets a name hold one, libyaml does not.
_RARE = re.compile(r"(?:^|[\s\[{,])!\S|^%|[&*][^\s\[\]{},]*:", re.M)
# Plain scalars that YAML 1.2 may read as something other than a string start like this; any other
# plain scalar is a string.
_ANCHOR = re.compile(r"[^\s\[\]{},]+")
_MAYBE_NOT_STR = frozenset("-+.0123456789~nNtTfF=<")
_STRING_STYLES = {'"': DoubleQuotedScalarString, "'": SingleQuotedScalarString, "|": LiteralScalarString,
                  ">": FoldedScalarString}


class Documents(list):
    """The documents this module built. Building refuses duplicate keys, so a file read this way has none:
    the patch need not look for them again."""


class _NotHere(Exception):
    """Something this loader leaves to ruamel."""


# libyaml's composer recurses on the C stack: tens of thousands of nested collections crash the process
# (a segmentation fault, not an exception). Nesting is bounded before libyaml sees a text; deeper texts go
# to ruamel, which refuses them with a RecursionError, reported as unparseable.
MAX_FLOW_DEPTH = 1000
MAX_BLOCK_PREFIX = 2000  # leading spaces, dashes, `?` and `:` on one line: block nesting is at most this deep
_FLOW = re.compile(r"[^\[\]{}]+")
_BLOCK_PREFIX = re.compile(r"^[ \t?:-]{%d}" % (MAX_BLOCK_PREFIX + 1), re.M)


def libyaml_can_read(text: str) -> bool:
    """True when the text nests shallowly enough for libyaml to parse without exhausting the C stack."""
    if _BLOCK_PREFIX.search(text):
        return False
    if text.count("[") + text.count("{") <= MAX_FLOW_DEPTH:
        return True
    depth = deepest = 0
    for c in _FLOW.sub("", text):  # brackets in strings count too: an overestimate, which only costs speed
        depth = depth + 1 if c in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest <= MAX_FLOW_DEPTH


def load(text: str) -> Documents | None:
    """The documents of ``text`` as ruamel's round-trip loader makes them, or None: ask ruamel."""
    if text.startswith("\ufeff") or _RARE.search(text) or _odd_line_breaks(text) or not libyaml_can_read(text):
        return None
    try:
        import yaml

        nodes = list(yaml.compose_all(text, Loader=yaml.CSafeLoader))
    except Exception:  # noqa: BLE001 - no libyaml, or any complaint of it: ruamel decides, and explains
        return None
    builder = _Builder(yaml, text)
    try:
        return Documents(builder.build(n, None) for n in nodes)
    except (_NotHere, RecursionError):
        return None


def _odd_line_breaks(text: str) -> bool:
    """A lone CR, NEL or a Unicode line separator: YAML 1.1 (libyaml) and 1.2 (ruamel) count lines differently."""
    return text.count("\r") != text.count("\r\n") or any(c in text for c in "\x85\u2028\u2029")


class _Builder:
    def __init__(self, yaml: Any, text: str):
        self.yaml = yaml
        self.lines = text.split("\n")
        self.made: dict[int, Any] = {}  # collections built (None while building): an alias is the same object

    def build(self, node: Any, follow: tuple[int, int] | None) -> Any:
        """``follow``: where the next token after this node starts, when known (see _value_mark)."""
        yaml = self.yaml
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if id(node) in self.made:  # an alias: the same object, as ruamel gives (shared blocks are found by it)
            made = self.made[id(node)]
            if made is None:
                raise _NotHere("a collection that contains an alias to itself")
            return made
        self.made[id(node)] = None
        if isinstance(node, yaml.MappingNode):
            out = CommentedMap()
            self._name(out, node)
            _flow(out, node)
            out._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
            items = node.value
            for i, (key_node, value_node) in enumerate(items):
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _NotHere("complex key")
                if key_node.value == "<<" and not key_node.style:
                    raise _NotHere("a merge key")  # ruamel merges on its own terms
                key = self.scalar(key_node)
                if key in out:
                    raise _NotHere("duplicate key")  # which copy ruamel keeps is ruamel's business
                after = _mark(items[i + 1][0].start_mark) if i + 1 < len(items) else follow
                if node.flow_style:
                    after = None  # in a flow mapping the next token is a `,` or `}`: positions not kept
                out[key] = self.build(value_node, after)
                line, col = _value_mark(value_node, yaml, after)
                out._yaml_set_kv_line_col(key, [key_node.start_mark.line, key_node.start_mark.column, line, col])
            self.made[id(node)] = out
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = CommentedSeq()
            self._name(seq, node)
            _flow(seq, node)
            seq._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
            for i, item in enumerate(node.value):
                seq.append(self.build(item, None))  # the next token is a `-` or `,`, whose place libyaml does not give
                line, col = _value_mark(item, yaml, None)
                seq._yaml_set_idx_line_col(i, [line, col])
            self.made[id(node)] = seq
            return seq
        raise _NotHere(type(node).__name__)

    def _at(self, mark: Any) -> str:
        line = self.lines[mark.line] if mark.line < len(self.lines) else ""
        return line[mark.column:mark.column + 1]

    def _anchored(self, node: Any) -> bool:
        return self._at(node.start_mark) == "&"

    def _name(self, data: Any, node: Any) -> None:
        """A collection's anchor, set as ruamel's constructor sets it (not the ``idNNN`` names a dumper makes)."""
        if not self._anchored(node):
            return
        from ruamel.yaml.serializer import templated_id

        mark = node.start_mark
        name = _ANCHOR.match(self.lines[mark.line], mark.column + 1)
        if name is None:
            raise _NotHere("an anchor libyaml and this reading disagree on")
        if not templated_id(name.group(0)):
            data.yaml_set_anchor(name.group(0))

    def scalar(self, node: Any) -> Any:
        """Only an anchored scalar can be met again (through an alias): its text read by ruamel once (the cache
        of _plain_by_ruamel) gives the same object each time, as ruamel does."""
        if not self._anchored(node):
            return _scalar(node.value, node.style)
        start, end = node.start_mark, node.end_mark
        if start.line != end.line:
            raise _NotHere("a multi-line anchored scalar")
        return _plain_by_ruamel(self.lines[start.line][start.column:end.column].rstrip("\r"))


def _mark(mark: Any) -> tuple[int, int]:
    return mark.line, mark.column


def _value_mark(node: Any, yaml: Any, follow: tuple[int, int] | None) -> tuple[int, int]:
    """Where ruamel says a value starts. An empty value (``key:`` and nothing) is the one difference: libyaml
    puts it right after the colon, ruamel where the next token starts (the next key, or the parent's)."""
    if isinstance(node, yaml.ScalarNode) and node.value == "" and not node.style:
        if follow is None:
            raise _NotHere("empty value whose next token is not known")
        return follow
    return _mark(node.start_mark)


def _flow(data: Any, node: Any) -> None:
    if not node.value:
        return  # ruamel leaves the style of an empty `{}` or `[]` unset
    if node.flow_style is True:
        data.fa.set_flow_style()
    elif node.flow_style is False:
        data.fa.set_block_style()


def _scalar(value: str, style: str | None) -> Any:
    if style in _STRING_STYLES:
        return _STRING_STYLES[style](value)
    if value and value[0] not in _MAYBE_NOT_STR:
        return value
    return _plain_by_ruamel(value)


@lru_cache(maxsize=4096)
def _plain_by_ruamel(value: str) -> Any:
    """A plain scalar as ruamel reads it (numbers keep ruamel's own types: ScalarFloat keeps its format)."""
    from bot.gitops.yamldoc import _yaml

    try:
        got = _yaml().load(value)
    except Exception:  # noqa: BLE001 - out of context it is not a scalar: the file goes to ruamel
        raise _NotHere("scalar") from None
    if isinstance(got, (dict, list)):
        raise _NotHere("scalar")
    return got

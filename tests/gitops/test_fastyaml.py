"""bot.gitops.fastyaml gives what ruamel gives, or nothing: every value and its type, every anchor, every
key, value and item position, every flow style, and the identity of aliased blocks — checked against
ruamel itself (the loader discovery used before) on every YAML file of the shared corpus and on
hand-made shapes where the two parsers are known to differ."""

from __future__ import annotations

import warnings

import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.gitops import fastyaml
from bot.gitops.yamldoc import _yaml, parse_documents, reach_counts
from tests.gitops.corpus import corpus_or_skip


def _anchor(x):
    return getattr(getattr(x, "anchor", None), "value", None)


def difference(a, b, path=()) -> str | None:
    """Where the two trees differ (None: they do not), as a reader needs it to find the place."""
    if type(a) is not type(b):
        return f"{path}: type {type(a).__name__} vs {type(b).__name__} ({a!r} / {b!r})"
    if _anchor(a) != _anchor(b):
        return f"{path}: anchor {_anchor(a)} vs {_anchor(b)}"
    if isinstance(a, (CommentedMap, CommentedSeq)):
        if (a.lc.line, a.lc.col) != (b.lc.line, b.lc.col):
            return f"{path}: starts at {(a.lc.line, a.lc.col)} vs {(b.lc.line, b.lc.col)}"
        if a.fa.flow_style() != b.fa.flow_style():
            return f"{path}: flow style {a.fa.flow_style()} vs {b.fa.flow_style()}"
        keys = list(a.keys()) if isinstance(a, CommentedMap) else list(range(len(a)))
        if keys != (list(b.keys()) if isinstance(b, CommentedMap) else list(range(len(b)))):
            return f"{path}: keys {keys[:5]} vs {list(b)[:5]}"
        for k in keys:
            if list(a.lc.data[k]) != list(b.lc.data[k]):
                return f"{path + (k,)}: position {a.lc.data[k]} vs {b.lc.data[k]}"
            found = difference(a[k], b[k], path + (k,))
            if found:
                return found
        return None
    if a != b and not (a != a and b != b):  # NaN is NaN
        return f"{path}: {a!r} vs {b!r}"
    return None


def ruamel_documents(text: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(_yaml().load_all(text))


def same_as_ruamel(text: str) -> list | None:
    fast = fastyaml.load(text)
    if fast is None:
        return None
    ref = ruamel_documents(text)  # it never vouches for a file ruamel cannot read
    assert len(fast) == len(ref)
    for i, (a, b) in enumerate(zip(fast, ref)):
        found = difference(a, b, (i,))
        assert found is None, found
    # aliased blocks are one object in both, so shared blocks are found the same way
    assert [reach_counts(d) and sorted(reach_counts(d).values()) for d in fast] == \
        [reach_counts(d) and sorted(reach_counts(d).values()) for d in ref]
    return fast


def test_every_corpus_file_reads_as_ruamel_reads_it():
    root = corpus_or_skip()
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file() and not p.is_symlink())
    vouched = 0
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")  # bytes: CRLF files keep their CRs
        except UnicodeDecodeError:
            continue
        try:
            vouched += same_as_ruamel(text) is not None
        except AssertionError as exc:
            raise AssertionError(f"{path.relative_to(root)}: {exc}") from None
    # Most files take the fast road (887 of 912 when this was written): the rest are left to ruamel.
    assert vouched >= 0.9 * len(files), (vouched, len(files))


@pytest.mark.parametrize("text", [
    "a: 1\nb:\n  c: x\n",
    "a:\nb: 2\n",  # an empty value: ruamel puts it where the next key starts
    "a:\n  b:\n  # a comment\nc: 1\n",  # ... past comments, and at the parent's next key
    "a: {}\nb: []\nc: {x: 1}\nd: [1, 2]\n",  # empty flow collections have no style in ruamel
    "a: &x foo\nb: *x\nc: &n 80\nd: *n\ne: &q \"s\"\n",  # anchored scalars keep their anchor
    "probe: &p\n  path: /\n  port: 80\nliveness: *p\nreadiness: *p\n",  # one object, three places
    "a: 'x'\nb: \"y\"\nc: |\n  line\nd: >-\n  folded\n",
    "a: yes\nb: on\nc: 0o14\nd: 1_000\ne: 1.50\nf: ~\ng: 2026-11-23\nh: .inf\ni: 0x1F\n",  # YAML 1.2 as ruamel reads it
    "a: 1\r\nb:\r\n  c: 2\r\n",  # CRLF
    "---\na: 1\n---\n---\nb: [x, {y: 1}]\n",  # documents, one empty
    "list:\n- a\n- b: 1\n  c: 2\n-   - nested\n",
    "k: v # comment\n# trailing\n",
])
def test_shapes_read_as_ruamel_reads_them(text):
    assert same_as_ruamel(text) is not None, "expected the fast road for this shape"


@pytest.mark.parametrize("text, why", [
    ("a: !!str 80\n", "a tag"),
    ("%YAML 1.2\n---\na: 1\n", "a directive"),
    ("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "a merge key"),
    ("a: &app: x\nb: *app:\n", "an anchor name with a colon (YAML 1.2 allows it, libyaml does not)"),
    ("a: 1\rb: 2\n", "a lone CR"),
    ("\ufeffa: 1\n", "a byte-order mark"),
    ("a: 1\na: 2\n", "a duplicate key"),
    ("? [a, b]\n: 1\n", "a complex key"),
    ("- a:\n- b\n", "an empty value in a sequence item (its next token is a dash)"),
    ("a: [1, 2\n", "not YAML at all"),
])
def test_rare_shapes_are_left_to_ruamel(text, why):
    assert fastyaml.load(text) is None, why
    try:
        expected = ruamel_documents(text)
    except Exception:  # noqa: BLE001 - not YAML: parse_documents must say so as before
        with pytest.raises(Exception):
            parse_documents(text, fast=True)
        return
    # ruamel's own reading, as before (TaggedScalar has no ==: compared by its text)
    assert repr(parse_documents(text)) == repr(expected)

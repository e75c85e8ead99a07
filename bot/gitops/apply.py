"""Applying mapped changes: edit each file's text, verify by parsing it again, then (optionally) write."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from bot import quantity
from bot.gitops.fastyaml import Documents
from bot.gitops.mapping import MappingResult, Target
from bot.gitops.patch import FIELD_ORDER, PatchError, read_spec, set_field_reusing
from bot.gitops.yamldoc import (MAX_FILE_BYTES, YamlFileError, duplicate_key, get_path, inner_text, literal_span,
                                 parse_documents, splice, split_embedded)
from bot.safefs import PathRefused, read_inside, write_all
from bot.model import ContainerChange


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: bytes
    after: bytes
    lines: tuple[int, ...]  # 1-based lines of the new file that changed or were added
    refs: tuple[str, ...] = ()


@dataclass
class PatchResult:
    edits: list[FileEdit] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def changed_lines(before: str, after: str) -> tuple[int, ...]:
    a, b = before.splitlines(), after.splitlines()
    out: list[int] = []
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            out.extend(range(j1 + 1, j2 + 1))
    return tuple(out)


def _wanted(change: ContainerChange) -> dict[tuple[str, str], int | None]:
    return {(k, r): change.proposed.get(k, r) for k, r in FIELD_ORDER}


def patch_text(text: str, items: Sequence[tuple[ContainerChange, Target]], docs: list | None = None) -> str:
    """``docs``: a parse of ``text`` already made (discovery's), so the file is not parsed again to find positions."""
    for change, target in items:
        for kind, resource, old, new in change.changed_fields():
            text, docs = set_field_reusing(text, docs, target.doc, target.block, kind, resource, new)
    return text


def _plain(node: Any, skip: set, path: tuple = (), depth: int = 0) -> Any:
    """The data of a parsed document as plain values, without the blocks at ``skip`` (the ones we edit)."""
    if depth > 200:
        return "…"
    if isinstance(node, dict):
        return {k: _plain(v, skip, path + (k,), depth + 1) for k, v in node.items() if path + (k,) not in skip}
    if isinstance(node, list):
        return [_plain(v, skip, path + (i,), depth + 1) for i, v in enumerate(node) if path + (i,) not in skip]
    return node


def verify(text: str, items: Sequence[tuple[ContainerChange, Target]], before: str | None = None,
           also_edited: Sequence[tuple[int, tuple]] = ()) -> str | None:
    """None when every target reads back exactly the wanted values and (given ``before``) every other
    value in the file is what it was; else what differs. The second check is what catches an insertion
    that landed inside a neighbouring value (a block scalar, a multi-line flow list)."""
    docs = parse_documents(text, fast=False)  # the last word is ruamel's own: an independent check
    if before is not None:
        old = parse_documents(before, fast=False)
        if len(old) != len(docs):
            return f"the edit changed the number of YAML documents ({len(old)} → {len(docs)})"
        for i, (a, b) in enumerate(zip(old, docs)):
            skip = {t.block for _, t in items if t.doc == i} | {p for d, p in also_edited if d == i}
            if _plain(a, skip) != _plain(b, skip):
                return f"the edit changed values outside the resources blocks it meant to set (document {i})"
    for change, target in items:
        got = read_spec(docs[target.doc], target.block)
        for (kind, resource), want in _wanted(change).items():
            if (kind, resource) in {(k, r) for k, r, _, _ in change.changed_fields()} and got[(kind, resource)] != want:
                return f"{change.ref}: {kind}.{resource} reads back as {got[(kind, resource)]}, wanted {want}"
    return None


def _libyaml_docs(text: str) -> list | None:
    """The documents as plain values by libyaml (PyYAML's C parser, ~30× faster than ruamel), or None when
    libyaml is missing or has any complaint: then ruamel decides."""
    from bot.gitops.fastyaml import libyaml_can_read

    if not libyaml_can_read(text):
        return None
    try:
        import yaml

        return list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    except Exception:  # noqa: BLE001 - no libyaml, or any complaint of it: "not shown here"
        return None


def verify_fast(before: str, after: str, items: Sequence[tuple[ContainerChange, Target]],
                also_edited: Sequence[tuple[int, tuple]] = ()) -> bool:
    """``verify``'s two checks with libyaml: every target reads back as wanted, and nothing outside the edited
    blocks changed. True only when both hold; False means "not shown here" and ``verify`` (ruamel, the parser
    that gave the positions) decides. Both documents are read by the same parser, so a YAML 1.1 reading of some
    scalar cannot make a change look like none. tests/gitops/test_read_back.py holds the two to the same verdict
    on every sizing block of the corpus."""
    old, new = _libyaml_docs(before), _libyaml_docs(after)
    if old is None or new is None or len(old) != len(new):
        return False
    for i, (a, b) in enumerate(zip(old, new)):
        skip = {t.block for _, t in items if t.doc == i} | {p for d, p in also_edited if d == i}
        if _plain(a, skip) != _plain(b, skip):
            return False
    return read_back_fast(after, items, new)


def read_back_fast(text: str, items: Sequence[tuple[ContainerChange, Target]], docs: list | None = None) -> bool:
    """The read-back with libyaml (PyYAML's C parser, ~30× faster than ruamel): True when every changed field reads
    back as wanted. False only means "not shown here" (no libyaml, a YAML 1.1 reading of a key, a parse error):
    ``verify``, with the parser that gave the positions, then decides. tests/gitops/test_read_back.py holds the two
    to the same verdict on every sizing block of the corpus."""
    docs = docs if docs is not None else _libyaml_docs(text)
    if docs is None:
        return False
    for change, target in items:
        node = docs[target.doc] if target.doc < len(docs) else None
        for key in target.block:
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                node = node[key]
            else:
                return False
        for kind, resource, _, want in change.changed_fields():
            section = node.get(kind) if isinstance(node, dict) else None
            raw = section.get(resource) if isinstance(section, dict) else None
            try:
                got = None if raw is None else quantity.parse(resource, raw)
            except quantity.QuantityError:
                return False
            if got != want:
                return False
    return True


def apply(repo: Path, mapping: MappingResult, *, write: bool = False) -> PatchResult:
    """Patch every mapped file in memory and verify it; with ``write``, then write them all at
    once (atomically, all or none). Every path goes through the repository path gate."""
    result = PatchResult()
    # real file → {target file (the real one, or YAML embedded in one of its strings) → items}
    by_file: dict[str, dict[str, list[tuple[ContainerChange, Target]]]] = {}
    for change, target in mapping.mapped:
        real = (split_embedded(target.file) or (target.file,))[0]
        by_file.setdefault(real, {}).setdefault(target.file, []).append((change, target))
        result.warnings.extend(target.warnings)
    for rel in sorted(by_file):
        groups = by_file[rel]
        try:
            before = read_inside(Path(repo), rel, MAX_FILE_BYTES)
            text = before.decode("utf-8")
            known = mapping.parsed.get(rel)
            docs = known.docs if known is not None and known.text == text else None
            duplicate = None if isinstance(docs, Documents) else duplicate_key(text)  # discovery's parse already said
            if duplicate:
                raise PatchError(f"{duplicate}; which one counts is ambiguous, so the file is not edited")
            after_text, problem = _patch_file(rel, text, groups, docs)
        except PathRefused as exc:
            problem = f"path refused: {exc}"
        except UnicodeDecodeError:
            problem = "not UTF-8 text"
        except (PatchError, YamlFileError, IndexError) as exc:
            problem = str(exc)
        if problem:
            result.refused.append((rel, problem))
            continue
        after = after_text.encode("utf-8")
        if after == before:
            continue
        refs = tuple(c.ref for items in groups.values() for c, _ in items)
        result.edits.append(FileEdit(rel, before, after, changed_lines(text, after_text), refs))
    if write:
        write_all(Path(repo), {e.path: e.after for e in result.edits})
    return result


def _patch_file(rel: str, text: str, groups: dict[str, list[tuple[ContainerChange, Target]]],
                docs: list | None = None) -> tuple[str, str | None]:
    """Patch one file: its own blocks, then each YAML text embedded in one of its literal block strings
    (patched and verified as a file of its own, then spliced back). Returns the text and the problem, if any."""
    direct = groups.get(rel, [])
    after = patch_text(text, direct, docs)
    embedded = [(split_embedded(key), items) for key, items in groups.items() if key != rel]
    for (_, doc, where), items in embedded:
        lines = after.splitlines(keepends=True)
        span = literal_span(lines, parse_documents(after)[doc], where)
        inner = inner_text(lines, span)
        new_inner = patch_text(inner, items)
        problem = verify(new_inner, items, inner)
        if problem:
            return after, problem
        after = "".join(splice(lines, span, inner, new_inner))
        value = get_path(parse_documents(after)[doc], where)
        if not isinstance(value, str) or value.rstrip("\n") != new_inner.replace("\r\n", "\n").rstrip("\n"):
            return after, f"the edited text at {'.'.join(map(str, where))} does not read back as written"
    also = [(doc, where) for (_, doc, where), _ in embedded]
    return after, None if verify_fast(text, after, direct, also) else verify(after, direct, text, also)


def unified_diff(edits: Sequence[FileEdit]) -> str:
    out = []
    for e in edits:
        out.extend(difflib.unified_diff(
            e.before.decode("utf-8").splitlines(keepends=True),
            e.after.decode("utf-8").splitlines(keepends=True),
            f"a/{e.path}", f"b/{e.path}",
        ))
    return "".join(out)

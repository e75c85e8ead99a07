"""Applying mapped changes: edit each file's text, verify by parsing it again, then (optionally) write."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from bot import quantity
from bot.gitops.mapping import MappingResult, Target
from bot.gitops.patch import FIELD_ORDER, PatchError, read_spec, set_field_reusing
from bot.gitops.yamldoc import YamlFileError, parse_documents
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


def verify(text: str, items: Sequence[tuple[ContainerChange, Target]]) -> str | None:
    """None when every target reads back exactly the wanted values; else what differs."""
    docs = parse_documents(text)
    for change, target in items:
        got = read_spec(docs[target.doc], target.block)
        for (kind, resource), want in _wanted(change).items():
            if (kind, resource) in {(k, r) for k, r, _, _ in change.changed_fields()} and got[(kind, resource)] != want:
                return f"{change.ref}: {kind}.{resource} reads back as {got[(kind, resource)]}, wanted {want}"
    return None


def read_back_fast(text: str, items: Sequence[tuple[ContainerChange, Target]]) -> bool:
    """The read-back with libyaml (PyYAML's C parser, ~30× faster than ruamel): True when every changed field reads
    back as wanted. False only means "not shown here" (no libyaml, a YAML 1.1 reading of a key, a parse error):
    ``verify``, with the parser that gave the positions, then decides. tests/gitops/test_read_back.py holds the two
    to the same verdict on every sizing block of the corpus."""
    try:
        import yaml

        loader = yaml.CSafeLoader
    except (ImportError, AttributeError):
        return False
    try:
        docs = list(yaml.load_all(text, Loader=loader))
    except Exception:  # any libyaml complaint: leave the verdict to ruamel
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
    result = PatchResult()
    by_file: dict[str, list[tuple[ContainerChange, Target]]] = {}
    for change, target in mapping.mapped:
        by_file.setdefault(target.file, []).append((change, target))
        result.warnings.extend(target.warnings)
    for rel in sorted(by_file):
        items = by_file[rel]
        path = Path(repo) / rel
        before = path.read_bytes()
        try:
            text = before.decode("utf-8")
            known = mapping.parsed.get(rel)
            after_text = patch_text(text, items, known.docs if known is not None and known.text == text else None)
            problem = None if read_back_fast(after_text, items) else verify(after_text, items)
        except (PatchError, YamlFileError, UnicodeDecodeError, IndexError) as exc:
            problem = str(exc)
        if problem:
            result.refused.append((rel, problem))
            continue
        after = after_text.encode("utf-8")
        if after == before:
            continue
        result.edits.append(FileEdit(rel, before, after, changed_lines(text, after_text), tuple(c.ref for c, _ in items)))
        if write:
            path.write_bytes(after)
    return result


def unified_diff(edits: Sequence[FileEdit]) -> str:
    out = []
    for e in edits:
        out.extend(difflib.unified_diff(
            e.before.decode("utf-8").splitlines(keepends=True),
            e.after.decode("utf-8").splitlines(keepends=True),
            f"a/{e.path}", f"b/{e.path}",
        ))
    return "".join(out)

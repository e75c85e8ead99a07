"""Applying mapped changes: edit each file's text, verify by parsing it again, then (optionally) write."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from bot.gitops.mapping import MappingResult, Target
from bot.gitops.patch import FIELD_ORDER, PatchError, read_spec, set_field_reusing
from bot.gitops.yamldoc import MAX_FILE_BYTES, YamlFileError, duplicate_key, parse_documents
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


def patch_text(text: str, items: Sequence[tuple[ContainerChange, Target]]) -> str:
    docs = None
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


def apply(repo: Path, mapping: MappingResult, *, write: bool = False) -> PatchResult:
    """Patch every mapped file in memory and verify it; with ``write``, then write them all at
    once (atomically, all or none). Every path goes through the repository path gate."""
    result = PatchResult()
    by_file: dict[str, list[tuple[ContainerChange, Target]]] = {}
    for change, target in mapping.mapped:
        by_file.setdefault(target.file, []).append((change, target))
        result.warnings.extend(target.warnings)
    for rel in sorted(by_file):
        items = by_file[rel]
        try:
            before = read_inside(Path(repo), rel, MAX_FILE_BYTES)
            text = before.decode("utf-8")
            duplicate = duplicate_key(text)
            if duplicate:
                raise PatchError(f"{duplicate}; which one counts is ambiguous, so the file is not edited")
            after_text = patch_text(text, items)
            problem = verify(after_text, items)
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
        result.edits.append(FileEdit(rel, before, after, changed_lines(text, after_text), tuple(c.ref for c, _ in items)))
    if write:
        write_all(Path(repo), {e.path: e.after for e in result.edits})
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

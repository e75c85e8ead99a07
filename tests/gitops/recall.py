"""Recall, precision and wrong-block writes of the GitOps adapter against a hand-written list.

A list (tests/gitops/recall/<repo>.yaml) names, for one corpus repository, every container whose
resources are set in Git — namespace/workload/container, its kind, its HelmRelease, and the file and
YAML path of the block that sizes it — written by reading the files and the charts, not by running
this code. ``probes`` are containers that run but whose block is someone else's or not in Git
(cilium-operator beside the agent's root `resources`, an external-dns webhook sidecar): the adapter
may map them to their own (new) block or leave them out, never write to another container's block.

The real pipeline runs over the list at once, as a run would: lazy discovery, mapping, the patch
with every container given distinct new values, and the read-back. A container counts as found when
its values read back at its own block in the patched text.

    python -m tests.gitops.recall [repo ...]     # prints the per-repo table (docs/gitops.md)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML

from bot.gitops import apply, discover, map_changes
from bot.gitops.patch import read_spec
from bot.gitops.yamldoc import parse_documents
from bot.model import ContainerChange, HelmReleaseRef, Resources, ResourceSpec
from tests.gitops.corpus import CORPUS

LISTS = Path(__file__).with_name("recall")
MI = 2**20


@dataclass(frozen=True)
class Entry:
    ref: str  # namespace/workload/container
    kind: str
    file: str | None  # None for a probe with no block of its own in Git
    path: tuple | None
    hr: str | None = None  # namespace/name of the HelmRelease (the Flux labels a snapshot carries)
    init: bool = False
    batch: bool = False  # Job/CronJob (and ephemeral runner pods): report-only, counted apart
    shared: bool = False  # its block sizes other containers too: refusing it is right
    probe: bool = False

    @property
    def namespace(self) -> str:
        return self.ref.split("/")[0]


@dataclass
class Outcome:
    repo: str
    complete: bool
    found: list[str] = field(default_factory=list)
    missed: list[tuple[str, str]] = field(default_factory=list)
    wrong: list[tuple[str, str]] = field(default_factory=list)  # (ref, where it would have written)
    batch_found: int = 0
    batch_total: int = 0
    shared_refused: int = 0
    shared_total: int = 0
    probes_mapped: int = 0  # probes mapped to their own block (correct, and a write a run could make)
    probes: int = 0
    mapped: int = 0  # every mapped (container → block) the run would write

    @property
    def total(self) -> int:
        return len(self.found) + len(self.missed)

    @property
    def recall(self) -> float:
        return len(self.found) / self.total if self.total else 1.0

    @property
    def precision(self) -> float:
        return 1.0 - len(self.wrong) / self.mapped if self.mapped else 1.0


def _dotted(path: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in path.split("."))


def load(name: str) -> tuple[dict, list[Entry]]:
    data = YAML(typ="safe").load((LISTS / f"{name}.yaml").read_text())
    entries = []
    for probe, key in ((False, "containers"), (True, "probes")):
        for row in data.get(key) or []:
            entries.append(Entry(
                row["c"], row.get("kind", "Deployment"), row.get("file"),
                _dotted(row["path"]) if row.get("path") else None, row.get("hr"),
                bool(row.get("init")), bool(row.get("batch")), bool(row.get("shared")), probe,
            ))
    return data, entries


def _change(i: int, e: Entry, current: ResourceSpec) -> ContainerChange:
    """New values no two containers share (so a value read back names the container it came from)."""
    cpu, mem = 1000 + 7 * i, (300 + i) * MI
    limits = Resources(None if current.limits.cpu is None else 2 * cpu, None if current.limits.memory is None else 2 * mem)
    ns, workload, container = e.ref.split("/")
    hr = HelmReleaseRef(e.hr.split("/")[1], e.hr.split("/")[0]) if e.hr else None
    return ContainerChange(ns, e.kind, workload, container, current, ResourceSpec(Resources(cpu, mem), limits), e.init, hr)


def _spec(root, block) -> ResourceSpec:
    got = read_spec(root, block)
    return ResourceSpec(Resources(got[("requests", "cpu")], got[("requests", "memory")]),
                        Resources(got[("limits", "cpu")], got[("limits", "memory")]))


def measure(name: str, root: Path = CORPUS) -> Outcome:
    data, entries = load(name)
    repo = root / name
    out = Outcome(name, bool(data.get("complete")))
    changes = []
    for i, e in enumerate(entries):
        current = ResourceSpec()
        if e.file and e.path:
            docs = parse_documents((repo / e.file).read_text())
            current = _spec(docs[0] if len(docs) == 1 else _doc_with(docs, e.path), e.path)
        changes.append(_change(i, e, current))
    inv = discover(repo, lazy=True)
    mapping = map_changes(inv, changes)
    result = apply(repo, mapping, write=False)
    after = {edit.path: parse_documents(edit.after.decode()) for edit in result.edits}
    refused = dict(result.refused)
    targets = {c.ref: t for c, t in mapping.mapped}
    reasons = {c.ref: why for c, why in mapping.unmapped}
    owners = {(e.file, e.path): e.ref for e in entries if e.file and e.path and not e.probe}
    out.mapped = len(targets)
    for e, change in zip(entries, changes):
        t = targets.get(e.ref)
        # Run on this one container alone too: a block shared with another listed container is refused when
        # both change, but a run that changes only this one must not write there either.
        alone = map_changes(inv, [change]).mapped
        bad = [x for x in (t, alone[0][1] if alone else None) if x is not None and _wrong(e, x, owners)]
        if bad:
            out.wrong.append((e.ref, f"{bad[0].file}:{'.'.join(map(str, bad[0].block))}"))
            continue
        if e.probe:
            out.probes += 1
            out.probes_mapped += t is not None
            continue
        if e.shared:
            out.shared_total += 1
            out.shared_refused += t is None
            continue
        ok = t is not None and t.file in after and _spec(after[t.file][t.doc], t.block) == change.proposed
        if e.batch:
            out.batch_total += 1
            out.batch_found += ok
        elif ok:
            out.found.append(e.ref)
        else:
            out.missed.append((e.ref, reasons.get(e.ref) or refused.get(t.file if t else "", "") or "not read back"))
    return out


def _wrong(e: Entry, t, owners: dict) -> bool:
    """A write anywhere but the container's own block; a probe with no block in Git may get a new one
    of its own, never one a listed container owns."""
    where = (t.file, t.block)
    if where == (e.file, e.path):
        return False
    return not (e.probe and e.path is None and where not in owners)


def _doc_with(docs: list, path: tuple):
    """The document of a multi-document file that holds ``path`` (lists name the file and path only)."""
    from bot.gitops.yamldoc import get_path

    return next((d for d in docs if get_path(d, path) is not None), docs[0])


def table(outcomes: list[Outcome]) -> str:
    rows = ["| repo | list | containers sized in Git | found | recall | wrong-block writes | shared blocks refused | Jobs/CronJobs found | probes mapped to their own block |",
            "|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        rows.append(f"| {o.repo} | {'complete' if o.complete else 'partial'} | {o.total} | {len(o.found)} | {o.recall:.0%} | "
                    f"{len(o.wrong)} | {o.shared_refused}/{o.shared_total} | {o.batch_found}/{o.batch_total} | {o.probes_mapped}/{o.probes} |")
    return "\n".join(rows)


def lists() -> list[str]:
    return sorted(p.stem for p in LISTS.glob("*.yaml"))


if __name__ == "__main__":
    outs = [measure(n) for n in (sys.argv[1:] or lists())]
    print(table(outs))
    for o in outs:
        for ref, why in o.missed:
            print(f"missed {o.repo} {ref}: {why}")
        for ref, where in o.wrong:
            print(f"WRONG  {o.repo} {ref} → {where}")

"""The hidden state a PR carries in its body, between runs.

GitHub Actions runs are stateless, so what the bot must remember (the plan it last
published, the branch head it wrote, the labels it added, the skips and pins people asked
for) lives in an HTML comment at the end of the PR description. A human can read it with
"Edit" and may change it (e.g. delete a skip); the bot reads it back before every run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from bot.engine.verify import ChangeRecord, Record, change_from_json, change_to_json
from bot.policy import Pin

MARKER = "rightsizer-state"
_NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
# People with write access may edit the marker; keep only well-formed refs from it.
_SKIP_REF = re.compile(rf"^{_NAME}/{_NAME}(/{_NAME})?$")
_PIN_REF = re.compile(rf"^{_NAME}/{_NAME}/{_NAME}$")
_RE = re.compile(r"<!--\s*" + MARKER + r":\s*(\{.*?\})\s*-->", re.S)


@dataclass(frozen=True)
class PrState:
    fingerprint: str = ""
    branch_sha: str = ""
    previous_sha: str = ""  # the branch head before our last move: still ours if that move failed
    base_sha: str = ""
    files_digest: str = ""
    labels_added: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()
    pins: tuple[Pin, ...] = ()
    summary_lines: tuple[str, ...] = ()
    paused: bool = False  # someone else pushed to the branch; wait for /rightsize rebase
    closed_by_bot: bool = False  # we closed the PR (empty plan), as opposed to a person
    last_command: int = 0  # id of the newest command comment handled (commands are handled once)
    declined: str = ""  # (derived, not stored) fingerprint of a plan a person closed unmerged
    dropped: tuple[str, ...] = ()  # (derived, not stored) entries of the stored state that were invalid
    # Verification (issue 14), stored only when set so older markers read and render unchanged:
    changes: tuple[ChangeRecord, ...] = ()  # per container, the values before and after this PR
    merge_commit: str = ""  # recorded by the first verification after the merge
    verification: tuple[Record, ...] = ()  # the latest verdict per changed container

    def with_skip(self, ref: str) -> "PrState":
        return self if ref in self.skips else replace(self, skips=tuple(sorted({*self.skips, ref})))

    def with_pin(self, pin: Pin) -> "PrState":
        others = tuple(p for p in self.pins if p.ref != pin.ref)
        return replace(self, pins=tuple(sorted(others + (pin,), key=lambda p: p.ref)))

    def to_json(self) -> dict[str, Any]:
        return {
            "v": 1,
            "fingerprint": self.fingerprint,
            "branch_sha": self.branch_sha,
            "previous_sha": self.previous_sha,
            "base_sha": self.base_sha,
            "files_digest": self.files_digest,
            "labels_added": list(self.labels_added),
            "skips": list(self.skips),
            "pins": [{"ref": p.ref, "cpu": p.cpu, "memory": p.memory} for p in self.pins],
            "summary_lines": list(self.summary_lines),
            "paused": self.paused,
            "closed_by_bot": self.closed_by_bot,
            "last_command": self.last_command,
            **({"changes": [change_to_json(c) for c in self.changes]} if self.changes else {}),
            **({"merge_commit": self.merge_commit} if self.merge_commit else {}),
            **({"verification": [record_to_json(r) for r in self.verification]} if self.verification else {}),
        }


def render(state: PrState) -> str:
    # "--" cannot appear inside an HTML comment; JSON escapes keep it out (see _safe).
    return f"<!-- {MARKER}: {_safe(json.dumps(state.to_json(), sort_keys=True))} -->"


def _safe(text: str) -> str:
    return text.replace("--", "-\\u002d").replace(">", "\\u003e")


def parse(body: str | None) -> PrState:
    """The state in a PR body; an absent or damaged marker gives an empty state (never an error:
    the worst case is one extra rationale comment)."""
    if not body:
        return PrState()
    m = None
    for m in _RE.finditer(body):
        pass
    if m is None:
        return PrState()
    try:
        raw = json.loads(m.group(1))
    except ValueError:
        return PrState()
    if not isinstance(raw, dict):
        return PrState()
    return from_json(raw)


def from_json(raw: dict[str, Any]) -> PrState:
    def strs(key: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    pins: list[Pin] = []
    dropped: list[str] = []
    for p in raw.get("pins") if isinstance(raw.get("pins"), list) else []:
        pin = _valid_pin(p)
        if pin is None:
            ref = p.get("ref") if isinstance(p, dict) and isinstance(p.get("ref"), str) else "?"
            dropped.append(f"pin {ref[:120]} (not a namespace/workload/container ref with cpu/memory in range)")
        else:
            pins.append(pin)
    return PrState(
        fingerprint=str(raw.get("fingerprint") or ""),
        branch_sha=str(raw.get("branch_sha") or ""),
        previous_sha=str(raw.get("previous_sha") or ""),
        base_sha=str(raw.get("base_sha") or ""),
        files_digest=str(raw.get("files_digest") or ""),
        labels_added=strs("labels_added"),
        skips=tuple(s for s in strs("skips") if _SKIP_REF.match(s)),
        pins=tuple(pins),
        summary_lines=strs("summary_lines"),
        paused=raw.get("paused") is True,
        closed_by_bot=raw.get("closed_by_bot") is True,
        dropped=tuple(dropped),
        last_command=raw["last_command"] if isinstance(raw.get("last_command"), int) and not isinstance(raw.get("last_command"), bool) else 0,
        changes=tuple(c for c in (change_from_json(x, _PIN_REF.match) for x in _list(raw, "changes")) if c),
        merge_commit=raw["merge_commit"] if isinstance(raw.get("merge_commit"), str) and _SHA.match(raw["merge_commit"]) else "",
        verification=tuple(r for r in (record_from_json(x) for x in _list(raw, "verification")) if r),
    )


def _bounded(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit


def _valid_pin(p: Any) -> Pin | None:
    """A stored pin exactly as `/rightsize pin` would have made it, else None: people can edit
    the marker, and one absurd number (cpu 1e400) must not break every later run."""
    from bot.quantity import MAX_CPU_MILLICORES, MAX_MEMORY_BYTES

    if not isinstance(p, dict) or not isinstance(p.get("ref"), str) or not _PIN_REF.match(p["ref"]):
        return None
    cpu, mem = p.get("cpu"), p.get("memory")
    if cpu is None and mem is None:
        return None
    if (cpu is not None and not _bounded(cpu, MAX_CPU_MILLICORES)) or (mem is not None and not _bounded(mem, MAX_MEMORY_BYTES)):
        return None
    return Pin(ref=p["ref"], cpu=cpu, memory=mem)


_SHA = re.compile(r"^[0-9a-f]{40}$")
_STATUS = ("ok", "regressed", "not-rolled-out", "pending")


def _list(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key)
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def record_to_json(r: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": r.ref, "pr": r.pr, "status": r.status, "at": int(r.at),
                           "moves": [list(m) for m in r.moves]}
    if r.reasons:
        out["reasons"] = list(r.reasons)
    if r.revert_pr:
        out["revert_pr"] = r.revert_pr
    return out


def record_from_json(raw: Any) -> Record | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("ref"), str) or not _PIN_REF.match(raw["ref"]):
        return None
    if raw.get("status") not in _STATUS:
        return None
    moves = tuple(
        (m[0], m[1], m[2]) for m in _list(raw, "moves")
        if isinstance(m, list) and len(m) == 3 and m[0] in ("requests", "limits")
        and m[1] in ("cpu", "memory") and m[2] in ("up", "down"))
    # Reasons are echoed into PR bodies and comments: one plain line each, no mentions or markup.
    reasons = tuple(re.sub(r"[\r\n`<>@\[\]|]", " ", str(x))[:300] for x in _list(raw, "reasons"))
    return Record(raw["ref"], _int(raw.get("pr")), raw["status"], float(_int(raw.get("at"))), moves, reasons,
                  _int(raw.get("revert_pr")))


def strip(body: str) -> str:
    """The body without its state marker (to compare what humans see)."""
    return _RE.sub("", body).rstrip()

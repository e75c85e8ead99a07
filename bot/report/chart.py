"""Mermaid ``xychart-beta`` charts of per-node requests before/after against the budget.

Input is ``report["nodes"]``: a list of ``{name, allocatable, budget, before, after}`` each
holding ``{cpu: millicores, memory: bytes}``. Bars are before then after; the line is the
budget. Mermaid's xychart has no legend, so the title says which is which.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from bot.quantity import MI

_UNSAFE = re.compile(r'[^A-Za-z0-9._:/ -]')


def _label(name: Any) -> str:
    # Node names are DNS labels, but the chart is markdown we publish: keep only safe characters.
    return '"' + _UNSAFE.sub("_", str(name))[:40] + '"'


def _num(node: Mapping[str, Any], section: str, resource: str) -> int:
    value = (node.get(section) or {}).get(resource)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def node_chart(nodes: Sequence[Mapping[str, Any]], resource: str) -> str:
    """One chart for ``cpu`` (millicores) or ``memory`` (MiB); empty string without nodes."""
    if not nodes:
        return ""
    scale, unit = (1, "millicores") if resource == "cpu" else (MI, "MiB")
    names = [_label(n.get("name", "?")) for n in nodes]

    def series(section: str) -> list[int]:
        # Round up so a non-zero value never draws as zero.
        return [-(-_num(n, section, resource) // scale) for n in nodes]

    before, after, budget = series("before"), series("after"), series("budget")
    top = max(before + after + budget + [1])
    top = -(-top * 11 // 10)  # 10% headroom above the tallest mark
    what = "CPU" if resource == "cpu" else "Memory"
    return "\n".join([
        "```mermaid",
        "xychart-beta",
        f'    title "{what} requests per node ({unit}): bars before, after; line budget"',
        f"    x-axis [{', '.join(names)}]",
        f'    y-axis "{unit}" 0 --> {top}',
        f"    bar [{', '.join(map(str, before))}]",
        f"    bar [{', '.join(map(str, after))}]",
        f"    line [{', '.join(map(str, budget))}]",
        "```",
    ])


def node_charts(report: Mapping[str, Any]) -> str:
    nodes = report.get("nodes") or []
    if not isinstance(nodes, list) or not nodes:
        return ""
    nodes = [n for n in nodes if isinstance(n, Mapping)]
    return "\n\n".join(c for c in (node_chart(nodes, "cpu"), node_chart(nodes, "memory")) if c)

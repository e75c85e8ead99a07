"""Text bar charts of per-node requests, before and after this PR, against the budget.

Input is ``report["nodes"]``: a list of ``{name, allocatable, budget, before, after}`` each holding
``{cpu: millicores, memory: bytes}``. Each bar spans the node's allocatable; ``█`` is requested,
``·`` is free, ``│`` marks the budget. Before and after sit on two lines next to each other, so both
are always visible (Mermaid's xychart draws bars over each other and has no legend). Plain text in a
code block renders the same on GitHub, in a terminal and in a step summary.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from bot.quantity import in_unit

CHART_TITLE = "Requests per node, before and after"
WIDTH = 40
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/-]")


def _label(name: Any) -> str:
    # Node names are DNS labels, but the chart is text we publish inside a code block: keep safe characters only.
    return _UNSAFE.sub("_", str(name))[:24]


def _num(node: Mapping[str, Any], section: str, resource: str) -> int:
    value = (node.get(section) or {}).get(resource)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def bar(used: int, budget: int, allocatable: int, width: int = WIDTH) -> str:
    if allocatable <= 0:
        return "?" * width
    filled = min(width, round(width * used / allocatable))
    cells = ["█" if i < filled else "·" for i in range(width)]
    mark = min(width - 1, round(width * budget / allocatable))
    cells[mark] = "│"
    return "".join(cells) + ("▶" if used > allocatable else "")


def node_chart(nodes: Sequence[Mapping[str, Any]], resource: str) -> str:
    """One chart for ``cpu`` or ``memory``; empty string without nodes."""
    if not nodes:
        return ""
    what = "CPU" if resource == "cpu" else "Memory"
    names = [_label(n.get("name", "?")) for n in nodes]
    pad = max(len(n) for n in names)
    lines = [f"{what} requests (█ requested, · free, │ budget; each bar is the node's allocatable)"]
    for name, n in zip(names, nodes):
        alloc, budget = _num(n, "allocatable", resource), _num(n, "budget", resource)
        for i, section in enumerate(("before", "after")):
            used = _num(n, section, resource)
            pct = f"{used * 100 / alloc:3.0f}%" if alloc else "  —"
            head = name.ljust(pad) if i == 0 else " " * pad
            tail = f"  budget {in_unit(resource, budget)}" if i == 1 else ""
            lines.append(f"{head}  {section:<6} {bar(used, budget, alloc)} {pct} {in_unit(resource, used)}{tail}")
    return "\n".join(lines)


def node_charts(report: Mapping[str, Any]) -> str:
    nodes = report.get("nodes") or []
    if not isinstance(nodes, list) or not nodes:
        return ""
    nodes = [n for n in nodes if isinstance(n, Mapping)]
    charts = [c for c in (node_chart(nodes, "cpu"), node_chart(nodes, "memory")) if c]
    return "```text\n" + "\n\n".join(charts) + "\n```" if charts else ""

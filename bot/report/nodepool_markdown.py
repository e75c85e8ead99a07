"""The node-count PR: current vs proposed count, why, where pods would go, and what it costs."""

from __future__ import annotations

from bot.engine.nodepools import PoolProposal
from bot.quantity import human


def _pct(v: int, total: int) -> str:
    return f"{v * 100 / total:.0f}%" if total else "—"


def render_pool_body(p: PoolProposal, file_line: int | None = None) -> str:
    pool = p.pool
    arrow = "add" if p.proposed > p.current else "remove"
    out = [
        f"## Rightsizer: {arrow} {abs(p.proposed - p.current)} node(s) in pool `{pool.name}`",
        "",
        f"`{pool.variable}`: **{p.current} → {p.proposed}** in `{pool.file}`" + (f" (line {file_line})" if file_line else ""),
        "",
        "### Why",
        "",
    ] + [f"- {r}" for r in p.reasons]
    if p.monthly_cost_change is not None:
        sign = "+" if p.monthly_cost_change >= 0 else "−"
        out += [f"- estimated cost change: {sign}{abs(p.monthly_cost_change):.2f} per month (730 h × {pool.price_per_node_hour:g} per node-hour)"]
    if p.placements:
        out += ["", "### Where the pods would go", "", "| Pod | Node |", "|---|---|"]
        out += [f"| `{pl.pod}` | `{pl.node}` |" for pl in p.placements]
    if p.nodes:
        out += ["", "### Projected requests per node", "", "| Node | CPU requests (of budget) | Memory requests (of budget) |", "|---|---|---|"]
        for n in p.nodes:
            tag = " (new)" if n.new else " (removed)" if n.removed else ""
            if n.removed:
                out.append(f"| `{n.name}`{tag} | — | — |")
                continue
            out.append(
                f"| `{n.name}`{tag} | {human('cpu', n.used[0])} of {human('cpu', n.budget[0])} ({_pct(n.used[0], n.budget[0])}) "
                f"| {human('memory', n.used[1])} of {human('memory', n.budget[1])} ({_pct(n.used[1], n.budget[1])}) |"
            )
    if p.removed_node:
        out += ["", f"> **Before you merge:** drain `{p.removed_node}` (`kubectl drain {p.removed_node} --ignore-daemonsets --delete-emptydir-data`) "
                "so its pods move while the node still exists; Terraform removes the VM after the merge."]
    out += ["", f"Decided from a placement simulation, not average CPU: limits min {pool.min}, max {pool.max}."]
    return "\n".join(out) + "\n"


def render_pool_note(p: PoolProposal) -> str:
    """One line for the resources PR and the step summary when no node PR is opened."""
    if p.held_back:
        return f"Node pool `{p.pool.name}`: no change proposed — {p.held_back}."
    if p.changed:
        return f"Node pool `{p.pool.name}`: {p.current} → {p.proposed} nodes proposed in a separate PR."
    return f"Node pool `{p.pool.name}`: {p.current} nodes are right ({p.reasons[0] if p.reasons else 'fits'})."

"""Reading the shipped Grafana dashboard: its PromQL, with Grafana's variables filled in."""

from __future__ import annotations

import json
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "rightsizer-dashboard.json"
# What Grafana substitutes before a query reaches Prometheus.
VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def load() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels(dash: dict) -> list[dict]:
    out = []
    for p in dash["panels"]:
        out += [p] if p.get("type") != "row" else p.get("panels", [])
    return [p for p in out if p.get("type") != "row"]


def expressions(dash: dict, cluster: str) -> list[tuple[str, str]]:
    """(panel title/refId, PromQL) for every target, with $cluster set to ``cluster``."""
    out = []
    for p in panels(dash):
        for t in p.get("targets", []):
            expr = t["expr"].replace("$cluster", cluster)
            for k, v in VARIABLES.items():
                expr = expr.replace(k, v)
            out.append((f"{p['title']}/{t['refId']}", expr))
    return out

"""Estimated monthly cost change of each change and of the PR, from the policy's prices.

Requests are what a node reserves, so they are what a change costs or frees: the model
prices requested CPU per core-hour and requested memory per GiB-hour (the way Attune and
OpenCost price a container), optionally plus the electricity those resources draw
(watts per core and per GiB at a price per kWh, for homelabs). A month is 730 hours.

    cost change = 730 h × pods × (Δcores × (cpuCoreHour + wattsPerCore × kWh price / 1000)
                                + ΔGiB  × (memoryGiBHour + wattsPerGiB × kWh price / 1000))

Negative means the change saves money. Pure: plan and prices in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from bot.engine.fit import placement, pod_request
from bot.engine.plan import BLOCKED, OVER_CAP, SELECTED, Decision, Plan

HOURS_PER_MONTH = 730
GIB = 1024**3
# OpenCost's default on-demand list prices (USD), used when the policy names none:
# https://www.opencost.io/docs/configuration/ (CPU 0.031611 per core-hour, RAM 0.004237 per GiB-hour).
DEFAULT_CPU_CORE_HOUR = 0.031611
DEFAULT_MEMORY_GIB_HOUR = 0.004237
PENDING = (SELECTED, OVER_CAP, BLOCKED)


@dataclass(frozen=True)
class Prices:
    cpu_core_hour: float = DEFAULT_CPU_CORE_HOUR
    memory_gib_hour: float = DEFAULT_MEMORY_GIB_HOUR
    watts_per_core: float = 0.0
    watts_per_gib: float = 0.0
    kwh: float = 0.0
    currency: str = "USD"

    @property
    def per_core_hour(self) -> float:
        return self.cpu_core_hour + self.watts_per_core * self.kwh / 1000

    @property
    def per_gib_hour(self) -> float:
        return self.memory_gib_hour + self.watts_per_gib * self.kwh / 1000


def prices_from_policy(raw: Mapping[str, Any] | None) -> Prices:
    """The policy's ``costs`` section (already schema-checked). With an energy model and no
    explicit prices, the hardware is yours: only the electricity counts."""
    costs = dict(raw or {})
    energy = costs.get("energy") or {}
    default_cpu, default_mem = (0.0, 0.0) if energy else (DEFAULT_CPU_CORE_HOUR, DEFAULT_MEMORY_GIB_HOUR)
    return Prices(
        cpu_core_hour=float(costs.get("cpuCoreHour", default_cpu)),
        memory_gib_hour=float(costs.get("memoryGiBHour", default_mem)),
        watts_per_core=float(energy.get("wattsPerCore", 0)),
        watts_per_gib=float(energy.get("wattsPerGiB", 0)),
        kwh=float(energy.get("pricePerKWh", 0)),
        currency=str(costs.get("currency", "USD")),
    )


def pods_of(decision: Decision) -> int:
    """Pods the change applies to: the scheduled ones, else the declared replicas."""
    placed = sum(placement(decision.workload).values())
    return placed or max(1, decision.workload.replicas)


def request_delta(decision: Decision) -> tuple[int, int]:
    """(millicores, bytes) the whole workload's pods reserve more (+) or less (−) after the change."""
    rec = decision.recommendation
    if rec is None:
        return 0, 0
    w = decision.workload
    specs = {c.name: c.resources for c in w.containers}
    old = pod_request(w, {**specs, decision.container: rec.current})
    new = pod_request(w, {**specs, decision.container: rec.proposed})
    pods = pods_of(decision)
    return (new[0] - old[0]) * pods, (new[1] - old[1]) * pods


def monthly_change(delta: tuple[int, int], prices: Prices) -> float:
    cores, gib = delta[0] / 1000, delta[1] / GIB
    return HOURS_PER_MONTH * (cores * prices.per_core_hour + gib * prices.per_gib_hour)


def decision_change(decision: Decision, prices: Prices) -> float:
    return monthly_change(request_delta(decision), prices)


def total(decisions: Iterable[Decision], prices: Prices) -> float:
    return sum(decision_change(d, prices) for d in decisions)


def savings_dict(plan: Plan, prices: Prices) -> dict[str, Any]:
    """report.json's ``savings`` key: per change and totals (PR, and all pending)."""
    pending = [d for d in plan.decisions if d.status in PENDING and d.recommendation is not None]
    change = {d.uid: decision_change(d, prices) for d in pending}  # once each: 20,000 containers, ~40,000 pod sums
    return {
        "currency": prices.currency,
        "hoursPerMonth": HOURS_PER_MONTH,
        "prices": {"cpuCoreHour": prices.cpu_core_hour, "memoryGiBHour": prices.memory_gib_hour,
                   "wattsPerCore": prices.watts_per_core, "wattsPerGiB": prices.watts_per_gib,
                   "pricePerKWh": prices.kwh},
        "prMonthlyCostChange": round(sum(change[d.uid] for d in plan.selected), 2),
        "pendingMonthlyCostChange": round(sum(change.values()), 2),
        "changes": [{"ref": d.key, "status": d.status, "monthlyCostChange": round(change[d.uid], 2)} for d in pending],
    }


def money(value: float, currency: str = "USD") -> str:
    """−12.30 USD/month style: the sign says more or less spend."""
    sign = "+" if value > 0.004 else "−" if value < -0.004 else "±"
    return f"{sign}{abs(value):.2f} {currency}/month"


def savings_section(plan: Plan, prices: Prices) -> list[str]:
    """The PR's "Estimated cost" section: one row per change, then the PR total."""
    if not plan.selected:
        return []
    rows = ["### Estimated cost", "", "| Change | Requests Δ (all pods) | Monthly cost change |", "|---|---|---|"]
    for d in plan.selected:
        cpu, mem = request_delta(d)
        delta = f"CPU {_signed('cpu', cpu)}, memory {_signed('memory', mem)}"
        rows.append(f"| `{d.key}` | {delta} | {money(decision_change(d, prices), prices.currency)} |")
    rows.append(f"| **This PR** | | **{money(total(plan.selected, prices), prices.currency)}** |")
    rows += ["", f"_{HOURS_PER_MONTH} h × requests × {price_text(prices)}; negative saves._", ""]
    return rows


def price_text(prices: Prices) -> str:
    text = f"{prices.per_core_hour:g} per core-hour and {prices.per_gib_hour:g} per GiB-hour"
    if prices.kwh:
        text += f" (incl. {prices.watts_per_core:g} W/core, {prices.watts_per_gib:g} W/GiB at {prices.kwh:g} per kWh)"
    return text


def _signed(resource: str, value: int) -> str:
    from bot.quantity import human

    return "±0" if value == 0 else ("+" if value > 0 else "−") + human(resource, abs(value))

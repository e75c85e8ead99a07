"""Running the collection's queries: a few in flight at once, and each one split when the server refuses
it for its size (Prometheus' --query.max-samples, VictoriaMetrics' -search.maxSamplesPerQuery, a
response too large): first into halves of the namespaces, then, inside one namespace, into halves of
its pods. The parts cover disjoint containers, so their results are simply put together."""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any, Callable

from bot.duration import parse_duration
from bot.sources.prometheus import CADVISOR, MEMORY, PrometheusClient, Scope, SourceError, TooBig

Build = Callable[[Scope], str]  # an instant query for a scope

# How far a query may be split: 2 = by namespace then by pods, 1 = by namespace only (its series have
# no `pod` label), 0 = not at all (node series have neither).
BY_PODS, BY_NAMESPACE, WHOLE = 2, 1, 0


class Runner:
    def __init__(self, client: PrometheusClient, at: float, say: Callable[[str], None]):
        self.client, self.at, self.say = client, at, say
        self._names: dict[tuple, list[str]] = {}
        self._lock = threading.Lock()

    def run(self, queries: dict[str, tuple[Build, int]], scope: Scope, started: float) -> dict[str, list]:
        """Every query's result vector, by name, sent in the given order (slowest first: the last to finish sets
        the time); the first failure stops the rest and is raised."""
        import time

        out: dict[str, list] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, int(self.client.cfg.concurrency)))
        futures = {pool.submit(self.one, name, build, depth, scope): name for name, (build, depth) in queries.items()}
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            self.client.stop()  # queries still in flight end at their next attempt
            pool.shutdown(wait=False, cancel_futures=True)
            raise failed.exception()
        pool.shutdown()
        for fut, name in futures.items():
            out[name] = fut.result()
        self.say(f"{len(queries)} queries answered ({time.monotonic() - started:.1f}s)")
        return out

    def one(self, name: str, build: Build, depth: int, scope: Scope) -> list[dict[str, Any]]:
        try:
            result = self.client.query(build(scope), self.at)
        except TooBig as refused:
            parts, how = self.split(scope, depth)
            if len(parts) < 2:
                raise SourceError(f"{name}: the server refuses the query even for {how}: {refused}") from None
            self.say(f"{name}: too large for the server ({str(refused)[:120]}); split into {len(parts)} parts by {how}")
            result = []
            for part in parts:
                result.extend(self.one(name, build, depth, part))
            return result
        self.say(f"{name}: {len(result)} series")
        return result

    def split(self, scope: Scope, depth: int) -> tuple[list[Scope], str]:
        """Two narrower scopes covering the same series, and what they were split by."""
        if depth == WHOLE:
            return [], "the whole cluster (node series cannot be split)"
        if scope.pods:
            return [scope.narrowed(pods=half) for half in _halves(scope.pods)], "pod"
        namespaces = scope.namespaces if len(scope.namespaces) != 1 else ()
        if not namespaces and len(scope.namespaces) != 1:
            namespaces = tuple(self.values("namespace", scope))
        if len(namespaces) > 1:
            return [scope.narrowed(namespaces=half) for half in _halves(namespaces)], "namespace"
        if namespaces:
            scope = scope.narrowed(namespaces=namespaces)
        if depth < BY_PODS:
            return [], f"one namespace ({scope.namespaces[0] if scope.namespaces else '?'})"
        pods = tuple(self.values("pod", scope))
        if len(pods) > 1:
            return [scope.narrowed(pods=half) for half in _halves(pods)], "pod"
        return [], "one pod"

    def values(self, label: str, scope: Scope) -> list[str]:
        """The label's values among the window's cAdvisor series: an index lookup, cached per scope."""
        # cAdvisor's series and kube-state-metrics' pods: a namespace only one of them knows is not lost.
        match = (f"{MEMORY}{scope.selector(*CADVISOR)}", f"kube_pod_info{scope.selector()}")
        key = (label, match)
        with self._lock:
            if key in self._names:
                return self._names[key]
        start = self.at - parse_duration(scope.window)
        names = self.client.label_values(label, match, start, self.at)
        with self._lock:
            self._names[key] = names
        return names


def _halves(values: tuple[str, ...]) -> list[tuple[str, ...]]:
    mid = len(values) // 2
    return [tuple(values[:mid]), tuple(values[mid:])]

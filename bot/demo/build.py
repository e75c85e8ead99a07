"""Writes bot/demo/snapshot.yaml from the demo scenario (how containers behave) and the
requests and limits the demo repository sets. Run: python -m bot.demo.build

The usage percentiles are derived from each behaviour's p95 with fixed ratios
(p50 = 0.55, p90 = 0.85, p99 = 1.15 × p95 for CPU; memory is steadier: 0.85, 0.95,
1.05), and the max from the behaviour's spike ratio.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot import quantity

from bot.demo.scenario import BEHAVIOUR, COLLECTED_AT, NODES, WINDOW_DAYS

HERE = Path(__file__).resolve().parent
MI = 2**20
DAY = 86400

# (kind, namespace, name, HelmRelease or None, {container: (requests, limits)}, extras)
# Requests and limits exactly as the demo repository's files set them.
WORKLOADS = [
    ("Deployment", "media", "jellyfin", "jellyfin", {"app": ({"cpu": "1", "memory": "2Gi"}, {"memory": "4Gi"})}, {"nodeSelector": {"intel.feature.node.kubernetes.io/gpu": "true"}}),
    ("Deployment", "media", "sonarr", "sonarr", {"app": ({"cpu": "100m", "memory": "512Mi"}, {"memory": "1Gi"})}, {}),
    ("Deployment", "media", "radarr", "radarr", {"app": ({"cpu": "100m", "memory": "512Mi"}, {"memory": "1Gi"})}, {}),
    ("Deployment", "media", "prowlarr", "prowlarr", {"app": ({"cpu": "50m", "memory": "200Mi"}, {"memory": "512Mi"})}, {}),
    ("Deployment", "media", "bazarr", "bazarr", {"app": ({"cpu": "50m", "memory": "256Mi"}, {"memory": "512Mi"})}, {}),
    ("Deployment", "media", "qbittorrent", "qbittorrent", {
        "app": ({"cpu": "500m", "memory": "1Gi"}, {"memory": "1Gi"}),
        "gluetun": ({"cpu": "10m", "memory": "64Mi"}, {"memory": "128Mi"}),
    }, {}),
    ("Deployment", "media", "overseerr", "overseerr", {"app": ({"cpu": "200m", "memory": "512Mi"}, {"memory": "1Gi"})},
     {"hpa": {"name": "overseerr", "minReplicas": 1, "maxReplicas": 3,
              "metrics": [{"type": "Resource", "resource": "cpu", "targetType": "Utilization", "target": 70}]}}),
    ("Deployment", "media", "tautulli", "tautulli", {"app": ({"cpu": "50m", "memory": "256Mi"}, {"memory": "512Mi"})}, {}),
    ("Deployment", "media", "immich-server", "immich", {"app": ({"cpu": "250m", "memory": "768Mi"}, {"memory": "2Gi"})}, {}),
    ("Deployment", "media", "immich-machine-learning", "immich", {"app": ({"cpu": "1", "memory": "2Gi"}, {"memory": "4Gi"})}, {}),
    ("StatefulSet", "home", "home-assistant", "home-assistant", {"main": ({"cpu": "250m", "memory": "512Mi"}, {"cpu": "500m", "memory": "1Gi"})}, {"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    ("Deployment", "home", "zigbee2mqtt", "zigbee2mqtt", {"app": ({"cpu": "50m", "memory": "256Mi"}, {"memory": "512Mi"})}, {"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    ("Deployment", "home", "mosquitto", "mosquitto", {"mosquitto": ({"cpu": "10m", "memory": "64Mi"}, {"memory": "128Mi"})}, {"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    ("Deployment", "home", "esphome", "esphome", {"app": ({}, {})}, {"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    ("Deployment", "home", "node-red", "node-red", {"app": ({"cpu": "100m", "memory": "384Mi"}, {"memory": "768Mi"})}, {"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    ("Deployment", "default", "homepage", "homepage", {"app": ({"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"})}, {"nodeSelector": {"kubernetes.io/arch": "arm64"}}),
    ("Deployment", "default", "vaultwarden", "vaultwarden", {"app": ({"cpu": "100m", "memory": "256Mi"}, {"memory": "512Mi"})}, {}),
    ("Deployment", "default", "paperless", "paperless", {"app": ({"cpu": "200m", "memory": "1Gi"}, {"memory": "2Gi"})}, {}),
    ("Deployment", "default", "miniflux", "miniflux", {"app": ({"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"})}, {}),
    ("StatefulSet", "database", "postgres", None, {"postgres": ({"cpu": "1", "memory": "2Gi"}, {"cpu": "1", "memory": "2Gi"})}, {}),
    ("Deployment", "database", "redis", None, {"redis": ({"cpu": "100m", "memory": "256Mi"}, {"memory": "512Mi"})}, {}),
    ("CronJob", "backup", "restic-backup", None, {"restic": ({"cpu": "250m", "memory": "256Mi"}, {"memory": "1Gi"})}, {}),
    ("DaemonSet", "spegel", "spegel", "spegel", {"registry": ({"cpu": "10m", "memory": "128Mi"}, {"memory": "256Mi"})}, {}),
    ("Deployment", "descheduler", "descheduler", "descheduler", {"descheduler": ({"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"})}, {}),
    ("Deployment", "reloader", "reloader", "reloader", {"reloader": ({"cpu": "10m", "memory": "128Mi"}, {"memory": "256Mi"})}, {}),
    ("Deployment", "csi-nfs", "csi-nfs-controller", "csi-driver-nfs", {"nfs": ({"cpu": "10m", "memory": "64Mi"}, {"memory": "300Mi"})}, {}),
    ("DaemonSet", "csi-nfs", "csi-nfs-node", "csi-driver-nfs", {"nfs": ({"cpu": "10m", "memory": "64Mi"}, {"memory": "300Mi"})}, {}),
    ("Deployment", "network", "ingress-nginx-controller", "ingress-nginx", {"controller": ({"cpu": "500m", "memory": "512Mi"}, {"memory": "1Gi"})}, {}),
]


def percentiles(p95: float, spike: float, steady: bool) -> dict[str, float]:
    r50, r90, r99 = (0.85, 0.95, 1.05) if steady else (0.55, 0.85, 1.15)
    return {"p50": p95 * r50, "p90": p95 * r90, "p95": p95, "p99": p95 * r99, "max": p95 * max(spike, r99)}


def physical(values: dict[str, float], limit: float | None, oom: bool) -> dict[str, float]:
    """What a container can really show: CPU never above its limit (it is throttled there); memory under its
    limit unless it was OOM-killed (then its peak is the limit it hit)."""
    if limit is None:
        return values
    cap = limit if oom else limit * 0.97
    return {k: min(v, cap) for k, v in values.items()}


def build() -> dict:
    workloads = []
    for kind, ns, name, release, containers, extras in WORKLOADS:
        first = BEHAVIOUR[f"{ns}/{name}/{next(iter(containers))}"]
        if kind == "DaemonSet":
            nodes = list(NODES)
        else:
            nodes = [first.node] * first.replicas
        pods = [{"name": f"{name}-{i}" if kind != "DaemonSet" else f"{name}-{n}", "node": n, "phase": "Running"} for i, n in enumerate(nodes)]
        if kind == "CronJob":
            pods = []  # nothing running between backups
        out_containers = []
        for cname, (req, lim) in containers.items():
            b = BEHAVIOUR[f"{ns}/{name}/{cname}"]
            coverage = min(b.days, WINDOW_DAYS) * DAY
            cpu_limit = quantity.parse_cpu(lim["cpu"]) / 1000 if "cpu" in lim else None
            mem_limit = quantity.parse_memory(lim["memory"]) / MI if "memory" in lim else None
            cpu = physical(percentiles(b.cpu_p95, b.spike, steady=False), cpu_limit, oom=True)
            memory = physical(percentiles(b.mem_p95, min(b.spike, 1.3), steady=True), mem_limit, oom=b.oom > 0)
            out_containers.append({
                "name": cname,
                "requests": req,
                "limits": lim,
                "usage": {
                    "cpu": {k: round(v, 6) for k, v in cpu.items()},
                    "memory": {k: round(v * MI) for k, v in memory.items()},
                },
                "coverageSeconds": coverage,
                "restarts": b.restarts,
                "oomKills": b.oom,
                "cpuThrottledRatio": b.throttled,
            })
        w = {"kind": kind, "namespace": ns, "name": name, "replicas": len(pods) or 1, "pods": pods, "containers": out_containers}
        if release:
            w["helmRelease"] = {"name": release, "namespace": ns}
        w.update(extras)
        workloads.append(w)
    return {
        "version": 1,
        "collectedAt": COLLECTED_AT,
        "window": f"{WINDOW_DAYS}d",
        "cluster": "home",
        "source": {"generator": "bot.demo.build", "note": "a made-up homelab; see bot/demo/scenario.py"},
        "nodes": [
            {"name": n, "allocatable": {"cpu": cpu, "memory": mem}, "labels": labels, "taints": []}
            for n, (cpu, mem, labels) in NODES.items()
        ],
        "workloads": workloads,
        # Nextcloud was just added to Git; its pod waits: no pve worker has 2 cores and 4Gi to spare.
        "pendingPods": [{
            "namespace": "default", "name": "nextcloud-0", "workload": "StatefulSet/nextcloud",
            "requests": {"cpu": "1500m", "memory": "4Gi"},
            "nodeSelector": {"node.kubernetes.io/pool": "pve-workers"},
        }],
    }


def main() -> None:
    from bot.snapshot import snapshot_from_dict

    data = build()
    snapshot_from_dict(data, "bot/demo/snapshot.yaml")  # validate before writing
    text = "# Generated by `python -m bot.demo.build` from bot/demo/scenario.py. Do not edit by hand.\n"
    text += json.dumps(data, indent=1) + "\n"
    (HERE / "snapshot.yaml").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

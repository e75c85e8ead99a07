"""The demo homelab's behaviour: how each container really uses CPU and memory.

`python -m bot.demo.build` combines this with the requests and limits found in
the demo repository (bot/demo/repo) and writes bot/demo/snapshot.yaml, so the
snapshot and the files can never disagree.

Numbers are per container: CPU in cores, memory in MiB. ``spike`` is the
ratio of the window's max to its p95 (transcodes, imports, ML jobs).
"""

from __future__ import annotations

from dataclasses import dataclass

COLLECTED_AT = "2026-11-22T06:00:00Z"
WINDOW_DAYS = 14

NODES = {
    # name: (allocatable cpu, allocatable memory, labels)
    "m720q": ("5800m", "30Gi", {"kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "lenovo-m720q", "intel.feature.node.kubernetes.io/gpu": "true"}),
    "rpi4": ("3800m", "7Gi", {"kubernetes.io/arch": "arm64", "node.kubernetes.io/instance-type": "raspberry-pi-4"}),
    "pve-worker-1": ("3900m", "7680Mi", {"kubernetes.io/arch": "amd64", "node.kubernetes.io/pool": "pve-workers"}),
}


@dataclass(frozen=True)
class Behaviour:
    cpu_p95: float  # cores
    mem_p95: float  # MiB
    node: str = "m720q"
    spike: float = 1.6  # max / p95
    days: float = 30  # how long the series exists (capped at the window)
    restarts: int = 0
    oom: int = 0
    throttled: float | None = None
    replicas: int = 1


# Keyed by namespace/workload/container, as the pods are named in the cluster.
BEHAVIOUR: dict[str, Behaviour] = {
    # media: jellyfin transcodes (no downsizes by policy) and needs more memory.
    "media/jellyfin/app": Behaviour(1.9, 3400, spike=2.4),
    "media/sonarr/app": Behaviour(0.09, 210),                 # over-provisioned: the seed's Sonarr story
    "media/radarr/app": Behaviour(0.08, 230),
    "media/prowlarr/app": Behaviour(0.04, 180),
    "media/bazarr/app": Behaviour(0.03, 140),
    "media/qbittorrent/app": Behaviour(0.6, 1500, restarts=4, oom=3, spike=1.3),  # OOM-killed during imports
    "media/qbittorrent/gluetun": Behaviour(0.05, 60),
    "media/overseerr/app": Behaviour(0.05, 260, replicas=2),  # scaled by an HPA on CPU
    "media/tautulli/app": Behaviour(0.03, 120),
    "media/immich-server/app": Behaviour(0.35, 900, spike=2.2),
    "media/immich-machine-learning/app": Behaviour(1.2, 2900, spike=1.5),
    # home automation on the Pi
    "home/home-assistant/main": Behaviour(0.45, 700, node="rpi4", throttled=0.38),
    "home/zigbee2mqtt/app": Behaviour(0.04, 170, node="rpi4"),
    "home/mosquitto/mosquitto": Behaviour(0.01, 25, node="rpi4"),
    "home/esphome/app": Behaviour(0.02, 150, node="rpi4", spike=6.0),  # compiles firmware now and then
    "home/node-red/app": Behaviour(0.03, 160, node="rpi4"),
    # default
    "default/homepage/app": Behaviour(0.01, 90, node="rpi4"),
    "default/vaultwarden/app": Behaviour(0.01, 60, node="pve-worker-1"),
    "default/paperless/app": Behaviour(0.25, 900, node="pve-worker-1", days=3),  # deployed three days ago
    "default/miniflux/app": Behaviour(0.01, 55, node="pve-worker-1"),
    # databases and jobs
    "database/postgres/postgres": Behaviour(0.2, 1700, node="pve-worker-1", spike=1.3),
    "database/redis/redis": Behaviour(0.02, 45, node="pve-worker-1"),
    "backup/restic-backup/restic": Behaviour(0.7, 600, node="pve-worker-1", spike=1.2, days=14),
    # cluster utilities (seed 002) and ingress
    "spegel/spegel/registry": Behaviour(0.01, 40),  # a DaemonSet: one pod per node
    "descheduler/descheduler/descheduler": Behaviour(0.005, 30),
    "reloader/reloader/reloader": Behaviour(0.003, 35),
    "csi-nfs/csi-nfs-controller/nfs": Behaviour(0.004, 25),
    "csi-nfs/csi-nfs-node/nfs": Behaviour(0.002, 20),
    "network/ingress-nginx-controller/controller": Behaviour(0.04, 150),
}

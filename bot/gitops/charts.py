"""The chart table: which values block sizes which component of a chart.

A chart maps a container only through a component that names it — by the
workload the chart renders (`{fullname}` is the chart's full name: the
`fullnameOverride`, the release, `<release>-<chart>` or `<release>-<nameOverride>`)
and by the container's name — never by "the only `resources` in the values".
A workload or container of a known chart that no component names is not
mapped: the root `resources` of cilium is the agent's, not the operator's.

Paths follow each chart's values.yaml and templates (docs/gitops.md says which
were checked upstream and which versions the recall lists exercise). ``since``
makes a component version-aware: a chart that moved a key keeps both entries,
the newer one first. A block that sizes several workloads or containers at once
says so in ``shares`` and is refused.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable


@dataclass(frozen=True)
class Component:
    workload: str  # glob over the rendered workload name; {fullname} expands to each full-name candidate
    path: str  # values path of the resources block
    container: str = "*"  # glob over the container name ({chart}, {fullname} expand; `a|b` is either)
    init: bool = False  # an init container's block
    since: str = ""  # first chart version with this path ("" = any)
    shares: str = ""  # what else this one block sizes: mapping it is refused, saying so


def _c(workload: str, path: str, container: str = "*", init: bool = False, since: str = "", shares: str = "") -> Component:
    return Component(workload, path, container, init, since, shares)


def single(path: str = "resources", container: str = "{chart}|{fullname}") -> tuple[Component, ...]:
    """A chart that renders one workload, named its full name, sized at ``path``. Its main container is
    named like the chart (Helm's scaffold: `name: {{ .Chart.Name }}`) unless said otherwise: a sidecar
    beside it is not what the root `resources` sizes."""
    return (_c("{fullname}", path, container),)


def _app_template_sub(key: str, suffix: str) -> Component:
    """A subchart built on bjw-s app-template under ``key`` (its controller `main`, container `main`)."""
    return _c(f"*-{suffix}", f"{key}.controllers.main.containers.main.resources", "main")


RELOADERS = "the config-reloader of every Prometheus and Alertmanager"
SIDECARS = "every grafana-sc-* sidecar"

KPS = (
    _c("prometheus-*", "prometheus.prometheusSpec.resources", "prometheus"),
    _c("prometheus-*", "prometheus.prometheusSpec.thanos.resources", "thanos-sidecar"),
    _c("prometheus-*", "prometheusOperator.prometheusConfigReloader.resources", "config-reloader", shares=RELOADERS),
    _c("prometheus-*", "prometheusOperator.prometheusConfigReloader.resources", "init-config-reloader", init=True, shares=RELOADERS),
    _c("alertmanager-*", "alertmanager.alertmanagerSpec.resources", "alertmanager"),
    _c("alertmanager-*", "prometheusOperator.prometheusConfigReloader.resources", "config-reloader", shares=RELOADERS),
    _c("alertmanager-*", "prometheusOperator.prometheusConfigReloader.resources", "init-config-reloader", init=True, shares=RELOADERS),
    _c("*-operator", "prometheusOperator.resources", "{chart}|{fullname}|prometheus-operator"),
    _c("*-admission-create", "prometheusOperator.admissionWebhooks.patch.resources"),
    _c("*-admission-patch", "prometheusOperator.admissionWebhooks.patch.resources"),
    # subcharts: `<release>-kube-state-metrics`, or their own fullnameOverride (`kube-state-metrics`, `node-exporter`)
    _c("*kube-state-metrics", "kube-state-metrics.resources", "kube-state-metrics"),
    _c("*node-exporter", "prometheus-node-exporter.resources", "node-exporter"),
    _c("*grafana", "grafana.resources", "grafana"),
    _c("*grafana", "grafana.sidecar.resources", "grafana-sc-*", shares=SIDECARS),
)

CILIUM = (
    _c("cilium", "resources", "cilium-agent"),
    _c("cilium", "initResources", init=True, since="1.14.0"),
    _c("cilium-operator", "operator.resources", "cilium-operator"),
    _c("hubble-relay", "hubble.relay.resources", "hubble-relay"),
    _c("hubble-ui", "hubble.ui.frontend.resources", "frontend"),
    _c("hubble-ui", "hubble.ui.backend.resources", "backend"),
    _c("cilium-envoy", "envoy.resources", "cilium-envoy"),
    _c("cilium-node-init", "nodeinit.resources", "node-init"),
    _c("clustermesh-apiserver", "clustermesh.apiserver.resources", "apiserver"),
)

# chart → components, most specific first (the first that names the workload and container decides).
CHARTS: dict[str, tuple[Component, ...]] = {
    "kube-prometheus-stack": KPS,
    "cilium": CILIUM,
    "cert-manager": (
        _c("{fullname}-webhook", "webhook.resources", "*webhook"),
        _c("{fullname}-cainjector", "cainjector.resources", "*cainjector"),
        _c("{fullname}-startupapicheck", "startupapicheck.resources", "*startupapicheck"),
        _c("{fullname}", "resources", "*controller"),
    ),
    "external-secrets": (
        _c("{fullname}-webhook", "webhook.resources", "webhook"),
        _c("{fullname}-cert-controller", "certController.resources", "cert-controller"),
        _c("{fullname}", "resources", "{chart}|{fullname}"),
    ),
    "external-dns": (
        _c("{fullname}", "provider.webhook.resources", "webhook", since="1.14.0"),
        _c("{fullname}", "resources", "external-dns"),
    ),
    "ingress-nginx": (
        _c("{fullname}-defaultbackend", "defaultBackend.resources"),
        _c("{fullname}-controller", "controller.resources", "controller"),
        _c("{fullname}-admission-create", "controller.admissionWebhooks.createSecretJob.resources"),
        _c("{fullname}-admission-patch", "controller.admissionWebhooks.patchWebhookJob.resources"),
    ),
    "metallb": (
        _c("{fullname}-controller", "controller.resources", "controller"),
        _c("{fullname}-speaker", "speaker.resources", "speaker"),
        _c("{fullname}-speaker", "speaker.frr.resources", "frr"),
        _c("{fullname}-speaker", "speaker.reloader.resources", "reloader"),
        _c("{fullname}-speaker", "speaker.frrMetrics.resources", "frr-metrics"),
        # the frr-k8s subchart (metallb ≥ 0.14) keeps its keys under `frrk8s` (metallb/frr-k8s charts/frr-k8s/values.yaml):
        # `frr-k8s.frr.resources` sizes nothing
        _c("{fullname}-frr-k8s", "frr-k8s.frrk8s.resources", "controller"),
        _c("{fullname}-frr-k8s", "frr-k8s.frrk8s.frr.resources", "frr"),
        _c("{fullname}-frr-k8s", "frr-k8s.frrk8s.reloader.resources", "reloader"),
        _c("{fullname}-frr-k8s", "frr-k8s.frrk8s.frrMetrics.resources", "frr-metrics"),
        _c("{fullname}-frr-k8s", "frr-k8s.frrk8s.frrStatus.resources", "frr-status"),
    ),
    "rook-ceph-cluster": (
        _c("rook-ceph-mds-{item}-*", "cephFileSystems.[].spec.metadataServer.resources", "mds", shares="the filesystem's active and standby MDS (-a, -b)"),
        _c("rook-ceph-rgw-{item}-*", "cephObjectStores.[].spec.gateway.resources", "rgw"),
        # one Deployment per daemon (mon-a, mon-b, osd-0, osd-1, …), all sized by one block each
        _c("rook-ceph-mgr-*", "cephClusterSpec.resources.mgr", "mgr", shares="every mgr (rook-ceph-mgr-*)"),
        _c("rook-ceph-mgr-*", "cephClusterSpec.resources.mgr-sidecar", "watch-active", shares="every mgr (rook-ceph-mgr-*)"),
        _c("rook-ceph-mon-*", "cephClusterSpec.resources.mon", "mon", shares="every mon (rook-ceph-mon-*)"),
        _c("rook-ceph-osd-prepare-*", "cephClusterSpec.resources.prepareosd", "provision", shares="every OSD prepare Job"),
        _c("rook-ceph-osd-*", "cephClusterSpec.resources.osd", "osd", shares="every OSD (rook-ceph-osd-*)"),
        _c("rook-ceph-crashcollector-*", "cephClusterSpec.resources.crashcollector", "ceph-crash", shares="every node's crash collector"),
        _c("rook-ceph-exporter-*", "cephClusterSpec.resources.exporter", "ceph-exporter", shares="every node's exporter"),
        _c("rook-ceph-tools", "toolbox.resources"),
    ),
    "mastodon": (  # mastodon/chart: web, streaming, one Deployment per sidekiq worker
        _c("{fullname}-web", "mastodon.web.resources", "web"),
        _c("{fullname}-streaming", "mastodon.streaming.resources", "streaming"),
        _c("{fullname}-sidekiq-{item}", "mastodon.sidekiq.workers.[].resources", "sidekiq"),
    ),
    "emqx": single(),
    "botkube": single(),
    "longhorn": (
        _c("longhorn-manager", "longhornManager.resources", "longhorn-manager"),
        _c("longhorn-driver-deployer", "longhornDriver.resources", "longhorn-driver-deployer"),
        _c("longhorn-ui", "longhornUI.resources", "longhorn-ui"),
    ),
    "rook-ceph": (_c("rook-ceph-operator", "resources", "rook-ceph-operator"),),
    "democratic-csi": (
        _c("{fullname}-controller", "controller.driver.resources", "csi-driver"),
        _c("{fullname}-controller", "controller.externalProvisioner.resources", "external-provisioner"),
        _c("{fullname}-controller", "controller.externalResizer.resources", "external-resizer"),
        _c("{fullname}-controller", "controller.externalSnapshotter.resources", "external-snapshotter"),
        _c("{fullname}-node", "node.driver.resources", "csi-driver"),
        _c("{fullname}-node", "node.driverRegistrar.resources", "driver-registrar"),
    ),
    "openebs": (
        _c("*-localpv-provisioner", "localpv-provisioner.localpv.resources"),
    ),
    "tailscale-operator": (_c("operator", "operatorConfig.resources", "operator"),),
    "gateway-helm": (
        _c("envoy-gateway", "deployment.envoyGateway.resources", "envoy-gateway"),
        _c("*-certgen", "certgen.job.resources"),
    ),
    "immich": (
        _app_template_sub("server", "server"),
        _app_template_sub("machine-learning", "machine-learning"),
        _app_template_sub("valkey", "valkey"),
        _app_template_sub("redis", "redis"),
    ),
    "authentik": (
        _c("{fullname}-server", "server.resources", "server"),
        _c("{fullname}-worker", "worker.resources", "worker"),
    ),
    "traefik": single(),
    "grafana": (
        _c("{fullname}", "resources", "grafana"),
        _c("{fullname}", "sidecar.resources", "grafana-sc-*", shares=SIDECARS),
        _c("{fullname}", "initChownData.resources", "init-chown-data", init=True),
        _c("{fullname}", "downloadDashboards.resources", "download-dashboards", init=True),
    ),
    "loki": (
        _c("{fullname}", "singleBinary.resources", "loki"),
        _c("{fullname}-write", "write.resources", "loki"),
        _c("{fullname}-read", "read.resources", "loki"),
        _c("{fullname}-backend", "backend.resources", "loki"),
        _c("{fullname}-gateway", "gateway.resources", "nginx"),
        _c("{fullname}-chunks-cache", "chunksCache.resources", "memcached"),
        _c("{fullname}-results-cache", "resultsCache.resources", "memcached"),
        _c("{fullname}-canary", "lokiCanary.resources"),
        _c("{fullname}*", "sidecar.resources", "loki-sc-rules"),
    ),
    "vector": single(),
    "victoria-metrics-k8s-stack": (
        _c("vmsingle-{fullname}", "vmsingle.spec.resources", "vmsingle"),
        _c("vmagent-{fullname}", "vmagent.spec.resources", "vmagent"),
        _c("vmalertmanager-{fullname}", "alertmanager.spec.resources", "alertmanager"),
        _c("vmalert-{fullname}", "vmalert.spec.resources", "vmalert"),
        _c("*-victoria-metrics-operator", "victoria-metrics-operator.resources"),
        _c("*kube-state-metrics", "kube-state-metrics.resources", "kube-state-metrics"),
        _c("*node-exporter", "prometheus-node-exporter.resources", "node-exporter"),
        _c("*-grafana", "grafana.resources", "grafana"),
    ),
    "victoria-metrics-single": (_c("{fullname}-server", "server.resources"),),
    "victoria-logs-single": (_c("{fullname}-server", "server.resources"),),
    "victoria-logs-collector": single(),
    "victoria-metrics-operator": single(),
    "cloudnative-pg": single(container="manager"),
    "dragonfly-operator": (_c("{fullname}", "manager.resources", "manager"),),
    "spegel": single(container="registry"),
    "descheduler": single(),
    "reloader": single("reloader.deployment.resources", "{fullname}|{chart}"),
    "csi-driver-nfs": (
        _c("csi-nfs-controller", "controller.resources.nfs", "nfs"),
        _c("csi-nfs-controller", "controller.resources.csiProvisioner", "csi-provisioner"),
        _c("csi-nfs-controller", "controller.resources.csiSnapshotter", "csi-snapshotter"),
        _c("csi-nfs-controller", "controller.resources.livenessProbe", "liveness-probe"),
        _c("csi-nfs-node", "node.resources.nfs", "nfs"),
        _c("csi-nfs-node", "node.resources.nodeDriverRegistrar", "node-driver-registrar"),
        _c("csi-nfs-node", "node.resources.livenessProbe", "liveness-probe"),
    ),
    "metrics-server": single(),
    "coredns": single(),
    "snapshot-controller": (
        _c("{fullname}", "controller.resources"),
        _c("{fullname}-webhook", "webhook.resources"),
    ),
    "flux-operator": single(container="manager"),
    "grafana-operator": single(),
    "node-feature-discovery": (
        _c("{fullname}-master", "master.resources", "master"),
        _c("{fullname}-worker", "worker.resources", "worker"),
        _c("{fullname}-gc", "gc.resources", "gc"),
    ),
    "prometheus-adapter": single(),
    "prometheus-blackbox-exporter": single(),
    "blackbox-exporter": single(),
    "prometheus-node-exporter": single(container="node-exporter"),
    "kube-state-metrics": single(),
    "prometheus-snmp-exporter": single(),
    "smartctl-exporter": single(),
    "goldilocks": (
        _c("{fullname}-controller", "controller.resources"),
        _c("{fullname}-dashboard", "dashboard.resources"),
    ),
    "minio": single(),
    "forgejo": single(),
    "open-webui": single(),
    "ollama": single(),
    "oauth2-proxy": single(),
    "authelia": single("pod.resources"),
    "victoria-logs": single(),
    "onepassword-connect": (
        _c("onepassword-connect", "connect.api.resources", "connect-api"),
        _c("onepassword-connect", "connect.sync.resources", "connect-sync"),
        _c("onepassword-connect-operator", "operator.resources"),
    ),
    "multus": single(),
    "volsync": single(container="manager"),
    # the chart renders one Deployment (its name has its own helper); runner and listener pods are the controller's
    "gha-runner-scale-set-controller": (_c("*", "resources", "manager"),),
}

# The same chart under another name (OCI repositories and renamed charts).
ALIASES = {"envoy-gateway": "gateway-helm", "rook-ceph-operator": "rook-ceph"}

# home-operations single-workload charts (one Deployment or DaemonSet, root `resources`).
for _name in ("echo", "kromgo", "konflate", "kopiur", "tuppr", "silence-operator", "chaski", "ocharted",
              "drm-exporter", "gatus-sidecar", "litellm-operator"):
    CHARTS.setdefault(_name, single())


def chart_components(chart: str) -> tuple[Component, ...] | None:
    return CHARTS.get(ALIASES.get(chart, chart))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text.split("-")[0])[:3])


def _applies(c: Component, version: str) -> bool:
    """A ``since`` component applies to that version and newer; an unknown version (a range, OCI tag missing)
    takes the newest layout."""
    if not c.since or not _version(version):
        return True
    return _version(version) >= _version(c.since)


def fullnames(release: str, chart: str, values: Any) -> tuple[str, ...]:
    """What Helm's common `fullname` helper may render the chart's name as."""
    get = values.get if hasattr(values, "get") else (lambda _k: None)
    override = get("fullnameOverride")
    if isinstance(override, str) and override:
        return (override,)
    name = get("nameOverride") if isinstance(get("nameOverride"), str) and get("nameOverride") else chart
    out = [release if name in release else f"{release}-{name}", release, chart]
    return tuple(dict.fromkeys(out))


def component_for(components: Iterable[Component], chart: str, version: str, names: tuple[str, ...], workload: str,
                  container: str, init: bool) -> Component | None:
    for c in components:
        if c.init != init or not _applies(c, version):
            continue
        if not _matches(container, c.container, names, chart) or not _matches(workload, c.workload.replace("{item}", "*"), names, chart):
            continue
        return c
    return None


def _matches(name: str, pattern: str, names: tuple[str, ...], chart: str) -> bool:
    globs = [g.replace("{chart}", chart) for g in pattern.split("|")]
    globs = [g.replace("{fullname}", n) for g in globs for n in (names if "{fullname}" in g else ("",))]
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


def resolve_items(c: Component, names: tuple[str, ...], workload: str, lookup: Callable[[str], Any]) -> str | None:
    """A component whose path goes through a list (`cephFileSystems.[]…`): the index of the item whose
    `name` renders as this workload (`rook-ceph-mds-{item}-*`); None when none does."""
    if "[]" not in c.path:
        return c.path
    head, tail = c.path.split(".[]", 1)
    items = lookup(head)
    for i, item in enumerate(items if isinstance(items, list) else ()):
        name = item.get("name") if hasattr(item, "get") else None
        if not isinstance(name, str):
            continue
        if _matches(workload, c.workload.replace("{item}", name), names, ""):
            return f"{head}.{i}{tail}"
    return None

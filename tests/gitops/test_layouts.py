"""Issue 12: layouts beyond Flux HelmReleases — kustomize `helmCharts` and Argo CD Applications with Helm values.

The corpus holds none of these, so each repository here is written in the shape those tools document
(kustomize's helmCharts builtin: name, releaseName, namespace, valuesInline, valuesFile; Argo CD:
spec.source(s).helm.valuesObject, valueFiles with `$ref/`, releaseName, destination.namespace).
Their workloads carry no Flux labels: the adapter finds the release by namespace and by the name its
chart renders, then patches the values through the same text edit and read-back as everywhere else.
"""

from __future__ import annotations

from pathlib import Path

from bot.gitops import apply, discover, map_changes
from bot.gitops.apply import changed_lines
from bot.gitops.patch import read_spec
from bot.gitops.yamldoc import get_path, parse_documents
from bot.model import ContainerChange, Resources, ResourceSpec

MI = 2**20

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: monitoring
resources:
  - namespace.yaml
helmCharts:
  - name: kube-prometheus-stack
    repo: https://prometheus-community.github.io/helm-charts
    version: 65.1.0
    releaseName: kps
    includeCRDs: true
    valuesInline:
      # scraped every 30s; sized for ~200k series
      prometheus:
        prometheusSpec:
          retention: 7d
          resources:
            requests:
              cpu: 200m
              memory: 1Gi
  - name: grafana
    repo: https://grafana.github.io/helm-charts
    version: 8.5.0
    releaseName: grafana
    valuesFile: grafana-values.yaml
"""
GRAFANA_VALUES = """\
adminUser: admin
persistence:
  enabled: true
resources:
  requests:
    cpu: 100m
    memory: 128Mi
  limits:
    memory: 256Mi
"""
METALLB_APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: metallb
  namespace: argocd
spec:
  project: default
  destination:
    server: https://kubernetes.default.svc
    namespace: metallb-system
  source:
    repoURL: https://metallb.github.io/metallb
    chart: metallb
    targetRevision: 0.14.8
    helm:
      valuesObject:
        controller:
          resources:
            requests: {cpu: 50m, memory: 64Mi}
        speaker:
          tolerations:
            - key: node-role.kubernetes.io/control-plane
              operator: Exists
              effect: NoSchedule
  syncPolicy:
    automated: {prune: true}
"""
CERT_MANAGER_APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: cert-manager
  namespace: argocd
spec:
  project: default
  destination:
    server: https://kubernetes.default.svc
    namespace: cert-manager
  sources:
    - repoURL: https://charts.jetstack.io
      chart: cert-manager
      targetRevision: v1.15.3
      helm:
        releaseName: cert-manager
        valueFiles:
          - $values/apps/cert-manager/values.yaml
    - repoURL: https://github.com/example/homelab.git
      targetRevision: main
      ref: values
"""
CERT_MANAGER_VALUES = """\
crds:
  enabled: true
resources:
  requests:
    cpu: 10m
    memory: 64Mi
webhook:
  resources:
    requests:
      cpu: 10m
      memory: 32Mi
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _repo(tmp_path: Path) -> Path:
    return _write(tmp_path, {
        "apps/monitoring/kustomization.yaml": KUSTOMIZATION,
        "apps/monitoring/grafana-values.yaml": GRAFANA_VALUES,
        "apps/monitoring/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: monitoring\n",
        "argocd/metallb.yaml": METALLB_APP,
        "argocd/cert-manager.yaml": CERT_MANAGER_APP,
        "apps/cert-manager/values.yaml": CERT_MANAGER_VALUES,
    })


def _change(ref: str, kind: str = "Deployment") -> ContainerChange:
    ns, workload, container = ref.split("/")
    # no helm_release: neither kustomize nor Argo CD sets the Flux labels
    return ContainerChange(ns, kind, workload, container, ResourceSpec(), ResourceSpec(Resources(321, 123 * MI)))


WHERE = {
    # the Prometheus the operator renders for release kps (prometheus-<fullname>-prometheus)
    "monitoring/prometheus-kps-kube-prometheus-stack-prometheus/prometheus":
        ("apps/monitoring/kustomization.yaml", ("helmCharts", 0, "valuesInline", "prometheus", "prometheusSpec", "resources")),
    "monitoring/grafana/grafana": ("apps/monitoring/grafana-values.yaml", ("resources",)),
    "metallb-system/metallb-controller/controller":
        ("argocd/metallb.yaml", ("spec", "source", "helm", "valuesObject", "controller", "resources")),
    "cert-manager/cert-manager/cert-manager-controller": ("apps/cert-manager/values.yaml", ("resources",)),
    "cert-manager/cert-manager-webhook/cert-manager-webhook": ("apps/cert-manager/values.yaml", ("webhook", "resources")),
}


def test_kustomize_helm_charts_and_argo_applications_are_found_and_patched(tmp_path):
    repo = _repo(tmp_path)
    changes = [_change(ref) for ref in WHERE]
    mapping = map_changes(discover(repo, lazy=True), changes)
    assert not mapping.unmapped, mapping.unmapped
    assert {c.ref: (t.file, t.block) for c, t in mapping.mapped} == WHERE
    result = apply(repo, mapping, write=False)
    assert not result.refused
    for edit in result.edits:
        before, after = edit.before.decode(), edit.after.decode()
        for c, t in mapping.mapped:
            if t.file != edit.path:
                continue
            doc = parse_documents(after)[t.doc]
            assert read_spec(doc, t.block)[("requests", "cpu")] == 321 and read_spec(doc, t.block)[("requests", "memory")] == 123 * MI
        # only resources lines changed: every changed line holds cpu or memory (the flow map keeps its one line)
        lines = after.splitlines()
        assert all(any(k in lines[n - 1] for k in ("cpu:", "memory:")) for n in changed_lines(before, after)), edit.path
        assert len(lines) == len(before.splitlines())


def test_what_no_release_renders_is_not_guessed(tmp_path):
    repo = _repo(tmp_path)
    inv = discover(repo, lazy=True)
    # the speaker has no block in Git and its parent `speaker` mapping exists: it gets its own new block
    [(_, t)] = map_changes(inv, [_change("metallb-system/metallb-speaker/speaker", "DaemonSet")]).mapped
    assert t.block == ("spec", "source", "helm", "valuesObject", "speaker", "resources")
    assert get_path(inv.doc(t.file, t.doc), t.block) is None
    # a sidecar beside grafana, a workload in a namespace no release deploys to, and the kps operator
    # (its prometheusOperator mapping is not in the values) map nothing
    for ref in ("monitoring/grafana/oauth-proxy", "default/grafana/grafana", "monitoring/kps-kube-prometheus-stack-operator/kube-prometheus-stack"):
        result = map_changes(inv, [_change(ref)])
        assert not result.mapped, (ref, result.mapped)


EXTERNAL_DNS_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: external-dns
resources:
  - https://github.com/kubernetes-sigs/external-dns//kustomize?ref=v0.14.2
patches:
  - path: deployment-patch.yaml
  - target:
      kind: Deployment
      name: external-dns-internal
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: external-dns-internal
      spec:
        template:
          spec:
            containers:
              - name: external-dns
                args: ["--source=service", "--provider=pihole"]
                resources:
                  requests:
                    cpu: 10m   # idle most of the day
                    memory: 32Mi
"""
EXTERNAL_DNS_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: external-dns
spec:
  template:
    spec:
      containers:
        - name: external-dns
          args:
            - --source=service
            - --provider=cloudflare
"""
LOKI_APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: loki
  namespace: argocd
spec:
  destination:
    namespace: logging
    server: https://kubernetes.default.svc
  source:
    repoURL: https://grafana.github.io/helm-charts
    chart: loki
    targetRevision: 6.16.0
    helm:
      values: |
        deploymentMode: SingleBinary
        loki:
          auth_enabled: false
        singleBinary:
          replicas: 1
          resources:
            requests:
              cpu: 100m
              memory: 256Mi

        gateway:
          enabled: false
  syncPolicy:
    automated: {}
"""


def _more(tmp_path: Path) -> Path:
    return _write(tmp_path, {
        "apps/external-dns/kustomization.yaml": EXTERNAL_DNS_KUSTOMIZATION,
        "apps/external-dns/deployment-patch.yaml": EXTERNAL_DNS_PATCH,
        "argocd/loki.yaml": LOKI_APP,
    })


def test_patches_over_a_remote_base_and_values_kept_as_a_string(tmp_path):
    """The base is a URL (not in Git): a strategic-merge patch file and an inline `patch: |-` are where the
    containers are sized; Argo CD's `helm.values: |` is YAML inside a string. Each edit changes only the
    lines it means to, in the string's own indentation, and the string reads back as the edited YAML."""
    repo = _more(tmp_path)
    changes = [_change("external-dns/external-dns/external-dns"), _change("external-dns/external-dns-internal/external-dns"),
               _change("logging/loki/loki", "StatefulSet")]
    mapping = map_changes(discover(repo, lazy=True), changes)
    assert not mapping.unmapped, mapping.unmapped
    where = {c.ref: (t.file, t.block) for c, t in mapping.mapped}
    assert where["external-dns/external-dns/external-dns"] == (
        "apps/external-dns/deployment-patch.yaml", ("spec", "template", "spec", "containers", 0, "resources"))
    assert where["external-dns/external-dns-internal/external-dns"] == (
        "apps/external-dns/kustomization.yaml#0:patches.1.patch", ("spec", "template", "spec", "containers", 0, "resources"))
    assert where["logging/loki/loki"] == ("argocd/loki.yaml#0:spec.source.helm.values", ("singleBinary", "resources"))
    result = apply(repo, mapping, write=True)
    assert not result.refused, result.refused
    kust = (repo / "apps/external-dns/kustomization.yaml").read_text()
    # two values changed in place, the aligned comment kept its column (10m → 321m is one character longer)
    assert kust == EXTERNAL_DNS_KUSTOMIZATION.replace("cpu: 10m   # idle", "cpu: 321m  # idle").replace("memory: 32Mi", "memory: 123Mi")
    loki = (repo / "argocd/loki.yaml").read_text()
    assert loki == LOKI_APP.replace("cpu: 100m", "cpu: 321m").replace("memory: 256Mi", "memory: 123Mi")
    values = parse_documents(get_path(parse_documents(loki)[0], ("spec", "source", "helm", "values")))[0]
    assert read_spec(values, ("singleBinary", "resources"))[("requests", "memory")] == 123 * MI
    patch_file = (repo / "apps/external-dns/deployment-patch.yaml").read_text()
    assert patch_file == EXTERNAL_DNS_PATCH + "          resources:\n            requests:\n              cpu: 321m\n              memory: 123Mi\n"


def test_a_new_block_inside_a_string_is_indented_like_the_string(tmp_path):
    repo = _more(tmp_path)
    (repo / "argocd/loki.yaml").write_text(LOKI_APP.replace(
        "          resources:\n            requests:\n              cpu: 100m\n              memory: 256Mi\n", ""))
    mapping = map_changes(discover(repo, lazy=True), [_change("logging/loki/loki", "StatefulSet")])
    result = apply(repo, mapping, write=True)
    assert not result.refused, result.refused
    after = (repo / "argocd/loki.yaml").read_text()
    assert after == LOKI_APP.replace("cpu: 100m", "cpu: 321m").replace("memory: 256Mi", "memory: 123Mi")

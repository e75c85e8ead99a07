"""Rightsizer: right-size Kubernetes workloads from measured usage, through reviewed GitOps PRs."""

__version__ = "0.1.0"

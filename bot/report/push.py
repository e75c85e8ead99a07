"""Pushing the run's metrics to a Prometheus Pushgateway.

One group per cluster and repository, under a fixed job name, so every run replaces the
previous run's series instead of adding new ones:

    PUT /metrics/job/rightsizer/cluster/<cluster>/repository@base64/<owner/name, base64url>

A successful run PUTs the whole group (stale series, e.g. a node that left, disappear); a
failed run POSTs only ``rightsizer_last_run_timestamp_seconds`` and ``rightsizer_run_success``,
which keeps the last success and the last good numbers in place. Authentication is the
Prometheus source's: a bearer token, or basic auth, plus extra headers, a CA bundle or
(for labs) no TLS verification. Credentials come from the environment, never argv.
"""

from __future__ import annotations

import base64
import time
from typing import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from bot.sources.prometheus import PrometheusClient
from bot.sources.prometheus import PrometheusConfig as PushConfig  # "auth like Prometheus'": the same settings

__all__ = ["JOB", "PushConfig", "PushError", "config_from_env", "group_path", "push"]

JOB = "rightsizer"


class PushError(RuntimeError):
    """The Pushgateway did not take the metrics (the run itself still counts)."""


def _segment(name: str, value: str) -> str:
    """A grouping-key path segment; values that are empty or hold '/' go base64url-encoded,
    as the Pushgateway's API asks."""
    if value and "/" not in value:
        return f"{name}/{quote(value, safe='')}"
    encoded = base64.urlsafe_b64encode(value.encode()).decode() or "="
    return f"{name}@base64/{encoded}"


def group_path(grouping: Mapping[str, str]) -> str:
    return f"/metrics/job/{JOB}" + "".join("/" + _segment(k, v) for k, v in grouping.items())


def push(cfg: PushConfig, grouping: Mapping[str, str], text: str, *, replace: bool = True) -> None:
    """PUT (replace the group) or POST (replace only these metric names); retries 5xx and
    connection errors. Raises PushError with a message free of credentials."""
    url = cfg.url.rstrip("/") + group_path(grouping)
    method = "PUT" if replace else "POST"
    session = PrometheusClient(cfg).session  # the same auth, headers and TLS handling as the source
    last = ""
    for attempt in range(cfg.retries + 1):
        if attempt:
            time.sleep(cfg.backoff * 2 ** (attempt - 1))
        try:
            resp = session.request(method, url, data=text.encode("utf-8"), timeout=cfg.timeout,
                                   headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
        except requests.RequestException as exc:
            last = type(exc).__name__
            continue
        if resp.status_code < 300:
            return
        last = f"HTTP {resp.status_code}: {resp.text.strip()[:200]}"
        if resp.status_code < 500:
            break
    raise PushError(f"Pushgateway {_safe_url(cfg.url)} did not take the metrics ({last})")


def _safe_url(url: str) -> str:
    """The URL for messages: without user:password@ (a URL may carry credentials)."""
    parts = urlsplit(url.rstrip("/"))
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def config_from_env(url: str | None, env: Mapping[str, str], ca_file: str | None = None,
                    insecure: bool = False) -> PushConfig | None:
    """RIGHTSIZER_PUSHGATEWAY_TOKEN / _USERNAME / _PASSWORD / _HEADERS, like the Prometheus ones."""
    if not url:
        return None
    from bot.errors import InputError

    headers = {}
    for line in (env.get("RIGHTSIZER_PUSHGATEWAY_HEADERS") or "").splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise InputError("<environment>", "a Pushgateway header must look like `Name: value`",
                             field="RIGHTSIZER_PUSHGATEWAY_HEADERS")
        headers[name.strip()] = value.strip()
    return PushConfig(url=url, token=env.get("RIGHTSIZER_PUSHGATEWAY_TOKEN") or None,
                      username=env.get("RIGHTSIZER_PUSHGATEWAY_USERNAME") or None,
                      password=env.get("RIGHTSIZER_PUSHGATEWAY_PASSWORD") or None,
                      headers=headers, ca_file=ca_file, insecure=insecure, timeout=15.0, retries=2, backoff=1.0)

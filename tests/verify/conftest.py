"""A real Prometheus (Debian's package) holding the metrics around one rollout (rollout_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.prometheus.server import build_tsdb, require_prometheus, running_prometheus
from tests.verify import rollout_data

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "prometheus"


@pytest.fixture(scope="session")
def prom_url():
    require_prometheus()
    tsdb = build_tsdb(rollout_data.openmetrics(), CACHE)
    with running_prometheus(tsdb) as url:
        yield url

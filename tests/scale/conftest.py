"""One real primary + streaming replica pair for the scale tests (module-scoped users reset what they change)."""
from __future__ import annotations

import pytest

from tests.stores.pgcluster import ClusterError

from .pgpair import start_primary, start_replica


@pytest.fixture(scope="session")
def pg_pair():
    try:
        primary = start_primary()
    except ClusterError as exc:
        pytest.fail(f"could not start a PostgreSQL + PostGIS primary: {exc}", pytrace=False)
    try:
        replica = start_replica(primary)
    except ClusterError as exc:
        primary.stop()
        pytest.fail(f"could not start a streaming replica (pg_basebackup -R): {exc}", pytrace=False)
    yield primary, replica
    replica.stop()
    primary.stop()

"""KFQMap through Debian's pgbouncer (1.18) in transaction pooling: versions, pushdown reads and writes keep
working once prepared statements are off (``KFQMAP_PG_PREPARED_STATEMENTS=false``, docs/deploy.md)."""
from __future__ import annotations

import time

import pytest

from kfqmap.errors import DataSourceError
from kfqmap.providers.base import WriteOp
from kfqmap.providers.postgis import PostGISProvider

from .pgpair import Bouncer


@pytest.fixture(scope="module")
def bouncer(pg_pair):
    b = Bouncer(pg_pair[0], mode="transaction")
    yield b
    b.stop()


def _exercise(provider: PostGISProvider, n: int) -> None:
    """Runs the same statements many times over (psycopg prepares them after 5), on several pooled connections
    that pgbouncer hands out server connections for, transaction by transaction."""
    for i in range(n):
        provider.read(lambda c: c.execute("SELECT count(*) FROM parcels WHERE year = %s", (2020 + i % 5,)).fetchone())
        provider.apply([WriteOp("update", feature_id=f"P{100 + i % 3}", feature={"properties": {"year": 2021}})])
        provider._read_version()


def test_transaction_pooling_works_without_prepared_statements(bouncer, monkeypatch):
    monkeypatch.setenv("KFQMAP_PG_PREPARED_STATEMENTS", "false")
    provider = PostGISProvider("parcels", f"{bouncer.dsn}#public.parcels")
    try:
        assert provider.pushdown
        provider.version()
        _exercise(provider, 30)
        time.sleep(0.5)      # the background poller ran its statement a few more times meanwhile
        before = provider.version()
        provider.apply([WriteOp("update", feature_id="P9", feature={"properties": {"name": "经连接池写入"}})])
        assert provider.version() != before
        assert provider.read(lambda c: c.execute("SELECT name FROM parcels WHERE id = 'P9'").fetchone()[0]) == \
            "经连接池写入"
    finally:
        provider.close()


def test_prepared_statements_break_transaction_pooling_hence_the_setting(bouncer, monkeypatch):
    """Why the setting exists: with psycopg's default, pgbouncer 1.18 in transaction mode loses the prepared
    statements (an error reaches KFQMap). If this ever passes, pgbouncer learnt them (≥ 1.21) and the setting
    can go."""
    monkeypatch.setenv("KFQMAP_PG_PREPARED_STATEMENTS", "true")
    provider = PostGISProvider("parcels", f"{bouncer.dsn}#public.parcels")
    try:
        with pytest.raises(DataSourceError):
            _exercise(provider, 30)
    finally:
        provider.close()

"""Reads on streaming replicas, writes and versions on the primary, read-your-writes, lag and a replica going away
— against a real primary and a real hot standby (``pg_pair``). Which server answered is asked of the server itself
(``pg_is_in_recovery()`` runs inside the read)."""
from __future__ import annotations

import pytest

from kfqmap.providers.base import WriteOp
from kfqmap.providers.postgis import PostGISProvider
from kfqmap.providers.replicas import lsn_int, parse_replicas, replica_dsn

from .pgpair import replica_entry, replica_sql, start_server, stop_server, wait_for


def on_standby(conn) -> bool:
    return conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


@pytest.fixture()
def provider(pg_pair, monkeypatch):
    primary, replica = pg_pair
    monkeypatch.setenv("KFQMAP_PG_REPLICAS", replica_entry(replica))
    monkeypatch.setenv("KFQMAP_PG_REPLICA_MAX_LAG_S", "1")
    made = []

    def make(table="parcels"):
        p = PostGISProvider(table, f"{primary.dsn}#public.{table}")
        made.append(p)
        p.version()
        return p

    yield make
    for p in made:
        p.close()
    if replica_sql(replica, "SELECT 1") is None:
        start_server(replica)
    replica_sql(replica, "SELECT pg_wal_replay_resume()")


def test_replica_list_and_dsn_parsing():
    assert parse_replicas("postgresql://r1:5432, host=/run/r2 port=5433") == [
        "postgresql://r1:5432", "host=/run/r2 port=5433"]
    assert parse_replicas("postgresql://a,b:5433/db") == ["postgresql://a,b:5433/db"]   # one multi-host URI
    assert parse_replicas("  ") == []
    dsn = replica_dsn("postgresql://gis@primary:5432/kfq?sslmode=require", "postgresql://replica1:6432")
    assert "host=replica1" in dsn and "port=6432" in dsn and "dbname=kfq" in dsn and "user=gis" in dsn
    assert "sslmode=require" in dsn
    assert lsn_int("1/0") > lsn_int("0/FFFFFFFF") > lsn_int("0/A") > lsn_int(None) == 0


def test_reads_go_to_the_replica_writes_and_versions_to_the_primary(provider, pg_pair):
    primary, replica = pg_pair
    parcels = provider("parcels")
    assert parcels.pushdown
    wait_for(lambda: parcels.read(on_standby), what="reads on the caught-up replica")
    assert all(parcels.read(on_standby) for _ in range(10))
    before = parcels.version()
    parcels.apply([WriteOp("update", feature_id="P7", feature={"properties": {"name": "主库写入"}})])
    assert parcels.version() != before
    # the write went to the primary (a standby refuses writes), and every read afterwards sees it
    assert replica_sql(primary, "SELECT name FROM parcels WHERE id = 'P7'") == "主库写入"
    assert parcels.read(lambda c: c.execute("SELECT name FROM parcels WHERE id = 'P7'").fetchone()[0]) == "主库写入"


def test_read_your_writes_while_the_replica_has_not_replayed(provider, pg_pair):
    primary, replica = pg_pair
    parcels = provider("parcels")
    wait_for(lambda: parcels.read(on_standby), what="reads on the caught-up replica")
    replica_sql(replica, "SELECT pg_wal_replay_pause()")
    wait_for(lambda: replica_sql(replica, "SELECT pg_get_wal_replay_pause_state()") == "paused", what="pause")
    parcels.apply([WriteOp("update", feature_id="P8", feature={"properties": {"name": "刚保存"}})])
    name = "SELECT name FROM parcels WHERE id = 'P8'"
    assert replica_sql(replica, name) == "地块8"          # the replica really lacks the write …
    for _ in range(5):                                     # … so the reads go to the primary and see it
        assert parcels.read(lambda c: (on_standby(c), c.execute(name).fetchone()[0])) == (False, "刚保存")
    replica_sql(replica, "SELECT pg_wal_replay_resume()")
    wait_for(lambda: parcels.read(on_standby), what="the replica back in rotation after replaying the write")
    assert parcels.read(lambda c: c.execute(name).fetchone()[0]) == "刚保存"


def test_small_table_snapshot_comes_from_the_replica_with_its_version(provider, pg_pair):
    primary, replica = pg_pair
    sites = provider("sites")
    assert not sites.pushdown
    wait_for(lambda: sites.read(on_standby), what="reads on the caught-up replica")
    snap = sites.snapshot()
    assert snap.version == sites.version() and len(snap.frame) == 100
    replica_sql(replica, "SELECT pg_wal_replay_pause()")
    sites.apply([WriteOp("update", feature_id="S3", feature={"properties": {"name": "改名"}})])
    snap = sites.snapshot()                  # the replica lacks the write: the snapshot is the primary's
    assert snap.version == sites.version()
    assert snap.frame.set_index("id").loc["S3", "name"] == "改名"


def test_a_lagging_replica_leaves_the_rotation_and_returns(provider, pg_pair):
    primary, replica = pg_pair
    sites = provider("sites")              # this layer is not written: its own reads need no new WAL
    wait_for(lambda: sites.read(on_standby), what="reads on the caught-up replica")
    replica_sql(replica, "SELECT pg_wal_replay_pause()")
    primary.psql("UPDATE parcels SET year = year WHERE id = 'P1'")      # the primary moves on; the replica not
    # KFQMAP_PG_REPLICA_MAX_LAG_S=1: within a few checks the replica is out, reads answered by the primary
    wait_for(lambda: not sites.read(on_standby), timeout=10, what="the lagging replica to leave the rotation")
    replica_sql(replica, "SELECT pg_wal_replay_resume()")
    wait_for(lambda: sites.read(on_standby), timeout=10, what="the replica to return once caught up")


def test_a_replica_that_goes_down_is_skipped_without_an_error(provider, pg_pair):
    primary, replica = pg_pair
    parcels = provider("parcels")
    wait_for(lambda: parcels.read(on_standby), what="reads on the caught-up replica")
    for _ in range(4):          # several pooled connections to the replica, all cut by the stop
        parcels.read(lambda c: c.execute("SELECT count(*) FROM parcels WHERE year = 2021").fetchone())
    stop_server(replica)
    results = [parcels.read(lambda c: (on_standby(c), c.execute("SELECT count(*) FROM parcels").fetchone()[0]))
               for _ in range(20)]
    assert results == [(False, 60000)] * 20
    start_server(replica)
    wait_for(lambda: parcels.read(on_standby), timeout=15, what="the restarted replica to return")


def test_a_malformed_replica_entry_stops_the_start_with_one_line(pg_pair, tmp_path):
    import os
    import subprocess
    import sys

    primary, _ = pg_pair
    env = {**os.environ, "KFQMAP_STORE": "files", "KFQMAP_DATA_DIR": str(tmp_path),
           "KFQMAP_EXTRA_LAYERS": f"sites={primary.dsn}#public.sites",
           "KFQMAP_PG_REPLICAS": "host=/tmp/x port=5433 password=secret"}
    proc = subprocess.run([sys.executable, "-m", "kfqmap.cli.main", "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "KFQMAP_PG_REPLICAS" in proc.stderr and "secret" not in proc.stderr
    env["KFQMAP_PG_REPLICAS"] = "host='unterminated"
    proc = subprocess.run([sys.executable, "-m", "kfqmap.cli.main", "serve", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "KFQMAP_PG_REPLICAS" in proc.stderr and "Traceback" not in proc.stderr


def test_reads_go_on_from_the_replica_while_the_primary_is_down(provider, pg_pair):
    from kfqmap.errors import StoreUnavailable

    primary, replica = pg_pair
    parcels = provider("parcels")
    parcels.apply([WriteOp("update", feature_id="P11", feature={"properties": {"name": "停机前写入"}})])
    wait_for(lambda: parcels.read(on_standby), what="the replica to replay the write")
    name = "SELECT name FROM parcels WHERE id = 'P11'"
    stop_server(primary)
    try:
        import time

        for _ in range(20):        # 2 s of polls against a primary that is gone: the version still answers
            assert parcels.version()
            assert parcels.read(lambda c: (on_standby(c), c.execute(name).fetchone()[0])) == (True, "停机前写入")
            time.sleep(0.1)
        with pytest.raises(StoreUnavailable):     # writes wait for the primary: a clean 503, nothing half-done
            parcels.apply([WriteOp("update", feature_id="P11", feature={"properties": {"name": "写不进"}})])
    finally:
        start_server(primary)
    wait_for(lambda: replica_sql(replica, "SELECT status FROM pg_stat_wal_receiver") == "streaming", timeout=30,
             what="the replica to stream from the restarted primary")
    parcels.apply([WriteOp("update", feature_id="P11", feature={"properties": {"name": "恢复后写入"}})])
    assert parcels.read(lambda c: c.execute(name).fetchone()[0]) == "恢复后写入"

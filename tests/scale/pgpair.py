"""A real PostgreSQL primary with a streaming read replica (initdb + ``pg_basebackup -R``), for the scale tests.

Built on ``tests/stores/pgcluster.py`` (unix sockets only, each cluster in its own temp dir, run as the
``postgres`` OS user when the tests run as root). The replica can be stopped and started again mid-test, and its
WAL replay paused (``pg_wal_replay_pause()``) to make it lag for real.
"""
from __future__ import annotations

import atexit
import os
import pwd
import tempfile
import time
from pathlib import Path

from tests.stores.pgcluster import PG_BIN, Cluster, ClusterError, start_cluster

#: 60,000 parcels: above MEMORY_ROWS (50,000), so the table is served by pushdown
PARCELS_SQL = """
CREATE TABLE public.parcels (fid serial PRIMARY KEY, id text UNIQUE NOT NULL, name text, status text, year int,
                             geom geometry(Polygon, 4326));
INSERT INTO public.parcels (id, name, status, year, geom)
SELECT 'P' || i, '地块' || i, CASE WHEN i % 3 = 0 THEN '已完成' ELSE '未启动' END, 2020 + i % 5,
       ST_MakeEnvelope(120.9 + (i % 300) * 0.0005, 31.3 + (i / 300) * 0.0005,
                       120.9 + (i % 300) * 0.0005 + 0.0004, 31.3 + (i / 300) * 0.0005 + 0.0004, 4326)
FROM generate_series(0, 59999) AS i;
CREATE INDEX parcels_geom ON public.parcels USING gist (geom);
CREATE TABLE public.sites (fid serial PRIMARY KEY, id text UNIQUE NOT NULL, name text, geom geometry(Polygon, 4326));
INSERT INTO public.sites (id, name, geom)
SELECT 'S' || i, '更新地块' || i, ST_MakeEnvelope(120.95 + i * 0.002, 31.35, 120.95 + i * 0.002 + 0.0015, 31.3515, 4326)
FROM generate_series(0, 99) AS i;
ANALYZE public.parcels; ANALYZE public.sites;
"""


def _server_opts(cluster: Cluster) -> str:
    return (f"-c listen_addresses='' -k {cluster.socket_dir} -p {cluster.port} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")


def start_server(cluster: Cluster) -> None:
    """(Re)start an existing data directory (the replica after ``stop_server``)."""
    data = cluster.root / "data"
    cluster._run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", _server_opts(cluster), "-l",
                 str(cluster.root / "server.log"), "-w", "-t", "60", "start")


def stop_server(cluster: Cluster, mode: str = "fast") -> None:
    """Stop the server but keep its files (``fast``: sessions are cut, as when a machine goes away)."""
    cluster._run(str(PG_BIN / "pg_ctl"), "-D", str(cluster.root / "data"), "-m", mode, "-w", "-t", "60", "stop")


def start_primary_empty() -> Cluster:
    """A cluster with PostGIS and room for more connections than the store tests (servers × pools, walsenders)."""
    primary = start_cluster()
    try:
        stop_server(primary)
        start_server(primary)
    except BaseException:
        primary.stop()
        raise
    return primary


def start_primary() -> Cluster:
    primary = start_primary_empty()
    try:
        primary.psql(PARCELS_SQL)
    except BaseException:
        primary.stop()
        raise
    return primary


def start_replica(primary: Cluster) -> Cluster:
    """A hot standby of ``primary``: ``pg_basebackup -R -X stream`` into a new temp dir, then started."""
    root = Path(tempfile.mkdtemp(prefix="kfqmap-pgr-"))
    replica = Cluster(root, user=primary.user, dbname=primary.dbname, port=primary.port + 1)
    atexit.register(replica.stop)
    try:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
        root.chmod(0o700)
        replica._run(str(PG_BIN / "pg_basebackup"), "-h", primary.socket_dir, "-p", str(primary.port),
                     "-U", primary.user, "-D", str(root / "data"), "-R", "-X", "stream", "-c", "fast", "--no-sync")
        start_server(replica)
        wait_for(lambda: replica_sql(replica, "SELECT pg_is_in_recovery()") is True, what="the replica to start")
    except BaseException:
        replica.stop()
        raise
    return replica


def replica_sql(cluster: Cluster, sql: str, *params):
    """One value from ``cluster`` (None when the server does not answer)."""
    import psycopg

    try:
        with psycopg.connect(cluster.dsn, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(sql, params or None).fetchone()
            return row[0] if row else None
    except psycopg.OperationalError:
        return None


def wait_for(predicate, *, timeout: float = 20.0, what: str = "a condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise ClusterError(f"timed out after {timeout:g} s waiting for {what}")


def replica_entry(replica: Cluster) -> str:
    """How a deployment names the replica in KFQMAP_PG_REPLICAS (the server only; database and user come from
    each layer's location)."""
    return f"host={replica.socket_dir} port={replica.port}"


class Bouncer:
    """Debian's pgbouncer in front of ``cluster`` on a unix socket in its own temp dir (as ``postgres`` under
    root: pgbouncer refuses to run as root), in ``mode`` pooling."""

    def __init__(self, cluster: Cluster, mode: str = "transaction", port: int = 6432):
        import shutil
        import subprocess

        exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(exe).exists():
            raise ClusterError("pgbouncer not found: run `bash scripts/install-system.sh` (Debian package pgbouncer)")
        self.root = Path(tempfile.mkdtemp(prefix="kfqmap-bouncer-"))
        self.port, self.cluster = port, cluster
        (self.root / "users.txt").write_text(f'"{cluster.user}" ""\n')
        (self.root / "pgbouncer.ini").write_text(f"""[databases]
{cluster.dbname} = host={cluster.socket_dir} port={cluster.port} dbname={cluster.dbname}

[pgbouncer]
listen_addr =
unix_socket_dir = {self.root}
listen_port = {port}
auth_type = trust
auth_file = {self.root}/users.txt
pool_mode = {mode}
default_pool_size = 4
max_client_conn = 300
logfile = {self.root}/pgbouncer.log
pidfile = {self.root}/pgbouncer.pid
""")
        cmd = [exe, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.root, *self.root.iterdir()):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: self.proc.poll() is not None or (self.root / f".s.PGSQL.{port}").exists(),
                 what="pgbouncer to listen")
        if self.proc.poll() is not None:
            raise ClusterError(f"pgbouncer exited: {(self.root / 'pgbouncer.log').read_text(errors='replace')}")

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.cluster.user}@/{self.cluster.dbname}?host={self.root}&port={self.port}"

    def stop(self) -> None:
        import shutil
        import signal
        import subprocess

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)     # its own session: runuser and pgbouncer, nothing else
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)

"""A throwaway PostgreSQL + PostGIS cluster for the store tests: initdb + pg_ctl in a temp dir.

The cluster listens only on a unix socket inside its own directory (no TCP port, so parallel pytest
workers never collide), trusts local connections, and is removed when stopped. As root (CI), the server
runs as the ``postgres`` OS user (initdb refuses root) and the directory is handed to that user.
"""
from __future__ import annotations

import atexit
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path(os.environ.get("KFQMAP_PG_BIN", "/usr/lib/postgresql/15/bin"))
INSTALL_HINT = ("PostgreSQL 15 + PostGIS 3 are needed for the PostGIS store tests: run "
                "`bash scripts/install-system.sh` (Debian packages postgresql-15 postgresql-15-postgis-3)")


class ClusterError(RuntimeError):
    pass


@dataclass
class Cluster:
    root: Path
    user: str = "kfq"
    dbname: str = "kfqmap"
    port: int = 5432

    @property
    def socket_dir(self) -> str:
        return str(self.root)

    @property
    def dsn(self) -> str:
        """A libpq URI, the form a deployment writes in KFQMAP_EXTRA_LAYERS."""
        return f"postgresql://{self.user}@/{self.dbname}?host={self.socket_dir}&port={self.port}"

    @property
    def ogr_dsn(self) -> str:
        return f"PG:host={self.socket_dir} port={self.port} dbname={self.dbname} user={self.user}"

    # ------------------------------------------------------------------ lifecycle
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
                               f"{self._log_tail()}")
        return proc

    def _log_tail(self) -> str:
        log = self.root / "server.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def start(self) -> "Cluster":
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                raise ClusterError(f"{PG_BIN / tool} not found. {INSTALL_HINT}")
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise ClusterError(f"no 'postgres' user to run PostgreSQL as (initdb refuses root). {INSTALL_HINT}") \
                    from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.root.chmod(0o700)
        data = self.root / "data"
        self._run(str(PG_BIN / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        opts = (f"-c listen_addresses='' -k {self.socket_dir} -p {self.port} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop", check=False)
            if (data / "postmaster.pid").exists():   # still running: immediate stop before its files are removed
                self._run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop",
                          check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ data
    def psql(self, sql: str, dbname: str | None = None) -> None:
        import psycopg

        with psycopg.connect(self.dsn if dbname is None else self.dsn.replace(f"/{self.dbname}?", f"/{dbname}?"),
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> None:
        self.psql(f"CREATE DATABASE {self.dbname}", dbname="postgres")
        self.psql("CREATE EXTENSION postgis")

    def load_ogr(self, path: Path, table: str, *extra: str) -> None:
        """Load a GDAL-readable file into ``table`` (``schema.table``) with Debian's ogr2ogr."""
        cmd = ["ogr2ogr", "-f", "PostgreSQL", self.ogr_dsn, str(path), "-nln", table,
               "-lco", "GEOMETRY_NAME=geom", "-lco", "SPATIAL_INDEX=GIST", *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise ClusterError(f"ogr2ogr failed: {proc.stderr}")


def start_cluster() -> Cluster:
    root = Path(tempfile.mkdtemp(prefix="kfqmap-pg-"))
    cluster = Cluster(root)
    atexit.register(cluster.stop)      # also when a worker ends without the fixture's teardown
    try:
        cluster.start()
        cluster.create_database()
    except BaseException:
        cluster.stop()
        raise
    return cluster

"""Faults: a server killed with ``kill -9`` while it streams an export, a ``kfqmap tiles seed`` killed mid-way,
and what the next start cleans up. Real processes, real signals; bounded waits, no timing assertions."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely

from .proc_server import REPO, server_env, start

#: a layer big enough (GeoJSON ~10 MB) that its export is still streaming while the client reads slowly
BIG_FEATURES = 8_000
WAIT_S = 120


@pytest.fixture(scope="module")
def big_layer(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults-data") / "big.gpkg"
    rng = np.random.default_rng(11)
    lon = 120.95 + rng.random(BIG_FEATURES) * 0.15
    lat = 31.30 + rng.random(BIG_FEATURES) * 0.10
    geoms = shapely.buffer(shapely.points(lon, lat), 0.0008, quad_segs=6)
    frame = gpd.GeoDataFrame({"name": [f"地块{i}" for i in range(BIG_FEATURES)],
                              "note": ["填充文字" * 8] * BIG_FEATURES}, geometry=geoms, crs=4326)
    frame.to_file(path, driver="GPKG")
    return path


def _wait_for(predicate, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_killed_export_leaves_a_folder_that_the_next_start_removes(tmp_path, big_layer):
    scratch = tmp_path / "scratch"
    env = server_env(scratch, KFQMAP_EXTRA_LAYERS=f"big={big_layer}")
    server = start(env, tmp_path / "server.log")
    try:
        # a raw socket with a small receive buffer (no autotuning): the server cannot push the whole file into
        # the kernel, so it is still streaming — its temporary folder still there — when it is killed
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            sock.settimeout(WAIT_S)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(b"GET /export?layers=big&format=geojson HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            assert head.startswith(b"HTTP/1.1 200")
            leftovers = [p for p in scratch.iterdir() if p.name.startswith(f"export-{server.proc.pid}-")]
            assert leftovers and any(leftovers[0].iterdir())      # the export file, mid-stream
            server.kill9()
    finally:
        server.stop()
    assert [p for p in scratch.iterdir() if p.name.startswith("export-")], "kill -9 cannot clean up itself"
    # a foreign file and a folder of a live process are left alone
    (scratch / "notes.txt").write_text("not ours")
    live = scratch / f"export-{os.getpid()}-live"
    live.mkdir()

    restarted = start(env, tmp_path / "server2.log")
    try:
        _wait_for(lambda: not [p for p in scratch.iterdir() if p.name.startswith("export-")
                               and p != live], "the stale export folder to go")
        r = httpx.get(restarted.url + "/export?layers=cores&format=gpkg", timeout=WAIT_S)
        assert r.status_code == 200 and r.content[:15] == b"SQLite format 3"
    finally:
        restarted.stop()
    assert (scratch / "notes.txt").exists() and live.exists()
    assert not [p for p in scratch.iterdir() if p.name.startswith("export-") and p != live]


def _seed(env, out, *args) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "from kfqmap.cli.main import cli; cli()", "tiles", "seed", "--out", str(out),
           "--quiet", *args]
    return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def test_killed_seed_leaves_no_part_after_the_next_run(tmp_path, big_layer):
    out_dir = tmp_path / "tiles"
    out_dir.mkdir()
    env = server_env(tmp_path / "scratch", KFQMAP_EXTRA_LAYERS=f"big={big_layer}")
    proc = _seed(env, out_dir / "big.mbtiles", "--tileset", "big", "--zooms", "10-17", "--processes", "1")
    try:
        _wait_for(lambda: any(".part" in p.name for p in out_dir.iterdir()) or proc.poll() is not None,
                  "the seed's temporary file")
        assert proc.poll() is None, "the seed finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    parts = [p.name for p in out_dir.iterdir() if ".part" in p.name]
    assert parts and all(f".{proc.pid}-" in name for name in parts)   # the name says whose it was
    assert not (out_dir / "big.mbtiles").exists()                     # never a half-written target

    again = _seed(env, out_dir / "small.mbtiles", "--tileset", "cores", "--zooms", "10", "--processes", "1")
    _, err = again.communicate(timeout=WAIT_S)
    assert again.returncode == 0, err.decode(errors="replace")
    assert sorted(p.name for p in out_dir.iterdir()) == ["small.mbtiles"]


def test_start_up_errors_are_one_line_and_exit_2(tmp_path):
    bad_catalog = tmp_path / "geodata"
    bad_catalog.mkdir()
    (bad_catalog / "catalog.json").write_text("{broken", encoding="utf-8")
    not_vector = tmp_path / "notes.gpkg"
    not_vector.write_bytes(os.urandom(4096))
    cases = [{"KFQMAP_GEODATA_DIR": str(bad_catalog)}, {"KFQMAP_EXTRA_LAYERS": "noequals"},
             {"KFQMAP_EXTRA_LAYERS": f"junk={not_vector}"}]
    cmd = [sys.executable, "-c", "from kfqmap.cli.main import cli; cli()", "serve", "--port", "1"]
    procs = [subprocess.Popen(cmd, env=server_env(tmp_path / "scratch", **extra), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for extra in cases]     # all three at once
    for extra, proc in zip(cases, procs):
        out, err = proc.communicate(timeout=WAIT_S)
        err = err.decode(errors="replace").strip()
        assert proc.returncode == 2, (extra, err)
        assert len(err.splitlines()) == 1 and err.startswith("错误"), (extra, err)
        assert "http://" not in err and "Traceback" not in err
        assert not out.strip()


def test_exposed_host_warns(tmp_path):
    """``--host 0.0.0.0`` prints a warning about exposure before the address (the server itself is not started:
    the port is already taken, so uvicorn exits)."""
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = server_env(tmp_path / "scratch")
        cmd = [sys.executable, "-c", "from kfqmap.cli.main import cli; cli()", "serve", "--host", "0.0.0.0",
               "--port", str(port)]
        done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, timeout=WAIT_S)
    err = done.stderr.decode(errors="replace")
    assert "警告" in err and "HTTPS" in err
    assert err.index("警告") < err.index("KFQMap 服务")

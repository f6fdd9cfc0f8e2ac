"""The multi-worker deployment for real: Debian's nginx (config from ``kfqmap deploy nginx``) in front of two
``kfqmap serve`` workers, on a PostGIS primary with a streaming replica (``pg_pair``).

Edits are made by direct SQL on the primary (as QGIS or psql would) and through KFQMap's library (a write through
a provider); they must show through nginx's tile cache and through every worker; a replica stopped mid-load and a
worker killed mid-load must cost no request."""
from __future__ import annotations

import gzip
import re
import tempfile
import threading
import time
from pathlib import Path

import httpx
import mapbox_vector_tile
import mercantile
import pytest

from kfqmap.deploy import NginxOptions, render_nginx
from kfqmap.providers.base import WriteOp
from kfqmap.providers.postgis import PostGISProvider

from .pgpair import replica_entry, replica_sql, start_server, stop_server, wait_for
from .servers import free_port, nginx_user, start_nginx, start_worker

#: the documented edit-to-visible time through nginx is tile_valid_s (1 s; nginx counts whole seconds, so up to
#: 2 s) + the version poll (0.25 s) + one replica check (0.2 s): ≤ 2.5 s; the tests wait up to PATIENCE_S so
#: that a loaded CI machine does not fail them
PATIENCE_S = 15.0


@pytest.fixture(scope="module")
def stack(pg_pair):
    primary, replica = pg_pair
    work = Path(tempfile.mkdtemp(prefix="kfqmap-stack-"))
    if nginx_user() == "root":
        work.chmod(0o755)
    env = {"KFQMAP_EXTRA_LAYERS": f"parcels={primary.dsn}#public.parcels;sites={primary.dsn}#public.sites",
           "KFQMAP_PG_REPLICAS": replica_entry(replica), "KFQMAP_PG_REPLICA_MAX_LAG_S": "2",
           # the plan layers in PostgreSQL too (seeded by whichever worker starts first), as on several machines
           "KFQMAP_STORE": "postgis", "KFQMAP_STORE_DSN": primary.dsn}
    ports = [free_port(), free_port()]
    workers = []
    nginx = None
    try:
        for i, port in enumerate(ports):
            workers.append(start_worker(port, env, work, name=f"worker{i + 1}"))
        listen = free_port()
        conf = work / "nginx.conf"
        conf.write_text(render_nginx(NginxOptions(
            upstreams=[f"127.0.0.1:{p}" for p in ports], listen=f"127.0.0.1:{listen}", server_name="localhost",
            cache_dir=str(work / "cache"), runtime_dir=str(work), pid_file=str(work / "nginx.pid"),
            log_dir=str(work), user=nginx_user(), worker_processes="2")), encoding="utf-8")
        nginx = start_nginx(conf, work, listen)
        yield {"url": f"http://127.0.0.1:{listen}", "workers": workers, "ports": ports, "work": work,
               "primary": primary, "replica": replica}
    finally:
        if nginx is not None:
            nginx.stop()
        for w in workers:
            w.stop()
        import shutil
        shutil.rmtree(work, ignore_errors=True)


def tile_of(lon, lat, z=15):
    t = mercantile.tile(lon, lat, z)
    return f"/tiles/parcels/{t.z}/{t.x}/{t.y}.mvt"


def names_in(body: bytes) -> dict:
    layer = mapbox_vector_tile.decode(body).get("parcels", {"features": []})
    return {f["properties"]["id"]: f["properties"]["name"] for f in layer["features"]}


def parcel_centre(i: int) -> tuple[float, float]:
    return 120.9 + (i % 300) * 0.0005 + 0.0002, 31.3 + (i // 300) * 0.0005 + 0.0002


def test_tiles_are_cached_by_nginx_and_an_edit_shows_through_it(stack):
    url, primary = stack["url"], stack["primary"]
    path = tile_of(*parcel_centre(1042))
    with httpx.Client(base_url=url, timeout=30) as client:
        first = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200 and first.headers["x-cache-status"] in ("MISS", "EXPIRED")
        assert first.headers["content-encoding"] == "gzip"              # the worker's gzip, passed through
        assert names_in(first.content)["P1042"] == "地块1042"
        again = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert again.headers["x-cache-status"] == "HIT" and again.content == first.content
        plain = client.get(path, headers={"Accept-Encoding": "identity"})   # nginx unzips for this client
        assert "content-encoding" not in plain.headers and plain.content == first.content
        etag = again.headers["etag"]
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 304

        primary.psql("UPDATE public.parcels SET name = '已编辑1042' WHERE id = 'P1042'")   # as psql/QGIS would
        start = time.monotonic()
        wait_for(lambda: names_in(client.get(path).content).get("P1042") == "已编辑1042", timeout=PATIENCE_S,
                 what="the edited tile through nginx")
        print(f"edit → visible through nginx: {time.monotonic() - start:.2f} s")
        fresh = client.get(path)
        assert fresh.headers["etag"] != etag                 # the data version is in the ETag
        assert client.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_unchanged_tiles_are_revalidated_by_etag(stack):
    path = tile_of(*parcel_centre(20500))
    with httpx.Client(base_url=stack["url"], timeout=30) as client:
        first = client.get(path)
        assert first.status_code == 200
        time.sleep(2.2)            # past proxy_cache_valid (1 s, counted in whole seconds by nginx): nginx asks a
        #                            worker, which answers 304
        second = client.get(path)
        assert second.headers["x-cache-status"] == "REVALIDATED"
        assert second.content == first.content and second.headers["etag"] == first.headers["etag"]


def test_nginx_spreads_requests_over_both_workers_and_applies_the_app_limits(stack):
    with httpx.Client(base_url=stack["url"], timeout=30) as client:
        for i in range(12):
            r = client.get("/collections/parcels/items", params={"limit": 2, "offset": i})
            assert r.status_code == 200
            assert r.headers["x-content-type-options"] == "nosniff"      # the app's security headers
            assert r.headers.get("server", "nginx") == "nginx"            # no version
        big = client.post("/query/geometry", content=b"x" * (3 * 1024 * 1024),
                          headers={"Content-Type": "application/json"})
        assert big.status_code == 413 and big.headers["content-type"].startswith("application/problem+json")
        assert big.json()["status"] == 413
    log = (stack["work"] / "kfqmap-access.log").read_text()
    used = set(re.findall(r"upstream=127\.0\.0\.1:(\d+)", log))
    assert used == {str(p) for p in stack["ports"]}


def test_a_write_through_kfqmap_reads_back_through_every_worker(stack):
    primary = stack["primary"]
    provider = PostGISProvider("parcels", f"{primary.dsn}#public.parcels")
    try:
        provider.apply([WriteOp("update", feature_id="P777", feature={"properties": {"status": "实施中"}})])
    finally:
        provider.close()
    for port in stack["ports"]:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/collections/parcels/items/P777", timeout=10)
                 .json()["properties"]["status"] == "实施中", timeout=PATIENCE_S, what=f"the write on worker {port}")
    # a plan layer (KFQMAP_STORE=postgis): written through KFQMap's catalog on "another machine"
    from kfqmap.catalog import load_catalog
    from kfqmap.settings import CatalogSettings

    catalog = load_catalog(CatalogSettings(store="postgis", store_dsn=primary.dsn))
    try:
        project = catalog.read("key_projects").index[0]
        catalog.collection("key_projects").update(project, {"properties": {"name": "跨机器编辑"}})
    finally:
        for layer in catalog.layers:
            provider = catalog.collection(layer.id).provider
            if isinstance(provider, PostGISProvider):
                provider.close()
    for port in stack["ports"]:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/collections/key_projects/items/{project}", timeout=10)
                 .json()["properties"]["name"] == "跨机器编辑", timeout=PATIENCE_S, what=f"the plan edit on {port}")


def _load(url: str, stop: threading.Event, seed: int, results: list) -> None:
    """Requests that reach the database: uncached tiles (a new one each time), bbox items, single items."""
    i = seed
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            i += 7
            lon, lat = parcel_centre((i * 131) % 60000)
            for path, params in ((tile_of(lon, lat, 14 + i % 3), None),
                                 ("/collections/parcels/items", {"bbox": f"{lon - 0.002},{lat - 0.002},{lon},{lat}",
                                                                 "limit": 20}),
                                 (f"/collections/parcels/items/P{(i * 37) % 60000}", None),
                                 ("/collections/sites/items", {"limit": 5, "offset": i % 90})):
                try:
                    r = client.get(path, params=params)
                    results.append((path, r.status_code))
                except httpx.HTTPError as exc:
                    results.append((path, repr(exc)))


def test_a_replica_stopped_mid_load_costs_no_request(stack):
    replica = stack["replica"]
    assert replica_sql(replica, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'kfqmap'") > 0, \
        "the workers read from the replica before it is stopped"
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=_load, args=(stack["url"], stop, k, results)) for k in range(3)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(results) >= 40, timeout=60, what="load before the stop")
        stop_server(replica)                   # fast: sessions in the middle of a query are cut
        n = len(results)
        wait_for(lambda: len(results) >= n + 80, timeout=120, what="load after the stop")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        start_server(replica)
    failed = [r for r in results if r[1] not in (200, 204)]
    assert not failed, failed[:10]


def test_sticky_nginx_keeps_a_client_on_one_worker(stack):
    """``--sticky ip``: every request of one client reaches the same worker (whose reads follow its writes)."""
    work = stack["work"] / "sticky"
    work.mkdir()
    work.chmod(0o755)
    listen = free_port()
    conf = work / "nginx.conf"
    conf.write_text(render_nginx(NginxOptions(
        upstreams=[f"127.0.0.1:{p}" for p in stack["ports"]], listen=f"127.0.0.1:{listen}", sticky="ip",
        cache_dir=str(work / "cache"), runtime_dir=str(work), pid_file=str(work / "nginx.pid"), log_dir=str(work),
        user=nginx_user(), worker_processes="1")), encoding="utf-8")
    nginx = start_nginx(conf, work, listen)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{listen}", timeout=30) as client:
            for i in range(12):
                assert client.get("/collections/sites/items", params={"limit": 1, "offset": i},
                                  headers={"Connection": "close"}).status_code == 200
    finally:
        nginx.stop()
    used = set(re.findall(r"/collections/sites/items\S* HTTP/1.1\" 200 .* upstream=(\S+)",
                          (work / "kfqmap-access.log").read_text()))
    assert len(used) == 1, used


def test_a_worker_killed_mid_load_costs_no_request(stack):
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=_load, args=(stack["url"], stop, 1000 + k, results)) for k in range(2)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(results) >= 20, timeout=60, what="load before the kill")
        stack["workers"][1].proc.kill()          # SIGKILL: no goodbye
        n = len(results)
        wait_for(lambda: len(results) >= n + 40, timeout=120, what="load after the kill")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    failed = [r for r in results if r[1] not in (200, 204)]
    assert not failed, failed[:10]


def test_serve_workers_2_shares_one_port_and_sees_every_edit(pg_pair, tmp_path):
    """``kfqmap serve --workers 2``: two processes on one port (uvicorn), each with its own caches keyed by the
    data version: after an edit no request, whichever process answers it, returns the old value."""
    primary, _ = pg_pair
    port = free_port()
    tmp_path.chmod(0o755)
    server = start_worker(port, {"KFQMAP_EXTRA_LAYERS": f"sites={primary.dsn}#public.sites"}, tmp_path,
                          name="serve-workers-2", workers=2)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(40):
                r = client.get("/collections/sites/items/S5", headers={"Connection": "close"})
                assert r.status_code == 200 and r.json()["properties"]["name"] == "更新地块5"
            primary.psql("UPDATE public.sites SET name = '第二次编辑' WHERE id = 'S5'")
            wait_for(lambda: client.get("/collections/sites/items/S5").json()["properties"]["name"] == "第二次编辑",
                     timeout=PATIENCE_S, what="the edit")

            def every_answer_new():     # new connections, so both processes answer (the kernel spreads them)
                return {client.get("/collections/sites/items/S5", headers={"Connection": "close"})
                        .json()["properties"]["name"] for _ in range(20)} == {"第二次编辑"}
            wait_for(every_answer_new, timeout=PATIENCE_S, what="every process to serve the edit")
        children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children").read_text().split()
        assert len(children) >= 2, "uvicorn started two worker processes"
    finally:
        server.stop()

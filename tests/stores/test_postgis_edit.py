"""Editing a PostGIS layer over real HTTP (a real ``kfqmap serve`` process; a real PostgreSQL + PostGIS cluster):
ETags and If-Match, history written in the write transaction into ``kfqmap.history``, the database refusing any
UPDATE/DELETE/TRUNCATE of that table, /audit and items?asof, and kill -9 of the server mid-burst."""
from __future__ import annotations

import threading
import time
import uuid

import httpx
import psycopg
import pytest

from kfqmap.accounts import AccountStore, parse_duration
from kfqmap.history import now_utc
from tests.server.proc_server import server_env, start

ITEMS = "/collections/pg_edit/items"


def _parcel(name: str, i: int = 0) -> dict:
    lon, lat = 121.0 + (i % 40) * 0.003, 31.31 + (i // 40) * 0.003
    ring = [[lon, lat], [lon + 0.002, lat], [lon + 0.002, lat + 0.002], [lon, lat + 0.002], [lon, lat]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "status": "未启动", "year": 2024}}


@pytest.fixture(scope="module")
def table(pg):
    name = f"edit_{uuid.uuid4().hex[:6]}"
    pg.psql(f"CREATE TABLE public.{name} (LIKE public.low_efficiency_land INCLUDING ALL); "
            f"INSERT INTO public.{name} SELECT * FROM public.low_efficiency_land")
    return name


@pytest.fixture(scope="module")
def site(pg, table, tmp_path_factory):
    base = tmp_path_factory.mktemp("pg-edit")
    env = server_env(base / "scratch", KFQMAP_DATA_DIR=str(base / "data"),
                     KFQMAP_EXTRA_LAYERS=f"pg_edit={pg.dsn}#public.{table}")
    server = start(env, base / "server.log")
    accounts = AccountStore.open(next((base / "data").glob("kfqmap*.gpkg")))
    accounts.add_user("pgadmin", "admin", password="pg-admin-pass")
    _, token = accounts.create_token("pgadmin", expires=parse_duration("1d"))
    accounts.close()
    site = {"env": env, "server": server, "base": base, "token": token,
            "client": httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {token}"})}
    yield site
    site["server"].stop()


def test_postgis_writes_use_etags_and_record_history(pg, site):
    client = site["client"]
    since = now_utc()
    created = client.post(ITEMS, json=_parcel("PG新地块"), headers={"X-Change-Note": "pg"})
    assert created.status_code == 201, created.text
    fid = created.json()["id"]
    got = client.get(f"{ITEMS}/{fid}")
    assert got.status_code == 200 and got.headers["etag"] == created.headers["etag"]
    assert client.patch(f"{ITEMS}/{fid}", json={"properties": {"status": "实施中"}}).status_code == 428
    ok = client.patch(f"{ITEMS}/{fid}", json={"properties": {"status": "实施中"}},
                      headers={"If-Match": got.headers["etag"]})
    assert ok.status_code == 200 and ok.json()["properties"]["status"] == "实施中"
    stale = client.patch(f"{ITEMS}/{fid}", json={"properties": {"status": "已完成"}},
                         headers={"If-Match": got.headers["etag"]})
    assert stale.status_code == 412 and stale.headers["etag"] == ok.headers["etag"]
    bad = client.patch(f"{ITEMS}/{fid}", json={"properties": {"year": "二〇二五"}},
                       headers={"If-Match": ok.headers["etag"]})
    assert bad.status_code == 422
    changes = client.get(f"{ITEMS}/{fid}/history").json()["changes"]
    assert [(c["op"], c["user"], c["note"]) for c in changes] == [("update", "pgadmin", None),
                                                                  ("create", "pgadmin", "pg")]
    assert changes[0]["changed"] == ["status"]
    audit = client.get("/audit", params={"from": since}).json()["changes"]
    assert [(c["layer"], c["op"]) for c in audit] == [("pg_edit", "create"), ("pg_edit", "update")]
    asof = client.get(ITEMS, params={"asof": since, "limit": 1000}).json()
    assert fid not in {f["id"] for f in asof["features"]}
    # the database refuses to rewrite history, whoever asks
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        for stmt in ("UPDATE kfqmap.history SET note = 'x'", "DELETE FROM kfqmap.history",
                     "TRUNCATE kfqmap.history"):
            with pytest.raises(psycopg.Error, match="append-only"):
                conn.execute(stmt)
        assert conn.execute("SELECT count(*) FROM kfqmap.history WHERE feature_id = %s", (fid,)).fetchone()[0] == 2


def test_a_change_made_in_psql_is_recorded_by_the_database(pg, site, table):
    client = site["client"]
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        fid = conn.execute(f"SELECT id FROM public.{table} ORDER BY id LIMIT 1").fetchone()[0]
        old = conn.execute(f"SELECT name FROM public.{table} WHERE id = %s", (fid,)).fetchone()[0]
        conn.execute(f"UPDATE public.{table} SET name = 'psql 改名' WHERE id = %s", (fid,))
    changes = client.get(f"{ITEMS}/{fid}/history").json()["changes"]
    assert [(c["op"], c["user"]) for c in changes] == [("update", f"db:{pg.user}")]
    assert changes[0]["before"]["properties"]["name"] == old
    assert changes[0]["after"]["properties"]["name"] == "psql 改名" and changes[0]["changed"] == ["name"]
    assert changes[0]["after"]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # KFQMap's own change right after is recorded once, as KFQMap's
    etag = client.get(f"{ITEMS}/{fid}").headers["etag"]
    assert client.patch(f"{ITEMS}/{fid}", json={"properties": {"status": "已完成"}},
                        headers={"If-Match": etag}).status_code == 200
    assert [c["user"] for c in client.get(f"{ITEMS}/{fid}/history").json()["changes"]] == ["pgadmin", f"db:{pg.user}"]


def test_kill9_mid_burst_on_postgis(pg, site, table):
    client, server = site["client"], site["server"]
    tag = uuid.uuid4().hex[:6]
    acked: dict[str, str] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def burst(worker: int):
        with httpx.Client(base_url=server.url, timeout=30,
                          headers={"Authorization": f"Bearer {site['token']}"}) as c:
            i = 0
            while not stop.is_set():
                name = f"{tag}-{worker}-{i}"
                try:
                    r = c.post(ITEMS, json=_parcel(name, i))
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    with lock:
                        acked[r.json()["id"]] = name
                i += 1

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while len(acked) < 20:
        assert time.monotonic() < deadline, "the burst made too little progress"
        time.sleep(0.01)
    server.kill9()
    stop.set()
    for t in threads:
        t.join(60)
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        rows = dict(conn.execute(f"SELECT id, name FROM public.{table} WHERE name LIKE %s", (tag + "%",)).fetchall())
        logged = [r[0] for r in conn.execute("SELECT feature_id FROM kfqmap.history WHERE op = 'create' AND "
                                             "layer_id = 'pg_edit' AND after->'properties'->>'name' LIKE %s",
                                             (tag + "%",)).fetchall()]
    for fid, name in acked.items():
        assert rows.get(fid) == name, f"acknowledged {fid} lost"
    assert sorted(logged) == sorted(rows)                 # every row has its history row, and only those
    restarted = start(site["env"], site["base"] / "server2.log")
    site["server"] = restarted
    try:
        c = httpx.Client(base_url=restarted.url, timeout=60, headers={"Authorization": f"Bearer {site['token']}"})
        found = c.get(ITEMS, params={"limit": 10000}).json()["features"]
        assert set(acked) <= {f["id"] for f in found}
        assert c.post(ITEMS, json=_parcel(f"{tag}-after")).status_code == 201
    finally:
        restarted.stop()

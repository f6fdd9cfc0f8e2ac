"""Durability of writes: ``kill -9`` of a real server in the middle of a burst of writes, then a restart on the same
store. Every acknowledged write is there; no transaction is half applied; every feature has its history row and
every history row its feature (they are written in one transaction). Bounded waits; no timing assertions."""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid

import httpx
import pytest

from kfqmap.accounts import AccountStore, parse_duration

from .proc_server import server_env, start

LEL = "/collections/low_efficiency_land/items"
ACKS_BEFORE_KILL = 30
BATCH = 5
WAIT_S = 120


def _parcel(name: str, i: int) -> dict:
    lon, lat = 121.0 + (i % 50) * 0.003, 31.30 + (i // 50) * 0.003
    ring = [[lon, lat], [lon + 0.002, lat], [lon + 0.002, lat + 0.002], [lon, lat + 0.002], [lon, lat]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"name": name, "status": "未启动", "year": 2024, "park": "蓬朗"}}


@pytest.mark.timeout(300)
def test_kill9_mid_burst_loses_no_acknowledged_write(tmp_path):
    env = server_env(tmp_path / "scratch", KFQMAP_DATA_DIR=str(tmp_path / "data"))
    server = start(env, tmp_path / "server.log")
    store = next((tmp_path / "data").glob("kfqmap*.gpkg"))
    accounts = AccountStore.open(store)
    accounts.add_user("burst", "admin", password="burst-pass-1")
    _, token = accounts.create_token("burst", expires=parse_duration("1d"))
    accounts.close()
    headers = {"Authorization": f"Bearer {token}"}
    tag = uuid.uuid4().hex[:6]
    acked_single: dict[str, str] = {}        # id → name, acknowledged 201
    acked_batches: list[str] = []            # batch tags acknowledged 200
    stop = threading.Event()
    lock = threading.Lock()

    def singles(worker: int):
        with httpx.Client(base_url=server.url, timeout=30, headers=headers) as client:
            i = 0
            while not stop.is_set():
                name = f"{tag}-s{worker}-{i}"
                try:
                    r = client.post(LEL, json=_parcel(name, i))
                except httpx.HTTPError:
                    return
                if r.status_code == 201:
                    with lock:
                        acked_single[r.json()["id"]] = name
                i += 1

    def batches():
        with httpx.Client(base_url=server.url, timeout=30, headers=headers) as client:
            i = 0
            while not stop.is_set():
                batch = f"{tag}-b{i}"
                ops = [{"op": "create", "feature": _parcel(f"{batch}-{k}", k)} for k in range(BATCH)]
                try:
                    r = client.post("/collections/low_efficiency_land/transactions", json={"operations": ops})
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    with lock:
                        acked_batches.append(batch)
                i += 1

    threads = [threading.Thread(target=singles, args=(w,)) for w in range(2)] + [threading.Thread(target=batches)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + WAIT_S
    while len(acked_single) + len(acked_batches) < ACKS_BEFORE_KILL:
        assert time.monotonic() < deadline, "the burst made too little progress"
        time.sleep(0.01)
    server.kill9()                           # mid-burst: requests are in flight
    stop.set()
    for t in threads:
        t.join(60)
    assert acked_single and acked_batches

    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    server = start(env, tmp_path / "server2.log")
    try:
        client = httpx.Client(base_url=server.url, timeout=60, headers=headers)
        features = client.get(LEL, params={"limit": 10000}).json()["features"]
        ours = {f["id"]: f for f in features if f["properties"]["name"].startswith(tag)}
        # every acknowledged single write is there, whole
        for fid, name in acked_single.items():
            assert fid in ours, f"acknowledged {fid} lost"
            f = ours[fid]
            assert f["properties"]["name"] == name and f["properties"]["status"] == "未启动"
            assert f["geometry"]["type"] == "Polygon" and len(f["geometry"]["coordinates"][0]) == 5
        # each bulk transaction is all or nothing; acknowledged ones are all there
        names = {f["properties"]["name"] for f in ours.values()}
        batch_tags = {n.rsplit("-", 1)[0] for n in names if "-b" in n}
        for batch in batch_tags:
            present = [k for k in range(BATCH) if f"{batch}-{k}" in names]
            assert len(present) in (0, BATCH), f"half a transaction: {batch} has {present}"
        assert set(acked_batches) <= batch_tags
        # a feature exists exactly when its create is in the history
        audit = client.get("/audit", params={"layer": "low_efficiency_land"}).json()["changes"]
        created = [c["feature_id"] for c in audit if c["op"] == "create" and c["user"] == "burst"]
        assert sorted(created) == sorted(ours)
        # and the store takes writes again
        assert client.post(LEL, json=_parcel(f"{tag}-after", 0)).status_code == 201
    finally:
        server.stop()

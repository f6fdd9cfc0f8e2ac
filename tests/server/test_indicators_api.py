"""/indicators/status and PUT /indicators/{id}/actuals/{year} over a real uvicorn server with its own store.

The server gets a data directory of its own (so the session's shared store keeps no actuals); values entered over
HTTP are read back by a second, independent catalog on the same GeoPackage, and values entered there (as the CLI
does) are seen by the server.
"""
from __future__ import annotations

import sqlite3
import threading
import time

import httpx
import pytest
import uvicorn

from kfqmap import monitor
from kfqmap.catalog import load_catalog
from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.testing import free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = CatalogSettings(data_dir=tmp_path_factory.mktemp("indicators-api"))
    app = create_app(settings)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                       lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        yield client, settings
    srv.should_exit = True
    thread.join(timeout=10)


def _actuals_rows(settings) -> list[tuple]:
    conn = sqlite3.connect(settings.store_path())
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kfqmap_indicator_actuals'").fetchall():
            return []
        return conn.execute("SELECT indicator_id, year, value_text, source, via FROM kfqmap_indicator_actuals "
                            "ORDER BY indicator_id, year").fetchall()
    finally:
        conn.close()


def test_status_without_actuals_is_no_data(server):
    client, _ = server
    r = client.get("/indicators/status", params={"year": 2023})
    assert r.status_code == 200
    doc = r.json()
    assert doc["year"] == 2023 and doc["store"] is True and doc["warnings"] == []
    monitored = [i for i in doc["indicators"] if i["monitored"]]
    assert monitored and {i["status"] for i in monitored} == {"无数据"}
    gdp = next(i for i in doc["indicators"] if i["id"] == "t2_01")
    assert gdp["plan_path"] == pytest.approx(1988.0) and gdp["value"] is None
    assert doc["colours"]["超限"] and gdp["colour"] == doc["colours"]["无数据"]
    only = client.get("/indicators/status", params={"year": 2023, "table": "表2"}).json()
    assert {i["table"] for i in only["indicators"]} == {"表2"} and len(only["indicators"]) == 29


def test_put_actual_then_status_and_warning_list(server):
    client, settings = server
    r = client.put("/indicators/t2_27/actuals/2025", json={"value": "0.0031", "source": "应急管理局年报"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["status"] == "超限" and s["value_text"] == "0.0031" and s["actuals"][0]["via"] == "api"
    r = client.put("/indicators/t2_24/actuals/2022", json={"value": 39, "source": "自然资源和规划局", "unit": "%"})
    assert r.json()["status"] == "超限"           # 约束性 40 → 45: path 42, 39 is 7.1 % behind
    doc = client.get("/indicators/status", params={"year": 2022}).json()
    assert [(w["id"], w["status"]) for w in doc["warnings"]] == [("t2_24", "超限")]
    assert doc["counts"]["超限"] == 1 and doc["counts"]["无数据"] == len([i for i in doc["indicators"]
                                                                          if i["monitored"]]) - 1
    # /stats/progress shows the status from actuals beside the plan's path, never a path as achievement
    prog = client.get("/stats/progress", params={"year": 2022}).json()
    blue = next(i for i in prog["indicators"] if i["id"] == "t2_24")
    assert blue["status"] == "超限" and blue["actual"] == 39 and blue["plan_path"] == pytest.approx(42)
    assert "trajectory" not in blue
    # stored in the embedded store, readable by another program
    assert ("t2_27", 2025, "0.0031", "应急管理局年报", "api") in _actuals_rows(settings)
    hist = client.get("/indicators/t2_27/actuals").json()
    assert hist["actuals"][0]["value_text"] == "0.0031" and hist["log"][0]["new_value"] == "0.0031"


def test_a_value_entered_elsewhere_is_seen_by_the_server(server):
    client, settings = server
    other = load_catalog(settings)            # what `kfqmap indicators set` does, in its own connection
    try:
        monitor.set_actual(other, "t2_07", 2023, "4.2", source="统计公报", by="cli-user", via="cli")
    finally:
        other.store.close()
    s = next(i for i in client.get("/indicators/status", params={"year": 2023}).json()["indicators"]
             if i["id"] == "t2_07")
    assert s["status"] == "正常" and s["actuals"][0]["entered_by"] == "cli-user"


@pytest.mark.parametrize("path,body,status,param", [
    ("/indicators/t2_07/actuals/2023", {"value": "约4.1"}, 400, "actuals"),
    ("/indicators/t2_07/actuals/2023", {"value": 4.1, "unit": "亿元"}, 400, "actuals"),
    ("/indicators/t2_07/actuals/2019", {"value": 4.1}, 400, "actuals"),
    ("/indicators/t2_07/actuals/20x3", {"value": 4.1}, 400, None),
    ("/indicators/nope/actuals/2023", {"value": 4.1}, 404, "id"),
    ("/indicators/t1_01/actuals/2023", {"value": 1600}, 400, "actuals"),
    ("/indicators/t2_07/actuals/2023", {"source": "x"}, 400, None),
    ("/indicators/t2_07/actuals/2023", {"value": True}, 400, None),
    ("/indicators/t2_07/actuals/2023", {"value": "Infinity"}, 400, "actuals"),
    ("/indicators/t2_07/actuals/2023", {"value": 1e300}, 400, "actuals"),
    ("/indicators/t2_07/actuals/2023", {"value": "9" * 100}, 400, "actuals"),
])
def test_bad_puts_are_problems_and_write_nothing(server, path, body, status, param):
    client, settings = server
    before = _actuals_rows(settings)
    r = client.put(path, json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if param:
        assert r.json()["parameter"] == param
    assert _actuals_rows(settings) == before


def test_threshold_over_http(server):
    client, _ = server
    # path 1.3 + 0.5×3/5 = 1.6; 1.515 is 5.3 % behind; pace 0.0717/yr done, 0.1425/yr needed (≤ 2×): 预警
    r = client.put("/indicators/t2_10/actuals/2023", json={"value": "1.515"})
    assert r.json()["status"] == "预警"
    r = client.put("/indicators/t2_10/threshold", json={"warn_threshold": 0.1})
    assert r.status_code == 200 and r.json()["warn_threshold"] == 0.1
    s = next(i for i in client.get("/indicators/status", params={"year": 2023}).json()["indicators"] if i["id"] == "t2_10")
    assert s["status"] == "正常"
    for bad in (0, 1.5, "x", True):
        r = client.put("/indicators/t2_10/threshold", json={"warn_threshold": bad})
        assert r.status_code == 400, bad
    assert client.put("/indicators/zz/threshold", json={"warn_threshold": 0.1}).status_code == 404


@pytest.mark.parametrize("query", [{"year": "abc"}, {"year": 1999}])
def test_bad_status_year(server, query):
    client, _ = server
    r = client.get("/indicators/status", params=query)
    assert r.status_code == 400 and r.json()["parameter"] == "year"


def test_concurrent_writes_over_http_and_from_another_connection(server):
    """Eight PUTs at once over HTTP while another connection (as the CLI would) loads a batch: every value lands,
    none is lost to a lock."""
    from concurrent.futures import ThreadPoolExecutor

    client, settings = server
    ids = ["t2_05", "t2_06", "t2_08", "t2_13", "t2_16", "t2_17", "t2_18", "t2_28"]

    def put(iid):
        return client.put(f"/indicators/{iid}/actuals/2024", json={"value": "50", "source": "并发"}).status_code

    other = load_catalog(settings)
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(put, iid) for iid in ids]
            batch = [monitor.Entry(iid, 2021, "1", "批量") for iid in ("t2_25", "t2_29")]
            monitor.load_actuals(other, batch, by="cli", via="xlsx")
            assert [f.result() for f in futures] == [200] * 8
    finally:
        other.store.close()
    rows = {(i, y) for i, y, *_ in _actuals_rows(settings)}
    assert {(i, 2024) for i in ids} | {("t2_25", 2021), ("t2_29", 2021)} <= rows

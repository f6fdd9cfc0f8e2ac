"""Editing, accounts and history over real HTTP against a real ``kfqmap serve`` process (issue 13).

One server (mini catalog, its own data directory) serves most tests; users are made with the real CLI
(``kfqmap users add --password-stdin``, ``kfqmap tokens create``) and with ``kfqmap.accounts`` on the same store
file. Each test works on its own features, so the order of tests does not matter."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from kfqmap.accounts import AccountStore, parse_duration

from .proc_server import MINI_GEODATA, REPO, server_env, start

LEL = "/collections/low_efficiency_land/items"
PASSWORDS = {"ed": "editor-pass-1", "boss": "admin-pass-1", "vic": "viewer-pass-1", "ed2": "editor-pass-2"}


def square(lon: float, lat: float, d: float = 0.002) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d],
                                                [lon, lat]]]}


def parcel(name: str, lon: float = 121.0, lat: float = 31.35, **props) -> dict:
    return {"type": "Feature", "geometry": square(lon, lat),
            "properties": {"name": name, "status": "未启动", "year": 2024, **props}}


def cli(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from kfqmap.cli.main import cli; cli()", *args], env=env,
                          input=stdin, capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("edit-http")
    env = server_env(base / "scratch", KFQMAP_DATA_DIR=str(base / "data"),
                     KFQMAP_EXTRA_LAYERS=f"rivers_file={MINI_GEODATA / 'layers' / 'rivers.geojson'}")
    made = cli(env, "users", "add", "ed", "--role", "editor", "--layers", "low_efficiency_land",
               "--password-stdin", stdin=PASSWORDS["ed"] + "\n")
    assert made.returncode == 0, made.stderr
    made = cli(env, "users", "add", "vic", "--role", "查看", "--password-stdin", stdin=PASSWORDS["vic"] + "\n")
    assert made.returncode == 0, made.stderr
    token = cli(env, "tokens", "create", "--user", "vic", "--expires", "90d")
    assert token.returncode == 0, token.stderr
    viewer_token = token.stdout.strip()
    assert viewer_token.startswith("kfq_") and "\n" not in viewer_token
    server = start(env, base / "server.log")
    store_path = base / "data" / next(p.name for p in (base / "data").glob("kfqmap*.gpkg"))
    accounts = AccountStore.open(store_path)
    accounts.add_user("boss", "admin", password=PASSWORDS["boss"])
    accounts.add_user("ed2", "editor", password=PASSWORDS["ed2"], layers=["low_efficiency_land"])
    yield {"url": server.url, "env": env, "server": server, "accounts": accounts, "store": store_path,
           "viewer_token": viewer_token}
    server.stop()
    accounts.close()


def login(site, user: str) -> httpx.Client:
    """A client with a session cookie and the session's CSRF header, like the viewer."""
    client = httpx.Client(base_url=site["url"], timeout=60)
    r = client.post("/auth/login", json={"username": user, "password": PASSWORDS[user]})
    assert r.status_code == 200, r.text
    client.headers["X-CSRF-Token"] = r.json()["csrf"]
    return client


def bearer(site, user: str, expires: str = "1d") -> httpx.Client:
    _, secret = site["accounts"].create_token(user, expires=parse_duration(expires))
    return httpx.Client(base_url=site["url"], timeout=60, headers={"Authorization": f"Bearer {secret}"})


def create(client: httpx.Client, feature: dict, **kw) -> httpx.Response:
    r = client.post(LEL, json=feature, **kw)
    assert r.status_code == 201, r.text
    return r


# ------------------------------------------------------------------------------------------ roles
def test_each_role_is_allowed_and_refused_what_it_should(site):
    anon = httpx.Client(base_url=site["url"], timeout=60)
    viewer = httpx.Client(base_url=site["url"], timeout=60,
                          headers={"Authorization": f"Bearer {site['viewer_token']}"})
    editor, admin = bearer(site, "ed"), bearer(site, "boss")
    # everybody reads (KFQMAP_ANONYMOUS=read, the default), and everybody gets the same ETag
    etags = set()
    for client in (anon, viewer, editor, admin):
        assert client.get(LEL + "?limit=1").status_code == 200
        etags.add(client.get(LEL + "/lel_0").headers["etag"])
    assert len(etags) == 1
    new = parcel("角色测试地块")
    r = anon.post(LEL, json=new)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"] == "application/problem+json"
    assert viewer.post(LEL, json=new).status_code == 403
    created = create(editor, new)
    fid = created.json()["id"]
    assert created.headers["location"].endswith(f"{LEL}/{fid}")
    # the editor is limited to low_efficiency_land; an admin may edit any layer
    core = {"type": "Feature", "geometry": square(121.05, 31.36), "properties": {"name": "测试核心区"}}
    assert editor.post("/collections/cores/items", json=core).status_code == 403
    assert admin.post("/collections/cores/items", json=core).status_code == 201
    # history: signed-in users; audit and restore: admins only
    assert anon.get(f"{LEL}/{fid}/history").status_code == 401
    assert viewer.get(f"{LEL}/{fid}/history").status_code == 200
    assert editor.get("/audit").status_code == 403 and viewer.get("/audit").status_code == 403
    assert anon.get("/audit").status_code == 401
    assert admin.get("/audit").status_code == 200
    seq = editor.get(f"{LEL}/{fid}/history").json()["changes"][0]["seq"]
    assert editor.post(f"{LEL}/{fid}/history/{seq}/restore").status_code == 403
    etag = editor.get(f"{LEL}/{fid}").headers["etag"]
    assert viewer.delete(f"{LEL}/{fid}", headers={"If-Match": etag}).status_code == 403
    assert editor.delete(f"{LEL}/{fid}", headers={"If-Match": etag}).status_code == 204
    assert anon.get(f"{LEL}/{fid}").status_code == 404


def test_expired_revoked_and_disabled_credentials_are_refused(site):
    accounts = site["accounts"]
    token_id, secret = accounts.create_token("ed2", expires=parse_duration("1d"))
    client = httpx.Client(base_url=site["url"], timeout=60, headers={"Authorization": f"Bearer {secret}"})
    assert client.get("/auth/me").json()["user"] == "ed2"
    # revoked with the CLI: refused at once, on reads too (a script learns its token is dead)
    revoked = cli(site["env"], "tokens", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    r = client.get("/collections")
    assert r.status_code == 401 and r.json()["title"] == "NotAuthenticated"
    # expired: a token whose expiry has passed
    token_id, secret = accounts.create_token("ed2", expires=parse_duration("1d"))
    with sqlite3.connect(site["store"]) as conn:
        conn.execute("UPDATE kfqmap_tokens SET expires_at = '2001-01-01T00:00:00Z' WHERE id = ?", (token_id,))
    r = httpx.get(site["url"] + "/collections", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401
    # a made-up token
    assert httpx.get(site["url"] + "/collections", headers={"Authorization": "Bearer kfq_nope"}).status_code == 401
    # a disabled user: session and token stop working at once
    accounts.add_user("temp", "editor", password="temp-pass-1")
    PASSWORDS["temp"] = "temp-pass-1"
    session, token = login(site, "temp"), bearer(site, "temp")
    assert session.get("/auth/me").json()["user"] == "temp"
    assert cli(site["env"], "users", "disable", "temp").returncode == 0
    assert session.get("/auth/me").json()["anonymous"] is True
    assert session.post(LEL, json=parcel("停用后")).status_code == 401
    assert token.get("/auth/me").status_code == 401


def test_session_cookie_and_csrf(site):
    client = httpx.Client(base_url=site["url"], timeout=60)
    r = client.post("/auth/login", json={"username": "ed", "password": PASSWORDS["ed"]})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == "ed" and body["role"] == "editor" and body["layers"] == ["low_efficiency_land"]
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie                     # plain http here; https sets it
    assert PASSWORDS["ed"] not in r.text
    # a state-changing request with the cookie but no CSRF header is refused, and changes nothing
    before = client.get(LEL).json()["numberMatched"]
    r = client.post(LEL, json=parcel("无CSRF"))
    assert r.status_code == 403 and r.json()["title"] == "CSRFRejected"
    r = client.post(LEL, json=parcel("错CSRF"), headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert client.get(LEL).json()["numberMatched"] == before
    r = client.post(LEL, json=parcel("有CSRF"), headers={"X-CSRF-Token": body["csrf"]})
    assert r.status_code == 201
    me = client.get("/auth/me").json()
    assert me["user"] == "ed" and me["csrf"] == body["csrf"]
    assert client.post("/auth/logout", headers={"X-CSRF-Token": body["csrf"]}).status_code == 204
    assert client.get("/auth/me").json()["anonymous"] is True
    assert client.post(LEL, json=parcel("退出后"), headers={"X-CSRF-Token": body["csrf"]}).status_code == 401


def test_failed_logins_do_not_tell_users_apart_and_are_rate_limited(site):
    site["accounts"].add_user("locked", "viewer", password="locked-pass-1")
    client = httpx.Client(base_url=site["url"], timeout=60)
    unknown = client.post("/auth/login", json={"username": "no_such_user", "password": "whatever-1"})
    wrong = client.post("/auth/login", json={"username": "locked", "password": "whatever-1"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json()["detail"] == wrong.json()["detail"]
    for _ in range(4):
        assert client.post("/auth/login", json={"username": "locked", "password": "x-wrong-1"}).status_code == 401
    r = client.post("/auth/login", json={"username": "locked", "password": "locked-pass-1"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0    # even the right password, for now
    # another user from the same address is not affected
    assert client.post("/auth/login", json={"username": "vic", "password": PASSWORDS["vic"]}).status_code == 200


# ------------------------------------------------------------------------------------------ writes
def test_if_match_is_required_and_a_stale_one_is_412(site):
    client = bearer(site, "ed")
    fid = create(client, parcel("并发测试")).json()["id"]
    r = client.get(f"{LEL}/{fid}")
    etag = r.headers["etag"]
    assert client.patch(f"{LEL}/{fid}", json={"properties": {"status": "实施中"}}).status_code == 428
    assert client.delete(f"{LEL}/{fid}").status_code == 428
    ok = client.patch(f"{LEL}/{fid}", json={"properties": {"status": "实施中"}}, headers={"If-Match": etag})
    assert ok.status_code == 200 and ok.headers["etag"] != etag
    assert ok.json()["properties"]["status"] == "实施中"
    stale = client.put(f"{LEL}/{fid}", json=parcel("覆盖"), headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.headers["etag"] == ok.headers["etag"]
    assert stale.json()["current_etag"] == ok.headers["etag"]
    # the GET after the change carries the new ETag with the new body
    again = client.get(f"{LEL}/{fid}")
    assert again.headers["etag"] == ok.headers["etag"] and again.json()["properties"]["status"] == "实施中"
    # PUT replaces every property; the id stays
    put = client.put(f"{LEL}/{fid}", json=parcel("整体替换", status="已完成"), headers={"If-Match": ok.headers["etag"]})
    assert put.status_code == 200 and put.json()["properties"]["name"] == "整体替换"
    assert put.json()["properties"]["park"] is None and put.json()["id"] == fid


def test_two_concurrent_patches_with_one_etag_exactly_one_wins(site):
    a, b = bearer(site, "ed"), bearer(site, "ed2")
    for round_ in range(3):
        fid = create(a, parcel(f"并发{round_}")).json()["id"]
        etag = a.get(f"{LEL}/{fid}").headers["etag"]
        barrier = threading.Barrier(2)
        results = {}

        def patch(name, client, status):
            barrier.wait()
            results[name] = client.patch(f"{LEL}/{fid}", json={"properties": {"status": status}},
                                         headers={"If-Match": etag})

        threads = [threading.Thread(target=patch, args=("a", a, "实施中")),
                   threading.Thread(target=patch, args=("b", b, "已完成"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        codes = sorted(r.status_code for r in results.values())
        assert codes == [200, 412], {k: (r.status_code, r.text[:200]) for k, r in results.items()}
        winner = next(r for r in results.values() if r.status_code == 200)
        assert a.get(f"{LEL}/{fid}").json()["properties"]["status"] == winner.json()["properties"]["status"]
        history = a.get(f"{LEL}/{fid}/history").json()["changes"]
        assert [c["op"] for c in history] == ["update", "create"]     # the loser left no trace


def test_invalid_geometry_schema_violations_and_read_only_layers(site):
    client = bearer(site, "boss")
    before = client.get(LEL).json()["numberMatched"]
    bowtie = {"type": "Polygon", "coordinates": [[[121.0, 31.3], [121.01, 31.31], [121.01, 31.3], [121.0, 31.31],
                                                  [121.0, 31.3]]]}
    r = client.post(LEL, json={**parcel("自交"), "geometry": bowtie})
    assert r.status_code == 422 and "Self-intersection" in r.json()["detail"]
    assert r.json()["parameter"] == "geometry"
    bad = [({**parcel("点"), "geometry": {"type": "Point", "coordinates": [121, 31.3]}}, "geometry"),
           (parcel("类型", year="二〇二四"), "year"),
           (parcel("枚举", status="已经完成"), "status"),
           (parcel("未知属性", colour="red"), "colour"),
           ({"type": "Feature", "geometry": square(121, 31.3), "properties": {"status": "未启动"}}, "name"),
           (parcel("   "), "name"),
           ({**parcel("越界"), "geometry": square(500000, 3500000)}, "geometry")]
    for feature, parameter in bad:
        r = client.post(LEL, json=feature)
        assert r.status_code == 422, (parameter, r.text)
        assert r.json()["parameter"] == parameter
    assert client.post(LEL, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.get(LEL).json()["numberMatched"] == before          # nothing written
    repaired = client.post(LEL + "?repair=true", json={**parcel("修复"), "geometry": bowtie})
    assert repaired.status_code == 201 and repaired.json()["geometry"]["type"] == "MultiPolygon"
    # a file layer is read-only: 405 with the reason and Allow
    r = client.post("/collections/rivers_file/items", json={"type": "Feature", "properties": {"name": "x"},
                    "geometry": {"type": "LineString", "coordinates": [[121, 31.3], [121.01, 31.3]]}})
    assert r.status_code == 405 and "只读" in r.json()["detail"] and "GET" in r.headers["allow"]
    schema = client.get("/collections/low_efficiency_land/schema").json()
    assert schema["properties"]["status"]["enum"][:3] == ["已完成", "实施中", "未启动"]
    assert schema["required"] == ["name"] and schema["properties"]["year"]["type"][0] == "integer"


def test_content_crs_is_honoured(site):
    from kfqmap.crs import transform_xy

    client = bearer(site, "ed")
    x, y = transform_xy(121.02, 31.33, "EPSG:4326", "EPSG:4549")
    # EPSG:4549 in its authority axis order, as the items API writes it: northing, easting
    ring = [[y, x], [y, x + 200], [y + 200, x + 200], [y + 200, x], [y, x]]
    r = client.post(LEL, json={**parcel("高斯坐标"), "geometry": {"type": "Polygon", "coordinates": [ring]}},
                    headers={"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4549>"})
    assert r.status_code == 201, r.text
    lon, lat = r.json()["geometry"]["coordinates"][0][0]
    assert lon == pytest.approx(121.02, abs=1e-7) and lat == pytest.approx(31.33, abs=1e-7)
    # EPSG:4490 in its authority axis order (lat, lon)
    lat_lon = [[31.331, 121.021], [31.331, 121.022], [31.332, 121.022], [31.331, 121.021]]
    r = client.post(LEL, json={**parcel("纬经度"), "geometry": {"type": "Polygon", "coordinates": [lat_lon]}},
                    headers={"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4490>"})
    assert r.status_code == 201 and r.json()["geometry"]["coordinates"][0][0] == [121.021, 31.331]


def test_a_bulk_transaction_is_all_or_nothing(site):
    client = bearer(site, "ed")
    fid = create(client, parcel("批量1")).json()["id"]
    etag = client.get(f"{LEL}/{fid}").headers["etag"]
    before = client.get(LEL).json()["numberMatched"]
    ops = [{"op": "create", "feature": parcel("批量新增")},
           {"op": "update", "id": fid, "ifMatch": etag, "patch": {"properties": {"status": "已完成"}}},
           {"op": "delete", "id": "no_such_feature", "ifMatch": "*"}]
    r = client.post("/collections/low_efficiency_land/transactions", json={"operations": ops})
    assert r.status_code == 404
    assert client.get(LEL).json()["numberMatched"] == before
    assert client.get(f"{LEL}/{fid}").json()["properties"]["status"] == "未启动"
    assert len(client.get(f"{LEL}/{fid}/history").json()["changes"]) == 1
    r = client.post("/collections/low_efficiency_land/transactions", json={"operations": ops[:2], "note": "批量"})
    assert r.status_code == 200, r.text
    assert [x["op"] for x in r.json()["results"]] == ["create", "update"]
    assert client.get(LEL).json()["numberMatched"] == before + 1
    assert client.get(f"{LEL}/{fid}").headers["etag"] == r.json()["results"][1]["etag"]


def test_derived_data_follows_a_write_within_a_second(site):
    client = bearer(site, "ed")
    stats_before = client.get("/stats/layers/low_efficiency_land?unit=mu").json()
    tile = "/tiles/low_efficiency_land/14/13719/6688.mvt"
    tile_before = client.get(tile)
    created = create(client, parcel("统计测试", lon=121.4500, lat=31.3500))
    fid = created.json()["id"]
    deadline = time.monotonic() + 1.0
    while True:
        stats = client.get("/stats/layers/low_efficiency_land?unit=mu").json()
        found = client.get(LEL, params={"name": "统计测试"}).json()["numberMatched"]
        tile_after = client.get(tile)
        if (stats != stats_before and found == 1 and tile_after.headers.get("etag") != tile_before.headers.get("etag")):
            break
        assert time.monotonic() < deadline, "stats/items/tiles did not follow the write within 1 s"
        time.sleep(0.05)
    assert client.get(f"{LEL}/{fid}").status_code == 200


# ------------------------------------------------------------------------------------------ history and audit
def test_audit_trail_of_a_scripted_session_is_exactly_what_was_done(site, tmp_path):
    from kfqmap.history import now_utc

    ed, boss = login(site, "ed"), login(site, "boss")
    client_time = now_utc()              # same machine, same clock as the server's history rows
    tag = uuid.uuid4().hex[:6]
    done = []                       # (user, op, feature, note)
    a = create(ed, parcel(f"审计A{tag}"), headers={"X-Change-Note": "%E6%96%B0%E5%A2%9E%E5%9C%B0%E5%9D%97"})
    fa = a.json()["id"]
    done.append(("ed", "create", fa, "新增地块"))
    r = ed.patch(f"{LEL}/{fa}", json={"properties": {"status": "实施中", "year": 2025}},
                 headers={"If-Match": a.headers["etag"]})
    done.append(("ed", "update", fa, None))
    b = create(boss, {**parcel(f"审计B{tag}", lon=121.1), "note": "正文中的说明"})
    fb = b.json()["id"]
    done.append(("boss", "create", fb, "正文中的说明"))
    moved = {"geometry": square(121.2, 31.36)}
    r2 = boss.patch(f"{LEL}/{fb}", json=moved, headers={"If-Match": b.headers["etag"], "X-Change-Note": "move"})
    assert r2.status_code == 200
    done.append(("boss", "update", fb, "move"))
    assert ed.delete(f"{LEL}/{fa}", headers={"If-Match": r.headers["etag"]}).status_code == 204
    done.append(("ed", "delete", fa, None))
    # restore the deleted parcel to its state after the update (admin): recorded as a create with restored_from
    hist = boss.get(f"{LEL}/{fa}/history").json()["changes"]
    assert [c["op"] for c in hist] == ["delete", "update", "create"]            # newest first
    update_seq = hist[1]["seq"]
    assert hist[1]["changed"] == ["status", "year"] and hist[1]["address"] == "127.0.0.1"
    assert hist[1]["before"]["properties"]["status"] == "未启动" and hist[1]["after"]["properties"]["year"] == 2025
    restored = boss.post(f"{LEL}/{fa}/history/{update_seq}/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["properties"]["status"] == "实施中"
    done.append(("boss", "create", fa, f"恢复到第 {update_seq} 号修改后的版本"))
    # a refused change leaves no trace
    assert ed.patch(f"{LEL}/{fb}", json={"properties": {"status": "x"}},
                    headers={"If-Match": r2.headers["etag"]}).status_code == 422

    audit = boss.get("/audit", params={"from": client_time, "layer": "low_efficiency_land"}).json()["changes"]
    mine = [c for c in audit if c["feature_id"] in (fa, fb)]
    assert [(c["user"], c["op"], c["feature_id"], c["note"]) for c in mine] == done
    assert mine[-1]["restored_from"] == update_seq
    assert all(c["at"].endswith("Z") and c["at_beijing"] for c in mine)
    assert boss.get("/audit", params={"user": "boss", "from": client_time}).json()["count"] == 3
    # the viewer of history sees no addresses unless admin
    assert ed.get(f"{LEL}/{fa}/history").json()["changes"][0]["address"] is None
    # the CLI's audit report holds the same rows
    out = tmp_path / "audit.xlsx"
    run = cli(site["env"], "audit", "--from", client_time, "--layer", "low_efficiency_land", "--out", str(out))
    assert run.returncode == 0, run.stderr
    from openpyxl import load_workbook
    rows = [row for row in load_workbook(out).active.iter_rows(min_row=2, values_only=True) if row[5] in (fa, fb)]
    assert [(r[3], r[5], r[8] or None) for r in rows] == [(u, f, n) for u, _, f, n in done]
    assert [r[6] for r in rows] == ["新增", "修改", "新增", "修改", "删除", "新增（恢复）"]
    shown = cli(site["env"], "history", "low_efficiency_land", fa)
    assert shown.returncode == 0 and shown.stdout.count("\n") == 4
    # items?asof: before the session the parcels did not exist; between the steps they did
    asof = boss.get(LEL, params={"asof": client_time, "limit": 1000}).json()
    assert fa not in {f["id"] for f in asof["features"]} and fb not in {f["id"] for f in asof["features"]}
    middle = next(c["at"] for c in mine if c["op"] == "update" and c["feature_id"] == fa)
    then = {f["id"]: f for f in boss.get(LEL, params={"asof": middle, "limit": 1000}).json()["features"]}
    assert then[fa]["properties"]["status"] == "实施中" and fb not in then
    # statistics of a past date: the same rebuild
    stats_then = boss.get("/stats/layers/low_efficiency_land", params={"asof": middle}).json()
    stats_before = boss.get("/stats/layers/low_efficiency_land", params={"asof": client_time}).json()
    assert stats_then["count"] == stats_before["count"] + 1 == len(then)
    assert boss.get("/stats/layers/low_efficiency_land", params={"asof": middle, "by": "cores"}).status_code == 400


def test_history_is_append_only_in_the_database(site):
    with sqlite3.connect(site["store"]) as conn:
        assert conn.execute("SELECT count(*) FROM kfqmap_history").fetchone()[0] > 0
        for sql in ("UPDATE kfqmap_history SET user = 'x'", "DELETE FROM kfqmap_history"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)


def test_passwords_and_tokens_are_stored_hashed(site):
    with sqlite3.connect(site["store"]) as conn:
        text = json.dumps(conn.execute("SELECT * FROM kfqmap_users").fetchall() +
                          conn.execute("SELECT * FROM kfqmap_tokens").fetchall(), ensure_ascii=False)
    assert all(p not in text for p in PASSWORDS.values()) and site["viewer_token"] not in text
    assert "$argon2id$" in text
    log = site["server"].log.read_text(errors="replace")
    assert all(p not in log for p in PASSWORDS.values())


# ------------------------------------------------------------------------------------------ closed system
def test_anonymous_none_closes_everything_but_the_login(site, tmp_path):
    env = {**site["env"], "KFQMAP_ANONYMOUS": "none"}
    server = start(env, tmp_path / "closed.log")
    try:
        anon = httpx.Client(base_url=server.url, timeout=60)
        for path in ("/collections", LEL, "/tiles/plan/10/857/418.mvt", "/stats/layers", "/web/catalog.json",
                     "/search?q=青阳港"):
            r = anon.get(path)
            assert r.status_code == 401, path
            assert r.headers["content-type"] == "application/problem+json"
        assert anon.get("/auth/me").status_code == 200 and anon.get("/auth/me").json()["anonymous"] is True
        r = anon.post("/auth/login", json={"username": "vic", "password": PASSWORDS["vic"]})
        assert r.status_code == 200
        assert anon.get("/collections").status_code == 200                  # the session cookie now
        token = httpx.Client(base_url=server.url, timeout=60,
                             headers={"Authorization": f"Bearer {site['viewer_token']}"})
        assert token.get(LEL).status_code == 200
        assert token.post(LEL, json=parcel("查看者")).status_code == 403
        # a tile in the tile cache's fast path is still closed to anonymous requests
        tile = "/tiles/plan/10/857/418.mvt"
        assert token.get(tile).status_code in (200, 204) and token.get(tile).status_code in (200, 204)
        assert httpx.get(server.url + tile).status_code == 401
    finally:
        server.stop()


def test_a_change_made_by_another_program_shows_in_the_history(site):
    """QGIS (here: another SQLite connection to the store file) changes a feature while the server runs: the
    history and the audit show it, as 外部程序, with before and after."""
    from kfqmap.providers.gpkg import EXTERNAL_USER, connect

    admin = bearer(site, "boss")
    before = admin.get(f"{LEL}/lel_5").json()["properties"]["name"]
    other = connect(site["store"])
    try:
        other.execute("UPDATE low_efficiency_land SET name = 'QGIS 改名' WHERE id = 'lel_5'")
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while admin.get(f"{LEL}/lel_5").json()["properties"]["name"] != "QGIS 改名":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [change] = [c for c in admin.get(f"{LEL}/lel_5/history").json()["changes"] if c["user"] == EXTERNAL_USER]
    assert change["op"] == "update" and change["changed"] == ["name"]
    assert change["before"]["properties"]["name"] == before and change["after"]["properties"]["name"] == "QGIS 改名"
    assert any(c["feature_id"] == "lel_5" for c in admin.get("/audit", params={"user": EXTERNAL_USER}).json()["changes"])

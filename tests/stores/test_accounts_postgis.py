"""Accounts shared by workers on several machines (issue 16) with the PostGIS store: two real ``kfqmap serve``
processes, each with its own data directory (two machines), on one PostgreSQL database. A user and a token made
with the CLI through one work on the other; a session made on A works on B with its CSRF token; a revocation or
logout on A is a 401 on B; failed logins on both count towards one lockout. The SQLite account file of the data
directory where the PostGIS store is first used is copied over (users and tokens keep working)."""
from __future__ import annotations

import subprocess
import sys

import httpx
import psycopg
import pytest

from kfqmap.accounts import AccountStore, parse_duration
from kfqmap.settings import CatalogSettings
from tests.server.proc_server import MINI_GEODATA, REPO, server_env, start

LEL = "/collections/low_efficiency_land/items"
PARCEL = {"type": "Feature", "properties": {"name": "两台机器", "status": "未启动", "year": 2024},
          "geometry": {"type": "Polygon", "coordinates": [[[121.0, 31.35], [121.002, 31.35], [121.002, 31.352],
                                                           [121.0, 31.352], [121.0, 31.35]]]}}


def cli(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", "from kfqmap.cli.main import cli; cli()", *args], env=env,
                          input=stdin, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def machines(pg, tmp_path_factory):
    base = tmp_path_factory.mktemp("two-machines")
    pg.psql("CREATE DATABASE accounts_two", dbname="postgres")
    pg.psql("CREATE EXTENSION postgis", dbname="accounts_two")
    dsn = pg.dsn.replace(f"/{pg.dbname}?", "/accounts_two?")
    # machine A ran with the embedded store before: its data directory holds a SQLite account file
    legacy = AccountStore.open(CatalogSettings(geodata_dir=MINI_GEODATA, data_dir=base / "a").store_path())
    legacy.add_user("legacy", "editor", password="legacy-pass-1", layers=["low_efficiency_land"])
    _, legacy_token = legacy.create_token("legacy", expires=parse_duration("1d"))
    legacy.close()
    envs = {name: server_env(base / f"scratch-{name}", KFQMAP_DATA_DIR=str(base / name), KFQMAP_STORE="postgis",
                             KFQMAP_STORE_DSN=dsn) for name in "ab"}
    cli(envs["a"], "users", "add", "ed", "--role", "editor", "--password-stdin", stdin="editor-pass-1\n")
    token = cli(envs["a"], "tokens", "create", "--user", "ed", "--expires", "1d").stdout.strip()
    servers = {}
    try:
        for name in "ab":
            servers[name] = start(envs[name], base / f"server-{name}.log")
        yield {"env": envs, "url": {k: s.url for k, s in servers.items()}, "token": token, "dsn": dsn,
               "legacy_token": legacy_token, "base": base}
    finally:
        for server in servers.values():
            server.stop()


def client(machines, name: str, **kw) -> httpx.Client:
    return httpx.Client(base_url=machines["url"][name], timeout=60, **kw)


def test_accounts_live_in_postgresql_not_in_the_data_directories(machines):
    with psycopg.connect(machines["dsn"]) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM kfqmap.users ORDER BY name").fetchall()]
    assert names == ["ed", "legacy"]
    # machine B's data directory has no account file of its own to diverge from
    assert not list((machines["base"] / "b").glob("kfqmap*.gpkg"))


def test_a_token_made_with_the_cli_on_a_works_on_b(machines):
    b = client(machines, "b", headers={"Authorization": f"Bearer {machines['token']}"})
    me = b.get("/auth/me").json()
    assert me["user"] == "ed" and me["role"] == "editor"
    made = b.post(LEL, json=PARCEL)
    assert made.status_code == 201, made.text
    fid = made.json()["id"]
    etag = b.get(f"{LEL}/{fid}").headers["etag"]
    assert b.patch(f"{LEL}/{fid}", json={"properties": {"status": "实施中"}},
                   headers={"If-Match": etag}).status_code == 200
    # the CLI on B lists the user made through A
    assert "ed" in cli(machines["env"]["b"], "users", "list").stdout


def test_users_and_tokens_of_the_old_account_file_were_moved(machines):
    b = client(machines, "b", headers={"Authorization": f"Bearer {machines['legacy_token']}"})
    assert b.get("/auth/me").json()["user"] == "legacy"
    r = client(machines, "b").post("/auth/login", json={"username": "legacy", "password": "legacy-pass-1"})
    assert r.status_code == 200 and r.json()["layers"] == ["low_efficiency_land"]


def test_a_session_made_on_a_works_on_b_with_its_csrf_token(machines):
    a = client(machines, "a")
    r = a.post("/auth/login", json={"username": "ED", "password": "editor-pass-1"})    # names ignore case
    assert r.status_code == 200, r.text
    csrf, cookie = r.json()["csrf"], a.cookies
    b = client(machines, "b", cookies=cookie)
    assert b.get("/auth/me").json()["user"] == "ed"
    assert b.post(LEL, json=PARCEL).status_code == 403                        # no CSRF header
    assert b.post(LEL, json=PARCEL, headers={"X-CSRF-Token": csrf}).status_code == 201
    # logout on A ends the session on B
    assert a.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert b.get("/auth/me").json()["anonymous"] is True
    assert b.post(LEL, json=PARCEL, headers={"X-CSRF-Token": csrf}).status_code == 401


def test_a_token_revoked_on_a_is_refused_on_b(machines):
    env_a = machines["env"]["a"]
    secret = cli(env_a, "tokens", "create", "--user", "ed", "--expires", "1h").stdout.strip()
    b = client(machines, "b", headers={"Authorization": f"Bearer {secret}"})
    assert b.get("/auth/me").json()["user"] == "ed"
    with psycopg.connect(machines["dsn"]) as conn:
        [token_id] = [r[0] for r in conn.execute("SELECT id FROM kfqmap.tokens WHERE revoked_at IS NULL "
                                                 "ORDER BY created_at DESC LIMIT 1").fetchall()]
    cli(env_a, "tokens", "revoke", token_id)
    r = b.get("/auth/me")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


def test_failed_logins_on_both_machines_count_towards_one_lockout(machines):
    cli(machines["env"]["b"], "users", "add", "target", "--role", "viewer", "--password-stdin", stdin="target-pass-1\n")
    a, b = client(machines, "a"), client(machines, "b")
    for i in range(5):                      # KFQMAP_LOGIN_MAX_FAILURES = 5: 3 on A, 2 on B
        r = (a if i < 3 else b).post("/auth/login", json={"username": "target", "password": "wrong-pass-1"})
        assert r.status_code == 401
    for machine in (a, b):                   # now even the right password waits, on either machine
        r = machine.post("/auth/login", json={"username": "target", "password": "target-pass-1"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0

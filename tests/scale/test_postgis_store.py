"""``KFQMAP_STORE=postgis``: the plan layers seeded into PostgreSQL serve exactly what the embedded GeoPackage store
serves, and an edit through one catalog (one machine) is seen by another."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kfqmap.catalog import load_catalog
from kfqmap.providers.postgis import PostGISProvider
from kfqmap.settings import CatalogSettings
from server.app import create_app

from .pgpair import wait_for

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini_geodata"


def close_all(catalog) -> None:
    """Stop the PostGIS providers' pollers (the cluster outlives this module, the catalogs do not)."""
    for layer in catalog.layers:
        provider = catalog.collection(layer.id).provider
        if isinstance(provider, PostGISProvider):
            provider.close()


@pytest.fixture(scope="module")
def stores(pg_pair, tmp_path_factory):
    primary, _ = pg_pair
    primary.psql("CREATE DATABASE storecmp", dbname="postgres")    # its own database: other tests edit theirs
    primary.psql("CREATE EXTENSION postgis", dbname="storecmp")
    pg_settings = CatalogSettings(store="postgis", store_dsn=primary.dsn.replace(f"/{primary.dbname}?", "/storecmp?"))
    gpkg_settings = CatalogSettings(store="gpkg", data_dir=tmp_path_factory.mktemp("gpkg"))
    return primary, pg_settings, gpkg_settings


def test_plan_layers_are_served_from_postgis_exactly_as_from_the_geopackage(stores):
    primary, pg_settings, gpkg_settings = stores
    pg_app, gpkg_app = create_app(pg_settings), create_app(gpkg_settings)
    catalog = pg_app.state.catalog
    spatial = [layer.id for layer in catalog.layers if layer.geometry_type != "None"]
    assert spatial and all(isinstance(catalog.collection(i).provider, PostGISProvider) for i in spatial)
    import psycopg

    with psycopg.connect(pg_settings.store_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM kfqmap.plan_layers").fetchone()[0] == len(spatial)
    with TestClient(pg_app) as a, TestClient(gpkg_app) as b:
        for layer_id in [layer.id for layer in catalog.layers]:
            got = a.get(f"/collections/{layer_id}/items", params={"limit": 1000})
            want = b.get(f"/collections/{layer_id}/items", params={"limit": 1000})
            assert got.status_code == want.status_code == 200, (layer_id, got.text[:300])
            got, want = got.json(), want.json()
            assert got["numberMatched"] == want["numberMatched"], layer_id
            assert [f["properties"] for f in got["features"]] == [f["properties"] for f in want["features"]], \
                layer_id
            assert [f["geometry"] for f in got["features"]] == [f["geometry"] for f in want["features"]], layer_id
        assert a.get("/stats/layers", params={"unit": "mu"}).json() == b.get("/stats/layers",
                                                                             params={"unit": "mu"}).json()
    close_all(catalog)


def test_an_edit_on_one_machine_is_seen_on_another_and_survives_a_restart(stores):
    primary, pg_settings, _ = stores
    machine_a, machine_b = load_catalog(pg_settings), load_catalog(pg_settings)   # a second open: no re-seed
    try:
        feature_id = machine_a.read("cores").index[0]
        machine_a.collection("cores").update(feature_id, {"properties": {"name": "核心区（已编辑）"}})
        wait_for(lambda: machine_b.read("cores").loc[feature_id, "name"] == "核心区（已编辑）",
                 what="the edit on the other machine")
        restarted = load_catalog(pg_settings)          # seeding again must not overwrite the edited layer
        assert restarted.read("cores").loc[feature_id, "name"] == "核心区（已编辑）"
        close_all(restarted)
    finally:
        close_all(machine_a)
        close_all(machine_b)


def _rename_first(path: Path, name: str) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    data["features"][0]["properties"]["name"] = name
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return data["features"][0]["properties"]["id"]


def test_new_plan_data_reseeds_unedited_layers_and_keeps_edited_ones(pg_pair, tmp_path):
    primary, _ = pg_pair
    primary.psql("CREATE DATABASE upgrades", dbname="postgres")
    primary.psql("CREATE EXTENSION postgis", dbname="upgrades")
    geodata = tmp_path / "geodata"
    shutil.copytree(MINI, geodata)
    settings = CatalogSettings(geodata_dir=geodata, store="postgis",
                               store_dsn=primary.dsn.replace(f"/{primary.dbname}?", "/upgrades?"))
    first = load_catalog(settings)
    edited_id = first.read("cores").index[0]
    first.collection("cores").update(edited_id, {"properties": {"name": "规划师改过"}})
    close_all(first)
    _rename_first(geodata / "layers" / "cores.geojson", "新版规划数据")
    rivers_id = _rename_first(geodata / "layers" / "rivers.geojson", "新版河流名")
    second = load_catalog(settings)
    try:
        assert second.read("cores").loc[edited_id, "name"] == "规划师改过"          # edited: kept
        assert second.read("rivers").loc[rivers_id, "name"] == "新版河流名"        # unedited: re-seeded
    finally:
        close_all(second)


def test_store_postgis_without_a_dsn_or_with_a_password_is_a_one_line_start_error(tmp_path):
    import os
    import subprocess
    import sys

    for dsn, word in (("", "KFQMAP_STORE_DSN"), ("postgresql://gis:secret@db/kfq", "PGPASSWORD")):
        env = {**os.environ, "KFQMAP_STORE": "postgis", "KFQMAP_STORE_DSN": dsn, "KFQMAP_DATA_DIR": str(tmp_path)}
        proc = subprocess.run([sys.executable, "-m", "kfqmap.cli.main", "layers"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-500:]
        assert word in proc.stderr and "secret" not in proc.stderr


def test_indicator_actuals_are_refused_cleanly_with_the_postgis_store(stores):
    """Actuals live in the GeoPackage only (for now): with the PostGIS store the status still answers and entering
    one is a 4xx problem, never a 500."""
    _, pg_settings, _ = stores
    app = create_app(pg_settings)
    try:
        accounts = app.state.accounts          # with the PostGIS store, accounts live in the machine's GeoPackage
        accounts.add_user("pg-editor", "editor")
        token = accounts.create_token("pg-editor", expires=None)[1]
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            status = client.get("/indicators/status")
            assert status.status_code == 200, status.text[:300]
            first = client.get("/indicators").json()
            indicator = (first.get("indicators") or first.get("features") or [{}])[0]
            ind_id = indicator.get("id") or indicator.get("properties", {}).get("id")
            put = client.put(f"/indicators/{ind_id}/actuals/2023", json={"value": 1, "source": "测试"})
            assert 400 <= put.status_code < 500, put.text[:300]
            assert put.headers["content-type"].startswith("application/problem+json")
            assert "KFQMAP_STORE" in put.json()["detail"], put.text[:300]
    finally:
        close_all(app.state.catalog)

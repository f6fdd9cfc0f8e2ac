"""Editing the plan layers when they live in PostgreSQL (``KFQMAP_STORE=postgis``): the same write path, ETags,
history in ``kfqmap.history`` and /audit as with the embedded store; accounts in the same database
(``kfqmap.accounts_pg``; several machines: ``tests/stores/test_accounts_postgis.py``)."""
from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kfqmap.accounts import parse_duration
from kfqmap.providers.postgis import PostGISProvider
from kfqmap.settings import CatalogSettings
from server.app import create_app

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini_geodata"
ITEMS = "/collections/low_efficiency_land/items"


def test_editing_plan_layers_in_a_postgis_store(pg_pair, tmp_path):
    primary, _ = pg_pair
    primary.psql("CREATE DATABASE storeedit", dbname="postgres")
    primary.psql("CREATE EXTENSION postgis", dbname="storeedit")
    settings = CatalogSettings(geodata_dir=MINI, store="postgis", data_dir=tmp_path, extra_layers="",
                               store_dsn=primary.dsn.replace(f"/{primary.dbname}?", "/storeedit?"))
    app = create_app(settings)
    try:
        assert isinstance(app.state.catalog.collection("low_efficiency_land").provider, PostGISProvider)
        app.state.accounts.add_user("pgboss", "admin", password="pg-boss-pass")
        _, token = app.state.accounts.create_token("pgboss", expires=parse_duration("1h"))
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            got = client.get(f"{ITEMS}/lel_0")
            assert got.status_code == 200 and got.headers["etag"]
            ok = client.patch(f"{ITEMS}/lel_0", json={"properties": {"status": "实施中"}, "note": "pg store"},
                              headers={"If-Match": got.headers["etag"]})
            assert ok.status_code == 200, ok.text
            stale = client.patch(f"{ITEMS}/lel_0", json={"properties": {"status": "已完成"}},
                                 headers={"If-Match": got.headers["etag"]})
            assert stale.status_code == 412
            bad = client.patch(f"{ITEMS}/lel_0", json={"properties": {"status": "别的"}},
                               headers={"If-Match": ok.headers["etag"]})
            assert bad.status_code == 422                     # the plan layer's allowed values hold here too
            [change] = client.get(f"{ITEMS}/lel_0/history").json()["changes"]
            assert (change["user"], change["op"], change["note"], change["changed"]) == \
                ("pgboss", "update", "pg store", ["status"])
            audit = client.get("/audit").json()["changes"]
            assert [(c["layer"], c["feature_id"]) for c in audit] == [("low_efficiency_land", "lel_0")]
            assert client.get(f"{ITEMS}/lel_0").json()["properties"]["status"] == "实施中"
    finally:
        for layer in app.state.catalog.layers:
            provider = app.state.catalog.collection(layer.id).provider
            if isinstance(provider, PostGISProvider):
                provider.close()

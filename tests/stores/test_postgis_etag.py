"""Every single-feature GET carries the If-Match ETag on the PostGIS store (``KFQMAP_STORE=postgis``) too, for a
layer read whole (in memory) and one served by pushdown; and a tile ``asof`` before an edit shows the old geometry.
The assertions are those of the GeoPackage store."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kfqmap.providers import postgis as P
from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.testing import MINI_GEODATA
from kfqmap.accounts import parse_duration
from tests.server.test_feature_etag import check_etag_round_trip
from tests.server.test_tiles_asof import check_asof_tiles


@pytest.mark.parametrize("pushdown", [False, True], ids=["in-memory", "pushdown"])
def test_every_feature_get_carries_the_if_match_etag_on_the_postgis_store(pg, tmp_path, monkeypatch, pushdown):
    db = f"etag_{'push' if pushdown else 'mem'}"
    pg.psql(f"CREATE DATABASE {db}", dbname="postgres")
    pg.psql("CREATE EXTENSION postgis", dbname=db)
    monkeypatch.setattr(P, "MEMORY_ROWS", -1 if pushdown else 50_000)
    app = create_app(CatalogSettings(geodata_dir=MINI_GEODATA, store="postgis", data_dir=tmp_path, extra_layers="",
                                     store_dsn=pg.dsn.replace(f"/{pg.dbname}?", f"/{db}?")))
    try:
        collection = app.state.catalog.collection("low_efficiency_land")
        assert isinstance(collection.provider, P.PostGISProvider) and collection.pushdown is pushdown
        with TestClient(app):
            check_etag_round_trip(app, "lel_0")
    finally:
        for layer in app.state.catalog.layers:
            provider = app.state.catalog.collection(layer.id).provider
            if isinstance(provider, P.PostGISProvider):
                provider.close()


def test_a_tile_as_of_before_an_edit_on_the_postgis_store(pg, tmp_path):
    pg.psql("CREATE DATABASE asof_tiles", dbname="postgres")
    pg.psql("CREATE EXTENSION postgis", dbname="asof_tiles")
    app = create_app(CatalogSettings(geodata_dir=MINI_GEODATA, store="postgis", data_dir=tmp_path, extra_layers="",
                                     store_dsn=pg.dsn.replace(f"/{pg.dbname}?", "/asof_tiles?")))
    try:
        app.state.accounts.add_user("asof_pg", "editor", password="asof-pg-pass-1")
        _, token = app.state.accounts.create_token("asof_pg", expires=parse_duration("1h"))
        with TestClient(app) as anon:
            check_asof_tiles(anon, TestClient(app, headers={"Authorization": f"Bearer {token}"}))
    finally:
        for layer in app.state.catalog.layers:
            provider = app.state.catalog.collection(layer.id).provider
            if isinstance(provider, P.PostGISProvider):
                provider.close()

"""``kfqmap tiles seed`` of a large PostGIS (pushdown) layer: candidate tiles come from the database and tiles are
encoded by ``ST_AsMVT`` in batches, never by loading the table; the PMTiles archive it writes holds, tile for tile,
what the live tile route answers, and no non-empty tile is missing from it."""
from __future__ import annotations

import gzip

import mapbox_vector_tile
import mercantile
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import kfqmap.providers.postgis as P
from kfqmap.catalog import load_catalog
from kfqmap.cli.main import cli
from kfqmap.settings import GEODATA_DIR, CatalogSettings
from kfqmap.tiles import TileEngine
from kfqmap import tileseed
from server.app import create_app

PLAN = "low_efficiency_land"
ZOOMS = [11, 12, 13, 14, 15]


def _features(body: bytes) -> list:
    layers = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
    return sorted((name, f["id"], f["properties"].get("id"), repr(f["geometry"]))
                  for name, layer in layers.items() for f in layer["features"])


def _archive(path) -> dict[tuple[int, int, int], bytes]:
    from pmtiles.reader import MmapSource, Reader, all_tiles

    with open(path, "rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        assert header["tile_type"].name == "MVT" and header["tile_compression"].name == "GZIP"
        assert (header["min_zoom"], header["max_zoom"]) == (ZOOMS[0], ZOOMS[-1])
        return {(z, x, y): gzip.decompress(data) for (z, x, y), data in all_tiles(reader.get_bytes)}


@pytest.fixture()
def big(pg, monkeypatch):
    monkeypatch.setattr(P, "MEMORY_ROWS", -1)           # the plan's parcels, served as a "large" table
    monkeypatch.setenv("KFQMAP_EXTRA_LAYERS", f"big={pg.dsn}#public.{PLAN}")
    return CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=f"big={pg.dsn}#public.{PLAN}")


def test_seeded_archive_equals_the_live_tile_route(big, tmp_path):
    catalog = load_catalog(big)
    assert catalog.collection("big").pushdown
    engine = TileEngine(catalog)
    out = tmp_path / "big.pmtiles"
    stats = tileseed.seed(engine, "big", ZOOMS, out, processes=2)   # would raise if the table were read whole
    tiles = _archive(out)
    assert stats.tiles == len(tiles) > 0 and set(stats.per_zoom) == set(ZOOMS)
    assert all(stats.per_zoom[z] == sum(1 for t in tiles if t[0] == z) for z in ZOOMS)
    bounds = catalog.collection("big").provider.extent()
    with TestClient(create_app(big)) as client:
        for z in ZOOMS:
            # every tile over the layer's bounds plus one ring: present in the archive exactly when the route
            # answers a non-empty tile, with the same features
            ts = list(mercantile.tiles(*bounds, zooms=[z]))
            xs, ys = [t.x for t in ts], [t.y for t in ts]
            for x in range(min(xs) - 1, max(xs) + 2):
                for y in range(min(ys) - 1, max(ys) + 2):
                    r = client.get(f"/tiles/big/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
                    assert r.status_code in (200, 204), r.text
                    live = _features(r.content) if r.status_code == 200 and r.content else []
                    if (z, x, y) in tiles:
                        assert _features(tiles[(z, x, y)]) == live and live, (z, x, y)
                    else:
                        assert live == [], f"tile {z}/{x}/{y} has features but is not in the archive"
    catalog.collection("big").provider.close()


def test_cli_seeds_a_pushdown_layer(big, tmp_path):
    out = tmp_path / "big.pmtiles"
    res = CliRunner().invoke(cli, ["tiles", "seed", "--tileset", "big", "--zooms", "11-15", "--quiet",
                                   "--processes", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(_archive(out)) > 0 and "个瓦片" in res.output

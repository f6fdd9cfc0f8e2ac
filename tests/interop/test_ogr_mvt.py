"""GDAL reads KFQMap's vector tiles: a single .mvt file, a georeferenced z/x/y file, a seeded MBTiles file,
tiles over HTTP (``MVT:http://...``) and, where the collection document links its tilesets, the OGCAPI driver."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import mapbox_vector_tile
import mercantile
import pytest

from kfqmap.catalog import load_catalog
from kfqmap.settings import CatalogSettings
from kfqmap.tiles import TileEngine, lonlat_to_mercator
from kfqmap.tileseed import seed
from server.testing import live_server  # noqa: F401

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL ogrinfo not installed")]


def ogrinfo(*args: str) -> str:
    out = subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def layer_counts(text: str) -> dict[str, int]:
    names = re.findall(r"^Layer name: (\S+)", text, flags=re.M)
    counts = [int(c) for c in re.findall(r"^Feature Count: (\d+)", text, flags=re.M)]
    return dict(zip(names, counts))


@pytest.fixture(scope="module")
def engine():
    try:
        catalog = load_catalog()
    except Exception:
        from server.testing import MINI_GEODATA
        catalog = load_catalog(CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers=""))
    return TileEngine(catalog)


@pytest.fixture(scope="module")
def known(engine):
    layer_id = next(i for i in ("key_projects", "axis_carriers", "s1_stations") if i in engine.catalog.ids)
    feat = engine.catalog.read(layer_id).iloc[0]
    t = mercantile.tile(feat.geometry.x, feat.geometry.y, 14)
    return layer_id, feat, t


def test_single_tile_layers_and_counts(engine, known, tmp_path):
    _, _, t = known
    data = engine.tile("plan", 14, t.x, t.y)
    path = tmp_path / "tile.mvt"
    path.write_bytes(data)
    want = {name: len(layer["features"]) for name, layer in mapbox_vector_tile.decode(data).items()}
    got = layer_counts(ogrinfo("-al", "-so", str(path)))
    assert got == want and got


def test_georeferenced_tile_coordinates(engine, known, tmp_path):
    """In a z/x/y path GDAL georeferences the tile (EPSG:3857): the known point is where lon/lat says."""
    layer_id, feat, t = known
    path = tmp_path / "14" / str(t.x) / f"{t.y}.mvt"
    path.parent.mkdir(parents=True)
    path.write_bytes(engine.tile("plan", 14, t.x, t.y))
    text = ogrinfo(str(path), layer_id, "-where", f"id = '{feat['id']}'")
    assert "EPSG\",3857" in text.replace(" ", "")
    m = re.search(r"POINT \(([-\d.]+) ([-\d.]+)\)", text)
    assert m, text
    x, y = float(m.group(1)), float(m.group(2))
    ex, ey = lonlat_to_mercator(feat.geometry.x, feat.geometry.y)
    unit = 2 * 20037508.342789244 / 2**14 / 4096      # one tile unit at z14, metres
    assert abs(x - ex) <= unit and abs(y - ey) <= unit
    assert feat["name"] in text


def test_seeded_mbtiles(engine, tmp_path):
    out = tmp_path / "plan.mbtiles"
    stats = seed(engine, "plan", [10, 11], out, processes=1)
    assert stats.tiles > 0 and stats.max_tile_bytes <= 500_000
    text = ogrinfo("-so", str(out))
    listed = set(re.findall(r"^\d+: (\S+)", text, flags=re.M))
    assert listed and listed <= {s.name for s in engine.tileset("plan").sources}


def test_seeded_pmtiles_readable(engine, tmp_path):
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import zxy_to_tileid  # noqa: F401
    import gzip

    out = tmp_path / "plan.pmtiles"
    stats = seed(engine, "plan", [12], out, processes=1)
    with open(out, "rb") as f:
        reader = Reader(MmapSource(f))
        header = reader.header()
        assert header["min_zoom"] == 12 and header["max_zoom"] == 12
        assert header["addressed_tiles_count"] == stats.tiles
        meta = reader.metadata()
        assert {v["id"] for v in meta["vector_layers"]} == {s.name for s in engine.tileset("plan").sources}


def test_mvt_over_http(live_server, known):
    layer_id, feat, t = known
    text = ogrinfo("-so", f"MVT:{live_server.url}/tiles/plan/14/{t.x}/{t.y}.mvt")
    assert layer_id in text


@pytest.mark.xfail(reason="Debian GDAL 3.6's OGCAPI driver fetches the tilesets, the tileset and the tile matrix set "
                          "(TMS 1.0 and 2.0 members both served) and then gives up without a message; not solved yet",
                   strict=False)
def test_ogcapi_driver_reads_collection_tiles(live_server):
    import httpx

    doc = httpx.get(f"{live_server.url}/collections/cores").json()
    rels = {link["rel"] for link in doc.get("links", [])}
    if "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector" not in rels:
        pytest.skip("the collection document does not link its tilesets yet "
                    "(server/routers/features.py should add server.routers.tiles.collection_links)")
    text = ogrinfo("-so", "-oo", "API=TILES", f"OGCAPI:{live_server.url}/collections/cores")
    assert "cores" in text

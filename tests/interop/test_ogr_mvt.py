"""GDAL reads KFQMap's vector tiles: a single .mvt file, a georeferenced z/x/y file, a seeded MBTiles file,
tiles over HTTP (``MVT:http://...``) and, where the collection document links its tilesets, the OGCAPI driver."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import mapbox_vector_tile
import morecantile
import pytest

from kfqmap.catalog import load_catalog
from kfqmap.settings import CatalogSettings
from kfqmap.tiles import TileEngine, lonlat_to_mercator
from kfqmap.tileseed import seed
from server.testing import live_server  # noqa: F401

TMS = morecantile.tms.get("WebMercatorQuad")

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
    t = TMS.tile(feat.geometry.x, feat.geometry.y, 14)
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


# ------------------------------------------------------------------ GDAL's OGCAPI driver (OGC API – Tiles)
# Debian bookworm's GDAL 3.6.2 is built without the OGCAPI driver's vector-tile branch: frmts/ogcapi is
# configured before ogr/ogrsf_frmts defines OGR_ENABLE_DRIVER_GML, so the ``#ifdef OGR_ENABLE_DRIVER_GML`` block
# that creates the "Zoom level N" layers is compiled out (libgdal.so.32 lacks its string literals); fixed in GDAL
# 3.7.1 (OSGeo/gdal#7993). It fetches the collection, tilesets, tileset and tile matrix set, then gives up without a
# message, for any server. So the client here is the GDAL that pyogrio's wheel bundles (3.9+), through its
# OGCAPI driver — the same C++ code QGIS and ogrinfo run.

_READ_SCRIPT = """
import json, sys
import pyogrio
url, layer, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
frame = pyogrio.read_dataframe(url, layer=layer, **options)
print(json.dumps({"crs": frame.crs.to_string(), "features": json.loads(frame.to_json())["features"]}))
"""


def _ogcapi_gdal():
    pyogrio = pytest.importorskip("pyogrio")
    if "OGCAPI" not in pyogrio.list_drivers():
        pytest.skip("pyogrio's GDAL has no OGCAPI driver")
    version = tuple(int(p) for p in pyogrio.__gdal_version_string__.split(".")[:3])
    if version < (3, 7, 1):
        pytest.skip(f"GDAL {pyogrio.__gdal_version_string__} predates the OGCAPI vector-tile fix (3.7.1)")


def gdal_ogcapi(url: str, layer: str | None = None, **open_options: str):
    """GDAL (pyogrio's) in a child process — the live server runs in a thread of this one, and GDAL's HTTP
    calls hold the GIL. ``layer=None`` → the layer names; else (CRS, GeoDataFrame) of that layer."""
    import json
    import sys

    import geopandas as gpd

    if layer is None:
        code = "import sys, pyogrio; print('\\n'.join(n for n, _ in pyogrio.list_layers(sys.argv[1])))"
        args = [sys.executable, "-c", code, url]
    else:
        args = [sys.executable, "-c", _READ_SCRIPT, url, layer, json.dumps(open_options)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    if layer is None:
        return out.stdout.split("\n")[:-1]
    doc = json.loads(out.stdout)
    return doc["crs"], gpd.GeoDataFrame.from_features(doc["features"], crs=doc["crs"])


@pytest.mark.parametrize("layer_id, zoom", [("cores", 16), ("key_projects", 14)])
def test_ogcapi_driver_reads_tileset(live_server, engine, layer_id, zoom):
    """``OGCAPI:<server>/collections/{id}/tiles/WebMercatorQuad`` opens with no option: one layer per zoom in
    tileMatrixSetLimits; every feature comes back with its Chinese attributes, and the tile pieces, put back
    together, cover the same ground as the GeoJSON items (EPSG:3857; polygons within 0.5 % at z16, points
    within one tile unit)."""
    _ogcapi_gdal()
    import httpx

    url = f"OGCAPI:{live_server.url}/collections/{layer_id}/tiles/WebMercatorQuad"
    tileset = httpx.get(f"{live_server.url}/collections/{layer_id}/tiles/WebMercatorQuad").json()
    zooms = [int(lim["tileMatrix"]) for lim in tileset["tileMatrixSetLimits"]]
    assert gdal_ogcapi(url) == [f"Zoom level {z}" for z in zooms]

    crs, got = gdal_ogcapi(url, f"Zoom level {zoom}")
    assert crs.upper() == "EPSG:3857"
    want = engine.catalog.read(layer_id).to_crs(3857)
    assert set(got["id"]) == set(want["id"])
    names = got.drop_duplicates("id").set_index("id")["name"]
    assert names.to_dict() == want.set_index("id")["name"].to_dict()      # Chinese text intact

    pieces, originals = got.dissolve(by="id").geometry, want.set_index("id").geometry
    if want.geom_type.iloc[0].endswith("Polygon"):
        for fid, geom in originals.items():
            assert abs(pieces[fid].area - geom.area) / geom.area < 0.005, fid
            assert pieces[fid].symmetric_difference(geom).area / geom.area < 0.005, fid
    else:
        unit = 2 * 20037508.342789244 / 2**zoom / 4096      # one tile unit, metres
        for fid, geom in originals.items():
            assert pieces[fid].distance(geom) <= unit, fid


def test_ogcapi_driver_reads_collection_tiles(live_server, engine):
    """From the Features collection document (extent in CRS84, as OGC API Features requires) GDAL follows the
    tilesets-vector link; it takes the extent as tile-matrix-set coordinates, so the EPSG:3857 box goes in the
    MINX/MINY/MAXX/MAXY open options that GDAL documents for this."""
    _ogcapi_gdal()
    import httpx

    doc = httpx.get(f"{live_server.url}/collections/cores").json()
    assert "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector" in {link["rel"] for link in doc["links"]}
    w, s, e, n = doc["extent"]["spatial"]["bbox"][0]
    (x0, x1), (y0, y1) = lonlat_to_mercator([w, e], [s, n])
    box = {"MINX": str(x0), "MINY": str(y0), "MAXX": str(x1), "MAXY": str(y1)}
    _, got = gdal_ogcapi(f"OGCAPI:{live_server.url}/collections/cores", "Zoom level 14", API="TILES", **box)
    assert set(got["id"]) == set(engine.catalog.read("cores")["id"])

"""kfqmap.tiles: tile maths, the numpy MVT encoder (decoded with mapbox_vector_tile), clipping, dropping."""
from __future__ import annotations

import json

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
import shapely
from google.protobuf.internal.encoder import _VarintBytes
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from kfqmap import tiles as T
from kfqmap.tiles import encode as encode_module
from kfqmap.catalog import load_catalog
from kfqmap.errors import InvalidParameter, LayerNotFound, TileOutOfRange
from kfqmap.settings import CatalogSettings

TMS = morecantile.tms.get("WebMercatorQuad")

Z, LON, LAT = 14, 121.0, 31.38
TX, TY = TMS.tile(LON, LAT, Z).x, TMS.tile(LON, LAT, Z).y


def decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def tile_message(layer_bytes: bytes) -> bytes:
    return T.tile_message([layer_bytes])


@pytest.fixture(scope="module")
def synthetic():
    """Features around a known point: a square, a square with a hole, a multipolygon, a line, a point."""
    w, s, e, n = TMS.bounds(TX, TY, Z)
    dx, dy = (e - w) / 10, (n - s) / 10
    sq = box(w + dx, s + dy, w + 3 * dx, s + 3 * dy)
    holed = Polygon(box(w + 5 * dx, s + 5 * dy, w + 9 * dx, s + 9 * dy).exterior.coords,
                    [box(w + 6 * dx, s + 6 * dy, w + 8 * dx, s + 8 * dy).exterior.coords])
    multi = MultiPolygon([box(w + 5 * dx, s + dy, w + 6 * dx, s + 2 * dy), box(w + 7 * dx, s + dy, w + 8 * dx, s + 2 * dy)])
    big = box(w - 5 * dx, s - 5 * dy, e + 5 * dx, n + 5 * dy)          # covers the whole tile: clipped
    line = LineString([(w + dx, n - dy), (e - dx, n - dy)])
    pt = Point(LON, LAT)
    frame = gpd.GeoDataFrame({
        "id": ["sq", "holed", "multi", "big", "line", "pt"],
        "name": ["方形地块", "带洞地块", "两块地", "大范围", "沿长江路", "市民文化广场"],
        "figures": [[{"kind": "land_area", "value": 8, "unit": "m2", "text": "约8万平方米"}], None, None, None, None, None],
        "count": [1, 2, 3, 4, 5, -6],
        "ratio": [0.5, 1.5, None, 2.25, 3.0, 4.0],
        "flag": [True, False, True, False, True, False],
    }, geometry=[sq, holed, multi, big, line, pt], crs=4326)
    return frame, (sq, holed, multi, big, line, pt)


@pytest.fixture(scope="module")
def source(synthetic):
    return T.LayerSource("demo", synthetic[0])


# ------------------------------------------------------------------------------------------ tile maths
def test_tile_bounds_match_morecantile():
    tms = morecantile.tms.get("WebMercatorQuad")
    for z, x, y in [(0, 0, 0), (10, 856, 418), (Z, TX, TY), (22, 3_000_000, 1_500_000)]:
        assert np.allclose(T.tile_bounds(z, x, y), tuple(tms.xy_bounds(x, y, z)), atol=1e-6)


def test_check_tile_names_the_parameter():
    T.check_tile(0, 0, 0)
    for (z, x, y), name in [((23, 0, 0), "z"), ((-1, 0, 0), "z"), ((3, 8, 0), "x"), ((3, 0, -1), "y")]:
        with pytest.raises(TileOutOfRange) as err:
            T.check_tile(z, x, y)
        assert err.value.parameter == name


def test_tiles_for_bounds_matches_morecantile():
    lon0, lat0, lon1, lat1 = 120.95, 31.33, 121.1, 31.43
    x0, y0 = T.lonlat_to_mercator(lon0, lat0)
    x1, y1 = T.lonlat_to_mercator(lon1, lat1)
    got = {tuple(t) for t in T.tiles_for_bounds(np.array([[x0, y0, x1, y1]]), 13)}
    want = {(t.x, t.y) for t in TMS.tiles(lon0, lat0, lon1, lat1, [13])}
    assert got == want


def test_varints_match_protobuf():
    values = np.array([0, 1, 127, 128, 300, 16383, 16384, 2**31, 2**35 + 7, 2**63 - 1], dtype=np.uint64)
    assert T.encode_varints(values) == b"".join(_VarintBytes(int(v)) for v in values)


def test_parse_zooms():
    assert T.parse_zooms("10-12") == [10, 11, 12]
    with pytest.raises(InvalidParameter, match="颠倒"):
        T.parse_zooms("16-10")
    assert T.parse_zooms("14,10") == [10, 14]
    for bad in ("a-b", "", "20-30"):
        with pytest.raises(InvalidParameter):
            T.parse_zooms(bad)


# ------------------------------------------------------------------------------------------ encoding
def test_decodes_with_mapbox_vector_tile(source, synthetic):
    data, n = source.encode(Z, TX, TY)
    assert n == 6
    layer = decode(tile_message(data))["demo"]
    assert layer["extent"] == 4096
    feats = {f["properties"]["id"]: f for f in layer["features"]}
    assert set(feats) == {"sq", "holed", "multi", "big", "line", "pt"}
    # properties kept, nested figures as a JSON string, types preserved
    sq = feats["sq"]["properties"]
    assert sq["name"] == "方形地块"
    assert json.loads(sq["figures"])[0]["text"] == "约8万平方米"
    assert sq["count"] == 1 and sq["ratio"] == 0.5 and sq["flag"] is True
    assert feats["pt"]["properties"]["count"] == -6
    assert "figures" not in feats["holed"]["properties"]           # nulls are left out
    assert "ratio" not in feats["multi"]["properties"]
    # the point lands where lon/lat says
    px, py = T.tile_pixel(LON, LAT, Z, TX, TY)
    gx, gy = feats["pt"]["geometry"]["coordinates"]
    assert abs(gx - px) <= 0.5 and abs(gy - py) <= 0.5
    # geometry types: the decoder classifies rings by winding, so a hole proves the orientation
    assert feats["holed"]["geometry"]["type"] == "Polygon"
    assert len(feats["holed"]["geometry"]["coordinates"]) == 2
    assert feats["multi"]["geometry"]["type"] == "MultiPolygon"
    assert feats["line"]["geometry"]["type"] == "LineString"
    # square corners at the expected tile units (y down)
    ring = np.array(feats["sq"]["geometry"]["coordinates"][0])
    w, s, e, n_ = TMS.bounds(TX, TY, Z)
    dx, dy = (e - w) / 10, (n_ - s) / 10
    corner = np.array(T.tile_pixel(w + dx, s + dy, Z, TX, TY))
    assert np.min(np.abs(ring - corner).sum(axis=1)) <= 1
    # feature ids are the 1-based row numbers
    assert feats["sq"]["id"] == 1 and feats["pt"]["id"] == 6


def test_matches_reference_encoder(source, synthetic):
    """Same geometry (after quantisation) as mapbox_vector_tile's own encoder for the square."""
    frame, geoms = synthetic
    data, _ = source.encode(Z, TX, TY)
    ours = {f["properties"]["id"]: f for f in decode(tile_message(data))["demo"]["features"]}
    b = TMS.xy_bounds(TX, TY, Z)
    sq3857 = shapely.transform(geoms[0], lambda c: np.column_stack(T.lonlat_to_mercator(c[:, 0], c[:, 1])))
    ref = mapbox_vector_tile.encode([{"name": "ref", "features": [{"geometry": sq3857.wkt, "properties": {}}]}],
                                    default_options={"quantize_bounds": (b.left, b.bottom, b.right, b.top)})
    want = decode(ref)["ref"]["features"][0]["geometry"]["coordinates"][0]
    got = ours["sq"]["geometry"]["coordinates"][0]
    assert sorted(map(tuple, got[:-1])) == sorted(map(tuple, want[:-1]))


def test_clipped_to_buffer(source):
    data, _ = source.encode(Z, TX, TY)
    big = next(f for f in decode(tile_message(data))["demo"]["features"] if f["properties"]["id"] == "big")
    ring = np.array(big["geometry"]["coordinates"][0])
    assert ring.min() == -T.BUFFER and ring.max() == T.EXTENT + T.BUFFER


def test_empty_tile(source):
    assert source.encode(Z, TX + 50, TY) == (b"", 0)
    ts = T.Tileset("demo", [source])
    assert ts.tile(Z, TX + 50, TY) == b""
    with pytest.raises(TileOutOfRange):
        ts.tile(23, 0, 0)


def test_tiny_features_are_dropped_not_broken(source):
    """At z2 every synthetic shape collapses below one tile unit except the big one; nothing invalid remains."""
    t = TMS.tile(LON, LAT, 2)
    data, n = source.encode(2, t.x, t.y)
    layer = decode(tile_message(data))["demo"]
    for f in layer["features"]:
        if f["geometry"]["type"] in ("Polygon", "MultiPolygon"):
            assert shapely.geometry.shape(f["geometry"]).area > 0


# ------------------------------------------------------------------------------------------ dropping
@pytest.fixture(scope="module")
def dense():
    """6,400 small squares on a regular 80×80 grid of 25 m cells (~2 km²): thinned at low zooms."""
    lon0, lat0 = 121.0, 31.35
    step = 0.00025
    i, j = np.meshgrid(np.arange(80), np.arange(80))
    x = lon0 + i.ravel() * step
    y = lat0 + j.ravel() * step
    sizes = 0.00008 + 0.00012 * ((i.ravel() * 7 + j.ravel() * 13) % 10) / 10
    geoms = shapely.box(x, y, x + sizes, y + sizes)
    frame = gpd.GeoDataFrame({"id": [f"p{k}" for k in range(len(geoms))], "name": "地块"}, geometry=geoms, crs=4326)
    return T.LayerSource("dense", frame)


def test_thinning_is_nested_and_bounded(dense):
    assert dense.n == 6400 > T.FEATURE_BUDGET
    mz = dense.minzoom
    assert (mz[mz > 0] <= T.DETAIL_ZOOM).all()
    counts, ids = {}, {}
    for z in (10, 12, 13, 14, 16):
        t = TMS.tile(121.01, 31.36, z)
        data, n = dense.encode(z, t.x, t.y)
        counts[z] = n
        ids[z] = {int(f["properties"]["id"][1:]) for f in decode(tile_message(data))["dense"]["features"]}
        if z < T.DETAIL_ZOOM:
            assert all(mz[k] <= z for k in ids[z])
    assert counts[10] <= T.DROP_GRID ** 2 < dense.n
    # nested: what z10 shows inside the z13 tile, z13 shows too; z16 shows every square of its tile
    for lo, hi in ((10, 13), (13, 14)):
        t = TMS.tile(121.01, 31.36, hi)
        b = T.tile_bounds(hi, t.x, t.y)
        inside = {k for k in ids[lo] if dense.bounds[k, 0] >= b.left and dense.bounds[k, 2] <= b.right
                  and dense.bounds[k, 1] >= b.bottom and dense.bounds[k, 3] <= b.top}
        assert inside <= ids[hi]
    t = TMS.tile(121.01, 31.36, 16)
    b = T.tile_bounds(16, t.x, t.y)
    within = set(np.flatnonzero((dense.bounds[:, 0] >= b.left) & (dense.bounds[:, 2] <= b.right)
                                & (dense.bounds[:, 1] >= b.bottom) & (dense.bounds[:, 3] <= b.top)))
    assert within and within <= ids[16]


def test_size_guard(dense):
    t = TMS.tile(121.01, 31.36, 12)
    full = T.Tileset("dense", [dense]).tile(12, t.x, t.y)
    capped = T.Tileset("dense", [dense], max_bytes=len(full) // 3).tile(12, t.x, t.y)
    assert 0 < len(capped) <= len(full) // 3


# ------------------------------------------------------------------------------------------ catalog tilesets
@pytest.fixture(scope="module")
def engine():
    try:
        catalog = load_catalog()
    except Exception:      # geodata not built: the mini catalog
        from server.testing import MINI_GEODATA
        catalog = load_catalog(CatalogSettings(geodata_dir=MINI_GEODATA, extra_layers=""))
    return T.TileEngine(catalog)


def test_plan_tileset_layers_and_known_feature(engine):
    ts = engine.tileset("plan")
    names = [s.name for s in ts.sources]
    assert "indicators" not in names
    assert all(engine.catalog.get(n).is_spatial for n in names)
    # a known point feature: its tile holds it, at the expected pixel
    layer_id = next(n for n in ("key_projects", "axis_carriers", "s1_stations") if n in names)
    frame = engine.catalog.read(layer_id)
    feat = frame.iloc[0]
    lon, lat = feat.geometry.x, feat.geometry.y
    t = TMS.tile(lon, lat, 14)
    tile = decode(ts.tile(14, t.x, t.y))
    assert set(tile) <= set(names)
    got = [f for f in tile[layer_id]["features"] if f["properties"]["id"] == feat["id"]]
    assert len(got) == 1
    px, py = T.tile_pixel(lon, lat, 14, t.x, t.y)
    gx, gy = got[0]["geometry"]["coordinates"]
    assert abs(gx - px) <= 0.5 and abs(gy - py) <= 0.5
    assert got[0]["properties"]["name"] == feat["name"]


def test_every_plan_feature_reaches_a_tile(engine):
    """Each layer's feature count at z12 over the layer's own tiles equals the layer's size (none lost)."""
    for layer_id in ("cores", "rivers"):
        if layer_id not in engine.catalog.ids:
            continue
        src = engine.source(layer_id)
        seen = set()
        for x, y in T.tiles_for_bounds(src.bounds, 12):
            data, _ = src.encode(12, int(x), int(y))
            if data:
                seen |= {f["properties"]["id"] for f in decode(tile_message(data))[layer_id]["features"]}
        assert seen == set(engine.catalog.read(layer_id)["id"])


def test_tilejson(engine):
    doc = engine.tileset("plan").tilejson("http://example/tiles/plan/{z}/{x}/{y}.mvt")
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://example/tiles/plan/{z}/{x}/{y}.mvt"]
    assert (doc["minzoom"], doc["maxzoom"]) == (T.MIN_ZOOM, T.MAX_ZOOM)
    w, s, e, n = doc["bounds"]
    assert 119 < w < e < 122 and 30 < s < n < 32
    fields = {v["id"]: v["fields"] for v in doc["vector_layers"]}
    assert fields["cores"]["name"] == "String"


def test_unknown_tileset(engine):
    with pytest.raises(LayerNotFound):
        engine.tileset("nope")
    if "indicators" in engine.catalog.ids:
        with pytest.raises(LayerNotFound):
            engine.tileset("indicators")


def _canon(data: bytes, name: str):
    feats = decode(T.tile_message([data]))[name]["features"] if data else []
    return sorted((f["id"], tuple(sorted(f["properties"].items())), str(f["geometry"])) for f in feats)


@pytest.mark.parametrize("z", [13, 15, 16])
def test_encode_many_matches_encode(dense, z):
    """The seeding pass (many tiles at once) gives the same decoded features as one tile at a time."""
    assert dense.batchable()
    tiles = T.tiles_for_bounds(dense.bounds, z)
    many, slow = dense.encode_many(z, tiles)
    assert not slow
    for x, y in tiles:
        one, n = dense.encode(z, int(x), int(y))
        got, m = many.get((int(x), int(y)), (b"", 0))
        assert n == m
        assert _canon(one, "dense") == _canon(got, "dense")
    ts = T.Tileset("dense", [dense])
    xy = [(int(x), int(y)) for x, y in tiles]
    assert set(ts.tiles_many(z, xy)) == {t for t in xy if ts.tile(z, *t)}


def test_encode_many_clips_big_features():
    """A feature far bigger than the tile is clipped per tile in the batch pass too (same result as encode)."""
    w, s_, e, n = TMS.bounds(TX, TY, Z)
    d = e - w
    geoms = [box(w - d, s_ - d, e + d, n + d), box(w + d / 4, s_ + d / 4, w + d / 2, s_ + d / 2),
             Polygon(box(w - 0.6 * d, s_, w + 0.6 * d, n).exterior.coords,
                     [box(w - 0.2 * d, s_ + 0.2 * d, w + 0.2 * d, s_ + 0.4 * d).exterior.coords])]
    src = T.LayerSource("polys", gpd.GeoDataFrame({"id": ["big", "small", "holed"]}, geometry=geoms, crs=4326))
    assert src.batchable()
    tiles = np.array([(TX + dx, TY + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
    many, _ = src.encode_many(Z, tiles)
    for x, y in tiles:
        one, n_ = src.encode(Z, int(x), int(y))
        got, m = many.get((int(x), int(y)), (b"", 0))
        assert n_ == m and _canon(one, "polys") == _canon(got, "polys")


@pytest.mark.parametrize("z", [12, 16])
def test_plan_tiles_many_matches_tile(engine, z):
    """Seeding the plan (batched polygon layers + per-tile lines/points) gives the tiles ``tile`` gives."""
    ts = engine.tileset("plan")
    layer_id = "etdz_extent" if "etdz_extent" in engine.catalog.ids else ts.sources[0].name
    w, s, e, n = engine.source(layer_id).lonlat_bounds
    c = TMS.tile((w + e) / 2, (s + n) / 2, z)
    xy = [(c.x + dx, c.y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    many = ts.tiles_many(z, xy)
    for x, y in xy:
        one = ts.tile(z, x, y)
        assert bool(one) == ((x, y) in many)
        if one:
            a, b = decode(one), decode(many[(x, y)])
            assert set(a) == set(b)
            for name in a:
                assert _canon_layer(a[name]) == _canon_layer(b[name]), name


def _canon_layer(layer):
    return sorted((f["id"], tuple(sorted(f["properties"].items())), str(f["geometry"])) for f in layer["features"])


# ------------------------------------------------------------------------------------------ unclipped fast path
@pytest.fixture(scope="module")
def holed_parcels():
    """Parcels with holes and two-part parcels (not one ring each), small enough to sit inside z14–16 tiles."""
    lon0, lat0, step = 121.0, 31.35, 0.0004
    geoms, ids = [], []
    for i in range(30):
        for j in range(30):
            x, y = lon0 + i * step, lat0 + j * step
            if (i + j) % 3 == 0:
                g = Polygon(box(x, y, x + 0.0003, y + 0.0003).exterior.coords,
                            [box(x + 0.0001, y + 0.0001, x + 0.0002, y + 0.0002).exterior.coords])
            elif (i + j) % 3 == 1:
                g = MultiPolygon([box(x, y, x + 0.0001, y + 0.0001), box(x + 0.00015, y, x + 0.0003, y + 0.0002)])
            else:
                g = box(x, y, x + 0.00025, y + 0.00035)
            geoms.append(g)
            ids.append(f"h{i}_{j}")
    frame = gpd.GeoDataFrame({"id": ids, "kind": ["工业", "居住", "绿地"] * 300, "n": np.arange(900)},
                             geometry=geoms, crs=4326)
    return T.LayerSource("holed", frame)


@pytest.mark.parametrize("name", ["dense", "holed_parcels"])
@pytest.mark.parametrize("z", [14, 15, 16])
def test_unclipped_fast_path_matches_general_path(request, monkeypatch, name, z):
    """Tiles whose candidates are all unclipped polygons skip shapely and object arrays: same bytes, and so the
    same decoded features, geometry and properties, as the general path (clip / ragged concatenation)."""
    src = request.getfixturevalue(name)
    tiles = T.tiles_for_bounds(src.bounds, z)
    fast_tiles = 0
    for x, y in tiles:
        x, y = int(x), int(y)
        monkeypatch.setattr(src, "fast_paths", False)
        general = src.encode(z, x, y)
        monkeypatch.setattr(src, "fast_paths", True)
        calls = []
        real = encode_module.concat_ragged
        monkeypatch.setattr(encode_module, "concat_ragged", lambda *a: calls.append(1) or real(*a))
        fast = src.encode(z, x, y)
        monkeypatch.setattr(encode_module, "concat_ragged", real)
        fast_tiles += not calls and fast[1] > 0
        assert fast == general
        assert _canon(fast[0], src.name) == _canon(general[0], src.name)
    assert fast_tiles > 0          # the fast path was taken for some tiles (edge tiles still clip)


@pytest.mark.parametrize("name", ["dense", "holed_parcels"])
@pytest.mark.parametrize("z", [13, 14, 16])
def test_tile_index_matches_strtree(request, monkeypatch, name, z):
    """The per-zoom tile → candidates index gives the tiles the STRtree query gives (same bytes), including tiles
    next to the layer that only the buffer reaches."""
    src = request.getfixturevalue(name)
    tiles = T.tiles_for_bounds(src.bounds, z)
    ring = {(int(x) + dx, int(y) + dy) for x, y in tiles for dx in (-1, 0, 1) for dy in (-1, 0, 1)}
    assert src.tile_index(z) is not None
    for x, y in sorted(ring):
        with_index = src.encode(z, x, y)
        monkeypatch.setattr(encode_module, "TILE_INDEX_MIN_ZOOM", 99)
        with_tree = src.encode(z, x, y)
        monkeypatch.setattr(encode_module, "TILE_INDEX_MIN_ZOOM", 13)
        assert with_index == with_tree, (z, x, y)


# ------------------------------------------------------------------------------------------ stable feature ids
def test_fids_give_the_mvt_ids(synthetic):
    """``LayerSource(fids=...)``: ids aligned with the frame's rows become the MVT feature ids, in every path."""
    frame = synthetic[0]
    ids = np.array([9_000_000_001, 7, 42, 2**40, 3, 11], dtype=np.uint64)
    src = T.LayerSource("demo", frame, fids=ids)
    data, _ = src.encode(Z, TX, TY)
    got = {f["properties"]["id"]: f["id"] for f in decode(tile_message(data))["demo"]["features"]}
    want = dict(zip(frame["id"], ids.tolist()))
    assert got and all(got[k] == want[k] for k in got)
    for fast in (False, True):
        src.fast_paths = fast
        assert src.encode(Z, TX, TY) == (data, len(got))


def test_fids_must_align_with_the_rows(synthetic):
    frame = synthetic[0]
    with pytest.raises(ValueError):
        T.LayerSource("demo", frame, fids=np.arange(3, dtype=np.uint64))
    with pytest.raises(ValueError):
        T.LayerSource("demo", frame, fids=np.array([-1, 2, 3, 4, 5, 6]))

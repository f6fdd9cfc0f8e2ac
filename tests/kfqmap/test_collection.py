"""One Collection per layer on the embedded GeoPackage store: versions, writes seen everywhere, stable ids, upgrades
that keep a planner's edits, crash safety, and a real GDAL client reading and changing the same file."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from shapely.geometry import mapping

from kfqmap.area import ellipsoidal_area
from kfqmap.stats import layer_stats
from kfqmap.catalog import load_catalog
from kfqmap.collection import VERSION_TTL_S
from kfqmap.errors import FeatureNotFound, InvalidGeometry, InvalidParameter, ReadOnlyLayer
from kfqmap.features import ItemsQuery, parse_bbox
from kfqmap.query import at_point
from kfqmap.settings import CatalogSettings
from kfqmap.tiles import TileEngine
from kfqmap.units import mu_from_m2

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini_geodata"
OGRINFO = shutil.which("ogrinfo")

#: a 200 m × 200 m parcel near the zone's centre (≈ 60 亩)
PARCEL = shapely.box(120.99, 31.37, 120.99 + 0.0021, 31.37 + 0.0018)


def new_parcel(fid: str = "TEST-1", **props) -> dict:
    return {"type": "Feature", "geometry": mapping(PARCEL), "properties": {
        "id": fid, "name": "测试地块", "source": "编辑测试", "placement": "测试时绘制", "accuracy_m": 5.0,
        "illustrative": False, "schematic": False, "status": "实施中", "year": 2024, **props}}


@pytest.fixture()
def geodata(tmp_path):
    """A private copy of the mini geodata, so tests can change the 'shipped' files like an upgrade would."""
    root = tmp_path / "geodata"
    shutil.copytree(MINI, root)
    return root


@pytest.fixture()
def settings(geodata, tmp_path):
    return CatalogSettings(geodata_dir=geodata, extra_layers="", data_dir=tmp_path / "data")


def wait_for_version_check():
    time.sleep(VERSION_TTL_S * 1.2)


# ------------------------------------------------------------------------------------------ the store
def test_store_is_created_and_seeded_with_provenance(settings):
    catalog = load_catalog(settings)
    path = settings.store_path()
    assert path.exists() and catalog.store is not None
    for layer in catalog.layers:
        col = catalog.collection(layer.id)
        assert col.writable, layer.id
        shipped = json.loads((settings.geodata_dir / layer.file).read_text(encoding="utf-8"))["features"]
        frame = col.frame()
        assert sorted(frame.index) == sorted(str(f["properties"]["id"]) for f in shipped)
    # the plan's provenance survives the copy, nested figures included
    frame = catalog.read("cores")
    assert {"source", "placement", "accuracy_m", "illustrative", "schematic"} <= set(frame.columns)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.interop
@pytest.mark.skipif(OGRINFO is None, reason="gdal-bin missing (installed by scripts/install-system.sh)")
def test_gdal_opens_the_store_as_it_is(settings):
    load_catalog(settings)
    done = subprocess.run([OGRINFO, "-ro", "-so", str(settings.store_path()), "cores"], capture_output=True,
                          text=True, check=True)
    assert "Feature Count: 2" in done.stdout and "Geometry Column = geom" in done.stdout
    assert "application_id" not in done.stderr and "user_version" not in done.stderr   # a clean GeoPackage to GDAL 3.6


def test_write_is_seen_by_items_tiles_stats_and_queries(settings):
    catalog = load_catalog(settings)
    col = catalog.collection("low_efficiency_land")
    before = col.version()
    n = len(col.frame())
    engine = TileEngine(catalog)
    z = 15
    tx, ty = _tile_of(PARCEL.centroid, z)
    assert "TEST-1" not in _tile_ids(engine, z, tx, ty)

    new_id = col.create(new_parcel())
    assert new_id == "TEST-1" and col.version() != before

    # items (bbox over the parcel)
    page = col.state().items.items(ItemsQuery(bbox=parse_bbox(",".join(map(str, PARCEL.bounds)))))
    assert any(b'"TEST-1"' in f for f in page.features)
    assert len(col.frame()) == n + 1
    # a tile at that place, with the store's key as the MVT feature id
    assert "TEST-1" in _tile_ids(engine, z, tx, ty)
    # statistics
    stats = layer_stats(catalog, "low_efficiency_land", "mu")
    row = next(f for f in stats.features if f.id == "TEST-1")
    assert row.area == pytest.approx(mu_from_m2(float(ellipsoidal_area([PARCEL])[0])), abs=0.006)   # 2 decimals
    # queries
    hits = at_point(catalog, PARCEL.centroid.x, PARCEL.centroid.y, layers=["low_efficiency_land"]).hits
    assert [h.id for h in hits] == ["TEST-1"]

    col.update("TEST-1", {"properties": {"status": "已完成"}})
    assert col.frame().loc["TEST-1", "status"] == "已完成"
    col.delete("TEST-1")
    assert "TEST-1" not in col.frame().index
    assert "TEST-1" not in _tile_ids(engine, z, tx, ty)


def test_mvt_ids_are_store_keys_stable_across_edits_and_restarts(settings):
    catalog = load_catalog(settings)
    col = catalog.collection("low_efficiency_land")
    state = col.state()
    keys = dict(zip(state.frame.index, state.fids.tolist()))
    first = state.frame.index[0]
    col.delete(first)                       # row numbers of everything after it would shift
    col.create(new_parcel("TEST-2"))
    again = load_catalog(settings).collection("low_efficiency_land").state()
    after = dict(zip(again.frame.index, again.fids.tolist()))
    assert first not in after
    assert all(after[k] == v for k, v in keys.items() if k != first)
    assert after["TEST-2"] not in keys.values()
    src = again.tiles
    assert set(src.fids.tolist()) == set(after.values())


def test_change_by_another_program_is_seen(settings):
    """ogr2ogr/QGIS edit the same file with their own SQLite: the triggers bump the version for them too."""
    catalog = load_catalog(settings)
    col = catalog.collection("cores")
    v0 = col.version()
    name0 = col.frame()["name"].iloc[0]
    target = col.frame().index[0]
    if OGRINFO:
        subprocess.run([OGRINFO, str(settings.store_path()), "-dialect", "SQLite", "-sql",
                        f"UPDATE cores SET name = '改名后的核心区' WHERE id = '{target}'"],
                       capture_output=True, check=True)
    else:   # pragma: no cover - gdal-bin is installed by the project's install script
        with sqlite3.connect(settings.store_path()) as conn:
            conn.execute("UPDATE cores SET name = '改名后的核心区' WHERE id = ?", (target,))
    wait_for_version_check()
    assert col.version() != v0
    assert col.frame().loc[target, "name"] == "改名后的核心区" != name0


def test_bad_writes_change_nothing(settings, tmp_path):
    catalog = load_catalog(settings)
    col = catalog.collection("low_efficiency_land")
    v0, n0 = col.version(), len(col.frame())
    bowtie = {"type": "Polygon", "coordinates": [[[121, 31.3], [121.01, 31.31], [121.01, 31.3], [121, 31.31],
                                                  [121, 31.3]]]}
    with pytest.raises(InvalidGeometry, match="无效"):
        col.create({**new_parcel("BAD-1"), "geometry": bowtie})
    with pytest.raises(InvalidGeometry, match="只接受"):
        col.create({**new_parcel("BAD-2"), "geometry": {"type": "Point", "coordinates": [121, 31.3]}})
    with pytest.raises(InvalidParameter, match="没有属性"):
        col.create(new_parcel("BAD-3", 不存在的属性=1))
    with pytest.raises(FeatureNotFound):
        col.update("NO-SUCH", {"properties": {"status": "已完成"}})
    # a transaction is all or nothing: the second op fails, the first is rolled back
    from kfqmap.providers import WriteOp
    with pytest.raises(InvalidParameter, match="已有"):
        col.apply([WriteOp("create", feature=new_parcel("TX-1")), WriteOp("create", feature=new_parcel("TX-1"))])
    wait_for_version_check()
    assert col.version() == v0 and len(col.frame()) == n0 and "TX-1" not in col.frame().index


def test_file_layers_are_read_only(tmp_path):
    catalog = load_catalog(CatalogSettings(geodata_dir=MINI, extra_layers="", store="files",
                                           data_dir=tmp_path / "unused"))
    assert catalog.store is None and not (tmp_path / "unused").exists()
    with pytest.raises(ReadOnlyLayer):
        catalog.collection("cores").create(new_parcel())


# ------------------------------------------------------------------------------------------ upgrades
def test_upgrade_keeps_edited_layers_and_brings_new_plan_data(settings, geodata):
    catalog = load_catalog(settings)
    catalog.collection("low_efficiency_land").create(new_parcel("PLANNER-1"))     # a planner's edit
    old_rivers = len(catalog.read("rivers"))

    # a new KFQMap release: a changed unedited layer, a changed edited layer (with a new column), a new layer
    rivers = json.loads((geodata / "layers" / "rivers.geojson").read_text(encoding="utf-8"))
    rivers["features"] = rivers["features"][:1]
    (geodata / "layers" / "rivers.geojson").write_text(json.dumps(rivers, ensure_ascii=False), encoding="utf-8")
    lel = json.loads((geodata / "layers" / "low_efficiency_land.geojson").read_text(encoding="utf-8"))
    for f in lel["features"]:
        f["properties"]["land_use_code"] = "M1"
    (geodata / "layers" / "low_efficiency_land.geojson").write_text(json.dumps(lel, ensure_ascii=False),
                                                                     encoding="utf-8")
    cat_doc = json.loads((geodata / "catalog.json").read_text(encoding="utf-8"))
    extra = dict(next(layer for layer in cat_doc["layers"] if layer["id"] == "key_projects"))
    extra.update(id="new_points", title_zh="新增图层", title_en="New layer", file="layers/new_points.geojson")
    cat_doc["layers"].append(extra)
    shutil.copy(geodata / "layers" / "key_projects.geojson", geodata / "layers" / "new_points.geojson")
    (geodata / "catalog.json").write_text(json.dumps(cat_doc, ensure_ascii=False), encoding="utf-8")

    upgraded = load_catalog(settings)
    assert len(upgraded.read("rivers")) == 1 != old_rivers              # unedited: re-seeded
    lel_frame = upgraded.read("low_efficiency_land")
    assert "PLANNER-1" in lel_frame.index                             # edited: the planner's work is kept
    assert "land_use_code" in lel_frame.columns                       # ... and the new column added
    assert upgraded.collection("low_efficiency_land").provider.pending_upgrade
    assert len(upgraded.read("new_points")) == len(upgraded.read("key_projects"))   # new layer seeded


# ------------------------------------------------------------------------------------------ crash safety
WRITER = r"""
import sys
from kfqmap.catalog import load_catalog
from kfqmap.settings import CatalogSettings
from shapely.geometry import box, mapping
col = load_catalog(CatalogSettings(geodata_dir=sys.argv[1], extra_layers="", data_dir=sys.argv[2])).collection(
    "low_efficiency_land")
i = 0
while True:
    i += 1
    g = box(121.0 + i * 1e-4, 31.3, 121.0 + i * 1e-4 + 5e-5, 31.30005)
    col.create({"type": "Feature", "geometry": mapping(g), "properties": {"id": f"K-{i}", "name": "压力测试",
                "source": "t", "placement": "t", "accuracy_m": 1.0, "illustrative": False, "schematic": False}})
    print(f"K-{i}", flush=True)
"""


def test_kill_9_mid_burst_loses_no_acknowledged_write(settings):
    load_catalog(settings)          # create the store first
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(settings.geodata_dir), str(settings.data_dir)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    acked = []
    for line in proc.stdout:
        acked.append(line.strip())
        if len(acked) >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    frame = load_catalog(settings).read("low_efficiency_land")
    written = [i for i in frame.index if i.startswith("K-")]
    assert set(acked) <= set(written)                         # every acknowledged write survived
    assert len(written) - len(acked) <= 1                     # at most the one in flight, and it is whole
    assert frame.loc[written, "name"].eq("压力测试").all() and frame.loc[written].geometry.notna().all()


# ------------------------------------------------------------------------------------------ helpers
def _tile_of(point, z):
    import morecantile
    t = morecantile.tms.get("WebMercatorQuad").tile(point.x, point.y, z)
    return t.x, t.y


def _tile_ids(engine, z, x, y) -> set[str]:
    data = engine.tile("low_efficiency_land", z, x, y)
    if not data:
        return set()
    layer = mapbox_vector_tile.decode(data)["low_efficiency_land"]
    ids = set()
    for feature in layer["features"]:
        assert isinstance(feature["id"], int) and feature["id"] > 0
        ids.add(feature["properties"]["id"])
    return ids


def test_store_key_is_mvt_id(settings):
    catalog = load_catalog(settings)
    col = catalog.collection("low_efficiency_land")
    col.create(new_parcel("TEST-3"))
    state = col.state()
    key = int(state.fids[list(state.frame.index).index("TEST-3")])
    x, y = _tile_of(PARCEL.centroid, 15)
    layer = mapbox_vector_tile.decode(TileEngine(catalog).tile("low_efficiency_land", 15, x, y))
    feature = next(f for f in layer["low_efficiency_land"]["features"] if f["properties"]["id"] == "TEST-3")
    assert feature["id"] == key
    assert np.all(state.fids > 0)

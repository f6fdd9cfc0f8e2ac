"""kfqmap.history through the embedded store: a change and its history row are one transaction; the table is
append-only; a layer can be rebuilt as it was; times in UTC and 北京时间."""
from __future__ import annotations

import sqlite3

import pytest

from kfqmap import history
from kfqmap.catalog import load_catalog
from kfqmap.errors import FeatureNotFound, PreconditionFailed
from kfqmap.providers.base import ChangeContext, WriteOp
from kfqmap.settings import CatalogSettings
from server.testing import MINI_GEODATA


@pytest.fixture()
def parcels(tmp_path):
    catalog = load_catalog(CatalogSettings(geodata_dir=MINI_GEODATA, data_dir=tmp_path, extra_layers=""))
    yield catalog.collection("low_efficiency_land")
    catalog.store.close()


def _changes(collection, fid):
    return collection.provider.store.history(lambda conn: history.feature_history(conn, collection.id, fid))


def test_each_change_records_before_after_who_and_why(parcels):
    _, before, etag = parcels.provider.feature("lel_0")
    result = parcels.apply([WriteOp("update", "lel_0", {"properties": {"status": "实施中"}}, if_match=etag)],
                           ChangeContext("王工", "10.1.2.3", "竣工验收"))
    assert result.etags[0] != etag and result.features[0]["properties"]["status"] == "实施中"
    [change] = _changes(parcels, "lel_0")
    assert (change.user, change.address, change.note, change.op) == ("王工", "10.1.2.3", "竣工验收", "update")
    assert change.before == before and change.after == result.features[0]
    assert history.changed_properties(change) == ["status"]
    parcels.update("lel_0", {"properties": {"year": 2030}})          # the Python API: the OS user is recorded
    assert _changes(parcels, "lel_0")[0].user.startswith("本机:")


def test_a_failed_transaction_leaves_neither_change_nor_history(parcels):
    _, _, etag = parcels.provider.feature("lel_1")
    with pytest.raises(FeatureNotFound):
        parcels.apply([WriteOp("update", "lel_1", {"properties": {"status": "已完成"}}),
                       WriteOp("delete", "no_such_feature")])
    with pytest.raises(PreconditionFailed):
        parcels.apply([WriteOp("delete", "lel_1", if_match="stale")])
    assert _changes(parcels, "lel_1") == []
    assert parcels.provider.feature("lel_1")[2] == etag


def test_history_table_refuses_update_and_delete(parcels):
    parcels.delete("lel_2")
    with sqlite3.connect(parcels.provider.store.path) as conn:
        for sql in ("UPDATE kfqmap_history SET note = 'x'", "DELETE FROM kfqmap_history WHERE 1"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)


def test_asof_rebuilds_the_layer(parcels):
    start = history.now_utc()
    original = parcels.provider.features()[1]
    square = [[[121.0, 31.3], [121.001, 31.3], [121.001, 31.301], [121.0, 31.3]]]
    new_id = parcels.create({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": square},
                             "properties": {"name": "新地块"}})
    parcels.update("lel_3", {"properties": {"status": "未启动"}})
    parcels.delete("lel_4")
    then = {f["id"]: f for f in parcels.provider.asof(start)}
    assert then == original
    now = {f["id"]: f for f in parcels.provider.asof(history.now_utc())}
    assert "lel_4" not in now and now["lel_3"]["properties"]["status"] == "未启动" and new_id in now


def test_times_are_utc_and_read_in_beijing_time():
    assert history.parse_time("2026-06-30", parameter="t") == "2026-06-29T16:00:00.000Z"
    assert history.parse_time("2026-06-30T00:00:00Z", parameter="t") == "2026-06-30T00:00:00.000Z"
    assert history.beijing("2026-06-29T16:00:00.000Z") == "2026-06-30 00:00:00"
    with pytest.raises(Exception):
        history.parse_time("yesterday", parameter="t")


def test_changes_made_by_another_program_are_recorded_too(parcels):
    """QGIS or ogr2ogr writing the GeoPackage: KFQMap finds the difference on its next read or write and records
    it (user 外部程序, before and after), once; its own writes are never recorded twice."""
    from shapely.geometry import box

    from kfqmap.providers.gpkg import EXTERNAL_USER, connect, gpkg_blob

    parcels.frame()                                        # KFQMap has seen the layer (its baseline)
    parcels.update("lel_0", {"properties": {"status": "实施中"}})
    _, before_feature, _ = parcels.provider.feature("lel_1")
    other = connect(parcels.provider.store.path)           # another program's connection to the same file
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE low_efficiency_land SET status = '已完成', year = 2026 WHERE id = 'lel_1'")
        other.execute("DELETE FROM low_efficiency_land WHERE id = 'lel_2'")
        other.execute("INSERT INTO low_efficiency_land (geom, id, name) VALUES (?, 'qgis_1', 'QGIS 画的地块')",
                      (gpkg_blob(box(121.0, 31.3, 121.001, 31.301)),))
        other.execute("COMMIT")
    finally:
        other.close()
    parcels.refresh()
    assert "qgis_1" in parcels.frame().index                # the next read reconciles
    external = parcels.provider.audit(user=EXTERNAL_USER)
    assert sorted((c.op, c.feature_id) for c in external) == [("create", "qgis_1"), ("delete", "lel_2"),
                                                              ("update", "lel_1")]
    update = next(c for c in external if c.op == "update")
    assert update.before == before_feature and update.after["properties"]["year"] == 2026
    assert history.changed_properties(update) == ["status", "year"]
    assert next(c for c in external if c.op == "create").after["geometry"]["type"] == "Polygon"
    # recorded once; KFQMap's own writes stay KFQMap's
    parcels.update("lel_3", {"properties": {"status": "未启动"}})
    assert len(parcels.provider.audit(user=EXTERNAL_USER)) == 3
    assert [c.user for c in _changes(parcels, "lel_0")] == [_changes(parcels, "lel_3")[0].user]
    # and as-of reads undo them like any change
    then = {f["id"] for f in parcels.provider.asof(history.parse_time("2000-01-01", parameter="t"))}
    assert "qgis_1" not in then and "lel_2" in then

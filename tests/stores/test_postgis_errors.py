"""PostGIS misconfiguration and outages give DataSourceError / StoreUnavailable with messages an admin can act on."""
from __future__ import annotations

import pytest

from kfqmap.catalog import load_catalog
from kfqmap.errors import DataSourceError, KFQMapError, StoreUnavailable
from kfqmap.settings import GEODATA_DIR, CatalogSettings
from kfqmap.stores.postgis import parse_location, read_postgis


@pytest.mark.parametrize("location, message", [
    ("postgresql://kfq@/kfqmap", "缺少连接串或表名"),
    ("#public.cores", "缺少连接串或表名"),
    ("postgresql://kfq@/kfqmap?hots=/tmp#cores", "连接串无法解析"),
    ("host=/tmp dbname#cores", "连接串无法解析"),
    ("postgresql://kfq:secret@/kfqmap?host=/tmp#cores", "不要写密码.*PGPASSWORD"),
    ("host=/tmp password=secret dbname=kfqmap#cores", "不要写密码"),
    ("postgresql://kfq@/kfqmap#.cores", "表名 '.cores' 无效"),
])
def test_malformed_locations(location, message):
    with pytest.raises(DataSourceError, match=message) as info:
        parse_location(location)
    assert isinstance(info.value, KFQMapError) and not isinstance(info.value, StoreUnavailable)
    assert "secret" not in info.value.message


def test_location_parts():
    loc = parse_location("postgresql://gis@/kfq?host=/run/postgresql&port=5433#plan.parcels:shape")
    assert (loc.schema, loc.table, loc.column) == ("plan", "parcels", "shape")
    assert loc.describe() == "表 plan.parcels（数据库 kfq，/run/postgresql:5433）"
    assert parse_location("host=/tmp dbname=x#parcels").schema is None


def test_missing_table_names_the_spatial_tables(pg):
    with pytest.raises(DataSourceError, match=r"没有表 public\.parcels（数据库 kfqmap.*空间表：.*public\.cores") as info:
        read_postgis(f"{pg.dsn}#public.parcels")
    assert "KFQMAP_EXTRA_LAYERS" in info.value.message
    with pytest.raises(DataSourceError, match="没有表 nowhere.cores"):
        read_postgis(f"{pg.dsn}#nowhere.cores")


def test_table_without_geometry(pg):
    with pytest.raises(DataSourceError, match=r"no_geometry.*没有 geometry 列.*不能作为图层"):
        read_postgis(f"{pg.dsn}#public.no_geometry")
    with pytest.raises(DataSourceError, match="没有名为 shape 的 geometry 列"):
        read_postgis(f"{pg.dsn}#public.cores:shape")


def test_wrong_database_or_role_is_a_configuration_error(pg):
    with pytest.raises(DataSourceError, match=r"数据库拒绝连接.*database \"nodb\" does not exist") as info:
        read_postgis(pg.dsn.replace(f"/{pg.dbname}?", "/nodb?") + "#public.cores")
    assert not isinstance(info.value, StoreUnavailable)
    with pytest.raises(DataSourceError, match=r"role \"nobody\" does not exist"):
        read_postgis(pg.dsn.replace(f"{pg.user}@", "nobody@") + "#public.cores")


def test_database_without_postgis(pg):
    with pytest.raises(DataSourceError, match="没有安装 PostGIS 扩展.*CREATE EXTENSION postgis"):
        read_postgis(pg.dsn.replace(f"/{pg.dbname}?", "/plain?") + "#public.cores")


def test_unreachable_database_is_unavailable(tmp_path):
    with pytest.raises(StoreUnavailable, match=rf"暂时无法连接 PostGIS 数据库.*{tmp_path}.*数据库是否在运行"):
        read_postgis(f"postgresql://kfq@/kfqmap?host={tmp_path}#public.cores")


def test_bad_extra_layer_stops_the_catalog_with_the_reason(pg):
    with pytest.raises(DataSourceError, match=r"没有表 public\.parcel"):
        load_catalog(CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=f"parcels={pg.dsn}#public.parcel"))
    with pytest.raises(DataSourceError, match="没有 geometry 列"):
        load_catalog(CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=f"t=postgis:{pg.dsn}#no_geometry"))


@pytest.mark.parametrize("reason, transient", [
    ('connection to server on socket "/run/postgresql/.s.PGSQL.5432" failed: No such file or directory', True),
    ('connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused', True),
    ('connection to server on socket "/s/.s.PGSQL.5432" failed: FATAL:  the database system is starting up', True),
    ('connection to server on socket "/s/.s.PGSQL.5432" failed: fe_sendauth: no password supplied', False),
    ('connection to server at "db", port 5432 failed: FATAL:  password authentication failed for user "gis"', False),
    ('could not translate host name "dbhots" to address: Name or service not known', False),
    ('connection to server on socket "/s/.s.PGSQL.5432" failed: FATAL:  database "kfq" does not exist', False),
])
def test_connection_failures_are_told_apart(reason, transient):
    """libpq's own wording (psycopg 3 passes it through): a retry helps only when the server is down or busy;
    a missing password or a mistyped host is the admin's fix (DataSourceError), not a 503 'try later'."""
    from kfqmap.stores.postgis import is_transient

    assert is_transient(reason) is transient


def test_catalog_remembers_a_store_failure_briefly(monkeypatch):
    """While a layer's store is failing, reads fail at once with the remembered error (no connection timeout per
    request); after FAILURE_TTL_S the store is asked again and a recovered store is read."""
    import geopandas as gpd
    import numpy as np
    from shapely.geometry import Point

    import kfqmap.collection as C
    from kfqmap.models import Layer
    from kfqmap.providers import Snapshot, register_provider
    from kfqmap.providers import PROVIDERS

    calls = []

    class Flaky:
        writable = pushdown = False

        def describe(self):
            return "flaky"

        def version(self):
            calls.append("version")
            if len(calls) == 1:
                raise StoreUnavailable("down")
            return "v1"

        def snapshot(self):
            frame = gpd.GeoDataFrame({"id": ["a"], "name": ["甲"]}, geometry=[Point(121, 31.4)], crs=4326)
            return Snapshot("v1", frame, np.array([1], dtype=np.uint64))

    register_provider("flaky", lambda layer, root: Flaky())
    try:
        catalog = load_catalog(CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=""))
        catalog.add_layer(Layer(id="flaky_layer", title_zh="测试", title_en="test", group="背景", kind="extra",
                                geometry_type="Point", source="flaky", file="x", plan_section="-", description="-"))
        clock = [1000.0]
        monkeypatch.setattr(C.time, "monotonic", lambda: clock[0])
        for _ in range(3):
            with pytest.raises(StoreUnavailable):
                catalog.read("flaky_layer")
        assert len(calls) == 1
        assert catalog.readable(["cores", "flaky_layer"])[0] == ["cores"]
        clock[0] += C.FAILURE_TTL_S + 0.1
        assert list(catalog.read("flaky_layer")["name"]) == ["甲"] and len(calls) == 2
    finally:
        PROVIDERS.pop("flaky", None)

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

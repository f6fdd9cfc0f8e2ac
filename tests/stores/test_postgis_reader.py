"""The PostGIS reader against a real PostgreSQL + PostGIS cluster: the plan's layers loaded with ogr2ogr read back
exactly like the GeoJSON files (ids, Chinese names, properties and their types, geometry within 1e-9°)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import shapely

from kfqmap.catalog import load_catalog
from kfqmap.errors import DataSourceError
from kfqmap.settings import GEODATA_DIR, CatalogSettings
from kfqmap.providers import PROVIDERS
from kfqmap.providers.files import read_file
from kfqmap.stores.postgis import inspect_table, read_postgis

from .conftest import LAYERS_DIR, plan_layer_files


def file_frame(layer_id: str):
    return read_file(GEODATA_DIR / f"layers/{layer_id}.geojson")


def assert_same_features(expected, actual, tolerance=1e-9):
    """Same columns in the same order, same dtypes and values, geometries equal within ``tolerance`` degrees."""
    assert list(actual.columns) == list(expected.columns)
    assert actual.crs.to_epsg() == 4326
    attrs = [c for c in expected.columns if c != "geometry"]
    pd.testing.assert_frame_equal(pd.DataFrame(actual[attrs]).reset_index(drop=True),
                                  pd.DataFrame(expected[attrs]).reset_index(drop=True), check_exact=True)
    a, b = expected.geometry.values, actual.geometry.values
    assert list(a.isna()) == list(b.isna())
    both = ~a.isna()
    assert shapely.equals_exact(a[both], b[both], tolerance=tolerance).all()


def test_postgis_is_a_registered_reader():
    assert "postgis" in PROVIDERS


@pytest.mark.parametrize("layer_id", sorted(plan_layer_files()))
def test_plan_layer_reads_like_the_geojson_file(pg, layer_id):
    expected = file_frame(layer_id)
    actual = read_postgis(f"{pg.dsn}#public.{layer_id}")
    assert_same_features(expected, actual)


def test_chinese_names_and_json_figures_survive(pg):
    frame = read_postgis(f"{pg.dsn}#public.renewal_sites")
    expected = file_frame("renewal_sites")
    assert "青阳港城市客厅" in set(frame["name"])
    assert frame["name"].tolist() == expected["name"].tolist()
    with_figures = [f for f in frame["figures"] if isinstance(f, list)]
    assert with_figures and all(isinstance(x, dict) and "kind" in x for f in with_figures for x in f)


def test_table_without_schema_uses_the_search_path(pg):
    assert_same_features(file_frame("cores"), read_postgis(f"{pg.dsn}#cores"))


def test_projected_table_is_transformed_to_wgs84(pg):
    """cgcs.low_efficiency_land is stored in EPSG:4549; the reader gives EPSG:4326 (GK round trip ≤ 1e-8°)."""
    info = inspect_table(f"{pg.dsn}#cgcs.low_efficiency_land")
    assert (info.schema, info.srid, info.geometry_type) == ("cgcs", 4549, "Polygon")
    assert_same_features(file_frame("low_efficiency_land"), read_postgis(f"{pg.dsn}#cgcs.low_efficiency_land"),
                         tolerance=1e-8)


def test_generic_geometry_column_with_projected_rows_is_transformed(pg):
    """A column declared as plain ``geometry`` (SRID 0 in geometry_columns) whose rows carry SRID 4549 — what
    ``CREATE TABLE … AS SELECT ST_Transform(…)`` makes — is transformed row by row, not served as metres."""
    pg.psql("DROP TABLE IF EXISTS public.cores_generic; CREATE TABLE public.cores_generic AS "
            "SELECT id, name, ST_Transform(geom, 4549)::geometry AS geom FROM public.cores")
    assert inspect_table(f"{pg.dsn}#public.cores_generic").srid == 0
    got = read_postgis(f"{pg.dsn}#public.cores_generic")       # no key: read in id order
    want = file_frame("cores")[["id", "name", "geometry"]].sort_values("id").reset_index(drop=True)
    assert list(got["id"]) == sorted(got["id"])
    assert_same_features(want, got, tolerance=1e-8)


def test_quoted_identifiers_views_and_keyword_dsn(pg):
    mixed = read_postgis(f"{pg.dsn}#public.Cores Mixed")
    assert sorted(mixed["id"]) == sorted(file_frame("cores")["id"])
    view = read_postgis(f"host={pg.socket_dir} port={pg.port} dbname={pg.dbname} user={pg.user}#public.cores_view")
    assert list(view.columns) == ["id", "name", "geometry"]
    assert sorted(view["name"]) == sorted(file_frame("cores")["name"])


def test_geometry_column_is_chosen_when_there_are_two(pg):
    with pytest.raises(DataSourceError, match=r"多个 geometry 列（centre, geom）.*#public\.two_geoms:centre"):
        read_postgis(f"{pg.dsn}#public.two_geoms")
    centres = read_postgis(f"{pg.dsn}#public.two_geoms:centre")
    assert list(centres.columns) == ["id", "geometry"]
    assert set(centres.geom_type) == {"Point"}
    assert inspect_table(f"{pg.dsn}#public.two_geoms:geom").geometry_type == "Polygon"


def test_identifiers_are_never_sql(pg):
    """A table name carrying SQL is just a table that does not exist; nothing runs."""
    with pytest.raises(DataSourceError, match="没有"):
        read_postgis(f'{pg.dsn}#public.cores"; DROP TABLE public.cores; --')
    with pytest.raises(DataSourceError):
        read_postgis(f"{pg.dsn}#public.cores:geom) FROM pg_user; --")
    assert len(read_postgis(f"{pg.dsn}#public.cores")) == len(file_frame("cores"))


def test_extra_layer_setting_registers_and_catalog_reads_it(pg):
    settings = CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=(
        f"pg_parcels={pg.dsn}#public.low_efficiency_land;"
        f"pg_projects=postgis:host={pg.socket_dir} dbname={pg.dbname} user={pg.user}#key_projects;"
        f"file_cores={LAYERS_DIR / 'cores.geojson'}"))
    assert settings.extra_layer_sources()["pg_parcels"][0] == "postgis"
    assert set(settings.extra_layer_paths()) == {"file_cores"}
    catalog = load_catalog(settings)
    layer = catalog.get("pg_parcels")
    assert (layer.source, layer.group, layer.kind, layer.geometry_type) == ("postgis", "额外", "extra", "Polygon")
    assert catalog.get("pg_projects").geometry_type == "Point"
    frame, plan = catalog.read("pg_parcels"), catalog.read("low_efficiency_land")
    assert list(frame.index) == list(plan.index) and frame.index.name == plan.index.name == "fid"
    assert_same_features(plan, frame)
    assert catalog.read("pg_projects")["name"].tolist() == catalog.read("key_projects")["name"].tolist()


def test_unquoted_names_fold_to_lower_case_and_keyless_tables_have_a_fixed_order(pg):
    """``#PUBLIC.Cores`` finds ``public.cores``, as an unquoted name in SQL would; a table with neither a primary
    key nor an ``id`` is read in a fixed order, so the row-number ids it gets are the same on every read."""
    assert sorted(read_postgis(f"{pg.dsn}#PUBLIC.Cores")["id"]) == sorted(file_frame("cores")["id"])
    pg.psql("DROP TABLE IF EXISTS public.keyless; CREATE TABLE public.keyless AS "
            "SELECT name, geom FROM public.renewal_sites ORDER BY random()")
    first = list(read_postgis(f"{pg.dsn}#public.keyless")["name"])
    pg.psql("UPDATE public.keyless SET name = name")      # rewrites every row: the heap order changes
    assert list(read_postgis(f"{pg.dsn}#public.keyless")["name"]) == first

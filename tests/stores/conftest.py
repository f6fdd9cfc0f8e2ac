"""A real PostgreSQL + PostGIS cluster for the store tests (session-scoped: one per pytest/xdist worker).

The plan's layers from ``geodata/layers/*.geojson`` are loaded with Debian's ``ogr2ogr -f PostgreSQL`` into
``public.<layer id>``; a few extra tables exercise the reader's edges. Missing PostgreSQL binaries FAIL the
tests (run ``bash scripts/install-system.sh``); they are never skipped.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kfqmap.settings import GEODATA_DIR

from .pgcluster import INSTALL_HINT, Cluster, ClusterError, start_cluster

LAYERS_DIR = GEODATA_DIR / "layers"


def plan_layer_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(LAYERS_DIR.glob("*.geojson"))}


@pytest.fixture(scope="session")
def pg() -> Cluster:
    """A running cluster with database ``kfqmap`` holding the plan's layers; stopped and removed at the end."""
    if shutil.which("ogr2ogr") is None:
        pytest.fail(f"ogr2ogr not found (Debian gdal-bin). {INSTALL_HINT}", pytrace=False)
    try:
        cluster = start_cluster()
    except ClusterError as exc:
        pytest.fail(f"could not start a PostgreSQL + PostGIS test cluster: {exc}", pytrace=False)
    try:
        for layer_id, path in plan_layer_files().items():
            cluster.load_ogr(path, f"public.{layer_id}")
        # the same parcels in another schema, stored in CGCS2000 / 3-degree GK CM 120E (EPSG:4549)
        cluster.psql("CREATE SCHEMA cgcs")
        cluster.load_ogr(LAYERS_DIR / "low_efficiency_land.geojson", "cgcs.low_efficiency_land",
                         "-t_srs", "EPSG:4549")
        cluster.psql("CREATE DATABASE plain", dbname="postgres")   # no PostGIS extension
        cluster.psql("""
            CREATE TABLE public.no_geometry (id text PRIMARY KEY, name text);
            INSERT INTO public.no_geometry VALUES ('a', '无几何');
            CREATE TABLE public.two_geoms (id text PRIMARY KEY, geom geometry(Polygon, 4326),
                                           centre geometry(Point, 4326));
            INSERT INTO public.two_geoms SELECT id, geom, ST_Centroid(geom) FROM public.cores;
            CREATE TABLE public."Cores Mixed" AS SELECT * FROM public.cores;
            CREATE VIEW public.cores_view AS SELECT id, name, geom FROM public.cores;
        """)
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()

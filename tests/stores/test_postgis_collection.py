"""The PostGIS provider behind a Collection, against a real cluster: writes through the library and changes made
with psql are seen by items, tiles, stats and queries; large tables are served by pushdown (SQL bbox/paging/counts,
ST_AsMVT tiles, spheroid areas) with the same answers as the in-memory path."""
from __future__ import annotations

import time

import mapbox_vector_tile
import morecantile
import orjson
import pytest
import shapely
from shapely.geometry import mapping

import kfqmap.providers.postgis as P
from kfqmap.providers import pg_shared
from kfqmap.area import ellipsoidal_area
from kfqmap.catalog import load_catalog
from kfqmap.features import ItemsQuery, parse_bbox, parse_output_crs
from kfqmap.query import at_point
from kfqmap.settings import GEODATA_DIR, CatalogSettings
from kfqmap.stats import layer_stats
from kfqmap.tiles import TileEngine

PLAN = "low_efficiency_land"
PARCEL = shapely.box(121.05, 31.33, 121.0521, 31.3318)
TMS = morecantile.tms.get("WebMercatorQuad")


def parcel(fid: str) -> dict:
    return {"type": "Feature", "geometry": mapping(PARCEL), "properties": {
        "id": fid, "name": "数据库测试地块", "source": "测试", "placement": "测试", "accuracy_m": 5.0,
        "illustrative": False, "schematic": False, "status": "未启动", "year": 2025}}


def pg_value(pg, query: str):
    import psycopg

    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        return conn.execute(query).fetchone()[0]


@pytest.fixture(autouse=True)
def close_providers(monkeypatch):
    """Stop every provider's poller and pool at the end of a test (the cluster outlives them)."""
    opened = []
    original = P.PostGISProvider.__init__

    def track(self, *a, **k):
        original(self, *a, **k)
        opened.append(self)

    monkeypatch.setattr(P.PostGISProvider, "__init__", track)
    yield
    for provider in opened:
        provider.close()


def wait_poll():
    time.sleep(pg_shared.POLL_S * 3 + 0.3)      # the poller, then the collection's version TTL


def _catalog(pg, table: str, layer_id: str = "pg_layer"):
    settings = CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=f"{layer_id}={pg.dsn}#{table}")
    return load_catalog(settings)


@pytest.fixture()
def table(pg, request):
    """A fresh copy of the plan's parcels (with a serial key) for one test."""
    name = f"t_{request.node.name[:40].lower()}".replace("[", "_").replace("]", "_").replace("-", "_")
    pg.psql(f"DROP TABLE IF EXISTS public.{name}; CREATE TABLE public.{name} AS SELECT * FROM public.{PLAN};"
            f"ALTER TABLE public.{name} ADD COLUMN gid serial PRIMARY KEY;"
            f"CREATE UNIQUE INDEX ON public.{name} (id); CREATE INDEX ON public.{name} USING gist (geom);")
    return f"public.{name}"


def _tile_ids(catalog, layer_id: str, geom, z: int) -> dict[str, int]:
    t = TMS.tile(geom.centroid.x, geom.centroid.y, z)
    data = TileEngine(catalog).tile(layer_id, z, t.x, t.y)
    if not data:
        return {}
    return {f["properties"]["id"]: f["id"] for f in mapbox_vector_tile.decode(data)[layer_id]["features"]}


@pytest.mark.parametrize("pushdown", [False, True], ids=["in-memory", "pushdown"])
def test_library_write_and_psql_change_are_seen(pg, table, monkeypatch, pushdown):
    monkeypatch.setattr(P, "MEMORY_ROWS", -1 if pushdown else 50_000)
    catalog = _catalog(pg, table)
    col = catalog.collection("pg_layer")
    assert col.pushdown is pushdown and col.writable
    v0 = col.version()

    col.create(parcel("PG-1"))
    assert col.version() != v0                                    # read-your-writes, no waiting
    index = col.state().items
    page = index.items(ItemsQuery(bbox=parse_bbox(",".join(map(str, PARCEL.bounds)))))
    assert [orjson.loads(f)["id"] for f in page.features] == ["PG-1"]
    assert orjson.loads(index.feature("PG-1"))["properties"]["name"] == "数据库测试地块"
    ids = _tile_ids(catalog, "pg_layer", PARCEL, 15)
    gid = pg_value(pg, f"SELECT gid FROM {table} WHERE id = 'PG-1'")
    assert ids["PG-1"] == int(gid)                                 # MVT id = the table's primary key
    if not pushdown:
        stats = layer_stats(catalog, "pg_layer", "mu")
        assert any(f.id == "PG-1" for f in stats.features)
        assert [h.id for h in at_point(catalog, *PARCEL.centroid.coords[0], layers=["pg_layer"]).hits] == ["PG-1"]

    # another program (psql here, QGIS in real life) edits the table: the trigger bumps the version
    v1 = col.version()
    pg.psql(f"UPDATE {table} SET name = '外部修改' WHERE id = 'PG-1'")
    wait_poll()
    assert col.version() != v1
    assert orjson.loads(col.state().items.feature("PG-1"))["properties"]["name"] == "外部修改"
    pg.psql(f"DELETE FROM {table} WHERE id = 'PG-1'")
    wait_poll()
    assert "PG-1" not in _tile_ids(catalog, "pg_layer", PARCEL, 15)
    col.provider.close()


def test_pushdown_answers_like_the_in_memory_path(pg, table, monkeypatch):
    catalog_mem = _catalog(pg, table, "mem")
    catalog_mem.collection("mem").state()             # decided now: in memory (31 rows)
    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    catalog_sql = _catalog(pg, table, "sql")
    mem, sql = catalog_mem.collection("mem").state().items, catalog_sql.collection("sql").state().items
    assert sql.in_memory is False and mem.in_memory is True
    for bbox in ("120.95,31.30,121.10,31.45", "121.0,31.35,121.05,31.40", "0,0,1,1"):
        for limit, offset in ((100, 0), (5, 3)):
            q = ItemsQuery(bbox=parse_bbox(bbox), limit=limit, offset=offset)
            a, b = mem.items(q), sql.items(q)
            assert a.number_matched == b.number_matched
            assert [orjson.loads(f)["id"] for f in a.features] == [orjson.loads(f)["id"] for f in b.features]
    q = ItemsQuery(sortby=(("year", True), ("id", False)), limit=7, offset=2)     # ORDER BY in SQL, same rule
    assert [orjson.loads(f)["id"] for f in mem.items(q).features] == \
           [orjson.loads(f)["id"] for f in sql.items(q).features]
    q = ItemsQuery(properties={"status": "已完成"}, limit=1000)
    assert {orjson.loads(f)["id"] for f in mem.items(q).features} == \
           {orjson.loads(f)["id"] for f in sql.items(q).features}
    some = catalog_mem.read("mem").index[0]
    a, b = orjson.loads(mem.feature(some)), orjson.loads(sql.feature(some))
    assert a["properties"] == b["properties"]
    assert shapely.equals_exact(shapely.geometry.shape(a["geometry"]), shapely.geometry.shape(b["geometry"]), 1e-7)
    crs = parse_output_crs("http://www.opengis.net/def/crs/EPSG/0/4549")
    assert orjson.loads(sql.feature(some, crs))["geometry"] == orjson.loads(mem.feature(some, crs))["geometry"]
    assert sql.queryables.keys() >= {"geometry", "id", "status", "year"}
    assert sql.bounds == pytest.approx(mem.bounds, abs=1e-3)
    # a tile over the parcels: same features by id, MVT ids from the key
    frame = catalog_mem.read("mem")
    centre = frame.geometry.iloc[0]
    assert set(_tile_ids(catalog_mem, "mem", centre, 14)) == set(_tile_ids(catalog_sql, "sql", centre, 14))
    catalog_mem.collection("mem").provider.close()
    catalog_sql.collection("sql").provider.close()


def test_spheroid_area_in_sql_matches_the_library(pg, table):
    from kfqmap.providers.postgis_pushdown import area_stats

    catalog = _catalog(pg, table)
    col = catalog.collection("pg_layer")
    got = area_stats(col.provider)
    frame = catalog.read("pg_layer")
    expected = float(ellipsoidal_area(frame.geometry.values).sum())
    assert got["count"] == len(frame)
    assert got["area_m2"] == pytest.approx(expected, rel=1e-6)       # CGCS2000 vs the WGS 84 spheroid
    col.provider.close()


def test_pushdown_layer_is_never_loaded_whole(pg, table, monkeypatch):
    from kfqmap.errors import RequestTooLarge

    frame = _catalog(pg, table, "mem").read("mem")
    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    catalog = _catalog(pg, table)
    with pytest.raises(RequestTooLarge, match="不整表载入"):
        catalog.read("pg_layer")
    stats = layer_stats(catalog, "pg_layer", "mu")                  # computed in SQL instead
    assert stats.count == len(frame) and not stats.features
    assert stats.area_m2 == pytest.approx(float(ellipsoidal_area(frame.geometry.values).sum()), rel=1e-6)
    catalog.collection("pg_layer").provider.close()


def test_integer_ids_are_looked_up_in_their_own_type(pg, monkeypatch):
    """A table keyed by an integer ``id`` (the benchmark parcels, most cadastral tables): ``items/42`` compares
    ``id = 42`` (the index), not ``id::text = '42'`` (a scan); an id that cannot be an integer is a 404."""
    from kfqmap.errors import FeatureNotFound

    pg.psql("DROP TABLE IF EXISTS public.int_ids; CREATE TABLE public.int_ids AS SELECT g AS id, 'p' || g AS name, "
            "ST_MakeEnvelope(121 + g * 1e-4, 31.3, 121 + g * 1e-4 + 5e-5, 31.30005, 4326) AS geom "
            "FROM generate_series(1, 300) g; ALTER TABLE public.int_ids ADD PRIMARY KEY (id); ANALYZE public.int_ids;")
    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    col = _catalog(pg, "public.int_ids").collection("pg_layer")
    items = col.state().items
    assert orjson.loads(items.feature("42"))["properties"]["name"] == "p42"
    for bad in ("x42", "4.2", "99999999999999999999"):
        with pytest.raises(FeatureNotFound):
            items.feature(bad)
    col.update("42", {"properties": {"name": "改"}})
    assert orjson.loads(col.state().items.feature("42"))["properties"]["name"] == "改"
    with pytest.raises(FeatureNotFound):
        col.delete("x")
    plan = pg_value(pg, "EXPLAIN SELECT * FROM public.int_ids WHERE id = 42")
    assert "Index" in plan


def test_operations_over_every_layer_answer_beside_a_pushdown_layer(pg, table, monkeypatch):
    """A large PostGIS layer next to the plan: /stats/layers counts it (totals from SQL); default point queries and
    name search, which scan whole layers, leave it out instead of failing as a whole."""
    from kfqmap.query import search_names

    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    catalog = _catalog(pg, table)
    ok, failed = catalog.readable([lyr.id for lyr in catalog.spatial_layers()])
    assert "pg_layer" in ok and not failed
    assert layer_stats(catalog, "pg_layer", "mu").count == pg_value(pg, f"SELECT count(*) FROM {table}")
    hits = at_point(catalog, *PARCEL.centroid.coords[0], tolerance=5000).hits
    assert hits and all(h.layer_id != "pg_layer" for h in hits)
    assert search_names(catalog, "示例") and all(h.layer_id != "pg_layer" for h in search_names(catalog, "示例"))


def test_export_from_a_pushdown_layer_selects_in_sql(pg, table, monkeypatch):
    """/export of a large PostGIS layer: bbox, drawn area and filter run in SQL and give the same features as the
    in-memory path; ``items?f=`` downloads too; a selection over ``SELECT_MAX_ROWS`` is refused with its count (413)
    before a row is read, and a filter naming a column the table lacks is the usual 400."""
    import kfqmap.providers.postgis_pushdown as PD
    from kfqmap import export
    from kfqmap.cql import parse_filter
    from kfqmap.errors import InvalidFilter, RequestTooLarge

    mem = _catalog(pg, table, "mem")
    mem.collection("mem").state()
    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    big = _catalog(pg, table, "big")
    assert big.collection("big").pushdown
    cases = [dict(bbox="121.0,31.35,121.05,31.40"), dict(filter="status = '已完成'"),
             dict(geometry=shapely.buffer(shapely.Point(121.02, 31.36), 0.02).wkt, filter="year >= 2023"), {}]
    for case in cases:
        a = export.select(mem, ["mem"], **case).items[0]
        b = export.select(big, ["big"], **case).items[0]
        assert sorted(a.frame.index) == sorted(b.frame.index) and a.complete == b.complete, case
        assert list(b.frame.crs.to_epsg() for _ in [0]) == [4326]
        row = a.frame.index[0] if len(a.frame) else None
        if row is not None:
            assert b.frame.loc[row, "name"] == a.frame.loc[row, "name"]
            assert shapely.equals_exact(b.frame.geometry.loc[row], a.frame.geometry.loc[row], 1e-7)
    q = ItemsQuery(bbox=parse_bbox("121.0,31.35,121.05,31.40"), filter=parse_filter("status <> '已完成'"))
    a, b = export.select(mem, "mem", items=q), export.select(big, "big", items=q)
    assert sorted(a.items[0].frame.index) == sorted(b.items[0].frame.index)
    monkeypatch.setattr(PD, "SELECT_MAX_ROWS", 3)
    with pytest.raises(RequestTooLarge, match="超过单次导出/查询上限 3"):
        export.select(big, ["big"])
    with pytest.raises(InvalidFilter, match="nope"):
        export.select(big, ["big"], filter="nope = 1")


def test_queries_on_a_pushdown_layer_select_candidates_in_sql(pg, table, monkeypatch):
    """Point, drawn-area, near, nearest and filter queries naming a large PostGIS layer answer like the in-memory
    layer (candidates selected in SQL by the query's own reach, then the same exact tests in EPSG:4549)."""
    from kfqmap import query

    mem = _catalog(pg, table, "mem")
    mem.collection("mem").state()
    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    big = _catalog(pg, table, "big")
    assert big.collection("big").pushdown

    def same(a, b):
        assert [(h.id, h.distance_m, getattr(h, "intersection_m2", None)) for h in a.hits] == \
               [(h.id, h.distance_m, getattr(h, "intersection_m2", None)) for h in b.hits]
        return len(a.hits)

    frame = mem.read("mem")
    c = frame.geometry.iloc[0].representative_point()
    assert same(query.at_point(mem, c.x, c.y, layers="mem"), query.at_point(big, c.x, c.y, layers="big")) >= 1
    assert same(query.at_point(mem, c.x, c.y, tolerance=800, layers="mem"),
                query.at_point(big, c.x, c.y, tolerance=800, layers="big")) >= 1
    area = shapely.buffer(c, 0.02)
    assert same(query.in_geometry(mem, mapping(area), layers="mem"),
                query.in_geometry(big, mapping(area), layers="big")) >= 1
    assert same(query.near(mem, "mem", "s1_stations", 1500), query.near(big, "big", "s1_stations", 1500)) >= 1
    assert same(query.nearest(mem, c.x, c.y, "mem", k=4), query.nearest(big, c.x, c.y, "big", k=4)) == 4
    assert same(query.nearest(mem, c.x, c.y, "mem", k=3, max_distance=300, filter="status = '已完成'"),
                query.nearest(big, c.x, c.y, "big", k=3, max_distance=300, filter="status = '已完成'")) >= 0
    assert same(query.select(mem, "mem", "status = '已完成'"), query.select(big, "big", "status = '已完成'")) >= 1
    # the big layer as the 'near' side, narrowed by its filter
    some = frame.iloc[0]
    assert same(query.near(mem, "key_projects", "mem", 3000, near_filter=f"id = '{some['id']}'"),
                query.near(big, "key_projects", "big", 3000, near_filter=f"id = '{some['id']}'")) >= 0


def test_tables_of_one_database_share_connections_and_one_poller(pg):
    """Six tables of one database in one process: one kept connection, one read pool, one poller thread and its
    connection (not two connections and a poller per table), and every table's change is still seen; the last
    table to close releases them all (their server processes end)."""
    import threading

    from kfqmap.providers.pg_shared import poller_name

    names = [f"public.share_{i}" for i in range(6)]
    pg.psql(";".join(f"DROP TABLE IF EXISTS {n}; CREATE TABLE {n} AS SELECT * FROM public.{PLAN}" for n in names))
    dsn = pg.dsn + "&connect_timeout=7"         # the same database under a location no other test uses
    before = set(threading.enumerate())          # other tests' servers keep pollers of this cluster running
    providers = [P.PostGISProvider(f"share_{i}", f"{dsn}#{n}") for i, n in enumerate(names)]
    versions = [p.version() for p in providers]
    for p in providers:                       # a pooled read on each
        p.read(lambda c: c.execute("SELECT 1").fetchone())
    db = providers[0]._db
    assert all(p._db is db for p in providers)
    pollers = [t for t in set(threading.enumerate()) - before if t.name.startswith("kfqmap-versions-")]
    assert len(pollers) == 1 and pollers[0] is db._poller and pollers[0].name == poller_name(dsn)
    stats = db._pool.get_stats()
    assert stats["pool_size"] <= 2, stats     # sequential reads of six tables: one pool (it may have grown by one
    #                                           while its first connection was being opened)
    deadline = time.monotonic() + 5
    while db._polling.conn is None and time.monotonic() < deadline:      # the poller's first round
        time.sleep(0.05)
    pids = {db._kept.conn.info.backend_pid, db._polling.conn.info.backend_pid}
    alive = f"SELECT count(*) FROM pg_stat_activity WHERE pid IN ({','.join(map(str, pids))})"
    assert pg_value(pg, alive) == len(pids) == 2

    pg.psql(f"UPDATE {names[4]} SET name = name || '（改）' WHERE id = (SELECT min(id) FROM {names[4]})")
    deadline = time.monotonic() + 5
    while providers[4].version() == versions[4] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert providers[4].version() != versions[4]
    assert [p.version() for i, p in enumerate(providers) if i != 4] == [v for i, v in enumerate(versions) if i != 4]

    for p in providers[:-1]:
        p.close()
    assert providers[-1].version()            # the others leaving does not close what the last one uses
    assert providers[-1].read(lambda c: c.execute("SELECT 1").fetchone()) == (1,)
    providers[-1].close()
    pollers[0].join(timeout=pg_shared.POLL_MAX_S + 2)
    assert not pollers[0].is_alive() and db.closed and db._kept.conn is None and db._pool is None
    deadline = time.monotonic() + 5
    while pg_value(pg, alive) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pg_value(pg, alive) == 0


def test_pushdown_counts_a_selection_once_per_version(pg, table, monkeypatch):
    """Paging through a pushdown layer counts the selection once per data version (the count of a whole large
    table is its slowest query), and a change by psql gives the new count."""
    monkeypatch.setattr(P, "MEMORY_ROWS", -1)
    col = _catalog(pg, table).collection("pg_layer")
    items = col.state().items
    total = pg_value(pg, f"SELECT count(*) FROM {table}")
    counted = []
    real_read = items.provider.read

    def read(fn):
        def spy(conn):
            real_execute = conn.execute

            def execute(query, *a, **k):
                text = query.as_string(conn) if hasattr(query, "as_string") else str(query)
                if text.startswith("SELECT count(*)"):
                    counted.append(text)
                return real_execute(query, *a, **k)

            conn.execute = execute
            try:
                return fn(conn)
            finally:
                del conn.execute
        return real_read(spy)

    monkeypatch.setattr(items.provider, "read", read)
    pages = [items.items(ItemsQuery(limit=5, offset=o)) for o in (0, 5, 10)]
    assert [p.number_matched for p in pages] == [total] * 3 and len(counted) == 1
    boxed = [items.items(ItemsQuery(bbox=parse_bbox("120.95,31.30,121.10,31.45"), limit=2, offset=o)) for o in (0, 2)]
    assert boxed[0].number_matched == boxed[1].number_matched and len(counted) == 2

    pg.psql(f"DELETE FROM {table} WHERE id = (SELECT min(id) FROM {table})")
    deadline = time.monotonic() + 5
    while col.state().items is items and time.monotonic() < deadline:
        time.sleep(0.05)
    assert col.state().items.items(ItemsQuery(limit=5, offset=5)).number_matched == total - 1

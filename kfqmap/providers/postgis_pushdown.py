"""Pushdown for large PostGIS tables: OGC items, single features, MVT tiles and area statistics computed in the
database, never by loading the table.

``PostGISItems`` offers the same interface as ``kfqmap.features.LayerIndex`` (what the Features router uses:
``items``, ``feature``, ``records``, ``queryables``, ``bounds``, ``temporal_extent``...), ``PostGISTiles`` the
interface of ``kfqmap.tiles.LayerSource`` that ``Tileset`` uses (``encode``), so routers and the tile engine
do not know which kind of layer they serve.

* bbox: ``geom && box`` (the GiST index) then ``ST_Intersects``, the box sent as WKB in WGS 84 and transformed to
  the table's SRID in the database;
* CQL2 filters: translated to SQL by ``kfqmap.cql_sql`` (parameters bound, identifiers quoted);
* equality filters on properties and ``datetime`` on the layer's temporal column: SQL with bound values;
* order: the key (stable paging), ``LIMIT``/``OFFSET``; counts: ``count(*)`` of the same WHERE;
* MVT: ``ST_AsMVT``/``ST_AsMVTGeom`` on ``ST_TileEnvelope``, with the table's index used through
  ``geom && ST_Transform(envelope, srid)``, a per-zoom feature budget (``tile_budget``) and a hard cap of
  ``MAX_TILE_BYTES`` (the budget is cut until the tile fits);
* areas: ``ST_Area(geography, true)`` on the spheroid (WGS 84 = GRS80/CGCS2000 to < 1e-9 relative here).
"""
from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import numpy as np
import orjson
import shapely

from ..cql_sql import to_sql
from ..errors import FeatureNotFound, InvalidParameter, RequestTooLarge
from ..features import (GEOGRAPHIC_DECIMALS, TEMPORAL_PROPERTIES, ItemsPage, ItemsQuery, OutputCRS, _round,
                        from_wgs84, parse_output_crs, queryables_schema)

log = logging.getLogger("kfqmap.providers.postgis")

EXTENT = 4096
BUFFER = 64
MAX_TILE_BYTES = 500_000
#: features one export/selection may take from a pushdown layer (a GeoDataFrame in the worker's memory); beyond it the
#: request is refused with the count and the advice to narrow it (whole-table copies are ogr2ogr's job, docs/export.md)
SELECT_MAX_ROWS = 100_000
#: features per tile at most, by zoom (below z14 a parcel is a few pixels: the budget keeps low zooms bounded). A
#: cadastral parcel with a handful of attributes costs ≈ 95 bytes in a z10–z13 tile (measured on the anchors' 1 M
#: parcels: 93–96 B), so 4,800 features (≈ 460 KB) fit ``MAX_TILE_BYTES`` from the first ``ST_AsMVT``; the former
#: 6,000 / 8,000 / 12,000 at z11–z13 gave 560–760 KB tiles that ``_fit`` then had to build a second time
TILE_BUDGET = {z: 4000 for z in range(0, 11)} | {11: 4800, 12: 4800, 13: 4800}
_JSON_TYPES = {"int2": "integer", "int4": "integer", "int8": "integer", "float4": "number", "float8": "number",
               "numeric": "number", "bool": "boolean"}


def _as_mvt():
    """The aggregate over a tile's rows (``PostGISTiles._tile_rows``): the tile, and how many features it holds."""
    from psycopg import sql

    return sql.SQL("ST_AsMVT(q, %(name)s, {e}, 'mvtgeom', '__kfqmap_fid') AS data, count(*) AS n").format(
        e=sql.Literal(EXTENT))


def tile_budget(z: int) -> int | None:
    return TILE_BUDGET.get(z)


class PostGISItems:
    """OGC API Features for one large PostGIS table, answered by SQL (the ``LayerIndex`` interface)."""

    in_memory = False

    def __init__(self, provider, layer, version: str):
        self.provider = provider
        self.layer = layer
        self.version = version
        self.info = provider.info
        self._feature_sql: dict[bool, bytes] = {}   # the single-feature statements (with / without ETag), rendered once
        self._counts: dict[tuple, int] = {}          # numberMatched of the selections counted at this version

    # ---------------------------------------------------------------- schema
    @cached_property
    def property_names(self) -> list[str]:
        return [name for name, _ in self.info.columns]

    @cached_property
    def property_types(self) -> dict[str, str]:
        return {name: _JSON_TYPES.get(typ, "string") for name, typ in self.info.columns}

    @cached_property
    def temporal_property(self) -> str | None:
        return next((p for p in TEMPORAL_PROPERTIES if p in self.property_names), None)

    @cached_property
    def queryables(self) -> dict[str, Any]:
        return queryables_schema(self.layer, self.property_names, self.property_types, self.temporal_property)

    @cached_property
    def bounds(self) -> tuple[float, float, float, float] | None:
        return self.provider.extent()

    @cached_property
    def temporal_extent(self) -> list[str | None] | None:
        if self.temporal_property is None:
            return None
        lo, hi = self.provider.min_max(self.temporal_property)
        if lo is None:
            return [None, None]
        if self.property_types[self.temporal_property] in ("integer", "number"):
            return [f"{int(lo):04d}-01-01T00:00:00Z", f"{int(hi):04d}-12-31T23:59:59Z"]
        return [f"{lo}Z", f"{hi}Z"]

    def __len__(self) -> int:
        return self.count(ItemsQuery())

    def warm(self) -> None:
        self.bounds

    def is_quick(self, query: ItemsQuery) -> bool:
        return False

    # ---------------------------------------------------------------- selection
    def _where(self, query: ItemsQuery):
        """(SQL, params) of the WHERE clause for ``query``."""
        from psycopg import sql

        info = self.info
        geom = sql.Identifier(info.column)
        parts, params = [sql.SQL("TRUE")], []
        if query.bbox is not None:
            parts.append(sql.SQL("{g} && ST_Transform(ST_GeomFromWKB(%s, 4326), {s}) AND "
                                 "ST_Intersects({g}, ST_Transform(ST_GeomFromWKB(%s, 4326), {s}))").format(
                g=geom, s=sql.Literal(info.srid or 4326)))
            wkb = shapely.to_wkb(query.bbox.polygon)
            params += [wkb, wkb]
        for name, text in query.properties.items():
            kind = self.property_types[name]
            col = sql.Identifier(name)
            if kind == "boolean":
                value = {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower())
                if value is None:
                    raise InvalidParameter(f"属性 {name} 是 boolean 类型，'{text}' 不是合法值", parameter=name)
                parts.append(sql.SQL("{c} = %s").format(c=col))
                params.append(value)
            elif kind in ("integer", "number"):
                try:
                    params.append(float(text))
                except ValueError:
                    raise InvalidParameter(f"属性 {name} 是 {kind} 类型，'{text}' 不是合法值", parameter=name) from None
                parts.append(sql.SQL("{c} = %s").format(c=col))
            else:
                parts.append(sql.SQL("{c}::text = %s").format(c=col))
                params.append(text)
        if query.datetime is not None and self.temporal_property is not None:
            col = sql.Identifier(self.temporal_property)
            interval = query.datetime
            if self.property_types[self.temporal_property] in ("integer", "number"):
                if interval.start is not None:
                    parts.append(sql.SQL("{c} >= %s").format(c=col))
                    params.append(interval.start.year)
                if interval.end is not None:
                    parts.append(sql.SQL("{c} <= %s").format(c=col))
                    params.append(interval.end.year)
                parts.append(sql.SQL("{c} IS NOT NULL").format(c=col))
            else:
                if interval.start is not None:
                    parts.append(sql.SQL("{c} >= %s").format(c=col))
                    params.append(interval.start)
                if interval.end is not None:
                    parts.append(sql.SQL("{c} <= %s").format(c=col))
                    params.append(interval.end)
        if query.filter is not None:
            where, more = self._filter_sql(query.filter)
            parts.append(where)
            params += more
        return sql.SQL(" AND ").join(parts), params

    def _filter_sql(self, compiled):
        info = self.info
        return to_sql(compiled, columns=dict(info.columns), geometry_column=info.column, srid=info.srid or 4326)

    def _key(self):
        from psycopg import sql

        info = self.info
        if info.fid:
            return sql.Identifier(info.fid)
        if info.order:
            return sql.SQL(", ").join(map(sql.Identifier, info.order))
        return sql.Identifier("id") if "id" in self.property_names else sql.SQL("ctid")

    def count(self, query: ItemsQuery) -> int:
        from psycopg import sql

        where, params = self._where(query)
        stmt = sql.SQL("SELECT count(*) FROM {t} WHERE ").format(t=self._table) + where
        return int(self.provider.read(lambda c: c.execute(stmt, params).fetchone()[0]))

    @cached_property
    def _table(self):
        from psycopg import sql

        return sql.Identifier(self.info.schema, self.info.table)

    def _select(self, *, etag: bool = False):
        """id text, WKB in WGS 84, properties as one JSON object in column order (and, with ``etag``, the row's
        ETag, the expression ``PostGISProvider._row`` uses)."""
        from psycopg import sql

        info = self.info
        geom = sql.Identifier(info.column)
        if info.srid not in (0, 4326):
            geom = sql.SQL("ST_Transform({g}, 4326)").format(g=geom)
        ident = sql.SQL("{c}::text").format(c=sql.Identifier("id")) if "id" in self.property_names else (
            sql.SQL("{c}::text").format(c=sql.Identifier(info.fid)) if info.fid else sql.SQL("NULL::text"))
        cols = sql.SQL(", ").join(sql.SQL("t.{c}").format(c=sql.Identifier(n)) for n in self.property_names)
        extra = sql.SQL(", left(md5(to_jsonb(t)::text), 20)") if etag else sql.SQL("")
        return sql.SQL("SELECT {i}, ST_AsBinary({g}), (SELECT row_to_json(p) FROM (SELECT {cols}) p)::text{e} "
                       "FROM {t} AS t").format(i=ident, g=geom, cols=cols, e=extra, t=self._table)

    def _encode(self, rows, crs: OutputCRS) -> list[bytes]:
        if not rows:
            return []
        geoms = shapely.from_wkb(np.array([r[1] for r in rows], dtype=object))
        geoms = _round(geoms, GEOGRAPHIC_DECIMALS) if crs.is_storage else from_wgs84(geoms, crs)
        texts = shapely.to_geojson(geoms).tolist()
        return [b'{"type":"Feature","id":' + orjson.dumps(r[0]) + b',"geometry":'
                + (b"null" if g is None else g.encode()) + b',"properties":' + r[2].encode() + b"}"
                for r, g in zip(rows, texts)]

    def items(self, query: ItemsQuery) -> ItemsPage:
        from psycopg import sql

        where, params = self._where(query)
        order = [sql.SQL("{c} {d} NULLS LAST").format(c=sql.Identifier(name), d=sql.SQL("DESC" if desc else "ASC"))
                 for name, desc in query.sortby] + [self._key()]
        stmt = (self._select() + sql.SQL(" WHERE ") + where + sql.SQL(" ORDER BY ") + sql.SQL(", ").join(order)
                + sql.SQL(" LIMIT %s OFFSET %s"))
        count = sql.SQL("SELECT count(*) FROM {t} AS t WHERE ").format(t=self._table) + where

        def run(conn):
            rows = conn.execute(stmt, [*params, query.limit, query.offset], binary=False).fetchall()
            if query.offset == 0 and len(rows) < query.limit:
                matched = len(rows)
            else:
                # kept for this data version (this object is one version's): paging through "next" links, or
                # every first page of the whole table, counts its rows once, not once per page (5 M rows ≈ 0.4 s)
                key = (where.as_bytes(conn), repr(params))
                matched = self._counts.get(key)
                if matched is None:
                    matched = int(conn.execute(count, params).fetchone()[0])
                    if len(self._counts) >= 256:
                        self._counts.clear()
                    self._counts[key] = matched
            return rows, matched

        rows, matched = self.provider.read(run)
        return ItemsPage(self._encode(rows, query.crs), matched, query.offset, query.limit)

    def frame(self, query: ItemsQuery | None = None, *, area=None, max_rows: int | None = None):
        """The selected features as a GeoDataFrame (EPSG:4326, index = feature id), for exports and queries:
        ``query``'s bbox/properties/datetime/filter/sortby plus ``area`` (a WGS 84 geometry they must intersect),
        all in SQL. More than ``max_rows`` (default ``SELECT_MAX_ROWS``) matches → ``RequestTooLarge`` with the count,
        before any row is read."""
        import geopandas as gpd
        import pandas as pd
        from psycopg import sql

        query = query or ItemsQuery()
        limit = SELECT_MAX_ROWS if max_rows is None else max_rows
        where, params = self._where(query)
        if area is not None:
            where = where + sql.SQL(" AND {g} && ST_Transform(ST_GeomFromWKB(%s, 4326), {s}) AND ST_Intersects("
                                    "{g}, ST_Transform(ST_GeomFromWKB(%s, 4326), {s}))").format(
                g=sql.Identifier(self.info.column), s=sql.Literal(self.info.srid or 4326))
            params = [*params, shapely.to_wkb(area), shapely.to_wkb(area)]
        order = [sql.SQL("{c} {d} NULLS LAST").format(c=sql.Identifier(name), d=sql.SQL("DESC" if desc else "ASC"))
                 for name, desc in query.sortby] + [self._key()]
        count = sql.SQL("SELECT count(*) FROM {t} AS t WHERE ").format(t=self._table) + where
        stmt = self._select() + sql.SQL(" WHERE ") + where + sql.SQL(" ORDER BY ") + sql.SQL(", ").join(order)

        def run(conn):
            with conn.transaction():        # count and rows from one snapshot
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                matched = int(conn.execute(count, params).fetchone()[0])
                if matched > limit:
                    return matched, None
                return matched, conn.execute(stmt, params, binary=False).fetchall()

        matched, rows = self.provider.read(run)
        if rows is None:
            raise RequestTooLarge(
                f"图层 {self.layer.id} 的选择有 {matched:,} 个要素，超过单次导出/查询上限 {limit:,}；"
                "请用 bbox、绘制范围或 filter 缩小范围（整表复制请用 ogr2ogr 直接连接数据库）", parameter="bbox")
        names = self.property_names
        records = [orjson.loads(r[2]) for r in rows]
        props = pd.DataFrame.from_records(records, columns=names) if records else pd.DataFrame(columns=names)
        geoms = shapely.from_wkb(np.array([r[1] for r in rows], dtype=object)) if rows else []
        frame = gpd.GeoDataFrame(props, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")
        ids = [str(r[0]) for r in rows]
        if "id" not in frame.columns:
            frame.insert(0, "id", ids)
        frame.index = pd.Index(ids, name="fid")
        return frame

    def records(self, query: ItemsQuery | None = None) -> list[dict[str, Any]]:
        page = self.items(query or ItemsQuery(limit=10_000))
        return [orjson.loads(f)["properties"] for f in page.features]

    def feature(self, feature_id: str, crs: OutputCRS | None = None) -> bytes:
        return self.feature_and_etag(feature_id, crs, etag=False)[0]

    def feature_and_etag(self, feature_id: str, crs: OutputCRS | None = None, *,
                         etag: bool = True) -> tuple[bytes, str | None]:
        """One feature's GeoJSON and its ETag, read in one query (so they always agree)."""
        from psycopg import sql

        key = "id" if "id" in self.property_names else self.info.fid
        if key is None:
            raise FeatureNotFound(f"图层 {self.layer.id} 没有 id 列", parameter="featureId")
        cond, value = key_condition(dict(self.info.columns).get(key, "int8"), key, feature_id)
        if cond is None:
            rows = []
        else:
            def run(c):
                # rendered once per layer version and kind (a Composed is rendered again on every execute); the
                # same bytes each time also let psycopg prepare the statement on each pooled connection
                stmt = self._feature_sql.get(etag)
                if stmt is None:
                    stmt = self._feature_sql[etag] = (self._select(etag=etag) + sql.SQL(" WHERE ") + cond
                                                      + sql.SQL(" LIMIT 2")).as_bytes(c)
                return c.execute(stmt, [value]).fetchall()

            rows = self.provider.read(run)
        if not rows:
            raise FeatureNotFound(f"图层 {self.layer.id} 中没有 id 为 '{feature_id}' 的要素"
                                  f"（no feature '{feature_id}' in {self.layer.id}）", parameter="featureId")
        return self._encode(rows[:1], crs or parse_output_crs(None))[0], (rows[0][3] if etag else None)


class PostGISTiles:
    """One large PostGIS table as an MVT layer built by ``ST_AsMVT`` (the ``LayerSource`` interface)."""

    def __init__(self, provider, layer, version: str):
        self.provider = provider
        self.name = layer.id
        self.info = provider.info
        self.n = 1
        self.zoom_levels = np.zeros(0, dtype=np.int8)
        self.detailed = False
        self._simple: dict = {}
        self._tile_idx: dict = {}

    @cached_property
    def fields(self) -> dict[str, str]:
        return {name: ("Number" if typ in _JSON_TYPES and typ != "bool" else
                       "Boolean" if typ == "bool" else "String") for name, typ in self.info.columns}

    @cached_property
    def lonlat_bounds(self) -> tuple[float, float, float, float]:
        return self.provider.extent() or (-180.0, -85.0511, 180.0, 85.0511)

    def batchable(self, z: int | None = None) -> bool:
        return False

    def encode(self, z: int, x: int, y: int, *, feature_zoom: int | None = None, limit: int | None = None,
               **_) -> tuple[bytes, int]:
        """(layer message, feature count) for tile z/x/y: the inner Layer of ``ST_AsMVT``'s Tile."""
        return self._fit(z, x, y, *self.provider.read(lambda c: self._mvt(c, z, x, y, limit or tile_budget(z))))

    def _fit(self, z: int, x: int, y: int, data: bytes, count: int) -> tuple[bytes, int]:
        """``(layer, count)`` from a first ``ST_AsMVT`` result: a tile over ``MAX_TILE_BYTES`` is built again with
        fewer features until it fits."""
        while len(data) > MAX_TILE_BYTES and count > 1:
            budget = max(1, int(count * MAX_TILE_BYTES / len(data) * 0.9))
            data, count = self.provider.read(lambda c: self._mvt(c, z, x, y, budget))
        return _layer_of(data), count

    def _mvt(self, conn, z: int, x: int, y: int, budget: int | None):
        from psycopg import sql

        stmt = sql.SQL("""
            WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
                              ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => {m}), {s}) AS native)
            SELECT {mvt} FROM b CROSS JOIN LATERAL ({rows}) q WHERE mvtgeom IS NOT NULL""").format(
            m=sql.Literal(BUFFER / EXTENT), s=sql.Literal(self.info.srid or 4326), mvt=_as_mvt(),
            rows=self._tile_rows(budget))
        data, count = conn.execute(stmt, {"z": z, "x": x, "y": y, "name": self.name}, binary=True).fetchone()
        return bytes(data or b""), int(count or 0)

    def _tile_rows(self, budget: int | None):
        """The rows of the tile whose envelopes are ``b.env`` (Web Mercator) and ``b.native`` (the table's SRID,
        with the clip buffer as margin): clipped geometry, feature id and attributes, at most ``budget`` of them.
        ``_mvt`` (one tile) and ``encode_batch`` (many) wrap it in ``ST_AsMVT``."""
        from psycopg import sql

        info = self.info
        key = sql.SQL("t.{k}::int8").format(k=sql.Identifier(info.fid)) if info.fid else sql.SQL("NULL::int8")
        cols = sql.SQL("").join(sql.SQL(", t.{c}").format(c=sql.Identifier(n)) for n, typ in info.columns
                                if typ not in ("json", "jsonb", "bytea"))
        limit = sql.SQL(" LIMIT {n}").format(n=sql.Literal(int(budget))) if budget else sql.SQL("")
        return sql.SQL("SELECT ST_AsMVTGeom(ST_Transform(t.{g}, 3857), b.env, {e}, {buf}, true) AS mvtgeom, "
                       "{key} AS __kfqmap_fid{cols} FROM {t} AS t WHERE t.{g} && b.native{limit}").format(
            g=sql.Identifier(info.column), e=sql.Literal(EXTENT), buf=sql.Literal(BUFFER), key=key, cols=cols,
            t=sql.Identifier(info.schema, info.table), limit=limit)

    # ---------------------------------------------------------------- seeding (``kfqmap tiles seed``)
    def seed_candidates(self, zoom: int) -> list[tuple[int, int]]:
        """Tiles (x, y) at ``zoom`` that some feature's bounding box touches, the clip buffer included (a superset of
        the non-empty tiles), computed in the database from each row's cached box: one pass, no geometry read
        by Python. Lower zooms derive from these (``kfqmap.tileseed``)."""
        from psycopg import sql

        info = self.info
        g = sql.Identifier(info.column)
        box = sql.SQL("t.{g}::box2d").format(g=g) if info.srid in (0, 4326) else \
            sql.SQL("ST_Transform(ST_Envelope(t.{g}), 4326)::box2d").format(g=g)
        n = 1 << zoom
        margin = BUFFER / EXTENT
        # Web Mercator tile fractions of each box (y grows southwards); latitudes clamped to the square's edge
        stmt = sql.SQL("""
            WITH b AS (SELECT {box} AS e FROM {t} AS t WHERE t.{g} IS NOT NULL),
                 f AS (SELECT (ST_XMin(e) + 180) / 360 * %(n)s AS x0, (ST_XMax(e) + 180) / 360 * %(n)s AS x1,
                              (1 - ln(tan(radians(least(ST_YMax(e), 85.0511))) + 1 / cos(radians(least(ST_YMax(e),
                               85.0511)))) / pi()) / 2 * %(n)s AS y0,
                              (1 - ln(tan(radians(greatest(ST_YMin(e), -85.0511))) + 1 / cos(radians(greatest(
                               ST_YMin(e), -85.0511)))) / pi()) / 2 * %(n)s AS y1 FROM b)
            SELECT DISTINCT x, y FROM f,
                 generate_series(greatest(0, floor(x0 - %(m)s)::int), least(%(n)s - 1, floor(x1 + %(m)s)::int)) x,
                 generate_series(greatest(0, floor(y0 - %(m)s)::int), least(%(n)s - 1, floor(y1 + %(m)s)::int)) y
            """).format(box=box, t=sql.Identifier(info.schema, info.table), g=g)
        rows = self.provider.read(lambda c: c.execute(stmt, {"n": n, "m": margin}).fetchall())
        return [(int(x), int(y)) for x, y in rows]

    def encode_batch(self, z: int, xy: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[bytes, int]]:
        """``{(x, y): (layer message, feature count)}`` for the non-empty tiles among ``xy`` at zoom ``z``: one SQL
        statement for the whole batch (a LATERAL ``ST_AsMVT`` per tile, the same query and budget as ``encode``),
        a tile over ``MAX_TILE_BYTES`` is redone by ``encode`` (which cuts its budget)."""
        from psycopg import sql

        if not xy:
            return {}
        stmt = sql.SQL("""
            WITH b AS (SELECT u.x, u.y, ST_TileEnvelope(%(z)s, u.x, u.y) AS env,
                              ST_Transform(ST_TileEnvelope(%(z)s, u.x, u.y, margin => {m}), {s}) AS native
                       FROM unnest(%(xs)s::int[], %(ys)s::int[]) AS u(x, y))
            SELECT b.x, b.y, m.data, m.n FROM b CROSS JOIN LATERAL (
                SELECT {mvt} FROM ({rows}) q WHERE mvtgeom IS NOT NULL) m""").format(
            m=sql.Literal(BUFFER / EXTENT), s=sql.Literal(self.info.srid or 4326), mvt=_as_mvt(),
            rows=self._tile_rows(tile_budget(z)))
        params = {"z": z, "xs": [x for x, _ in xy], "ys": [y for _, y in xy], "name": self.name}
        rows = self.provider.read(lambda c: c.execute(stmt, params, binary=True).fetchall())
        out = {}
        for x, y, data, count in rows:
            data = bytes(data or b"")
            if not count:
                continue
            out[(x, y)] = self._fit(z, x, y, data, int(count))     # the same cuts as ``encode``
        return out


_INTEGER_TYPES = ("int2", "int4", "int8")


def key_condition(typ: str, key: str, feature_id: str):
    """``(SQL condition, bound value)`` selecting the row whose key column equals the OGC feature id, compared in
    the column's own type so that its index is used (``id::text = '42'`` would scan the table);
    ``(None, None)`` when the id cannot be a value of that type (no such feature)."""
    from psycopg import sql

    col = sql.Identifier(key)
    if typ in _INTEGER_TYPES:
        text = str(feature_id).strip()
        if not (text.lstrip("-").isdigit() and len(text) < 20):
            return None, None
        return sql.SQL("{c} = %s").format(c=col), int(text)
    if typ in ("text", "varchar", "bpchar", "name", "citext"):
        return sql.SQL("{c} = %s").format(c=col), str(feature_id)
    return sql.SQL("{c}::text = %s").format(c=col), str(feature_id)


def _layer_of(tile: bytes) -> bytes:
    """The Layer message inside a one-layer Tile (field 3, length-delimited); b"" for an empty tile."""
    if not tile:
        return b""
    if tile[0] != 0x1A:
        raise ValueError("unexpected MVT from ST_AsMVT")
    length, shift, i = 0, 0, 1
    while True:
        b = tile[i]
        length |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            break
        shift += 7
    return tile[i:i + length]


def area_stats(provider) -> dict[str, float]:
    """Count, ellipsoidal area (m², spheroid) and geodesic length of the whole table, computed in SQL."""
    from psycopg import sql

    info = provider.info
    g = sql.Identifier(info.column)
    geog = sql.SQL("geography(ST_Transform({g}, 4326))").format(g=g) if info.srid not in (0, 4326) else \
        sql.SQL("geography({g})").format(g=g)
    stmt = sql.SQL("SELECT count(*), coalesce(sum(ST_Area({geog}, true)), 0), "
                   "coalesce(sum(CASE WHEN GeometryType({g}) LIKE '%%LINE%%' THEN ST_Length({geog}, true) END), 0) "
                   "FROM {t}").format(geog=geog, g=g, t=sql.Identifier(info.schema, info.table))
    n, area, length = provider.read(lambda c: c.execute(stmt).fetchone())
    return {"count": int(n), "area_m2": float(area), "length_m": float(length)}


__all__ = ["PostGISItems", "PostGISTiles", "area_stats", "RequestTooLarge"]

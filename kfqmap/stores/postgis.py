"""PostGIS store: read one table (or view) of a PostgreSQL/PostGIS database as a layer, through psycopg 3.

A location is ``<dsn>#<table>``, where ``<dsn>`` is a libpq connection string (URI
``postgresql://user@host:5432/db`` / ``postgresql://user@/db?host=/run/postgresql`` or keywords
``host=... dbname=...``) and ``<table>`` is ``table``, ``schema.table``, or ``schema.table:geom_column`` when the
table has more than one geometry column::

    >>> from kfqmap.stores.postgis import read_postgis
    >>> frame = read_postgis("postgresql://gis@/kfq?host=/run/postgresql#public.parcels")   # doctest: +SKIP

The geometry column and its SRID come from ``geometry_columns``; geometries arrive as WKB of
``ST_Transform(geom, 4326)`` (a column declared with SRID 0 is transformed row by row from each row's own
SRID; rows with SRID 0 are taken as WGS 84, as the file reader does). The frame looks like the
one pyogrio gives for the same data in a GeoPackage: same column names and order, a ``geometry`` column in
EPSG:4326, an integer primary key other than ``id`` hidden as GDAL hides a FID (and used for the row order),
integers/booleans with NULLs as float64, JSON as parsed values, NULL JSON as NaN. Rows come in primary-key
order, else ``id`` order, else a fixed order of the whole row (so ids given by row number are stable). Names
are matched as written, else as PostgreSQL folds unquoted names (``#public.Parcels`` finds ``parcels``).

Passwords never go in the location (it is shown in the catalog): libpq reads them from ``PGPASSWORD`` or
``~/.pgpass`` (``PGPASSFILE``). Every identifier is quoted with ``psycopg.sql``, never formatted into SQL.
Errors: ``DataSourceError`` (malformed DSN, unknown database/role, missing table, no geometry column) and
``StoreUnavailable`` (the database cannot be reached now), both with messages for the admin.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import DataSourceError, StoreUnavailable
from ..models import Layer, Style

log = logging.getLogger("kfqmap.stores.postgis")

#: seconds libpq waits for a connection unless the DSN says ``connect_timeout``
CONNECT_TIMEOUT = 10

_FIX = "请检查 KFQMAP_EXTRA_LAYERS 中的写法：图层id=postgresql://用户@主机:端口/数据库#模式.表名"
_INTS = {"int2": np.int16, "int4": np.int32, "int8": np.int64}
_FLOATS = {"float4": np.float32, "float8": np.float64, "numeric": np.float64}
_TEXTS = {"text", "varchar", "bpchar", "name", "citext", "char"}
_KEEP = {"bool", "json", "jsonb", "date", "timestamp", "timestamptz", "bytea"} | set(_INTS) | set(_FLOATS) | _TEXTS
_GEOM_TYPES = {"POINT": "Point", "MULTIPOINT": "MultiPoint", "LINESTRING": "LineString",
               "MULTILINESTRING": "MultiLineString", "POLYGON": "Polygon", "MULTIPOLYGON": "MultiPolygon"}
#: libpq failures that no retry will fix: a missing password, a mistyped host name
_CONFIG = ("fe_sendauth", "password authentication failed", "could not translate host name", "SCRAM")
_TRANSIENT = ("starting up", "shutting down", "in recovery", "too many clients", "remaining connection slots")


@dataclass(frozen=True)
class Location:
    dsn: str
    schema: str | None
    table: str
    column: str | None = None

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def describe(self) -> str:
        """Where, for messages: database and host, never a password."""
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(self.dsn)
        where = info.get("host") or "本机默认套接字"
        if info.get("port"):
            where += f":{info['port']}"
        return f"表 {self.name}（数据库 {info.get('dbname') or '默认'}，{where}）"


def parse_location(location: str) -> Location:
    """``<dsn>#[schema.]table[:geom_column]`` → a Location; DataSourceError when it cannot be used."""
    from psycopg.conninfo import conninfo_to_dict

    dsn, sep, target = location.strip().rpartition("#")
    if not sep or not dsn.strip() or not target.strip():
        # the location is not echoed: it may carry a password, which is only refused further down
        raise DataSourceError(f"PostGIS 图层位置缺少连接串或表名（写成 连接串#模式.表名）。{_FIX}")
    try:
        info = conninfo_to_dict(dsn.strip())
    except Exception as exc:  # psycopg.ProgrammingError: libpq could not parse it
        raise DataSourceError(f"PostGIS 连接串无法解析：{exc}。{_FIX}") from None
    if "password" in info:
        raise DataSourceError("PostGIS 连接串中不要写密码（它会出现在设置和日志里）："
                              "请用环境变量 PGPASSWORD 或 ~/.pgpass（PGPASSFILE）提供密码。")
    target, _, column = target.strip().partition(":")
    schema, dot, table = target.partition(".")
    if not dot:
        schema, table = None, schema
    if not table or (dot and not schema):
        raise DataSourceError(f"PostGIS 表名 '{target}' 无效：写成 表名 或 模式.表名。{_FIX}")
    return Location(dsn.strip(), schema, table, column or None)


def is_transient(reason: str) -> bool:
    """Is this libpq connection failure worth a retry (the server is down, starting, full) — or a configuration
    mistake no retry fixes (unknown database/role, a missing or wrong password, a mistyped host name)?"""
    if any(m in reason for m in _CONFIG):
        return False
    return not ("FATAL:" in reason and not any(t in reason for t in _TRANSIENT))


def _connect(loc: Location):
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    kwargs = {} if "connect_timeout" in conninfo_to_dict(loc.dsn) else {"connect_timeout": CONNECT_TIMEOUT}
    try:
        from ..settings import PostgresSettings

        return psycopg.connect(loc.dsn, autocommit=True, application_name="kfqmap", **kwargs,
                               **PostgresSettings().connect_kwargs())
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("PostGIS connection failed for %s: %s", loc.describe(), exc)
        if not is_transient(reason):
            raise DataSourceError(f"PostGIS 数据库拒绝连接（{loc.describe()}）：{reason}。"
                                  f"请检查数据库名、用户名和密码（PGPASSWORD / ~/.pgpass）。{_FIX}") from None
        raise StoreUnavailable(f"暂时无法连接 PostGIS 数据库（{loc.describe()}）：{reason}。请稍后重试；"
                               "管理员请检查数据库是否在运行、主机/端口/套接字目录是否正确。") from None


@dataclass(frozen=True)
class TableInfo:
    schema: str
    table: str
    column: str
    srid: int
    geometry_type: str          # a catalog geometry type: Point, MultiPolygon, ...
    columns: list[tuple[str, str]]   # (name, pg type name) of the attribute columns, in table order
    fid: str | None             # integer primary key hidden as the FID (not ``id``)
    order: list[str]            # ORDER BY columns (the primary key), may be empty


@contextmanager
def _session(loc: Location):
    """A connection whose database errors become DataSourceError / StoreUnavailable with ``loc`` named."""
    import psycopg

    with _connect(loc) as conn:
        try:
            yield conn
        except psycopg.OperationalError as exc:
            log.warning("PostGIS read failed for %s: %s", loc.describe(), exc)
            raise StoreUnavailable(f"读取 PostGIS {loc.describe()}时连接中断：{str(exc).strip()}。请稍后重试。") from None
        except psycopg.Error as exc:
            log.warning("PostGIS read failed for %s: %s", loc.describe(), exc)
            raise DataSourceError(f"读取 PostGIS {loc.describe()}失败：{str(exc).strip()}") from None


def _table_info(conn, loc: Location) -> TableInfo:
    if conn.execute("SELECT to_regclass('geometry_columns')").fetchone()[0] is None:
        raise DataSourceError(f"PostGIS {loc.describe()}：该数据库没有安装 PostGIS 扩展（没有 geometry_columns）。"
                              "请在该数据库中执行 CREATE EXTENSION postgis，或检查连接串中的数据库名。")
    row = conn.execute(
        # the name as written, else as PostgreSQL folds an unquoted name (``Parcels`` → ``parcels``)
        """SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relname::text IN (%(table)s::text, lower(%(table)s::text)) AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
             AND (n.nspname::text IN (%(schema)s::text, lower(%(schema)s::text))
                  OR (%(schema)s::text IS NULL AND n.nspname = ANY(current_schemas(false))))
           ORDER BY c.relname::text <> %(table)s::text, n.nspname::text IS DISTINCT FROM %(schema)s::text,
                    array_position(current_schemas(false), n.nspname) NULLS LAST LIMIT 1""",
        {"table": loc.table, "schema": loc.schema}).fetchone()
    if row is None:
        raise DataSourceError(f"PostGIS 数据库中没有{loc.describe()}。{_spatial_tables(conn)}。{_FIX}")
    oid, schema, table = row
    geoms = conn.execute(
        "SELECT f_geometry_column, srid, type FROM geometry_columns "
        "WHERE f_table_schema = %s AND f_table_name = %s ORDER BY f_geometry_column", (schema, table)).fetchall()
    if loc.column:
        geoms = [g for g in geoms if g[0] == loc.column]
    if not geoms:
        what = f"没有名为 {loc.column} 的 geometry 列" if loc.column else "没有 geometry 列（geometry_columns 中没有它）"
        raise DataSourceError(f"PostGIS {loc.describe()}{what}，不能作为图层。{_spatial_tables(conn)}。")
    if len(geoms) > 1:
        names = ", ".join(g[0] for g in geoms)
        raise DataSourceError(f"PostGIS {loc.describe()}有多个 geometry 列（{names}）：请在表名后写明用哪一列，"
                              f"如 #{schema}.{table}:{geoms[0][0]}")
    column, srid, gtype = geoms[0]
    attrs = conn.execute(
        """SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum""", (oid,)).fetchall()
    pk = conn.execute(
        """SELECT a.attname, t.typname FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
           JOIN pg_type t ON t.oid = a.atttypid
           WHERE i.indrelid = %s AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)""", (oid,)).fetchall()
    fid = pk[0][0] if len(pk) == 1 and pk[0][1] in _INTS and pk[0][0] != "id" else None
    columns = [(name, typ) for name, typ in attrs if typ not in ("geometry", "geography") and name != fid]
    return TableInfo(schema, table, column, int(srid or 0), _geometry_type(conn, schema, table, column, gtype),
                     columns, fid, [name for name, _ in pk])


def _spatial_tables(conn) -> str:
    """The tables an admin could have meant, for error messages."""
    spatial = [f"{s}.{t}" for s, t in conn.execute(
        "SELECT DISTINCT f_table_schema, f_table_name FROM geometry_columns ORDER BY 1, 2 LIMIT 30")]
    return f"该数据库中的空间表：{', '.join(spatial)}" if spatial else "该数据库中没有任何带 geometry 列的表"


def _geometry_type(conn, schema: str, table: str, column: str, declared: str) -> str:
    from psycopg import sql

    declared = declared.upper().rstrip("M").removesuffix("Z") if declared else "GEOMETRY"
    if declared in _GEOM_TYPES:
        return _GEOM_TYPES[declared]
    # a generic geometry column: look at what it holds
    found = {r[0].upper().rstrip("M") for r in conn.execute(
        sql.SQL("SELECT DISTINCT GeometryType({c}) FROM {t} WHERE {c} IS NOT NULL LIMIT 10").format(
            c=sql.Identifier(column), t=sql.Identifier(schema, table)))}
    kinds = {k.removeprefix("MULTI") for k in found}
    if not found:   # an empty table is drawn as polygons once filled; rows without any geometry are a table
        has_rows = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {t})").format(
            t=sql.Identifier(schema, table))).fetchone()[0]
        return "None" if has_rows else "Polygon"
    if len(kinds) == 1 and kinds <= {"POINT", "LINESTRING", "POLYGON"}:
        return _GEOM_TYPES[found.pop()] if len(found) == 1 else _GEOM_TYPES["MULTI" + kinds.pop()]
    raise DataSourceError(f"PostGIS 表 {schema}.{table} 的 {column} 列混有多种几何类型（{', '.join(sorted(found))}），"
                          "图层只能是一种（点、线或面）：请建一个只含一种类型的视图再配置它。")


def inspect_table(location: str) -> TableInfo:
    """Connect and describe the table behind ``location`` (geometry column, SRID, type, columns)."""
    loc = parse_location(location)
    with _session(loc) as conn:
        return _table_info(conn, loc)


def read_postgis(location: str, *, base=None) -> gpd.GeoDataFrame:
    """The table at ``location`` as a GeoDataFrame in EPSG:4326 (``base`` is unused: the reader interface)."""
    loc = parse_location(location)
    with _session(loc) as conn:
        return read_table(conn, _table_info(conn, loc))[0]


def read_table(conn, info: TableInfo) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """All rows of the table described by ``info`` as a frame (see the module doc), and each row's integer key
    (the primary key when it is one integer column, else the row number in the fixed order, 1-based)."""
    from psycopg import sql

    geom = sql.Identifier(info.column)
    if info.srid not in (0, 4326):
        geom = sql.SQL("ST_Transform({g}, 4326)").format(g=geom)
    elif info.srid == 0:
        # a generic ``geometry`` column (declared SRID 0) may still hold rows with a real SRID: each row is
        # taken to WGS 84 by its own SRID; rows with SRID 0 are taken as WGS 84, as the file reader does
        geom = sql.SQL("CASE WHEN ST_SRID({g}) IN (0, 4326) THEN {g} ELSE ST_Transform({g}, 4326) END"
                       ).format(g=geom)
    fields = [_select(name, typ) for name, typ in info.columns]
    fields.append(sql.SQL("ST_AsBinary({g}) AS {a}").format(g=geom, a=sql.Identifier("__kfqmap_wkb")))
    fields.append(sql.SQL("{k}::int8").format(k=sql.Identifier(info.fid)) if info.fid else sql.SQL("0::int8"))
    query = sql.SQL("SELECT {f} FROM {t} AS __kfqmap_row").format(f=sql.SQL(", ").join(fields),
                                                 t=sql.Identifier(info.schema, info.table))
    order = [info.fid] if info.fid else info.order
    if not order and "id" in {name for name, _ in info.columns}:
        order = ["id"]
    if order:
        query += sql.SQL(" ORDER BY {o}").format(o=sql.SQL(", ").join(map(sql.Identifier, order)))
    else:   # no key at all: a fixed order (the whole row's text), so row-number ids survive a restart
        query += sql.SQL(" ORDER BY __kfqmap_row::text")
    rows = conn.execute(query, binary=True).fetchall()
    keys = np.array([r[-1] for r in rows], dtype=np.int64)
    fids = keys.astype(np.uint64) if info.fid else np.arange(1, len(rows) + 1, dtype=np.uint64)
    return _frame([r[:-1] for r in rows], info), fids


def _select(name: str, typ: str):
    from psycopg import sql

    col = sql.Identifier(name)
    if typ == "numeric":
        return sql.SQL("{c}::float8 AS {c}").format(c=col)
    if typ in _KEEP:
        return col
    return sql.SQL("{c}::text AS {c}").format(c=col)   # uuid, arrays, enums, ...: text, as GDAL shows them


def _frame(rows: list[tuple], info: TableInfo) -> gpd.GeoDataFrame:
    columns = list(zip(*rows)) if rows else [() for _ in range(len(info.columns) + 1)]
    data: dict[str, pd.Series] = {}
    for (name, typ), values in zip(info.columns, columns[:-1]):
        data[name] = _series(list(values), typ)
    wkb = np.array(columns[-1], dtype=object)
    geometry = gpd.GeoSeries(shapely.from_wkb(wkb) if len(wkb) else [], crs=4326)
    return gpd.GeoDataFrame(pd.DataFrame(data, index=pd.RangeIndex(len(rows))), geometry=geometry, crs=4326)


def _series(values: list, typ: str) -> pd.Series:
    has_null = any(v is None for v in values)
    if typ in _INTS or typ == "bool":
        if has_null:
            return pd.Series([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        return pd.Series(values, dtype=bool if typ == "bool" else _INTS[typ])
    if typ in _FLOATS:
        return pd.Series([np.nan if v is None else v for v in values], dtype=_FLOATS[typ])
    if typ in ("json", "jsonb"):
        return pd.Series([np.nan if v is None else v for v in values], dtype=object)
    if typ in ("date", "timestamp", "timestamptz"):
        return pd.Series(pd.to_datetime(values))
    return pd.Series(values)


def postgis_layer(layer_id: str, location: str):
    """A catalog Layer (group 额外, not part of the plan) for the table at ``location``, checked now."""
    info = inspect_table(location)
    return Layer(
        id=layer_id, title_zh=f"额外图层 {layer_id}", title_en=f"Extra layer {layer_id}", group="额外",
        kind="extra", geometry_type=info.geometry_type, source="postgis", file=location.strip(),
        plan_section="（非规划内容）",
        description=f"从 PostGIS 表 {info.schema}.{info.table} 载入的额外图层，不属于规划。",
        schematic=False, illustrative=True,
        style=Style(fill="#999999", stroke="#666666", stroke_width=0.5,
                    label=any(name == "name" for name, _ in info.columns)),
    )

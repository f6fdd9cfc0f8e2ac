"""A ``TRUNCATE`` of a PostGIS layer table outside KFQMap (psql) is in the history: the database records every row
as deleted, before the table is emptied, in the TRUNCATE's own transaction; so ``items?asof`` before it still
gives the layer, and a rolled-back TRUNCATE leaves no trace."""
from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from kfqmap import editing
from kfqmap.catalog import load_catalog
from kfqmap.history import PG_TRUNCATE_NOTE, now_utc
from kfqmap.providers import postgis as P
from kfqmap.settings import GEODATA_DIR, CatalogSettings


@pytest.fixture()
def table(pg):
    name = f"trunc_{uuid.uuid4().hex[:6]}"
    pg.psql(f"CREATE TABLE public.{name} (LIKE public.low_efficiency_land INCLUDING ALL); "
            f"INSERT INTO public.{name} SELECT * FROM public.low_efficiency_land")
    return name


def test_truncate_outside_kfqmap_is_recorded_as_deletes(pg, table):
    catalog = load_catalog(CatalogSettings(geodata_dir=GEODATA_DIR, extra_layers=f"pg_trunc={pg.dsn}#public.{table}"))
    collection = catalog.collection("pg_trunc")
    try:
        assert collection.keeps_history                         # the triggers are installed on first use
        before = {f["id"]: f for f in collection.provider.features()[1].values()}
        assert len(before) > 10
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            # a TRUNCATE that rolls back records nothing
            with pytest.raises(psycopg.errors.RaiseException):
                with conn.transaction():
                    conn.execute(f"TRUNCATE public.{table}")
                    conn.execute("DO $$ BEGIN RAISE EXCEPTION 'abort'; END $$")
            assert conn.execute("SELECT count(*) FROM kfqmap.history WHERE layer_id = 'pg_trunc'").fetchone()[0] == 0
            time.sleep(0.01)
            at_before = now_utc()
            time.sleep(0.01)
            conn.execute(f"TRUNCATE public.{table}")
            rows = conn.execute("SELECT feature_id, op, before, after, \"user\", note FROM kfqmap.history "
                                "WHERE layer_id = 'pg_trunc' ORDER BY feature_id").fetchall()
        assert sorted(r[0] for r in rows) == sorted(before)
        for feature_id, op, old, new, user, note in rows:
            assert (op, new, user, note) == ("delete", None, f"db:{pg.user}", PG_TRUNCATE_NOTE)
            assert old["properties"]["name"] == before[feature_id]["properties"]["name"]
            assert old["geometry"]["type"] in ("Polygon", "MultiPolygon")
        # the layer as it was before the TRUNCATE is rebuilt from those rows
        then = {f["id"]: f for f in editing.asof(collection, at_before)}
        assert set(then) == set(before)
        assert then[next(iter(before))]["properties"] == before[next(iter(before))]["properties"]
        assert editing.asof(collection, now_utc()) == []
        [change] = editing.feature_history(collection, next(iter(before)))
        assert change.op == "delete" and change.note == PG_TRUNCATE_NOTE
    finally:
        if isinstance(collection.provider, P.PostGISProvider):
            collection.provider.close()

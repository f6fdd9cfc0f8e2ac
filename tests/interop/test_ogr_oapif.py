"""GDAL's OAPIF driver (a real OGC API – Features client) against a live KFQMap server.

ogrinfo must list every collection, and its feature counts — plain, with ``-where`` and with ``-spat`` —
must equal what the catalog's own frames say. ``-oo PAGE_SIZE`` forces GDAL to follow our ``next`` links.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import shapely

from server.testing import live_server  # noqa: F401  (session-scoped fixture)

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin (ogrinfo) not installed")]


def ogrinfo(*args: str) -> str:
    result = subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, timeout=300,
                            env={"GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr, result.stderr
    return result.stdout


def feature_count(text: str) -> int:
    match = re.search(r"^Feature Count: (\d+)$", text, re.M)
    assert match, text
    return int(match.group(1))


def spatial_ids(catalog) -> list[str]:
    return [layer.id for layer in catalog.layers if layer.is_spatial and layer.kind != "extra"]


def test_every_collection_listed(live_server):
    out = ogrinfo("-so", f"OAPIF:{live_server.url}")
    listed = re.findall(r"^\d+: (\S+)", out, re.M)
    catalog = live_server.catalog
    assert listed == catalog.ids
    for layer in catalog.layers:
        if layer.is_spatial:
            # ogrinfo prints "(Polygon)", "(Line String)", "(Multi Polygon)"...
            kind = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", layer.geometry_type)
            assert re.search(rf"^\d+: {layer.id} \(title: .*\) \({kind}\)$", out, re.M), (layer.id, out)


def test_feature_counts_match_catalog(live_server):
    catalog = live_server.catalog
    for layer_id in catalog.ids:
        if catalog.get(layer_id).kind == "extra":
            continue
        out = ogrinfo("-al", "-so", f"OAPIF:{live_server.url}/collections/{layer_id}")
        assert feature_count(out) == len(catalog.read(layer_id)), layer_id


def test_paging_follows_next_links(live_server):
    catalog = live_server.catalog
    layer_id = max(spatial_ids(catalog), key=lambda i: len(catalog.read(i)))
    n = len(catalog.read(layer_id))
    out = ogrinfo("-al", "-q", "-oo", f"PAGE_SIZE={max(2, n // 4)}", f"OAPIF:{live_server.url}/collections/{layer_id}")
    ids = re.findall(r"^\s+id \(String\) = (.+)$", out, re.M)
    assert len(ids) == n and len(set(ids)) == n
    assert set(ids) == set(catalog.read(layer_id)["id"])


def test_where_counts(live_server):
    catalog = live_server.catalog
    checked = 0
    for layer_id in spatial_ids(catalog):
        frame = catalog.read(layer_id)
        if not len(frame) or "name" not in frame:
            continue
        name = str(frame["name"].iloc[0]).replace("'", "''")
        expected = int((frame["name"] == frame["name"].iloc[0]).sum())
        out = ogrinfo("-al", "-so", "-where", f"name = '{name}'", f"OAPIF:{live_server.url}/collections/{layer_id}")
        assert feature_count(out) == expected, layer_id
        checked += 1
    assert checked >= 3


def test_where_on_typed_properties(live_server):
    catalog = live_server.catalog
    if "low_efficiency_land" not in catalog.ids:
        pytest.skip("no low_efficiency_land layer")
    frame = catalog.read("low_efficiency_land")
    url = f"OAPIF:{live_server.url}/collections/low_efficiency_land"
    status = frame["status"].dropna().iloc[0]
    assert feature_count(ogrinfo("-al", "-so", "-where", f"status = '{status}'", url)) == int((frame["status"] == status).sum())
    year = int(frame["year"].dropna().median())
    assert feature_count(ogrinfo("-al", "-so", "-where", f"year >= {year}", url)) == int((frame["year"] >= year).sum())
    assert feature_count(ogrinfo("-al", "-so", "-where", f"year = {year} AND status = '{status}'", url)) == \
        int(((frame["year"] == year) & (frame["status"] == status)).sum())


def test_spat_counts(live_server):
    catalog = live_server.catalog
    for layer_id in spatial_ids(catalog):
        frame = catalog.read(layer_id)
        if not len(frame):
            continue
        x0, y0, x1, y1 = frame.total_bounds
        w, h = (x1 - x0) or 0.01, (y1 - y0) or 0.01
        box = (x0 + w * 0.25, y0 + h * 0.25, x0 + w * 0.75, y0 + h * 0.75)
        expected = int(shapely.intersects(frame.geometry.values, shapely.box(*box)).sum())
        out = ogrinfo("-al", "-so", "-spat", *(f"{v:.6f}" for v in box), f"OAPIF:{live_server.url}/collections/{layer_id}")
        assert feature_count(out) == expected, layer_id

"""``/collections/{id}/items?f=gpkg`` (…): OGC clients and planners download a collection as a file."""
from __future__ import annotations

import pyogrio
import pytest

from kfqmap.catalog import load_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_items_as_geopackage_in_gauss_kruger(client, tmp_path, catalog):
    r = client.get("/collections/renewal_sites/items",
                   params={"f": "gpkg", "crs": "http://www.opengis.net/def/crs/EPSG/0/4549"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geopackage")
    assert "renewal_sites.gpkg" in r.headers["content-disposition"]
    path = tmp_path / "renewal_sites.gpkg"
    path.write_bytes(r.content)
    frame = pyogrio.read_dataframe(path)
    expected = catalog.read("renewal_sites")
    assert sorted(frame["name"]) == sorted(expected["name"])            # Chinese intact, every feature
    assert frame.crs.to_epsg() == 4549
    x0, y0, x1, y1 = frame.total_bounds                                  # metres east of CM 120°E, ~3,470 km north
    assert 550_000 < x0 < x1 < 620_000 and 3_440_000 < y0 < y1 < 3_500_000


def test_items_download_applies_bbox_and_filter(client, tmp_path, catalog):
    r = client.get("/collections/renewal_sites/items", params={"f": "csv", "filter": "name LIKE '%核心%'"})
    assert r.status_code == 200
    text = r.content.decode("utf-8-sig")
    expected = [n for n in catalog.read("renewal_sites")["name"] if "核心" in n]
    assert len(expected) >= 1 and all(n in text for n in expected)
    assert int(r.headers["x-kfqmap-features"]) == len(expected)


@pytest.mark.parametrize("params", [{"datetime": "2023/.."}, {"status": "已完成"},
                                    {"bbox": "120.95,31.30,121.05,31.40", "filter": "year >= 2022"},
                                    {"bbox": "3470000,560000,3500000,600000",
                                     "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4549"}])
def test_items_download_is_the_typed_items_query(client, tmp_path, params):
    """``items?f=gpkg`` selects exactly what ``items?f=json`` pages through (same typed query: datetime,
    property equality, bbox in its CRS, CQL2) — it used to refuse datetime and property filters."""
    page = client.get("/collections/low_efficiency_land/items", params={**params, "limit": 10000}).json()
    r = client.get("/collections/low_efficiency_land/items", params={**params, "f": "gpkg"})
    assert r.status_code == 200, r.text
    path = tmp_path / "x.gpkg"
    path.write_bytes(r.content)
    assert sorted(pyogrio.read_dataframe(path)["id"]) == sorted(f["id"] for f in page["features"])
    assert page["numberMatched"] >= 1


@pytest.mark.parametrize("params", [{"f": "nope"}, {"f": "gpkg", "filter": "nope > 1"}])
def test_items_download_refuses_what_it_cannot_apply(client, params):
    r = client.get("/collections/low_efficiency_land/items", params=params)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"]

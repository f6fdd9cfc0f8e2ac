"""kfqmap.features without HTTP: parsers, selection, paging, encoding."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import orjson
import pytest
import shapely

from kfqmap.catalog import load_catalog
from kfqmap.models import Layer
from kfqmap.errors import FeatureNotFound, InvalidBBox, InvalidCRS, InvalidParameter
from kfqmap.features import (MAX_LIMIT, ItemsQuery, LayerIndex, parse_bbox, parse_datetime,
                             parse_limit, parse_offset, parse_output_crs)
from kfqmap.settings import CatalogSettings

MINI = Path(__file__).resolve().parents[1] / "fixtures" / "mini_geodata"


class _Items:
    """The items index of each layer at its current version, as the server's ``layer_index`` dependency gets it."""

    def __init__(self, catalog):
        self.catalog = catalog

    def index(self, layer_id: str) -> LayerIndex:
        return self.catalog.collection(layer_id).state().items


@pytest.fixture(scope="module")
def store():
    return _Items(load_catalog(CatalogSettings(geodata_dir=MINI, extra_layers="")))


def test_parse_output_crs_axis_order():
    assert parse_output_crs(None).uri.endswith("CRS84") and not parse_output_crs(None).north_first
    assert not parse_output_crs("CRS84").north_first
    assert parse_output_crs("http://www.opengis.net/def/crs/EPSG/0/4326").north_first
    assert parse_output_crs("EPSG:4490").north_first
    assert parse_output_crs("EPSG:4549").north_first          # northing, easting
    assert not parse_output_crs("EPSG:3857").north_first
    assert not parse_output_crs("gcj02").north_first
    assert parse_output_crs("gcj02").uri == "https://kfqmap.example/def/crs/GCJ-02"
    with pytest.raises(InvalidCRS) as exc:
        parse_output_crs("EPSG:99999", parameter="bbox-crs")
    assert exc.value.parameter == "bbox-crs"


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "3,0,1,1", "0,3,1,1", "nan,0,1,1", "0,0,1,inf",
                                  "-181,0,1,1", "0,-91,1,1", "1,2,3,4,5"])
def test_parse_bbox_rejects(text):
    with pytest.raises(InvalidBBox) as exc:
        parse_bbox(text)
    assert exc.value.parameter == "bbox" and exc.value.message


def test_parse_bbox_projected_polygon():
    box = parse_bbox("3470000,590000,3480000,600000", "EPSG:4549")   # northing, easting
    minx, miny, maxx, maxy = box.polygon.bounds
    assert 120.9 < minx < maxx < 121.1 and 31.3 < miny < maxy < 31.5
    assert parse_bbox("") is None and parse_bbox(None) is None
    assert parse_bbox("120,31,0,121,32,10").polygon.bounds == (120, 31, 121, 32)


def test_parse_datetime():
    year = parse_datetime("2023")
    assert year.start.isoformat() == "2023-01-01T00:00:00+00:00"
    assert year.end.isoformat().startswith("2023-12-31T23:59:59.999")
    assert parse_datetime("../2023-05-01T08:00:00+08:00").end.isoformat() == "2023-05-01T00:00:00+00:00"
    assert parse_datetime("2023-05-01/").end is None
    assert parse_datetime(None) is None
    for bad in ("yesterday", "2023-13-01", "../..", "2025/2020", "2023/2024/2025", "20230101"):
        with pytest.raises(InvalidParameter) as exc:
            parse_datetime(bad)
        assert exc.value.parameter == "datetime"


def test_parse_limit_offset():
    assert parse_limit(None) == 100 and parse_limit("10000") == MAX_LIMIT
    assert parse_limit("10001") == parse_limit(50_000) == MAX_LIMIT      # capped, as OGC API Features asks
    assert parse_offset(None) == 0
    for bad in ("0", "x", "-1"):
        with pytest.raises(InvalidParameter):
            parse_limit(bad)
    for bad in ("-1", "x"):
        with pytest.raises(InvalidParameter):
            parse_offset(bad)


def test_select_and_page(store):
    index = store.index("low_efficiency_land")
    page = index.items(ItemsQuery(limit=4, offset=4))
    assert page.number_matched == 6 and page.number_returned == 2 and page.has_prev and not page.has_next
    doc = orjson.loads(page.feature_collection({"links": []}))
    assert [f["id"] for f in doc["features"]] == ["lel_4", "lel_5"]
    q = ItemsQuery(bbox=parse_bbox("120.94,31.29,120.975,31.31"), datetime=parse_datetime("2022/.."),
                   properties={"status": "实施中"})
    assert list(index.frame.index[index.select(q)]) == ["lel_1"]


def test_encoding_matches_frame(store):
    index = store.index("cores")
    for fid in index.frame.index:
        feature = orjson.loads(index.feature(fid))
        assert feature["id"] == fid
        assert shapely.geometry.shape(feature["geometry"]).equals_exact(index.frame.geometry.loc[fid], 1e-7)
        assert feature["properties"]["name"] == index.frame.loc[fid, "name"]
    with pytest.raises(FeatureNotFound):
        index.feature("nope")


def test_chunked_cache_on_a_larger_layer():
    n = 9000   # more than two 4096-feature chunks
    xs = np.linspace(120.8, 121.2, n)
    frame = gpd.GeoDataFrame({"id": [f"p{i}" for i in range(n)], "v": np.arange(n, dtype=float),
                              "year": np.where(np.arange(n) % 2 == 0, 2021, np.nan)},
                             geometry=shapely.points(xs, np.full(n, 31.3)), crs=4326)
    frame.index = frame["id"].values
    layer = Layer(id="pts", title_zh="点", title_en="points", group="额外", kind="extra", geometry_type="Point",
                  file="x", plan_section="-", description="-")
    index = LayerIndex(layer, frame)
    assert index.property_types["year"] == "integer" and index.property_types["v"] == "number"
    page = index.items(ItemsQuery(limit=10, offset=8190))
    got = [orjson.loads(f) for f in page.features]
    assert [f["id"] for f in got] == [f"p{i}" for i in range(8190, 8200)]
    assert got[0]["properties"]["year"] == 2021 and got[1]["properties"]["year"] is None
    assert got[0]["geometry"]["coordinates"] == pytest.approx([round(xs[8190], 7), 31.3])
    assert index.items(ItemsQuery(datetime=parse_datetime("2021"))).number_matched == n // 2 + n % 2
    index.warm()
    assert index.items(ItemsQuery(bbox=parse_bbox("120.8,31.2,121.0,31.4"), limit=1)).number_matched == \
        int((xs <= 121.0).sum())


@pytest.mark.parametrize("text,crs", [("-1e300,-1e300,1e300,1e300", "EPSG:4549"), ("-1e30,-1e30,1e30,1e30", "EPSG:3857"),
                                      ("-180,-90,180,90", "gcj02"), ("-180,-90,180,90", "bd09")])
def test_parse_bbox_outside_crs_domain_is_invalid_bbox(text, crs):
    with pytest.raises(InvalidBBox) as exc:
        parse_bbox(text, crs)
    assert crs.upper().replace("GCJ02", "GCJ-02").replace("BD09", "BD-09") in exc.value.message


def test_items_and_queries_share_one_spatial_index():
    """The OGC items index and kfqmap.query use the same STRtree per layer (was built twice)."""
    from kfqmap.query import layer_index

    catalog = load_catalog()
    store = _Items(catalog)
    assert store.index("cores").tree is layer_index(catalog, "cores").tree
    assert len(store.index("indicators")) > 0        # layers without geometry still index

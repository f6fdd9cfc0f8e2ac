"""The catalog loads every layer as a GeoDataFrame without HTTP, and rejects bad catalogs clearly."""
from __future__ import annotations

import json

import pytest

from kfqmap.catalog import load_catalog
from kfqmap.models import GROUPS
from kfqmap.errors import KFQMapError, LayerNotFound
from kfqmap.settings import CatalogSettings


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_every_layer_loads_in_wgs84_with_unique_string_ids(catalog):
    assert len(catalog.layers) >= 15
    for layer in catalog.layers:
        frame = catalog.read(layer.id)
        assert len(frame) > 0, layer.id
        assert frame.crs is None or frame.crs.to_epsg() == 4326
        assert frame.index.is_unique and all(isinstance(i, str) for i in frame.index)
        assert list(frame.index) == list(frame["id"])


def test_every_layer_documents_itself(catalog):
    for layer in catalog.layers:
        assert layer.title_zh and layer.title_en and layer.plan_section and layer.description, layer.id
        assert layer.group in GROUPS


def test_unknown_layer_names_the_alternatives(catalog):
    with pytest.raises(LayerNotFound) as err:
        catalog.get("no_such_layer")
    assert "cores" in err.value.message


def test_extra_file_layer_is_registered(tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    path = tmp_path / "x.geojson"
    gpd.GeoDataFrame({"name": ["甲"]}, geometry=[box(121.0, 31.3, 121.01, 31.31)], crs=4326).to_file(path)
    cat = load_catalog(CatalogSettings(extra_layers=f"extra_x={path}"))
    layer = cat.get("extra_x")
    assert layer.group == "额外" and layer.illustrative
    assert cat.read("extra_x")["name"].tolist() == ["甲"]


def test_broken_catalog_is_a_clear_error(tmp_path):
    (tmp_path / "catalog.json").write_text(json.dumps({"layers": [
        {"id": "a", "title_zh": "甲", "title_en": "A", "group": "不存在的分组", "geometry_type": "Point",
         "file": "a.geojson", "plan_section": "x", "description": "x"}]}), encoding="utf-8")
    with pytest.raises(KFQMapError, match="分组"):
        load_catalog(CatalogSettings(geodata_dir=tmp_path))


@pytest.mark.parametrize("value, expected", [
    (None, []), (float("nan"), []), ("not json", []), ("", []), (42, []),
    ('[{"kind": "land_area", "value": 0.8, "unit": "km2"}, 3]', [{"kind": "land_area", "value": 0.8, "unit": "km2"}]),
    ({"kind": "year", "value": 2025}, [{"kind": "year", "value": 2025}]),
    ([{"kind": "count", "value": 7}, "x"], [{"kind": "count", "value": 7}]),
])
def test_parse_figures(value, expected):
    """One parser of the contract's ``figures`` column (was copied in area.py and export/html.py)."""
    from kfqmap.catalog import parse_figures
    assert parse_figures(value) == expected

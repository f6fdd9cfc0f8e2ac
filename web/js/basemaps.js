// Optional online basemaps. Off by default: their sources are added to the map only when a user switches one
// on, so with the offline basemap nothing is ever requested outside our server.
//
// AMap (高德) tiles are drawn in GCJ-02. When AMap is on, the plan overlays are re-requested from the server as
// GeoJSON with crs=GCJ-02 (/collections/{id}/items?crs=GCJ-02), so they line up with the AMap streets; drawn
// queries are then sent with "crs": "GCJ-02". Tianditu (CGCS2000) and OSM (WGS 84) need no shift.

export const BASEMAPS = {
  offline: { title: '离线底图', gcj: false },
  tianditu: { title: '天地图', gcj: false, needsKey: true },
  osm: { title: 'OpenStreetMap', gcj: false },
  amap: { title: '高德地图', gcj: true },
};

const ATTRIBUTION = {
  tianditu: '© 天地图 国家地理信息公共服务平台',
  osm: '© OpenStreetMap contributors',
  amap: '© 高德地图 AutoNavi',
};

function rasterSources(name, key) {
  if (name === 'osm') {
    return [{ id: 'osm', tiles: ['https://tile.openstreetmap.org/{z}/{x}/{y}.png'], maxzoom: 19 }];
  }
  if (name === 'amap') {
    return [{ id: 'amap', tiles: [1, 2, 3, 4].map((n) => `https://webrd0${n}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}`), maxzoom: 18 }];
  }
  if (name === 'tianditu') {
    const wmts = (layer) => [0, 1, 2, 3].map((n) =>
      `https://t${n}.tianditu.gov.cn/${layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=${layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=${encodeURIComponent(key)}`);
    return [{ id: 'tdt-vec', tiles: wmts('vec'), maxzoom: 18 }, { id: 'tdt-cva', tiles: wmts('cva'), maxzoom: 18 }];
  }
  return [];
}

/** Add the chosen online basemap under every other layer (called after each style load). */
export function addBasemap(map, name, { key = '' } = {}) {
  const sources = rasterSources(name, key);
  if (!sources.length) return;
  const layers = map.getStyle().layers;
  // insert above any background layer, below everything else
  const firstNonBackground = layers.find((l) => l.type !== 'background');
  for (const s of sources) {
    map.addSource(`basemap:${s.id}`, {
      type: 'raster', tiles: s.tiles, tileSize: 256, maxzoom: s.maxzoom, attribution: ATTRIBUTION[name],
    });
    map.addLayer({ id: `basemap:${s.id}`, type: 'raster', source: `basemap:${s.id}`, paint: { 'raster-opacity': 0.95 } },
      firstNonBackground ? firstNonBackground.id : undefined);
  }
  for (const l of layers) if (l.type === 'background') map.setLayoutProperty(l.id, 'visibility', 'none');
}

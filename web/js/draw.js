// Drawing on the map with plain MapLibre GeoJSON sources and mouse events (no plugin):
// polygon / circle / point queries (POST /query/geometry, GET /query/point), "within N metres of …"
// (GET /query/near), and distance / area measurement.

import { getJSON, postJSON, qs } from './api.js';
import { h, $, fmt, setStatus } from './util.js';
import { featureArea } from './popup.js';

const DRAW_SRC = 'kfq-draw';
const EARTH_R = 6371008.8;   // mean radius, for the measuring tools only (queries are measured by the server)

const HINTS = {
  polygon: '单击添加顶点，双击或单击起点结束；Esc 取消',
  circle: '按下鼠标确定圆心，拖动确定半径，松开结束；Esc 取消',
  point: '单击地图，查询该点所在的要素',
  'measure-line': '单击添加节点，双击结束测距；Esc 取消',
  'measure-area': '单击添加顶点，双击结束测面；Esc 取消',
};

export class DrawTools {
  constructor(app) {
    this.app = app;
    this.mode = 'select';
    this.coords = [];
    this.cursor = null;
    this.circle = null;     // {center:[lng,lat], radius:m}
    this.lastQueryGeometry = null;
    this.results = null;
  }

  get map() { return this.app.map; }

  /** (Re-)add the drawing source and layers; called after every style load. */
  install() {
    const map = this.map;
    if (!map.getSource(DRAW_SRC)) map.addSource(DRAW_SRC, { type: 'geojson', data: emptyFC() });
    const add = (def) => { if (!map.getLayer(def.id)) map.addLayer(def); };
    add({ id: 'kfq-draw-fill', type: 'fill', source: DRAW_SRC, filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': '#f2a900', 'fill-opacity': 0.12 } });
    add({ id: 'kfq-draw-line', type: 'line', source: DRAW_SRC, filter: ['!=', ['geometry-type'], 'Point'],
      paint: { 'line-color': '#d35400', 'line-width': 2.5, 'line-dasharray': [3, 2] } });
    add({ id: 'kfq-draw-vertex', type: 'circle', source: DRAW_SRC, filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-radius': 4.5, 'circle-color': '#fff', 'circle-stroke-color': '#d35400', 'circle-stroke-width': 2 } });
    this.render();
  }

  bind() {
    const map = this.map;
    map.on('click', (e) => this.onClick(e));
    map.on('dblclick', (e) => this.onDblClick(e));
    map.on('mousemove', (e) => this.onMove(e));
    map.on('mousedown', (e) => this.onDown(e));
    map.on('mouseup', (e) => this.onUp(e));
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.cancel(); });
  }

  setMode(mode) {
    this.cancel();
    this.mode = mode;
    const hint = $('#draw-hint');
    hint.hidden = !HINTS[mode];
    hint.textContent = HINTS[mode] || '';
    this.map.getCanvas().style.cursor = mode === 'select' ? '' : 'crosshair';
    if (mode === 'select') this.map.doubleClickZoom.enable(); else this.map.doubleClickZoom.disable();
    for (const b of document.querySelectorAll('.toolbar .tool')) b.classList.toggle('active', b.dataset.tool === mode);
  }

  cancel() {
    this.coords = []; this.cursor = null; this.circle = null; this.dragging = false;
    this.map.dragPan.enable();
    $('#measure-box').hidden = true;
    this.render();
  }

  clearAll() {
    this.cancel();
    this.lastQueryGeometry = null;
    this.results = null;
    this.app.setResultHighlight([]);
    this.app.select(null);
    $('#tab-results').replaceChildren(h('p', { class: 'hint' }, '已清除。'));
    this.render();
  }

  // ------------------------------------------------------------------ events
  onClick(e) {
    const m = this.mode;
    if (m === 'select') return this.app.onSelectClick(e);
    if (m === 'point') return this.queryPoint(e.lngLat);
    if (m === 'polygon' || m === 'measure-line' || m === 'measure-area') {
      const p = [e.lngLat.lng, e.lngLat.lat];
      if (m === 'polygon' && this.coords.length >= 3) {
        const first = this.map.project(this.coords[0]);
        if (Math.hypot(first.x - e.point.x, first.y - e.point.y) < 8) return this.finish();
      }
      const last = this.coords[this.coords.length - 1];
      if (!last || last[0] !== p[0] || last[1] !== p[1]) this.coords.push(p);
      this.render();
    }
  }

  onDblClick(e) {
    if (['polygon', 'measure-line', 'measure-area'].includes(this.mode)) {
      e.preventDefault();
      this.finish();
    }
  }

  onMove(e) {
    if (this.mode === 'circle' && this.dragging) {
      this.circle.radius = distance(this.circle.center, [e.lngLat.lng, e.lngLat.lat]);
      this.render();
      this.showMeasure(`半径 ${formatLength(this.circle.radius)}`);
      return;
    }
    if (this.coords.length && ['polygon', 'measure-line', 'measure-area'].includes(this.mode)) {
      this.cursor = [e.lngLat.lng, e.lngLat.lat];
      this.render();
    }
  }

  onDown(e) {
    if (this.mode !== 'circle') return;
    e.preventDefault();
    this.map.dragPan.disable();
    this.dragging = true;
    this.circle = { center: [e.lngLat.lng, e.lngLat.lat], radius: 0 };
  }

  onUp(e) {
    if (this.mode !== 'circle' || !this.dragging) return;
    this.dragging = false;
    this.map.dragPan.enable();
    this.circle.radius = distance(this.circle.center, [e.lngLat.lng, e.lngLat.lat]);
    if (this.circle.radius < 1) { this.cancel(); return; }
    this.finish();
  }

  // ------------------------------------------------------------------ geometry being drawn
  currentGeometry() {
    if (this.mode === 'circle' && this.circle) return { type: 'Polygon', coordinates: [circleRing(this.circle.center, this.circle.radius)] };
    const pts = this.cursor ? [...this.coords, this.cursor] : this.coords;
    if ((this.mode === 'polygon' || this.mode === 'measure-area') && pts.length >= 3) {
      return { type: 'Polygon', coordinates: [[...pts, pts[0]]] };
    }
    if (pts.length >= 2) return { type: 'LineString', coordinates: pts };
    return null;
  }

  render() {
    const src = this.map.getSource(DRAW_SRC);
    if (!src) return;
    const feats = [];
    const g = this.currentGeometry() || (this.lastQueryGeometry && this.mode !== 'measure-line' && this.mode !== 'measure-area' ? this.lastQueryGeometry : null);
    if (g) feats.push({ type: 'Feature', geometry: g, properties: {} });
    for (const c of this.coords) feats.push({ type: 'Feature', geometry: { type: 'Point', coordinates: c }, properties: {} });
    if (this.circle) feats.push({ type: 'Feature', geometry: { type: 'Point', coordinates: this.circle.center }, properties: {} });
    src.setData({ type: 'FeatureCollection', features: feats });
    if (this.mode === 'measure-line' && this.coords.length) {
      const pts = this.cursor ? [...this.coords, this.cursor] : this.coords;
      this.showMeasure(`距离 ${formatLength(pathLength(pts))}`);
    } else if (this.mode === 'measure-area' && this.coords.length >= 2) {
      const pts = this.cursor ? [...this.coords, this.cursor] : this.coords;
      if (pts.length >= 3) this.showMeasure(formatArea(ringArea([...pts, pts[0]])));
    }
  }

  showMeasure(text) { const box = $('#measure-box'); box.hidden = false; box.textContent = text; }

  finish() {
    const mode = this.mode;
    this.cursor = null;
    if (mode === 'measure-line') {
      if (this.coords.length >= 2) this.showMeasure(`距离 ${formatLength(pathLength(this.coords))}（球面近似）`);
      this.coords = [];   // keep the line drawn until the next click
      return;
    }
    if (mode === 'measure-area') {
      if (this.coords.length >= 3) this.showMeasure(`${formatArea(ringArea([...this.coords, this.coords[0]]))}（球面近似）`);
      this.coords = [];
      return;
    }
    let geometry = null;
    if (mode === 'polygon' && this.coords.length >= 3) geometry = { type: 'Polygon', coordinates: [[...this.coords, this.coords[0]]] };
    if (mode === 'circle' && this.circle) geometry = { type: 'Polygon', coordinates: [circleRing(this.circle.center, this.circle.radius)] };
    const circle = this.circle;
    this.coords = []; this.circle = null;
    if (!geometry) { this.render(); return; }
    this.lastQueryGeometry = geometry;
    this.render();
    this.queryGeometry(geometry, mode === 'circle' ? `圆形范围（半径 ${formatLength(circle.radius)}）` : '多边形范围');
  }

  // ------------------------------------------------------------------ queries
  queryLayers() {
    return this.app.layers.visibleIds().filter((id) => {
      const l = this.app.catalog.byId.get(id);
      return l && l.geometry_type !== 'None' && l.group !== '背景';
    });
  }

  async queryGeometry(geometry, label) {
    const layers = this.queryLayers();
    if (!layers.length) { setStatus('请先打开至少一个规划图层', { error: true }); return; }
    setStatus('正在查询…', { timeout: 0 });
    try {
      const resp = await postJSON('/query/geometry', { geometry, crs: this.app.crs, predicate: 'intersects', layers });
      this.showResults(resp, { label, geometry, layers });
      setStatus('');
    } catch (err) { setStatus(`查询失败：${err.message}`, { error: true }); }
  }

  async queryPoint(lngLat) {
    const layers = this.queryLayers();
    setStatus('正在查询…', { timeout: 0 });
    try {
      const resp = await getJSON(`/query/point?${qs({ lon: lngLat.lng, lat: lngLat.lat, crs: this.app.crs, tolerance: this.toleranceMetres(), layers: layers.join(',') })}`);
      this.lastQueryGeometry = { type: 'Point', coordinates: [lngLat.lng, lngLat.lat] };
      this.render();
      this.showResults(resp, { label: `点 ${lngLat.lng.toFixed(5)}, ${lngLat.lat.toFixed(5)}`, layers });
      setStatus('');
    } catch (err) { setStatus(`查询失败：${err.message}`, { error: true }); }
  }

  toleranceMetres() {
    // ~5 screen pixels at the current zoom
    const c = this.map.getCenter();
    const mpp = (40075016.686 * Math.cos((c.lat * Math.PI) / 180)) / (512 * 2 ** this.map.getZoom());
    return Math.max(1, Math.round(mpp * 5));
  }

  async queryNear({ layer, near, distance: d }) {
    setStatus('正在查询…', { timeout: 0 });
    try {
      const [nearLayer, nearId] = near.split(':');
      const params = { layer, near: nearLayer, distance: d };
      if (nearId) params.near_filter = `id = '${nearId.replace(/'/g, "''")}'`;
      const resp = await getJSON(`/query/near?${qs(params)}`);
      const nearName = this.app.nameOf?.(near) || near;
      this.lastQueryGeometry = null;
      this.render();
      this.showResults(resp, { label: `距 ${nearName} ${fmt(d, 0)} 米范围内`, layers: [layer] });
      setStatus('');
    } catch (err) { setStatus(`查询失败：${err.message}`, { error: true }); }
  }

  async showResults(resp, { label, geometry = null, layers }) {
    const rows = flattenResults(resp);
    // each feature's own land area, as the server computes it (GET /stats/layers/{id}?unit=mu)
    await Promise.all(rows.map(async (r) => {
      const meta = this.app.catalog.byId.get(r.layer);
      if (!/Polygon/.test(meta?.geometry_type || '')) return;
      const a = await featureArea(this.app, r.layer, r.id).catch(() => null);
      r.areaMu = a?.mu ?? null;
    }));
    this.results = { rows, geometry, layers };
    this.app.showTab('results');
    const box = $('#tab-results');
    const byLayer = new Map();
    for (const r of rows) { if (!byLayer.has(r.layer)) byLayer.set(r.layer, []); byLayer.get(r.layer).push(r); }
    const totalMu = rows.reduce((s, r) => s + (r.interMu ?? 0), 0);
    const queryArea = resp.params?.query_area_mu ?? resp.params?.area_mu ?? resp.query_area_mu;
    const summary = h('div', { class: 'result-summary', id: 'result-summary' },
      h('div', {}, h('b', {}, label)),
      h('div', {}, `共 ${rows.length} 个要素（${byLayer.size} 个图层）`),
      queryArea != null ? h('div', {}, `查询范围面积：${fmt(queryArea, 1)} 亩`) : null,
      rows.some((r) => r.interMu != null) ? h('div', {}, `相交面积合计：${fmt(totalMu, 1)} 亩（${fmt(totalMu / 15, 2)} 公顷）`) : null);
    const actions = h('div', { class: 'result-actions' });
    if (geometry) actions.append(h('button', { type: 'button', onclick: () => this.app.exporter.open('selection') }, '导出范围内要素'));
    actions.append(h('button', { type: 'button', onclick: () => this.clearAll() }, '清除'));
    const sections = [];
    for (const [lid, list] of byLayer) {
      const meta = this.app.catalog.byId.get(lid);
      const polygonal = /Polygon/.test(meta?.geometry_type || '');
      const hasDist = list.some((r) => r.distance != null && r.interMu == null);
      const tbody = h('tbody');
      for (const r of list) {
        const last = r.interMu != null ? fmt(r.interMu, 1) : (r.distance != null ? `${fmt(r.distance, 0)} 米` : '—');
        const tr = h('tr', { class: 'clickable', dataset: { layer: lid, feature: r.id }, title: '在地图上定位' },
          h('td', {}, r.name || r.id),
          polygonal ? h('td', {}, r.areaMu != null ? fmt(r.areaMu, 1) : '—') : null,
          polygonal || hasDist ? h('td', {}, last) : null);
        tr.addEventListener('click', () => this.app.select({ layer: lid, id: r.id, name: r.name }, { zoom: true }));
        tbody.append(tr);
      }
      const head = h('tr', {}, h('th', {}, '名称'), polygonal ? h('th', {}, '面积（亩）') : null,
        polygonal || hasDist ? h('th', {}, hasDist ? '距离' : '相交（亩）') : null);
      sections.push(h('h4', { style: { margin: '.8em 0 .3em', color: 'var(--brand-dark)' } }, meta?.title_zh || lid, ` · ${list.length}`),
        h('table', { class: 'data' }, h('thead', {}, head), tbody));
    }
    box.replaceChildren(summary, actions, ...(sections.length ? sections : [h('p', { class: 'hint' }, '范围内没有可见图层的要素。')]));
    this.app.setResultHighlight(rows);
  }
}

/** Turn any of the query endpoints' answers into [{layer, id, name, areaMu, interMu, distance}]. */
export function flattenResults(resp) {
  const out = [];
  const push = (layer, f) => {
    const p = f.properties || f;
    const lid = layer || p.layer_id || p.layer || f.layer_id || f.layer;
    const id = String(p.id ?? p.feature_id ?? f.id ?? '');
    const pick = (...keys) => { for (const k of keys) { const v = p[k] ?? f[k]; if (v !== undefined && v !== null) return Number(v); } return null; };
    out.push({
      layer: lid, id, name: p.name ?? f.name,
      areaMu: null,
      interMu: pick('intersection_mu', 'intersection_area_mu'),
      distance: pick('distance_m', 'distance'),
    });
  };
  if (Array.isArray(resp?.hits)) for (const f of resp.hits) push(null, f);
  else if (Array.isArray(resp?.features)) for (const f of resp.features) push(null, f);
  else if (Array.isArray(resp?.results)) {
    for (const r of resp.results) {
      if (Array.isArray(r.features)) for (const f of r.features) push(r.layer_id || r.layer || r.id, f);
      else push(null, r);
    }
  } else if (Array.isArray(resp?.layers)) {
    for (const r of resp.layers) for (const f of r.features || r.items || []) push(r.layer_id || r.id || r.layer, f);
  } else if (Array.isArray(resp?.items)) for (const f of resp.items) push(null, f);
  else if (Array.isArray(resp)) for (const f of resp) push(null, f);
  return out.filter((r) => r.layer && r.id);
}

// ------------------------------------------------------------------ measuring (spherical, display only)
const rad = (d) => (d * Math.PI) / 180;
export function distance(a, b) {
  const dLat = rad(b[1] - a[1]), dLon = rad(b[0] - a[0]);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a[1])) * Math.cos(rad(b[1])) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_R * Math.asin(Math.min(1, Math.sqrt(s)));
}
function pathLength(pts) { let s = 0; for (let i = 1; i < pts.length; i++) s += distance(pts[i - 1], pts[i]); return s; }
function ringArea(ring) {
  // spherical excess on the mean sphere (as in common web-map measuring tools)
  let s = 0;
  for (let i = 0; i < ring.length - 1; i++) {
    const [x1, y1] = ring[i], [x2, y2] = ring[i + 1];
    s += rad(x2 - x1) * (2 + Math.sin(rad(y1)) + Math.sin(rad(y2)));
  }
  return Math.abs((s * EARTH_R * EARTH_R) / 2);
}
function circleRing(center, radius, steps = 72) {
  const [lon, lat] = center.map(rad);
  const d = radius / EARTH_R;
  const ring = [];
  for (let i = 0; i <= steps; i++) {
    const brg = (2 * Math.PI * (i % steps)) / steps;
    const lat2 = Math.asin(Math.sin(lat) * Math.cos(d) + Math.cos(lat) * Math.sin(d) * Math.cos(brg));
    const lon2 = lon + Math.atan2(Math.sin(brg) * Math.sin(d) * Math.cos(lat), Math.cos(d) - Math.sin(lat) * Math.sin(lat2));
    ring.push([(lon2 * 180) / Math.PI, (lat2 * 180) / Math.PI]);
  }
  return ring;
}
function formatLength(m) { return m >= 1000 ? `${fmt(m / 1000, 2)} 公里` : `${fmt(m, 0)} 米`; }
function formatArea(m2) { return `面积 ${fmt(m2 * 3 / 2000, 1)} 亩 · ${fmt(m2 / 10000, 2)} 公顷 · ${fmt(m2 / 1e6, 3)} 平方公里`; }
function emptyFC() { return { type: 'FeatureCollection', features: [] }; }

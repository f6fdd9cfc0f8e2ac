// Drawing on the map with plain MapLibre GeoJSON sources and mouse events (no plugin):
// polygon / circle / point queries (POST /query/geometry, GET /query/point) and distance / area measurement
// ("within N metres of …", GET /query/near, is near.js).

import { queryGeometry, queryPoint } from './api.js';
import { store } from './store.js';
import { h, $, fmt, setStatus } from './util.js';
import { saveBlob } from './api.js';
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
    this.measures = [];     // finished 测距/测面, kept until cleared
    this.lastQueryGeometry = null;
    this.measures = [];
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
    add({ id: 'kfq-measure-label', type: 'symbol', source: DRAW_SRC, filter: ['has', 'label'],
      layout: { 'text-field': ['get', 'label'], 'text-size': 13, 'text-font': ['Noto Sans CJK SC', 'sans-serif'], 'text-offset': [0, -1], 'text-allow-overlap': true },
      paint: { 'text-color': '#8a3b00', 'text-halo-color': '#fff', 'text-halo-width': 2 } });
    add({ id: 'kfq-draw-vertex', type: 'circle', source: DRAW_SRC, filter: ['all', ['==', ['geometry-type'], 'Point'], ['!', ['has', 'label']]],
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
    for (const b of document.querySelectorAll('.toolbar .tool')) {
      b.classList.toggle('active', b.dataset.tool === mode);
      b.setAttribute('aria-pressed', String(b.dataset.tool === mode));
    }
  }

  cancel() {
    this.coords = []; this.cursor = null; this.circle = null; this.dragging = false;
    this.map.dragPan.enable();
    this.showKept();        // kept measurements stay listed (with 导出 / 清除量算) whatever the tool
    this.render();
  }

  /** The measure box when no measurement is under way: hidden, or the kept ones with their buttons. */
  showKept() {
    if (!this.measures.length) { $('#measure-box').hidden = true; return; }
    this.showMeasure(`已保留 ${this.measures.length} 条量算`, { keep: true, count: false });
  }

  clearAll() {
    this.cancel();
    this.lastQueryGeometry = null;
    this.results = null;
    store.set('results', null);
    this.app.setResultHighlight([]);
    this.app.select(null);
    $('#tab-results').replaceChildren(h('p', { class: 'hint' }, '已清除。'));
    this.render();
  }

  // ------------------------------------------------------------------ events
  onClick(e) {
    if (document.body.dataset.importPicking) return;    // the click picks a control point (importer.js)
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
    for (const m of this.measures) {
      feats.push({ type: 'Feature', geometry: m.geometry, properties: { measure: true } });
      const pts = m.geometry.type === 'Polygon' ? m.geometry.coordinates[0] : m.geometry.coordinates;
      const at = m.geometry.type === 'Polygon'
        ? [pts.slice(0, -1).reduce((s, p) => s + p[0], 0) / (pts.length - 1), pts.slice(0, -1).reduce((s, p) => s + p[1], 0) / (pts.length - 1)]
        : pts[pts.length - 1];
      feats.push({ type: 'Feature', geometry: { type: 'Point', coordinates: at }, properties: { label: m.properties.label } });
    }
    src.setData({ type: 'FeatureCollection', features: feats });
    if (this.mode === 'measure-line' && this.coords.length) {
      const pts = this.cursor ? [...this.coords, this.cursor] : this.coords;
      this.showMeasure(`距离 ${formatLength(pathLength(pts))}`);
    } else if (this.mode === 'measure-area' && this.coords.length >= 2) {
      const pts = this.cursor ? [...this.coords, this.cursor] : this.coords;
      if (pts.length >= 3) this.showMeasure(formatArea(ringArea([...pts, pts[0]])));
    }
  }

  showMeasure(text, { keep = false, count = true } = {}) {
    const box = $('#measure-box');
    box.hidden = false;
    box.replaceChildren(h('span', { class: 'measure-text' }, text));
    if (keep || this.measures.length) {
      box.append(h('span', { class: 'measure-actions' },
        count ? h('span', { class: 'hint' }, `已保留 ${this.measures.length} 条量算`) : null,
        h('button', { type: 'button', id: 'btn-measure-export', title: '导出量算结果为 GeoJSON', onclick: () => this.exportMeasures() }, '导出 GeoJSON'),
        h('button', { type: 'button', id: 'btn-measure-csv', title: '导出量算结果为 CSV（Excel 可打开）', onclick: () => this.exportMeasuresCsv() }, 'CSV'),
        h('button', { type: 'button', id: 'btn-measure-clear', onclick: () => this.clearMeasures() }, '清除量算')));
    }
  }

  /** A finished measurement stays on the map (with its label) until 清除 / 清除量算. */
  keepMeasure(geometry, properties) {
    const n = this.measures.length + 1;
    this.measures.push({ type: 'Feature', geometry, properties: { n, kind: geometry.type === 'Polygon' ? '面积' : '距离', ...properties } });
  }

  clearMeasures() {
    this.measures = [];
    $('#measure-box').hidden = true;
    this.render();
  }

  /** The kept measurements as GeoJSON (WGS 84, or GCJ-02 while the AMap basemap is on), measured on the sphere. */
  exportMeasures() {
    const doc = { type: 'FeatureCollection', name: 'kfqmap-measurements', crs_note: this.app.crs,
      note: '测距/测面为球面近似（平均半径 6371008.8 米），仅供参考；正式面积以服务器的 CGCS2000 椭球面积为准。',
      features: this.measures };
    const name = `kfqmap-measurements-${new Date().toISOString().slice(0, 10)}.geojson`;
    saveBlob(new Blob([JSON.stringify(doc, null, 1)], { type: 'application/geo+json' }), name);
    document.body.dataset.lastMeasureExport = String(this.measures.length);
    setStatus(`已导出 ${this.measures.length} 条量算：${name}`);
  }

  /** The kept measurements as CSV for Excel (UTF-8 with a BOM): kind, length / area, and the shape as WKT. */
  exportMeasuresCsv() {
    const head = ['序号', '类型', '长度（米）', '面积（平方米）', '面积（亩）', '坐标系', 'WKT'];
    const wkt = (g) => (g.type === 'Polygon'
      ? `POLYGON ((${g.coordinates[0].map((p) => `${p[0].toFixed(7)} ${p[1].toFixed(7)}`).join(', ')}))`
      : `LINESTRING (${g.coordinates.map((p) => `${p[0].toFixed(7)} ${p[1].toFixed(7)}`).join(', ')})`);
    const rows = this.measures.map((m) => [m.properties.n, m.properties.kind, m.properties.length_m ?? '', m.properties.area_m2 ?? '',
      m.properties.area_mu ?? '', this.app.crs, wkt(m.geometry)]);
    const cell = (v) => { const t = String(v); return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t; };
    const note = ['# 测距/测面为球面近似（平均半径 6371008.8 米），仅供参考；正式面积以服务器的 CGCS2000 椭球面积为准'];
    const text = '\ufeff' + [note, head, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
    const name = `kfqmap-measurements-${new Date().toISOString().slice(0, 10)}.csv`;
    saveBlob(new Blob([text], { type: 'text/csv;charset=utf-8' }), name);
    document.body.dataset.lastMeasureExport = String(this.measures.length);
    setStatus(`已导出 ${this.measures.length} 条量算：${name}`);
  }

  finish() {
    const mode = this.mode;
    this.cursor = null;
    if (mode === 'measure-line') {
      if (this.coords.length >= 2) {
        const m = pathLength(this.coords);
        this.keepMeasure({ type: 'LineString', coordinates: this.coords }, { length_m: Math.round(m * 100) / 100, label: formatLength(m) });
        this.showMeasure(`距离 ${formatLength(m)}（球面近似）`, { keep: true });
      }
      this.coords = [];
      this.render();
      return;
    }
    if (mode === 'measure-area') {
      if (this.coords.length >= 3) {
        const ring = [...this.coords, this.coords[0]];
        const m2 = ringArea(ring);
        this.keepMeasure({ type: 'Polygon', coordinates: [ring] }, { area_m2: Math.round(m2 * 10) / 10, area_mu: Math.round(m2 * 3 / 2000 * 100) / 100, label: `${fmt(m2 * 3 / 2000, 1)} 亩` });
        this.showMeasure(`${formatArea(m2)}（球面近似）`, { keep: true });
      }
      this.coords = [];
      this.render();
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
      const resp = await queryGeometry({ geometry, crs: this.app.crs, layers });
      await this.showResults(resp, { label, geometry, layers });
      setStatus('');
    } catch (err) { setStatus(`查询失败：${err.message}`, { error: true }); }
  }

  async queryPoint(lngLat) {
    const layers = this.queryLayers();
    setStatus('正在查询…', { timeout: 0 });
    try {
      const resp = await queryPoint({ lon: lngLat.lng, lat: lngLat.lat, crs: this.app.crs, tolerance: this.toleranceMetres(), layers });
      this.lastQueryGeometry = { type: 'Point', coordinates: [lngLat.lng, lngLat.lat] };
      this.render();
      await this.showResults(resp, { label: `点 ${lngLat.lng.toFixed(5)}, ${lngLat.lat.toFixed(5)}`, layers });
      setStatus('');
    } catch (err) { setStatus(`查询失败：${err.message}`, { error: true }); }
  }

  toleranceMetres() {
    // ~5 screen pixels at the current zoom
    const c = this.map.getCenter();
    const mpp = (40075016.686 * Math.cos((c.lat * Math.PI) / 180)) / (512 * 2 ** this.map.getZoom());
    return Math.max(1, Math.round(mpp * 5));
  }

  /** Lay out a QueryResult: per-layer totals of the area inside the drawing (never one sum across layers, which
   *  overlap), the drawn area's own 亩, and one table per layer. */
  async showResults(resp, { label, geometry = null, layers }) {
    const rows = resultRows(resp);
    // each feature's own land area, as the server computes it (GET /stats/layers/{id}?unit=mu)
    await Promise.all(rows.map(async (r) => {
      const meta = this.app.catalog.byId.get(r.layer);
      if (!/Polygon/.test(meta?.geometry_type || '')) return;
      const a = await featureArea(this.app, r.layer, r.id).catch(() => null);
      r.areaMu = a?.mu ?? null;
    }));
    const areaM2 = resp.kind === 'geometry' ? resp.params?.area_m2 ?? null : null;
    this.results = { rows, geometry, layers, label, kind: resp.kind, areaM2 };
    store.set('results', this.results);
    this.app.showTab('results');
    const box = $('#tab-results');
    const byLayer = new Map();
    for (const r of rows) { if (!byLayer.has(r.layer)) byLayer.set(r.layer, []); byLayer.get(r.layer).push(r); }
    const summary = h('div', { class: 'result-summary', id: 'result-summary' },
      h('div', {}, h('b', {}, label)),
      h('div', {}, `共 ${rows.length} 个要素（${byLayer.size} 个图层）`),
      areaM2 != null ? h('div', { id: 'result-drawn-area' }, `绘制范围面积：`, h('b', {}, `${fmt(muFromM2(areaM2), 1)} 亩`),
        `（${fmt(areaM2 / 10000, 2)} 公顷，椭球面积）`) : null);
    const totals = layerTotals(this.app, byLayer);
    const actions = h('div', { class: 'result-actions' });
    if (geometry) actions.append(h('button', { type: 'button', onclick: () => this.app.exporter.open('selection') }, '导出范围内要素'));
    if (rows.length && this.app.attrTable) actions.append(h('button', { type: 'button', onclick: () => this.app.attrTable.openResults() }, '属性表'));
    actions.append(h('button', { type: 'button', onclick: () => this.clearAll() }, '清除'));
    const sections = [];
    for (const [lid, list] of byLayer) {
      const meta = this.app.catalog.byId.get(lid);
      const polygonal = /Polygon/.test(meta?.geometry_type || '');
      const hasDist = list.some((r) => r.distance != null && r.interMu == null);
      const tbody = h('tbody');
      for (const r of list) {
        const last = r.interMu != null ? fmt(r.interMu, 1) : (r.distance != null ? `${fmt(r.distance, 0)} 米` : '—');
        const tr = h('tr', { class: 'clickable', dataset: { layer: lid, feature: r.id }, title: '在地图上定位', tabindex: '0' },
          h('td', {}, r.name || r.id, r.illustrative ? h('span', { class: 'badge illustrative', title: '示例：占位数据，不是规划确定的边界或数字' }, '示例') : null),
          polygonal ? h('td', {}, r.areaMu != null ? fmt(r.areaMu, 1) : '—') : null,
          polygonal || hasDist ? h('td', {}, last) : null);
        const go = () => this.app.select({ layer: lid, id: r.id, name: r.name }, { zoom: true });
        tr.addEventListener('click', go);
        tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
        tbody.append(tr);
      }
      const head = h('tr', {}, h('th', {}, '名称'), polygonal ? h('th', {}, '要素面积（亩）') : null,
        polygonal || hasDist ? h('th', {}, hasDist ? '距离' : '范围内（亩）') : null);
      sections.push(h('h4', { class: 'result-layer' }, meta?.title_zh || lid, ` · ${list.length}`),
        h('table', { class: 'data' }, h('thead', {}, head), tbody));
    }
    box.replaceChildren(summary, ...(totals ? [totals] : []), actions,
      ...(sections.length ? sections : [h('p', { class: 'hint' }, '范围内没有可见图层的要素。')]));
    this.app.setResultHighlight(rows);
    if (geometry && this.mode !== 'select') this.app.setTool('select');   // back to identify after a drawing query
  }
}

/** Per-layer totals of the area inside the drawing, as a small table; no row sums across layers. */
function layerTotals(app, byLayer) {
  const withArea = [...byLayer].filter(([, list]) => list.some((r) => r.interMu != null));
  if (!withArea.length) return null;
  const tbody = h('tbody');
  for (const [lid, list] of withArea) {
    const meta = app.catalog.byId.get(lid);
    const mu = list.reduce((s, r) => s + (r.interMu ?? 0), 0);
    tbody.append(h('tr', { dataset: { layer: lid } }, h('td', {}, meta?.title_zh || lid), h('td', {}, String(list.length)),
      h('td', { class: 'total-mu' }, fmt(mu, 1)), h('td', {}, fmt(mu / 15, 2))));
  }
  return h('div', { class: 'result-totals', id: 'result-totals' },
    h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, h('th', {}, '图层'), h('th', {}, '要素'), h('th', {}, '范围内面积（亩）'), h('th', {}, '公顷'))), tbody),
    h('p', { class: 'hint' }, withArea.length > 1
      ? '各图层相互重叠（如园区、核心区与地块），面积按图层分别统计，不能相加。'
      : '面积为各要素在绘制范围内部分的椭球面积之和。'));
}

/** A QueryResult's hits as rows: [{layer, id, name, interMu, distance, illustrative, schematic, accuracy}]. */
export function resultRows(resp) {
  return (resp.hits || []).map((hit) => ({
    layer: hit.layer_id, id: String(hit.id), name: hit.name, areaMu: null,
    interMu: hit.intersection_mu ?? null, distance: hit.distance_m ?? null,
    illustrative: hit.properties?.illustrative === true, schematic: hit.properties?.schematic === true,
    accuracy: hit.properties?.accuracy_m ?? null,
  }));
}

const muFromM2 = (m2) => (m2 * 3) / 2000;   // 1 亩 = 2000/3 m² (a unit conversion, not a measurement)

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

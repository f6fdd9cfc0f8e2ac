// Coordinates for surveyors and planners: a readout under the cursor, 坐标定位 (go to a typed coordinate) and
// copying the coordinates of a clicked point, in
//   CGCS2000 geographic (EPSG:4490) — numerically the same as WGS 84 here (they differ by well under 1 m);
//   CGCS2000 / 3° Gauss-Krüger CM 120°E (EPSG:4549), written as Chinese surveying writes it: X = northing,
//   Y = easting (with the 500 km false easting, no zone prefix);
//   WGS 84 (EPSG:4326); GCJ-02 (AMap/Tencent; the published closed-form shift, inverted by iteration).
// Projection maths is proj4js (npm `proj4`, served from /vendor/proj4/), checked against pyproj in the tests.

import { h, $, setStatus } from './util.js';
import { store } from './store.js';

const GK4549 = '+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m +no_defs';

export const SYSTEMS = {
  cgcs2000: { label: 'CGCS2000 经纬度', short: 'CGCS2000' },
  gk4549: { label: 'CGCS2000 高斯-克吕格 3°带 120°E（EPSG:4549，X/Y）', short: 'EPSG:4549' },
  wgs84: { label: 'WGS 84 经纬度', short: 'WGS 84' },
  gcj02: { label: 'GCJ-02（高德/腾讯）', short: 'GCJ-02' },
};

function proj() {
  if (!window.proj4) throw new Error('proj4 未加载（/vendor/proj4/proj4.js）');
  if (!window.proj4.defs('EPSG:4549')) window.proj4.defs('EPSG:4549', GK4549);
  return window.proj4;
}

// ------------------------------------------------------------------ GCJ-02 (same formula as kfqmap.crs)
const GCJ_A = 6378245.0;
const GCJ_EE = 0.00669342162296594323;
function gcjDelta(lon, lat) {
  const x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
  let dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x))
    + ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0
    + ((20.0 * Math.sin(y * PI) + 40.0 * Math.sin((y / 3.0) * PI)) * 2.0) / 3.0
    + ((160.0 * Math.sin((y / 12.0) * PI) + 320 * Math.sin((y * PI) / 30.0)) * 2.0) / 3.0;
  let dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x))
    + ((20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0) / 3.0
    + ((20.0 * Math.sin(x * PI) + 40.0 * Math.sin((x / 3.0) * PI)) * 2.0) / 3.0
    + ((150.0 * Math.sin((x / 12.0) * PI) + 300.0 * Math.sin((x / 30.0) * PI)) * 2.0) / 3.0;
  const radlat = (lat / 180.0) * PI;
  const magic = 1 - GCJ_EE * Math.sin(radlat) ** 2;
  const sqrtmagic = Math.sqrt(magic);
  dlat = (dlat * 180.0) / (((GCJ_A * (1 - GCJ_EE)) / (magic * sqrtmagic)) * PI);
  dlon = (dlon * 180.0) / ((GCJ_A / sqrtmagic) * Math.cos(radlat) * PI);
  return [dlon, dlat];
}
export function wgsToGcj([lon, lat]) { const [a, b] = gcjDelta(lon, lat); return [lon + a, lat + b]; }
export function gcjToWgs([glon, glat]) {
  let lon = glon, lat = glat;
  for (let i = 0; i < 30; i++) {
    const [flon, flat] = wgsToGcj([lon, lat]);
    const rlon = flon - glon, rlat = flat - glat;
    lon -= rlon; lat -= rlat;
    if (Math.abs(rlon) < 1e-10 && Math.abs(rlat) < 1e-10) break;
  }
  return [lon, lat];
}

// ------------------------------------------------------------------ conversions (WGS 84 lon/lat is the hub)
/** WGS 84 [lon, lat] → the system's pair: geographic [lon, lat]; EPSG:4549 [X northing, Y easting]. */
export function fromWgs(system, lonlat) {
  if (system === 'gk4549') { const [e, n] = proj()('EPSG:4326', 'EPSG:4549', lonlat); return [n, e]; }
  if (system === 'gcj02') return wgsToGcj(lonlat);
  return [...lonlat];      // CGCS2000 geographic = WGS 84 to well under 1 m
}

/** The system's pair (as fromWgs returns it) → WGS 84 [lon, lat]. */
export function toWgs(system, pair) {
  if (system === 'gk4549') { const [n, e] = pair; return proj()('EPSG:4549', 'EPSG:4326', [e, n]); }
  if (system === 'gcj02') return gcjToWgs(pair);
  return [...pair];
}

/** The text a surveyor would write. */
export function formatCoords(system, pair) {
  if (system === 'gk4549') return `X=${pair[0].toFixed(2)} Y=${pair[1].toFixed(2)}`;
  return `${pair[0].toFixed(6)}°E ${pair[1].toFixed(6)}°N`;
}

/** "121.0, 31.36" / "X=3471234.5 Y=595123.4" / "3471234.5 595123.4" → a pair, or null. */
export function parseCoords(system, text) {
  const nums = String(text).replace(/[XYxy]\s*[=:：]/g, ' ').match(/-?\d+(?:\.\d+)?/g)?.map(Number) || [];
  if (nums.length !== 2 || !nums.every(Number.isFinite)) return null;
  if (system === 'gk4549') {
    // X (northing, ~3.4e6) and Y (easting, ~0.5e6) are told apart by size, whatever order they were typed in
    const [a, b] = nums;
    return a > b ? [a, b] : [b, a];
  }
  const [a, b] = nums;
  return Math.abs(a) > 90 || a > b ? [a, b] : [b, a];   // lon is the larger here (≈121 vs ≈31)
}

export class CoordTools {
  constructor(app) {
    this.app = app;
    this.system = localStorage.getItem('kfqmap.coordSystem') || 'cgcs2000';
    if (!SYSTEMS[this.system]) this.system = 'cgcs2000';
    this.last = null;        // WGS 84 of the last clicked point
    this.marker = null;
  }

  /** The map's lngLat (GCJ-02 while the AMap basemap is on) → WGS 84. */
  mapToWgs(lngLat) { return this.app.crs === 'GCJ-02' ? gcjToWgs([lngLat.lng, lngLat.lat]) : [lngLat.lng, lngLat.lat]; }

  wgsToMap(lonlat) { return this.app.crs === 'GCJ-02' ? wgsToGcj(lonlat) : lonlat; }

  bind() {
    const sel = $('#coord-system');
    sel.replaceChildren(...Object.entries(SYSTEMS).map(([k, v]) => h('option', { value: k }, v.label)));
    sel.value = this.system;
    sel.addEventListener('change', () => {
      this.system = sel.value;
      localStorage.setItem('kfqmap.coordSystem', this.system);
      store.set('coordSystem', this.system);
      if (this.last) this.show(this.last, { clicked: true });
    });
    const map = this.app.map;
    map.on('mousemove', (e) => this.show(this.mapToWgs(e.lngLat)));
    map.on('click', (e) => { this.last = this.mapToWgs(e.lngLat); document.body.dataset.clicked = JSON.stringify(this.last); });
    map.on('contextmenu', (e) => { e.preventDefault?.(); this.pointPopup(this.mapToWgs(e.lngLat)); });
    $('#btn-copy-coords').addEventListener('click', () => {
      const p = this.last || this.cursor;
      if (p) this.copy(this.system, p); else setStatus('请先在地图上点击一个点', { error: true });
    });
    $('#btn-goto').addEventListener('click', () => this.openGoto());
    const dlg = $('#dlg-goto');
    dlg.querySelector('select[name=system]').replaceChildren(...Object.entries(SYSTEMS).map(([k, v]) => h('option', { value: k }, v.label)));
    dlg.querySelector('select[name=system]').addEventListener('change', () => this.gotoHint());
    dlg.addEventListener('close', () => {
      if (dlg.returnValue !== 'ok') return;
      const f = new FormData(dlg.querySelector('form'));
      this.goTo(f.get('system'), f.get('coords'));
    });
  }

  show(wgs, { clicked = false } = {}) {
    if (!clicked) this.cursor = wgs;
    const pair = fromWgs(this.system, wgs);
    const el = $('#status-coords');
    el.textContent = `${SYSTEMS[this.system].short}  ${formatCoords(this.system, pair)}`;
    el.dataset.wgs = JSON.stringify(wgs);
  }

  async copy(system, wgs) {
    const text = formatCoords(system, fromWgs(system, wgs));
    document.body.dataset.lastCopy = text;
    try { await navigator.clipboard.writeText(text); setStatus(`已复制 ${SYSTEMS[system].short} 坐标：${text}`); } catch {
      setStatus(`${SYSTEMS[system].short} 坐标：${text}（浏览器不允许写剪贴板，请手动复制）`, { timeout: 15000 });
    }
  }

  /** A popup listing the point in every system, each with a copy button. */
  pointPopup(wgs, { title = '该点坐标' } = {}) {
    this.last = wgs;
    const rows = Object.keys(SYSTEMS).map((k) => {
      const text = formatCoords(k, fromWgs(k, wgs));
      return h('tr', { dataset: { system: k } }, h('th', {}, SYSTEMS[k].short), h('td', { class: 'coord' }, text),
        h('td', {}, h('button', { type: 'button', class: 'copy', onclick: () => this.copy(k, wgs), 'aria-label': `复制 ${SYSTEMS[k].short} 坐标` }, '复制')));
    });
    const body = h('div', { class: 'pop coords-pop' }, h('h3', {}, title), h('table', {}, rows),
      h('p', { class: 'hint' }, 'EPSG:4549：X 为纵坐标（北），Y 为横坐标（东，含 500 km 东偏，不带带号）。CGCS2000 与 WGS 84 经纬度在此相差远小于 1 米。'));
    if (this.popup) this.popup.remove();
    this.popup = new maplibregl.Popup({ maxWidth: 'none' }).setLngLat(this.wgsToMap(wgs)).setDOMContent(body).addTo(this.app.map);
    return this.popup;
  }

  openGoto() {
    const dlg = $('#dlg-goto');
    dlg.querySelector('select[name=system]').value = this.system;
    this.gotoHint();
    dlg.showModal();
  }

  gotoHint() {
    const dlg = $('#dlg-goto');
    const sys = dlg.querySelector('select[name=system]').value;
    const example = formatCoords(sys, fromWgs(sys, [121.0, 31.36]));
    dlg.querySelector('input[name=coords]').placeholder = `例如 ${example}`;
  }

  goTo(system, text) {
    const pair = parseCoords(system, text);
    if (!pair) { setStatus('无法识别的坐标：请输入两个数', { error: true }); return null; }
    const wgs = toWgs(system, pair);
    if (!(wgs[0] > 73 && wgs[0] < 136 && wgs[1] > 3 && wgs[1] < 54)) {
      setStatus(`坐标 ${text} 不在中国范围内（请检查坐标系与 X/Y 顺序）`, { error: true });
      return null;
    }
    const at = this.wgsToMap(wgs);
    this.app.map.jumpTo({ center: at, zoom: Math.max(this.app.map.getZoom(), 15) });
    if (this.marker) this.marker.remove();
    this.marker = new maplibregl.Marker({ color: '#c8102e' }).setLngLat(at).addTo(this.app.map);
    this.pointPopup(wgs, { title: '坐标定位' });
    setStatus(`已定位到 ${SYSTEMS[system].short} ${formatCoords(system, pair)}`);
    return wgs;
  }
}

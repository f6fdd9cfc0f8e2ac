// 周边查询 (near query): features of one or several layers within N metres of a chosen feature (or of every
// feature of a reference layer). The server answers (GET /query/near?buffer=true): the hits with their distance
// and nearest reference feature, and the searched area (the union of the reference features' EPSG:4549 buffers),
// which is drawn on the map as the buffer ring(s). The list is sorted by distance across all layers; it exports
// as GeoJSON (the server's own answer, f=geojson with geometries) or CSV (the rows as listed, UTF-8 with a BOM for
// Excel), and opens in the attribute table.

import { getJSON, qs, download, saveBlob, queryNear } from './api.js';
import { store } from './store.js';
import { $, h, fmt, setStatus } from './util.js';

const NEAR_SRC = 'kfq-near';
/** Reference layers offered in the dialog, in this order (those the catalog has). */
const TARGET_LAYERS = ['s1_stations', 'axes', 'rivers', 'roads', 'railways', 'cores', 'parks', 'key_projects'];

export class NearQuery {
  constructor(app) {
    this.app = app;
    this.dialog = $('#dlg-near');
    this.ring = null;          // the last searched area (GeoJSON geometry in the map's CRS)
    this.last = null;          // {params, label, resp, args, crs} of the query on screen
    this.dialog.addEventListener('close', () => {
      if (this.dialog.returnValue !== 'ok') return;
      const form = this.dialog.querySelector('form');
      const layers = [...form.querySelector('#near-layer').selectedOptions].map((o) => o.value);
      const f = new FormData(form);
      this.run({ layers, near: f.get('near'), distance: Number(f.get('distance')) });
    });
    // a new query of another kind, or 清除, removes the ring
    store.on('results', (r) => { if (!r || r.kind !== 'near') { this.setRing(null); this.last = null; } });
    // a basemap switch loads a new style: put the ring back (asked again when the map's CRS changed)
    app.map.on('style.load', () => {
      if (!this.ring || !this.last) return;
      if (this.last.crs === app.crs) this.install(); else this.run(this.last.args);
    });
  }

  get map() { return this.app.map; }

  /** (Re-)add the ring's source and layers; called after every style load (the drawing layers stay on top). */
  install() {
    const map = this.map;
    if (!map) return;
    try { this.addLayers(map); } catch (err) { console.warn('near ring:', err.message); }   // style mid-switch
  }

  addLayers(map) {
    if (!map.getSource(NEAR_SRC)) map.addSource(NEAR_SRC, { type: 'geojson', data: fc(this.ring) });
    const before = map.getLayer('kfq-hl-fill') ? 'kfq-hl-fill' : undefined;
    if (!map.getLayer('kfq-near-fill')) {
      map.addLayer({ id: 'kfq-near-fill', type: 'fill', source: NEAR_SRC,
        paint: { 'fill-color': '#2b8cbe', 'fill-opacity': 0.08 } }, before);
    }
    if (!map.getLayer('kfq-near-line')) {
      map.addLayer({ id: 'kfq-near-line', type: 'line', source: NEAR_SRC,
        paint: { 'line-color': '#1f6fa8', 'line-width': 2, 'line-dasharray': [4, 2] } }, before);
    }
  }

  setRing(geometry) {
    this.ring = geometry;
    const src = this.map?.getSource(NEAR_SRC);
    if (src) src.setData(fc(geometry));
    document.body.dataset.nearRing = geometry ? geometry.type : '';
  }

  // ------------------------------------------------------------------ the dialog
  async open() {
    const app = this.app;
    const layerSel = $('#near-layer');
    const targetSel = $('#near-target');
    const chosen = new Set([...layerSel.selectedOptions].map((o) => o.value));
    if (!chosen.size) chosen.add('key_projects');
    const spatial = app.catalog.layers.filter((l) => l.geometry_type !== 'None' && l.group !== '背景');
    layerSel.replaceChildren(...spatial.map((l) => h('option', { value: l.id, selected: chosen.has(l.id) }, `${l.group} · ${l.title_zh}`)));
    if (!layerSel.selectedOptions.length && layerSel.options.length) layerSel.options[0].selected = true;
    targetSel.replaceChildren(h('option', { value: '' }, '读取中…'));
    this.dialog.showModal();
    // reference features: the selected feature first, then stations, axes, rivers, roads … by name
    const groups = [];
    if (app.selection) {
      groups.push(h('optgroup', { label: '当前选中' }, h('option', { value: `${app.selection.layer}:${app.selection.id}` },
        app.selection.name || `${app.selection.layer}/${app.selection.id}`)));
    }
    const lists = await Promise.all(TARGET_LAYERS.filter((lid) => app.catalog.byId.has(lid)).map(async (lid) => {
      const meta = app.catalog.byId.get(lid);
      try {
        const fcol = await getJSON(`/collections/${lid}/items?${qs({ limit: 200, f: 'json' })}`);
        return h('optgroup', { label: meta.title_zh },
          h('option', { value: `${lid}:` }, `${meta.title_zh}（全部）`),
          (fcol.features || []).map((f) => h('option', { value: `${lid}:${f.id ?? f.properties?.id}` }, f.properties?.name || f.id)));
      } catch { return null; }          // a layer not served now: leave it out
    }));
    groups.push(...lists.filter(Boolean));
    targetSel.replaceChildren(...groups);
  }

  nameOf(value) {
    const opt = [...$('#near-target').options].find((o) => o.value === value);
    return opt ? opt.textContent : value;
  }

  // ------------------------------------------------------------------ the query
  async run({ layers, near, distance }) {
    if (!layers.length) { setStatus('请至少选择一个查询图层', { error: true }); return; }
    if (!near) { setStatus('请选择参照要素', { error: true }); return; }
    const cut = near.indexOf(':');                  // "<layer>:<feature id>" (an id may hold ':'); "<layer>:" = all
    const nearLayer = cut < 0 ? near : near.slice(0, cut);
    const nearId = cut < 0 ? '' : near.slice(cut + 1);
    const params = { layer: layers.join(','), near: nearLayer, distance,
      nearFilter: nearId ? `id = '${nearId.replace(/'/g, "''")}'` : undefined };
    const label = `距 ${this.nameOf(near)} ${fmt(distance, 0)} 米范围内`;
    setStatus('正在查询…', { timeout: 0 });
    try {
      const resp = await queryNear({ ...params, buffer: true, bufferCrs: this.app.crs !== 'EPSG:4326' ? this.app.crs : undefined });
      this.last = { params, label, resp, args: { layers, near, distance }, crs: this.app.crs };
      await this.show(resp, { label, layers });
      setStatus(resp.truncated ? `结果过多，只列出前 ${resp.returned} 个（共 ${resp.count} 个）` : '', { error: !!resp.truncated });
    } catch (err) { setStatus(`查询失败：${err.message}`, { error: true }); }
  }

  async show(resp, { label, layers }) {
    const app = this.app;
    const rows = nearRows(resp);
    const draw = app.draw;
    draw.lastQueryGeometry = null;
    draw.render();
    draw.results = { rows, geometry: null, layers, label, kind: 'near', areaM2: null };
    store.set('results', draw.results);
    const ring = resp.buffer || null;         // in the map's CRS (GCJ-02 on the AMap basemap), converted by the server
    this.install();
    this.setRing(ring);
    app.showTab('results');
    const box = $('#tab-results');
    const perLayer = Object.entries(resp.layers || {});
    const summary = h('div', { class: 'result-summary', id: 'result-summary' },
      h('div', {}, h('b', {}, label)),
      h('div', {}, `共 ${resp.count} 个要素（${perLayer.filter(([, n]) => n).length} 个图层）`),
      h('div', { class: 'near-per-layer' }, perLayer.map(([lid, n]) => `${app.catalog.byId.get(lid)?.title_zh || lid} ${n}`).join('；')),
      resp.note ? h('div', { class: 'hint near-note' }, resp.note) : null,
      h('div', { class: 'hint' }, '虚线圈为查询范围（参照要素的缓冲区，按 CGCS2000 高斯-克吕格 EPSG:4549 量算）；距离为到最近参照要素的最短距离，范围内为 0。'));
    const actions = h('div', { class: 'result-actions' },
      h('button', { type: 'button', id: 'btn-near-geojson', disabled: !rows.length, onclick: () => this.exportGeoJSON() }, '导出 GeoJSON'),
      h('button', { type: 'button', id: 'btn-near-csv', disabled: !rows.length, onclick: () => this.exportCSV() }, '导出 CSV'),
      rows.length && app.attrTable ? h('button', { type: 'button', onclick: () => app.attrTable.openResults() }, '属性表') : null,
      h('button', { type: 'button', onclick: () => draw.clearAll() }, '清除'));
    const tbody = h('tbody', {}, rows.map((r, i) => {
      const tr = h('tr', { class: 'clickable', dataset: { layer: r.layer, feature: r.id, rank: String(i + 1) }, title: '在地图上定位', tabindex: '0' },
        h('td', {}, r.name || r.id, r.illustrative ? h('span', { class: 'badge illustrative', title: '示例：占位数据，不是规划确定的边界或数字' }, '示例') : null),
        h('td', {}, app.catalog.byId.get(r.layer)?.title_zh || r.layer),
        h('td', { class: 'near-name' }, r.nearName || '—'),
        h('td', { class: 'num', dataset: { distance: String(r.distance) } }, `${fmt(r.distance, 0)} 米`));
      const go = () => app.select({ layer: r.layer, id: r.id, name: r.name }, { zoom: true });
      tr.addEventListener('click', go);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
      return tr;
    }));
    const table = h('table', { class: 'data near-table', id: 'near-table' },
      h('thead', {}, h('tr', {}, h('th', {}, '名称'), h('th', {}, '图层'), h('th', {}, '最近的参照要素'), h('th', { 'aria-sort': 'ascending' }, '距离'))),
      tbody);
    box.replaceChildren(summary, actions, rows.length ? table : h('p', { class: 'hint' }, '范围内没有所选图层的要素。'));
    app.setResultHighlight(rows);
    if (ring) {
      const b = bboxOf(ring);
      app.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 60, maxZoom: 16, duration: 0 });
    }
  }

  // ------------------------------------------------------------------ export
  /** The server's answer as GeoJSON: every hit with its geometry, distance_m, near_id/near_name, and the ring. */
  async exportGeoJSON() {
    if (!this.last) return;
    const { params } = this.last;
    const url = `/query/near?${qs({ layer: params.layer, near: params.near, distance: params.distance,
      near_filter: params.nearFilter, f: 'geojson', geometry: 'true', buffer: 'true', limit: 10000 })}`;   // WGS 84
    try {
      const name = await download(url, { fallbackName: `kfqmap-near-${today()}.geojson` });
      document.body.dataset.lastNearExport = name;
      setStatus(`已下载 ${name}`);
    } catch (err) { setStatus(`导出失败：${err.message}`, { error: true }); }
  }

  /** The rows as listed (sorted by distance), for Excel: UTF-8 with a BOM, the query as a first comment row. */
  exportCSV() {
    if (!this.last) return;
    const rows = nearRows(this.last.resp);
    const cat = this.app.catalog.byId;
    const lines = [[`# ${this.last.label}；距离单位：米（EPSG:4549）；KFQMap ${today()}`],
      ['序号', '图层', '图层ID', '要素ID', '名称', '最近的参照要素', '参照要素ID', '距离（米）', '示例数据']];
    rows.forEach((r, i) => lines.push([i + 1, cat.get(r.layer)?.title_zh || r.layer, r.layer, r.id, r.name ?? '', r.nearName ?? '',
      r.nearId ?? '', r.distance, r.illustrative ? '是' : '']));
    const text = '\ufeff' + lines.map((l) => l.map(csvCell).join(',')).join('\r\n') + '\r\n';
    const name = `kfqmap-near-${today()}.csv`;
    saveBlob(new Blob([text], { type: 'text/csv;charset=utf-8' }), name);
    document.body.dataset.lastNearExport = name;
    setStatus(`已导出 ${rows.length} 行：${name}`);
  }
}

/** A near QueryResult's hits as result rows, nearest first across all layers (ties: the server's order). */
export function nearRows(resp) {
  return (resp.hits || []).map((hit, i) => ({
    layer: hit.layer_id, id: String(hit.id), name: hit.name, areaMu: null, interMu: null,
    distance: hit.distance_m, nearName: hit.near_name ?? null, nearId: hit.near_id ?? null,
    illustrative: hit.properties?.illustrative === true, order: i,
  })).sort((a, b) => a.distance - b.distance || a.order - b.order);
}

function csvCell(v) {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function fc(geometry) {
  return { type: 'FeatureCollection', features: geometry ? [{ type: 'Feature', geometry, properties: { kind: 'near-buffer' } }] : [] };
}

function bboxOf(g) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === 'number') { b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]); }
    else c.forEach(walk);
  };
  walk(g.coordinates);
  return b;
}

const today = () => new Date().toISOString().slice(0, 10);

// 修改记录: a feature's history in its popup (GET /collections/{id}/items/{fid}/history, newest first): who, when
// (北京时间), the operation and 修改说明, what changed (each field before → after, and whether the outline moved);
// hovering or clicking an entry draws the outline the feature had before that change on the map (red, dashed).
// Administrators get 恢复此版本 on each entry (the restore is itself a recorded change).

import { getHistory, restoreVersion } from './api.js';
import { store } from './store.js';
import { h, setStatus } from './util.js';
import { isAdmin } from './auth.js';
import { fieldLabel } from './editform.js';

export const HISTORY_SRC = 'kfq-history';
const OP_ZH = { create: '新增', replace: '替换', update: '修改', delete: '删除', restore: '恢复' };

/** The history rows of a response (a list, or {changes|history|items: […]}) in one shape for the panel:
 *  [{seq, op, opZh, user, time (北京时间), note, changes: [{field, before, after}], geometryChanged, before, after}]. */
export function historyEntries(resp) {
  const rows = Array.isArray(resp) ? resp : (resp?.changes || resp?.history || resp?.items || []);
  return rows.map((r) => {
    const bp = r.before?.properties || {}, ap = r.after?.properties || {};
    const names = Array.isArray(r.changed) ? r.changed.filter((k) => k !== 'geometry')
      : [...new Set([...Object.keys(bp), ...Object.keys(ap)])].filter((k) => JSON.stringify(bp[k]) !== JSON.stringify(ap[k]));
    const geometryChanged = Array.isArray(r.changed) ? r.changed.includes('geometry')
      : JSON.stringify(r.before?.geometry ?? null) !== JSON.stringify(r.after?.geometry ?? null);
    const op = r.restored_from ? 'restore' : r.op;
    return {
      seq: r.seq, op, opZh: OP_ZH[op] || op, user: r.user, time: r.at_beijing || beijingTime(r.at), at: r.at,
      note: r.note || '', restoredFrom: r.restored_from ?? null, address: r.address ?? null,
      changes: names.map((field) => ({ field, before: bp[field], after: ap[field] })),
      geometryChanged, before: r.before || null, after: r.after || null,
    };
  });
}

/** An ISO UTC time as 北京时间 "2026-06-30 16:00:00". */
export function beijingTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const parts = Object.fromEntries(new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

function show(v) {
  if (v === null || v === undefined || v === '') return '（空）';
  if (typeof v === 'boolean') return v ? '是' : '否';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The old outlines drawn on the map (one GeoJSON source, re-added after every style load). */
export class HistoryOverlay {
  constructor(app) { this.app = app; this.geometry = null; }

  install() {
    const map = this.app.map;
    if (!map.getSource(HISTORY_SRC)) map.addSource(HISTORY_SRC, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    const add = (def) => { if (!map.getLayer(def.id)) map.addLayer(def); };
    add({ id: 'kfq-history-fill', type: 'fill', source: HISTORY_SRC, filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': '#c8102e', 'fill-opacity': 0.08 } });
    add({ id: 'kfq-history-line', type: 'line', source: HISTORY_SRC, filter: ['!=', ['geometry-type'], 'Point'],
      paint: { 'line-color': '#c8102e', 'line-width': 2.5, 'line-dasharray': [2, 1.5] } });
    add({ id: 'kfq-history-point', type: 'circle', source: HISTORY_SRC, filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-radius': 9, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#c8102e', 'circle-stroke-width': 2.5 } });
    this.showOutline(this.geometry, { crs: this.crs });
  }

  /** Draw `geometry` (in `crs`; history rows are WGS 84) as the old outline (null clears). Under the 高德 basemap
   *  the map is in GCJ-02: a WGS 84 outline is moved by the local GCJ-02 offset the server gives (as the view is). */
  async showOutline(geometry, { crs = 'EPSG:4326' } = {}) {
    this.geometry = geometry || null;
    this.crs = crs;
    const token = (this.token = (this.token || 0) + 1);
    let shown = geometry;
    if (geometry && crs !== this.app.crs && this.app.crs === 'GCJ-02') {
      const d = await this.app.gcjOffset().catch(() => [0, 0]);
      if (token !== this.token) return;
      const move = (c) => (typeof c[0] === 'number' ? [c[0] + d[0], c[1] + d[1]] : c.map(move));
      shown = { ...geometry, coordinates: move(geometry.coordinates) };
    }
    const src = this.app.map?.getSource(HISTORY_SRC);
    if (!src) return;
    src.setData({ type: 'FeatureCollection', features: shown ? [{ type: 'Feature', geometry: shown, properties: {} }] : [] });
    document.body.dataset.historyOutline = shown ? '1' : '0';
  }
}

/** The 修改记录 section of a feature's popup: a button that loads the history into a list. */
export function historySection(app, layerId, fid) {
  const list = h('div', { class: 'history-list', id: 'history-list' });
  const btn = h('button', { type: 'button', class: 'history-open', id: 'btn-history' }, '修改记录');
  const section = h('div', { class: 'history', dataset: { layer: layerId, feature: fid } }, btn, list);
  btn.addEventListener('click', async () => {
    if (btn.getAttribute('aria-expanded') === 'true') {
      list.replaceChildren(); btn.setAttribute('aria-expanded', 'false'); app.history.showOutline(null); return;
    }
    btn.setAttribute('aria-expanded', 'true');
    await renderHistory(app, layerId, fid, list);
  });
  return section;
}

export async function renderHistory(app, layerId, fid, list) {
  list.replaceChildren(h('div', { class: 'loading' }, '正在读取修改记录…'));
  let entries;
  try { entries = historyEntries(await getHistory(layerId, fid)); } catch (err) {
    list.replaceChildren(h('p', { class: err.status === 401 || err.status === 403 ? 'hint' : 'error' },
      err.status === 401 ? '登录后可查看修改记录' : err.status === 403 ? '无权查看修改记录' : `无法读取修改记录：${err.message}`));
    return;
  }
  if (!entries.length) { list.replaceChildren(h('p', { class: 'hint' }, '没有修改记录（导入后未经编辑）')); return; }
  const schema = app.edit?.schemas.get(layerId)?.properties || {};
  const admin = isAdmin(store.get('user'));
  list.replaceChildren(...entries.map((e, i) => {
    const rows = e.changes.map((c) => h('tr', {}, h('th', {}, fieldLabel(c.field, schema[c.field] || {})),
      h('td', { class: 'before' }, show(c.before)), h('td', { class: 'arrow' }, '→'), h('td', { class: 'after' }, show(c.after))));
    if (e.geometryChanged && e.op !== 'create' && e.op !== 'delete') rows.push(h('tr', { class: 'geom' }, h('th', {}, '图形'), h('td', { colspan: 3 }, '轮廓已修改（悬停或点击本条，地图上以红色虚线显示修改前的轮廓）')));
    const item = h('div', { class: 'history-entry', tabindex: 0, dataset: { seq: e.seq, op: e.op } },
      h('div', { class: 'history-head' }, h('span', { class: `op op-${e.op}` }, e.opZh), h('span', { class: 'who' }, e.user),
        h('time', { datetime: e.at || '' }, `${e.time}（北京时间）`)),
      e.note ? h('div', { class: 'history-note' }, `修改说明：${e.note}`) : null,
      e.restoredFrom ? h('div', { class: 'hint' }, `恢复自第 ${e.restoredFrom} 号修改`) : null,
      rows.length && e.op !== 'create' && e.op !== 'delete' ? h('table', { class: 'history-diff' }, rows) : null,
      e.op === 'create' ? h('div', { class: 'hint' }, '新建了此要素') : null,
      e.op === 'delete' ? h('div', { class: 'hint' }, '删除了此要素') : null);
    const outline = () => app.history.showOutline(e.before?.geometry || (e.op === 'create' ? e.after?.geometry : null));
    item.addEventListener('mouseenter', outline);
    item.addEventListener('focus', outline);
    item.addEventListener('click', outline);
    // the newest entry is the current version; a version is what a change left (its `after`)
    if (admin && i > 0 && e.after) {
      item.append(h('button', { type: 'button', class: 'history-restore', title: '把要素恢复为这次修改后的样子（恢复本身也记入修改记录）',
        onclick: (ev) => { ev.stopPropagation(); restore(app, layerId, fid, e, list); } }, '恢复此版本'));
    }
    return item;
  }));
}

async function restore(app, layerId, fid, entry, list) {
  try {
    await restoreVersion(layerId, fid, entry.seq);
    setStatus(`已恢复到第 ${entry.seq} 号修改后的版本`);
    app.edit?.refreshData(layerId);
    app.select({ layer: layerId, id: fid }, { zoom: false });
    await renderHistory(app, layerId, fid, list);
  } catch (err) {
    setStatus(`恢复失败：${err.message}`, { error: true });
  }
}

// 属性表: one layer's features (or the last query's hits) as a table that sorts, filters with a filter builder that
// writes CQL2 text for `/collections/{id}/items?filter=` (nobody has to type CQL2), selects features on the map and
// follows the map's selection back, and exports the ticked rows (`/export?filter=id IN (…)`).

import { getItems, getJSON, download, qs } from './api.js';
import { h, $, fmt, setStatus } from './util.js';
import { store } from './store.js';

const HIDDEN_FIELDS = new Set(['placement', 'figures', 'note', 'description']);
const OPS = {
  string: [['=', '等于'], ['<>', '不等于'], ['LIKE', '包含'], ['IN', '属于（逗号分隔）']],
  number: [['=', '='], ['<>', '≠'], ['>', '>'], ['>=', '≥'], ['<', '<'], ['<=', '≤']],
  boolean: [['=', '是']],
};
const MAX_ROWS = 1000;
const FIELD_ZH = {
  id: '编号', name: '名称', source: '规划章节', accuracy_m: '误差（米）', illustrative: '示例', schematic: '示意',
  park_type: '园区类型', plan_status: '规划状态', alt_name: '别名', current_use: '现状用途', planned_use: '规划用途',
  status: '实施状态', year: '年度', park: '所在园区', area_mu: '面积属性（亩）', parcel_id: '地块编号', functions: '功能',
  part: '组成', river: '河流', role: '角色', adcode: '行政区划代码',
};

/** A CQL2 text literal. */
function literal(type, raw) {
  if (type === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n)) throw new Error(`“${raw}”不是数字`);
    return String(n);
  }
  if (type === 'boolean') return raw === 'false' ? 'false' : 'true';
  return `'${String(raw).replace(/'/g, "''")}'`;
}

/** [{field, type, op, value}] + 'AND'|'OR' → CQL2 text (or '' when there is no condition). */
export function buildCql(conditions, join = 'AND') {
  const parts = conditions.filter((c) => c.field && c.value !== '' && c.value !== undefined).map((c) => {
    const f = /^[A-Za-z_][A-Za-z0-9_]*$/.test(c.field) ? c.field : `"${c.field.replace(/"/g, '""')}"`;
    if (c.op === 'LIKE') return `${f} LIKE ${literal('string', `%${c.value}%`)}`;
    if (c.op === 'IN') return `${f} IN (${String(c.value).split(/[,，、]/).map((v) => v.trim()).filter(Boolean).map((v) => literal(c.type, v)).join(', ')})`;
    return `${f} ${c.op} ${literal(c.type, c.value)}`;
  });
  return parts.join(` ${join} `);
}

export class AttributeTable {
  constructor(app) {
    this.app = app;
    this.el = $('#attr-table');
    this.mode = 'layer';           // 'layer' | 'results'
    this.layer = null;
    this.fields = [];              // [{name, type}]
    this.rows = [];                // [{layer, id, props, areaMu}]
    this.sort = { key: null, dir: 1 };
    this.ticked = new Set();       // "layer/id"
    this.conditions = [];
    this.join = 'AND';
    this.cql = '';
    store.on('selection', (sel) => this.markSelected(sel));
    store.on('results', () => { if (this.mode === 'results' && !this.el.hidden) this.openResults(); });
  }

  // ------------------------------------------------------------------ opening
  async openLayer(layerId) {
    this.mode = 'layer';
    this.layer = layerId || this.defaultLayer();
    this.conditions = [];
    this.cql = '';
    this.ticked.clear();
    this.show();
    await this.loadFields();
    await this.load();
  }

  async openResults() {
    const res = this.app.draw.results;
    if (!res || !res.rows.length) { setStatus('没有查询结果', { error: true }); return; }
    this.mode = 'results';
    this.ticked.clear();
    this.fields = [{ name: 'layer_title', type: 'string', title: '图层' }, { name: 'name', type: 'string', title: '名称' },
      { name: 'area_mu', type: 'number', title: '要素面积（亩）' }, { name: 'inside_mu', type: 'number', title: '范围内（亩）' },
      { name: 'distance_m', type: 'number', title: '距离（米）' }];
    if (res.rows.some((r) => r.nearName)) this.fields.push({ name: 'near_name', type: 'string', title: '最近的参照要素' });
    this.rows = res.rows.map((r) => ({ layer: r.layer, id: r.id, props: {
      layer_title: this.app.catalog.byId.get(r.layer)?.title_zh || r.layer, name: r.name, area_mu: r.areaMu,
      inside_mu: r.interMu, distance_m: r.distance, near_name: r.nearName ?? null,
    } }));
    this.show();
    this.render();
  }

  defaultLayer() {
    const ids = this.app.layers.visibleIds().filter((id) => {
      const l = this.app.catalog.byId.get(id);
      return l && l.geometry_type !== 'None' && l.group !== '背景';
    });
    return ids[0] || this.app.catalog.layers.find((l) => l.geometry_type !== 'None')?.id;
  }

  show() {
    this.el.hidden = false;
    document.querySelector('.map-wrap').classList.add('with-table');
    setTimeout(() => this.app.map.resize(), 30);
  }

  close() {
    this.el.hidden = true;
    document.querySelector('.map-wrap').classList.remove('with-table');
    setTimeout(() => this.app.map.resize(), 30);
  }

  // ------------------------------------------------------------------ data
  async loadFields() {
    const q = await getJSON(`/collections/${encodeURIComponent(this.layer)}/queryables`);
    this.fields = Object.entries(q.properties || {})
      .filter(([name, p]) => name !== 'geometry' && !p['x-ogc-role']?.includes('geometry') && !HIDDEN_FIELDS.has(name))
      .map(([name, p]) => ({ name, type: p.type === 'number' || p.type === 'integer' ? 'number' : p.type === 'boolean' ? 'boolean' : 'string', title: FIELD_ZH[name] || p.title || name }));
    const meta = this.app.catalog.byId.get(this.layer);
    if (/Polygon/.test(meta?.geometry_type || '')) this.fields.push({ name: '__area_mu', type: 'number', title: '面积（亩）', computed: true });
  }

  async load() {
    const layer = this.layer;
    this.el.querySelector('.attr-count')?.replaceChildren('读取中…');
    try {
      const fc = await getItems(layer, { limit: MAX_ROWS, filter: this.cql || undefined });
      if (layer !== this.layer) return;
      let areas = new Map();
      if (this.fields.some((f) => f.name === '__area_mu')) {
        const st = await getJSON(`/stats/layers/${encodeURIComponent(layer)}?unit=mu`).catch(() => null);
        areas = new Map((st?.features || []).map((r) => [String(r.id), r.area]));
      }
      this.matched = fc.numberMatched ?? fc.features.length;
      this.rows = fc.features.map((f) => {
        const id = String(f.id ?? f.properties?.id);
        return { layer, id, props: { ...f.properties, __area_mu: areas.get(id) ?? null } };
      });
      this.error = null;
    } catch (err) {
      this.rows = [];
      this.error = err.message;
    }
    this.render();
  }

  // ------------------------------------------------------------------ drawing
  render() {
    const head = this.mode === 'layer' ? this.layerHeader() : h('div', { class: 'attr-head' },
      h('b', {}, `查询结果：${this.app.draw.results?.label || ''}`));
    const rows = this.sorted();
    const fields = this.fields;
    const thead = h('tr', {}, h('th', { class: 'tick' }, this.tickAllBox(rows)),
      fields.map((f) => {
        const active = this.sort.key === f.name;
        const th = h('th', { 'aria-sort': active ? (this.sort.dir > 0 ? 'ascending' : 'descending') : 'none', dataset: { field: f.name } },
          h('button', { type: 'button', class: 'sort', title: `按 ${f.title} 排序` }, f.title, active ? (this.sort.dir > 0 ? ' ▲' : ' ▼') : ''));
        th.querySelector('button').addEventListener('click', () => {
          this.sort = { key: f.name, dir: active ? -this.sort.dir : 1 };
          this.render();
        });
        return th;
      }));
    const sel = this.app.selection;
    const tbody = h('tbody', {}, rows.map((r) => {
      const key = `${r.layer}/${r.id}`;
      const box = h('input', { type: 'checkbox', 'aria-label': `选择 ${r.props.name ?? r.id}` });
      box.checked = this.ticked.has(key);
      box.addEventListener('click', (e) => e.stopPropagation());
      box.addEventListener('change', () => { if (box.checked) this.ticked.add(key); else this.ticked.delete(key); this.onTicked(); });
      const tr = h('tr', { class: `clickable${sel && sel.layer === r.layer && sel.id === r.id ? ' selected' : ''}`,
        dataset: { layer: r.layer, feature: r.id }, tabindex: '0' },
        h('td', { class: 'tick' }, box),
        fields.map((f) => h('td', { class: f.type === 'number' ? 'num' : '' }, cell(r.props[f.name], f))));
      const go = () => this.app.select({ layer: r.layer, id: r.id, name: r.props.name }, { zoom: true });
      tr.addEventListener('click', go);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
      return tr;
    }));
    const table = h('table', { class: 'data attr-data' }, h('thead', {}, thead), tbody);
    const foot = h('div', { class: 'attr-foot' },
      h('span', { class: 'attr-count', id: 'attr-count' }, this.error ? h('span', { class: 'error' }, `读取失败：${this.error}`)
        : `共 ${rows.length} 条${this.mode === 'layer' && this.matched > rows.length ? `（符合 ${this.matched} 条，显示前 ${rows.length} 条）` : ''}，已勾选 ${this.ticked.size} 条`),
      this.exportControls());
    this.el.replaceChildren(
      h('div', { class: 'attr-top' }, head, h('button', { type: 'button', class: 'attr-close', 'aria-label': '关闭属性表', title: '关闭属性表', onclick: () => this.close() }, '×')),
      h('div', { class: 'attr-scroll' }, table), foot);
  }

  layerHeader() {
    const layers = this.app.catalog.layers.filter((l) => l.geometry_type !== 'None');
    const pick = h('select', { id: 'attr-layer', 'aria-label': '属性表图层' },
      layers.map((l) => h('option', { value: l.id, selected: l.id === this.layer }, `${l.group} · ${l.title_zh}`)));
    pick.addEventListener('change', () => this.openLayer(pick.value));
    const builder = h('div', { class: 'attr-filter', id: 'attr-filter' });
    const drawConditions = () => {
      builder.replaceChildren(...this.conditions.map((c, i) => this.conditionRow(c, i, drawConditions)));
    };
    drawConditions();
    const add = h('button', { type: 'button', id: 'attr-add', onclick: () => {
      const f = this.fields.find((x) => !x.computed && x.name !== 'id') || this.fields[0];
      this.conditions.push({ field: f.name, type: f.type, op: OPS[f.type][0][0], value: f.type === 'boolean' ? 'true' : '' });
      drawConditions();
    } }, '+ 条件');
    const join = h('select', { id: 'attr-join', 'aria-label': '条件之间' }, h('option', { value: 'AND' }, '全部满足（AND）'), h('option', { value: 'OR' }, '任一满足（OR）'));
    join.value = this.join;
    join.addEventListener('change', () => { this.join = join.value; });
    const apply = h('button', { type: 'button', id: 'attr-apply', class: 'primary', onclick: () => {
      try { this.cql = buildCql(this.conditions, this.join); } catch (err) { setStatus(err.message, { error: true }); return; }
      this.load();
    } }, '筛选');
    const clear = h('button', { type: 'button', onclick: () => { this.conditions = []; this.cql = ''; this.load(); } }, '清除筛选');
    return h('div', { class: 'attr-head' }, h('b', {}, '属性表'), pick, add, join, apply, clear,
      builder, h('code', { id: 'attr-cql', title: 'CQL2 过滤条件（发送给 /collections/{id}/items?filter=）' }, this.cql ? `filter=${this.cql}` : ''));
  }

  conditionRow(c, i, redraw) {
    const fieldSel = h('select', { 'aria-label': '字段', class: 'cond-field' }, this.fields.filter((f) => !f.computed)
      .map((f) => h('option', { value: f.name, selected: f.name === c.field }, f.title)));
    fieldSel.addEventListener('change', () => {
      const f = this.fields.find((x) => x.name === fieldSel.value);
      Object.assign(c, { field: f.name, type: f.type, op: OPS[f.type][0][0], value: f.type === 'boolean' ? 'true' : '' });
      redraw();
    });
    const opSel = h('select', { 'aria-label': '条件', class: 'cond-op' }, OPS[c.type].map(([v, t]) => h('option', { value: v, selected: v === c.op }, t)));
    opSel.addEventListener('change', () => { c.op = opSel.value; });
    let value;
    if (c.type === 'boolean') {
      value = h('select', { 'aria-label': '值', class: 'cond-value' }, h('option', { value: 'true' }, '是（true）'), h('option', { value: 'false' }, '否（false）'));
      value.value = c.value || 'true';
      value.addEventListener('change', () => { c.value = value.value; });
    } else {
      // the layer's own values as suggestions (a datalist), so nobody has to remember spellings
      const listId = `attr-values-${i}`;
      const seen = [...new Set(this.rows.map((r) => r.props[c.field]).filter((v) => v !== null && v !== undefined && v !== ''))].slice(0, 50);
      const input = h('input', { type: c.type === 'number' ? 'number' : 'text', 'aria-label': '值', class: 'cond-value', value: c.value, list: listId, step: 'any' });
      input.addEventListener('input', () => { c.value = input.value; });
      input.addEventListener('keydown', (e) => { if (e.key === 'Enter') this.el.querySelector('#attr-apply').click(); });
      value = h('span', {}, input, h('datalist', { id: listId }, seen.map((v) => h('option', { value: String(v) }))));
    }
    const del = h('button', { type: 'button', 'aria-label': '删除条件', title: '删除条件', onclick: () => { this.conditions.splice(i, 1); redraw(); } }, '×');
    return h('div', { class: 'cond', dataset: { index: i } }, fieldSel, opSel, value, del);
  }

  tickAllBox(rows) {
    const all = h('input', { type: 'checkbox', 'aria-label': '全选' });
    all.checked = rows.length > 0 && rows.every((r) => this.ticked.has(`${r.layer}/${r.id}`));
    all.addEventListener('change', () => {
      for (const r of rows) { const k = `${r.layer}/${r.id}`; if (all.checked) this.ticked.add(k); else this.ticked.delete(k); }
      this.onTicked();
      this.render();
    });
    return all;
  }

  exportControls() {
    const fmtSel = h('select', { id: 'attr-format', 'aria-label': '导出格式' },
      [['xlsx', 'Excel'], ['csv', 'CSV'], ['geojson', 'GeoJSON'], ['gpkg', 'GeoPackage']].map(([v, t]) => h('option', { value: v }, t)));
    const btn = h('button', { type: 'button', id: 'attr-export', disabled: this.ticked.size === 0, onclick: () => this.exportTicked(fmtSel.value) }, '导出所选');
    return h('span', { class: 'attr-export' }, fmtSel, btn);
  }

  onTicked() {
    const rows = this.rows.filter((r) => this.ticked.has(`${r.layer}/${r.id}`));
    this.app.setResultHighlight(rows.map((r) => ({ layer: r.layer, id: r.id })));
    const count = this.el.querySelector('#attr-count');
    if (count) count.textContent = count.textContent.replace(/已勾选 \d+ 条/, `已勾选 ${this.ticked.size} 条`);
    const btn = this.el.querySelector('#attr-export');
    if (btn) btn.disabled = this.ticked.size === 0;
  }

  async exportTicked(format) {
    const rows = this.rows.filter((r) => this.ticked.has(`${r.layer}/${r.id}`));
    if (!rows.length) return;
    const layers = [...new Set(rows.map((r) => r.layer))];
    const filter = `id IN (${rows.map((r) => literal('string', r.id)).join(', ')})`;
    const params = { layers: layers.join(','), format, filter };
    this.lastExport = params;
    setStatus('正在导出…', { timeout: 0 });
    try {
      const name = await download(`/export?${qs(params)}`, { fallbackName: `kfqmap-selection.${format}` });
      setStatus(`已下载 ${name}（${rows.length} 个要素）`);
    } catch (err) { setStatus(`导出失败：${err.message}`, { error: true }); }
  }

  sorted() {
    const { key, dir } = this.sort;
    if (!key) return this.rows;
    const coll = new Intl.Collator('zh-CN', { numeric: true });
    return [...this.rows].sort((a, b) => {
      const x = a.props[key], y = b.props[key];
      if (x === y) return 0;
      if (x === null || x === undefined || x === '') return 1;        // blanks last, whichever direction
      if (y === null || y === undefined || y === '') return -1;
      return (typeof x === 'number' && typeof y === 'number' ? x - y : coll.compare(String(x), String(y))) * dir;
    });
  }

  /** The map's selection → the row (highlighted and scrolled into view). */
  markSelected(sel) {
    if (this.el.hidden) return;
    for (const tr of this.el.querySelectorAll('tbody tr')) {
      const on = !!sel && tr.dataset.layer === sel.layer && tr.dataset.feature === String(sel.id);
      tr.classList.toggle('selected', on);
      if (on) tr.scrollIntoView({ block: 'nearest' });
    }
  }
}

function cell(v, f) {
  if (v === null || v === undefined || v === '') return '';
  if (f.type === 'boolean' || typeof v === 'boolean') return v === true || v === 'true' ? '是' : '否';
  if (f.type === 'number') return fmt(v, f.name === '__area_mu' || f.name.endsWith('_mu') ? 1 : 2);
  return String(v);
}

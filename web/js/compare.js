// 对比分析 in the viewer: pick two layers (A before / B after), ask the server (GET /compare — every number comes
// from there), draw the differences (新增 green, 删除 red, 变化 amber; gained/lost parts of redrawn outlines), list
// them in the results tab, and compare the two layers visually with a swipe (卷帘) or a side-by-side (分屏) map
// whose camera follows the main one.

import { getJSON, qs } from './api.js';
import { $, h, fmt, setStatus } from './util.js';
import { catalogIdOf } from './layers.js';

const SRC = 'kfq-compare';
export const CHANGE_COLORS = { added: '#2e9e44', removed: '#d63a3a', changed: '#f0a020', gained: '#2e9e44', lost: '#d63a3a' };
const CHANGE_ZH = { added: '新增', removed: '删除', changed: '变化', gained: '增加部分', lost: '减少部分' };

export class CompareTool {
  constructor(app) {
    this.app = app;
    this.result = null;
    this.mode = 'off';          // off | swipe | split
    this.second = null;         // the second maplibregl.Map
    this.pair = null;           // {a, b} layer ids shown in the two maps
  }

  /** The dialog (built here, so index.html only holds the button). */
  dialog() {
    if (this._dlg) return this._dlg;
    const spatial = this.app.catalog.layers.filter((l) => l.geometry_type !== 'None');
    const options = (sel) => spatial.map((l) => h('option', { value: l.id, selected: l.id === sel }, `${l.title_zh}（${l.id}）`));
    const dlg = h('dialog', { id: 'dlg-compare', class: 'dialog' },
      h('form', { method: 'dialog' },
        h('h3', {}, '对比分析'),
        h('label', {}, '对比前（A）', h('select', { name: 'a', id: 'compare-a' }, options('renewal_sites'))),
        h('label', {}, 'A 的时间（可选：该图层在那时的状态，由编辑历史重建）',
          h('input', { name: 'a_time', id: 'compare-a-time', type: 'datetime-local', step: 1 })),
        h('label', {}, '对比后（B）', h('select', { name: 'b', id: 'compare-b' }, options('low_efficiency_land'))),
        h('label', {}, '配对方式', h('select', { name: 'match', id: 'compare-match' },
          h('option', { value: 'key' }, '按字段值（同一图层的两个状态）'),
          h('option', { value: 'overlap', selected: true }, '按重叠面积（两个不同图层）'))),
        h('label', {}, '配对字段（按字段时）', h('input', { name: 'key', value: 'id', autocomplete: 'off' })),
        h('label', {}, '显示', h('select', { name: 'view', id: 'compare-view' },
          h('option', { value: 'off' }, '只显示差异'),
          h('option', { value: 'swipe', selected: true }, '卷帘（左 A，右 B）'),
          h('option', { value: 'split' }, '分屏（左 A，右 B）'))),
        h('menu', {},
          h('button', { value: 'cancel', type: 'submit', class: 'secondary', formnovalidate: true }, '取消'),
          h('button', { value: 'ok', type: 'submit', class: 'primary', id: 'btn-compare-go' }, '对比'))));
    dlg.addEventListener('close', () => {
      if (dlg.returnValue !== 'ok') return;
      const f = new FormData(dlg.querySelector('form'));
      const when = f.get('a_time');          // datetime-local: 北京时间 as typed (the server reads a zoneless time so)
      const a = when ? `${f.get('a')}@${when}` : f.get('a');
      this.run({ a, b: f.get('b'), match: f.get('match'), key: f.get('key') || 'id', view: f.get('view') });
    });
    document.body.append(dlg);
    this._dlg = dlg;
    return dlg;
  }

  open() { this.dialog().showModal(); }

  async run({ a, b, match = 'overlap', key = 'id', view = 'swipe' }) {
    setStatus('正在对比…', { timeout: 0 });
    try {
      const params = qs({ a, b, match, key });
      const [result, geo] = await Promise.all([getJSON(`/compare?${params}`), getJSON(`/compare?${params}&f=geojson`)]);
      this.result = result;
      this.geo = geo;
      this.draw(geo);
      this.list(result, { a, b, match, key });
      const [idA, idB] = [a.split('@')[0], b.split('@')[0]];
      // two states of one layer: the differences say it all (a swipe would show the same layer twice)
      this.setView(idA === idB ? 'off' : view, { a: idA, b: idB });
      setStatus(`对比完成：新增 ${result.summary.added}，删除 ${result.summary.removed}，变化 ${result.summary.changed}`);
    } catch (err) {
      setStatus(`对比失败：${err.message}`, { error: true });
    }
  }

  draw(geo) {
    const map = this.app.map;
    if (map.getSource(SRC)) map.getSource(SRC).setData(geo);
    else {
      map.addSource(SRC, { type: 'geojson', data: geo });
      const color = ['match', ['get', 'change'], ...Object.entries(CHANGE_COLORS).flat(), '#888'];
      map.addLayer({ id: `${SRC}-fill`, type: 'fill', source: SRC, filter: ['==', ['geometry-type'], 'Polygon'],
        paint: { 'fill-color': color, 'fill-opacity': ['match', ['get', 'change'], ['gained', 'lost'], 0.55, 0.3] } });
      map.addLayer({ id: `${SRC}-line`, type: 'line', source: SRC,
        paint: { 'line-color': color, 'line-width': ['match', ['get', 'change'], ['gained', 'lost'], 1, 2.5],
          'line-dasharray': ['case', ['==', ['get', 'change'], 'removed'], ['literal', [2, 1]], ['literal', [1, 0]]] } });
      map.addLayer({ id: `${SRC}-point`, type: 'circle', source: SRC, filter: ['==', ['geometry-type'], 'Point'],
        paint: { 'circle-radius': 6, 'circle-color': color, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
    }
  }

  list(result, { a, b }) {
    const s = result.summary;
    const sym = result.unit.symbol_zh;
    const title = (id) => this.app.catalog.byId.get(id)?.title_zh || id;
    const rows = result.changes.map((c) => h('tr', { class: `change-${c.change}`, tabindex: 0,
      onclick: () => this.focus(c), onkeydown: (e) => { if (e.key === 'Enter') this.focus(c); } },
      h('td', {}, h('span', { class: 'swatch', style: { background: CHANGE_COLORS[c.change] } }), CHANGE_ZH[c.change]),
      h('td', {}, c.name || c.id_b || c.id_a || ''),
      h('td', {}, [...c.fields, c.geometry_changed ? '几何' : null].filter(Boolean).join('、')),
      h('td', { class: 'num' }, fmt(c.gained, 2)), h('td', { class: 'num' }, fmt(c.lost, 2)),
      h('td', {}, c.placeholder ? h('span', { class: 'badge illustrative', title: '涉及占位/示例要素，不代表实测变化' }, '示例') : '')));
    const zones = (result.zones || []).map((z) => h('li', {}, `${z.zone_name}：增加 ${fmt(z.gained, 2)}，减少 ${fmt(z.lost, 2)} ${sym}`,
      z.placeholder ? h('span', { class: 'badge illustrative', title: '分区范围为占位' }, '占位') : ''));
    const box = $('#tab-results');
    box.replaceChildren(
      h('h3', {}, '对比分析'),
      h('p', {}, `A：${result.a || title(a)} → B：${result.b || title(b)}`),
      h('p', { class: 'compare-summary', id: 'compare-summary' },
        `新增 ${s.added}，删除 ${s.removed}，变化 ${s.changed}，未变 ${s.unchanged}；增加 ${fmt(s.gained, 2)} ${sym}，减少 ${fmt(s.lost, 2)} ${sym}，净变化 ${fmt(s.net, 2)} ${sym}`),
      s.placeholder_changes ? h('p', { class: 'hint warn' }, `${s.placeholder_changes} 处差异涉及占位/示例要素（位置或范围为示意），不代表实测变化。`) : '',
      h('table', { class: 'compare-table', id: 'compare-table' },
        h('thead', {}, h('tr', {}, h('th', {}, '类型'), h('th', {}, '名称'), h('th', {}, '变化'), h('th', {}, `增加(${sym})`), h('th', {}, `减少(${sym})`), h('th', {}, ''))),
        h('tbody', {}, rows)),
      zones.length ? h('div', {}, h('h4', {}, '按园区/核心区'), h('ul', { class: 'compare-zones' }, zones)) : '',
      h('p', { class: 'hint' }, result.rules),
      h('div', { class: 'compare-actions' },
        h('a', { class: 'button', href: `/compare?${qs({ a, b, match: result.match, key: result.key || 'id' })}&f=xlsx`, download: '' }, '下载对比报告（Excel）'),
        h('button', { type: 'button', class: 'secondary', onclick: () => this.clear() }, '结束对比')));
    this.app.showTab('results');
  }

  focus(change) {
    const feat = this.geo?.features?.find((f) => f.properties.change === change.change
      && f.properties.id_a === change.id_a && f.properties.id_b === change.id_b);
    if (!feat?.geometry) return;
    const coords = JSON.stringify(feat.geometry.coordinates).match(/-?\d+(\.\d+)?(e-?\d+)?/g).map(Number);
    const xs = coords.filter((_, i) => i % 2 === 0); const ys = coords.filter((_, i) => i % 2 === 1);
    this.app.map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 80, maxZoom: 16 });
  }

  /** Visual comparison: A in the main map, B in a second map (swipe: on top, clipped; split: on the right). */
  setView(mode, { a, b }) {
    this.closeSecond();
    this.mode = mode;
    if (mode === 'off') return;
    const wrap = $('.map-wrap');
    const main = this.app.map;
    this.pair = { a, b, hidden: [] };
    const container = h('div', { id: 'map-compare', class: `map-compare ${mode}`, 'aria-label': `对比地图：${b}` });
    wrap.append(container);
    wrap.classList.add(`compare-${mode}`);
    main.resize();
    // the main map shows A (B hidden); the second shows B (A hidden), from the same style
    for (const layer of main.getStyle().layers) {
      if (catalogIdOf(layer) === b && main.getLayoutProperty(layer.id, 'visibility') !== 'none') {
        main.setLayoutProperty(layer.id, 'visibility', 'none');
        this.pair.hidden.push(layer.id);
      }
    }
    const style = structuredClone(main.getStyle());
    style.layers = style.layers.filter((l) => !l.id.startsWith(SRC)).map((l) => {
      const id = catalogIdOf(l);
      if (id === a) return { ...l, layout: { ...(l.layout || {}), visibility: 'none' } };
      if (id === b) return { ...l, layout: { ...(l.layout || {}), visibility: 'visible' } };
      return l;
    });
    delete style.sources[SRC];
    this.second = new maplibregl.Map({ container, style, center: main.getCenter(), zoom: main.getZoom(),
      bearing: main.getBearing(), pitch: main.getPitch(), attributionControl: false, interactive: mode === 'split' });
    this._sync = () => this.second?.jumpTo({ center: main.getCenter(), zoom: main.getZoom(), bearing: main.getBearing(), pitch: main.getPitch() });
    main.on('move', this._sync);
    const label = (text, cls) => h('div', { class: `compare-label ${cls}` }, text);
    const title = (id) => this.app.catalog.byId.get(id)?.title_zh || id;
    this.labels = [label(`A：${title(a)}`, 'left'), label(`B：${title(b)}`, 'right')];
    wrap.append(...this.labels);
    if (mode === 'split') {
      this._back = () => main.jumpTo({ center: this.second.getCenter(), zoom: this.second.getZoom() });
      this.second.on('moveend', (e) => { if (e.originalEvent) this._back(); });
    } else {
      const slider = h('input', { type: 'range', min: 0, max: 100, value: 50, id: 'compare-swipe', class: 'compare-slider', 'aria-label': '卷帘位置（左 A，右 B）' });
      slider.addEventListener('input', () => this.clip(Number(slider.value)));
      this.divider = h('div', { class: 'compare-divider', 'aria-hidden': 'true' });
      wrap.append(this.divider, slider);
      this.slider = slider;
      this.clip(50);
    }
  }

  clip(pct) {
    const el = $('#map-compare');
    if (el) el.style.clipPath = `inset(0 0 0 ${pct}%)`;
    if (this.divider) this.divider.style.left = `${pct}%`;
  }

  closeSecond() {
    const main = this.app.map;
    if (this._sync) main.off('move', this._sync);
    this._sync = null;
    for (const id of this.pair?.hidden || []) if (main.getLayer(id)) main.setLayoutProperty(id, 'visibility', 'visible');
    this.second?.remove();
    this.second = null;
    $('#map-compare')?.remove();
    this.slider?.remove();
    this.divider?.remove();
    this.slider = null;
    this.divider = null;
    for (const l of this.labels || []) l.remove();
    this.labels = null;
    const wrap = $('.map-wrap');
    const had = wrap.classList.contains('compare-split');
    wrap.classList.remove('compare-swipe', 'compare-split');
    if (had) main.resize();
    this.pair = null;
    this.mode = 'off';
  }

  clear() {
    this.closeSecond();
    const map = this.app.map;
    for (const id of [`${SRC}-fill`, `${SRC}-line`, `${SRC}-point`]) if (map.getLayer(id)) map.removeLayer(id);
    if (map.getSource(SRC)) map.removeSource(SRC);
    this.result = null;
    $('#tab-results').replaceChildren(h('p', { class: 'hint' }, '已结束对比。'));
  }
}

// 时间轴 (time slider) for layers with a `year` property — the 5000亩 low-efficiency parcels by year: the map shows
// the features with year ≤ the slider's value (a MapLibre filter on every style layer of that catalog layer), and
// the totals of what is shown come from the server (GET /stats/layers/{id}?filter=year <= Y: count and CGCS2000
// ellipsoidal area), never summed here. Features without a year are hidden while the slider is on (CQL2's
// `year <= Y` leaves them out too) and counted apart. Illustrative layers (the catalog's flag) are marked 示例.

import { getJSON, qs } from './api.js';
import { $, h, fmt, setStatus, debounce } from './util.js';

const YEAR = 'year';
const DONE = '已完成';
const PLAY_MS = 1200;

export class TimeSlider {
  constructor(app) {
    this.app = app;
    this.layer = null;
    this.year = null;
    this.active = false;
    this.original = new Map();        // style layer id → its own filter (before ours)
    this.candidates = null;           // catalog layers with a numeric `year` (from /queryables)
    this.meta = new Map();            // layer id → {years:[…], hasStatus}
    this.el = null;
    this.requestTotals = debounce(() => this.totals(), 150);
    $('#btn-timeline')?.addEventListener('click', () => (this.el && !this.el.hidden ? this.close() : this.open()));
    app.map.on('style.load', () => { this.original.clear(); if (this.active) this.apply(); });
  }

  // ------------------------------------------------------------------ which layers, which years
  async layersWithYears() {
    if (!this.candidates) {
      const spatial = this.app.catalog.layers.filter((l) => l.geometry_type !== 'None' && l.group !== '背景');
      const found = await Promise.all(spatial.map(async (l) => {
        try {
          const q = await getJSON(`/collections/${encodeURIComponent(l.id)}/queryables?f=json`);
          const p = q.properties || {};
          return ['integer', 'number'].includes(p[YEAR]?.type) ? { layer: l, hasStatus: !!p.status } : null;
        } catch { return null; }
      }));
      this.candidates = found.filter(Boolean);
    }
    return this.candidates;
  }

  async yearsOf(layerId) {
    if (!this.meta.has(layerId)) {
      // the layer's per-feature rows carry `year` (no geometry needed)
      const st = await getJSON(`/stats/layers/${encodeURIComponent(layerId)}?unit=mu`);
      const years = [...new Set((st.features || []).map((f) => f.properties?.[YEAR]).filter((y) => Number.isFinite(Number(y)) && y !== null).map(Number))].sort((a, b) => a - b);
      const cand = (this.candidates || []).find((c) => c.layer.id === layerId);
      this.meta.set(layerId, { years, hasStatus: !!cand?.hasStatus });
    }
    return this.meta.get(layerId);
  }

  // ------------------------------------------------------------------ the panel
  async open() {
    const list = await this.layersWithYears().catch(() => []);
    if (!list.length) { setStatus('没有带年份的图层', { error: true }); return; }
    if (!this.el) this.build(list);
    this.el.hidden = false;
    $('#btn-timeline')?.setAttribute('aria-pressed', 'true');
    const pick = this.el.querySelector('#ts-layer');
    await this.choose(this.layer || pick.value);
  }

  build(list) {
    const pick = h('select', { id: 'ts-layer', 'aria-label': '时间轴图层' },
      list.map(({ layer }) => h('option', { value: layer.id, selected: layer.id === 'low_efficiency_land' }, `${layer.title_zh}`)));
    pick.addEventListener('change', () => this.choose(pick.value));
    const range = h('input', { type: 'range', id: 'ts-year', min: '2020', max: '2025', step: '1', value: '2025', 'aria-label': '年份（显示该年及以前的要素）' });
    range.addEventListener('input', () => this.setYear(Number(range.value)));
    const play = h('button', { type: 'button', id: 'ts-play', title: '按年份逐年播放', 'aria-pressed': 'false' }, '▶ 播放');
    play.addEventListener('click', () => this.togglePlay());
    this.el = h('section', { id: 'time-slider', class: 'time-slider', 'aria-label': '时间轴' },
      h('div', { class: 'ts-head' }, h('b', {}, '时间轴'), pick, h('span', { class: 'ts-badge' }),
        h('button', { type: 'button', class: 'ts-close', 'aria-label': '关闭时间轴（显示全部要素）', title: '关闭时间轴（显示全部要素）', onclick: () => this.close() }, '×')),
      h('div', { class: 'ts-row' }, h('span', { class: 'ts-min' }), range, h('span', { class: 'ts-max' }),
        h('output', { id: 'ts-label', for: 'ts-year' }), play),
      h('div', { id: 'ts-totals', class: 'ts-totals', 'aria-live': 'polite' }));
    $('.map-wrap').append(this.el);
  }

  async choose(layerId) {
    this.stopPlay();
    this.restore();
    this.layer = layerId;
    let info;
    try { info = await this.yearsOf(layerId); } catch (err) { setStatus(`无法读取年份：${err.message}`, { error: true }); return; }
    const meta = this.app.catalog.byId.get(layerId);
    const range = this.el.querySelector('#ts-year');
    const [min, max] = info.years.length ? [info.years[0], info.years[info.years.length - 1]] : [2021, 2025];
    range.min = String(min); range.max = String(max);
    this.el.querySelector('.ts-min').textContent = String(min);
    this.el.querySelector('.ts-max').textContent = String(max);
    const badge = this.el.querySelector('.ts-badge');
    badge.replaceChildren(meta?.illustrative ? h('span', { class: 'badge illustrative', title: '示例：地块、状态和年份均为示例数据，不是规划内容' }, '示例') : '');
    if (!this.app.layers.visible.has(layerId)) {
      this.app.layers.setVisible(layerId, true);
      const cb = document.querySelector(`input[data-layer="${layerId}"]`); if (cb) cb.checked = true;
    }
    this.active = true;
    this.setYear(this.year !== null && this.year >= min && this.year <= max ? this.year : max);
  }

  setYear(year) {
    this.year = year;
    const range = this.el.querySelector('#ts-year');
    if (Number(range.value) !== year) range.value = String(year);
    this.el.querySelector('#ts-label').textContent = `≤ ${year} 年`;
    this.apply();
    this.requestTotals();
  }

  close() {
    this.stopPlay();
    this.active = false;
    this.restore();
    if (this.el) this.el.hidden = true;
    $('#btn-timeline')?.setAttribute('aria-pressed', 'false');
    delete document.body.dataset.timeFilter;
  }

  // ------------------------------------------------------------------ the map filter
  styleLayerIds() {
    return (this.app.layers.index.get(this.layer) || []).filter((id) => this.app.map.getLayer(id));
  }

  apply() {
    if (!this.active || this.layer === null || this.year === null) return;
    const map = this.app.map;
    const mine = ['all', ['!=', ['get', YEAR], null], ['<=', ['to-number', ['get', YEAR]], this.year]];
    for (const id of this.styleLayerIds()) {
      if (!this.original.has(id)) this.original.set(id, map.getFilter(id) ?? null);
      const own = this.original.get(id);
      map.setFilter(id, own ? ['all', own, mine] : mine);
    }
    document.body.dataset.timeFilter = `${this.layer}<=${this.year}`;
  }

  restore() {
    const map = this.app.map;
    for (const [id, own] of this.original) if (map.getLayer(id)) map.setFilter(id, own);
    this.original.clear();
  }

  // ------------------------------------------------------------------ totals from the server
  async totals() {
    const { layer, year } = this;
    if (!this.active || layer === null) return;
    const box = this.el.querySelector('#ts-totals');
    const info = this.meta.get(layer) || {};
    const stat = (filter) => getJSON(`/stats/layers/${encodeURIComponent(layer)}?${qs({ unit: 'mu', filter })}`);
    try {
      const [shown, done, noYear] = await Promise.all([
        stat(`${YEAR} <= ${year}`),
        info.hasStatus ? stat(`${YEAR} <= ${year} AND status = '${DONE}'`) : null,
        stat(`${YEAR} IS NULL`),
      ]);
      if (layer !== this.layer || year !== this.year) return;      // the slider moved on
      const meta = this.app.catalog.byId.get(layer);
      const area = (s) => (s.area !== null && s.area !== undefined ? ` · ${fmt(s.area, 1)} 亩` : '');
      box.dataset.year = String(year);
      box.dataset.count = String(shown.count);
      box.dataset.area = String(shown.area ?? '');
      box.replaceChildren(
        h('div', { class: 'ts-shown' }, `${year} 年及以前：`, h('b', {}, `${shown.count} 个要素${area(shown)}`)),
        done ? h('div', { class: 'ts-done' }, `其中${DONE}：${done.count} 个${area(done)}`) : null,
        noYear.count ? h('div', { class: 'hint' }, `未注明年份的 ${noYear.count} 个要素不显示`) : null,
        h('div', { class: 'hint' }, `面积为 CGCS2000 椭球面积（服务器统计）${meta?.illustrative ? '；示例数据，不是规划内容' : ''}`));
    } catch (err) {
      box.replaceChildren(h('p', { class: 'error' }, `无法统计：${err.message}`));
    }
  }

  // ------------------------------------------------------------------ play
  togglePlay() {
    if (this.timer) { this.stopPlay(); return; }
    const range = this.el.querySelector('#ts-year');
    const min = Number(range.min), max = Number(range.max);
    if (this.year >= max) this.setYear(min);
    this.el.querySelector('#ts-play').textContent = '❚❚ 暂停';
    this.el.querySelector('#ts-play').setAttribute('aria-pressed', 'true');
    this.timer = setInterval(() => {
      if (this.year >= max) { this.stopPlay(); return; }
      this.setYear(this.year + 1);
    }, PLAY_MS);
  }

  stopPlay() {
    clearInterval(this.timer);
    this.timer = null;
    const b = this.el?.querySelector('#ts-play');
    if (b) { b.textContent = '▶ 播放'; b.setAttribute('aria-pressed', 'false'); }
  }
}

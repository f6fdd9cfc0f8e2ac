// The 指标 panel (监测预警): each indicator's status in a year from the entered actuals, coloured; the warning
// list (预警清单); and per indicator a small chart of the actuals against the plan's path (规划路径 — the plan's
// pace, drawn dashed, never shown as an achievement). Everything comes from GET /indicators/status?year=;
// JavaScript only lays it out.

import { getJSON, putJSON } from './api.js';
import { h, fmt } from './util.js';

const SVG = 'http://www.w3.org/2000/svg';
const YEARS = [2021, 2022, 2023, 2024, 2025];
const TABLE_TITLE = { 表1: '表1 “十三五”完成情况', 表2: '表2 “十四五”指标体系', 正文: '正文目标' };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

function chip(status, colours, extra = '') {
  const c = h('span', { class: `status-chip ${extra}`, dataset: { status } }, status);
  c.style.background = colours[status] || '#999';
  if (status === '无数据' || status === '不适用') c.style.color = '#1f2933';
  return c;
}

export async function renderIndicators(app, container) {
  const thisYear = new Date().getFullYear();
  let year = Math.min(Math.max(thisYear, 2021), 2025);
  let current = '表2';
  const yearSel = h('select', { id: 'ind-year', 'aria-label': '监测年份' },
    YEARS.map((y) => h('option', { value: String(y), selected: y === year }, `${y} 年`)));
  const summary = h('div', { class: 'ind-summary', id: 'ind-summary' });
  const warnBox = h('section', { class: 'ind-warnings', id: 'ind-warnings' });
  const filter = h('div', { class: 'ind-filter' });
  const list = h('div', { class: 'ind-chart', id: 'ind-list' });
  const note = h('p', { class: 'hint' });
  const onMap = h('input', { type: 'checkbox', id: 'ind-on-map' });
  container.replaceChildren(
    h('div', { class: 'ind-top' }, h('label', {}, '监测年份 ', yearSel),
      h('label', { title: '与指标关联的地块/要素按该指标的状态着色' }, onMap, ' 地图上按状态着色')),
    summary, warnBox, filter, note, list);

  let report = null;
  const draw = () => {
    const colours = report.colours;
    summary.replaceChildren(...Object.entries(report.counts).filter(([, n]) => n > 0)
      .map(([st, n]) => h('span', { class: 'ind-count' }, chip(st, colours), ` ${n}`)));
    warnBox.replaceChildren(h('h3', {}, `预警清单（${report.year} 年）`));
    if (report.warnings.length) {
      const ul = h('ul', { class: 'warn-list' });
      for (const w of report.warnings) {
        const li = h('li', { dataset: { id: w.id } }, chip(w.status, colours), ' ', h('b', {}, w.name), h('div', { class: 'why' }, w.reason));
        li.addEventListener('click', () => focusRow(w.id));
        ul.append(li);
      }
      warnBox.append(ul);
    } else {
      warnBox.append(h('p', { class: 'hint' }, report.counts['无数据'] && !report.counts['达标'] && !report.counts['正常']
        ? '尚未录入实际值：各指标状态为“无数据”（录入：kfqmap indicators template / load，或编辑接口）。'
        : '没有预警、滞后或超限的指标。'));
    }
    const tables = [...new Set(report.indicators.map((r) => r.table || '正文'))];
    filter.replaceChildren(...tables.map((t) => {
      const b = h('button', { type: 'button', class: t === current ? 'active' : '' }, TABLE_TITLE[t] || t);
      b.addEventListener('click', () => { current = t; draw(); });
      return b;
    }));
    note.textContent = current === '表1'
      ? '表1 为“十三五”回顾：灰色为 2020 年实际值，蓝色为“十三五”目标，不作“十四五”监测。'
      : '状态按录入的实际值判定；虚线为规划路径（2020 年值到目标值的直线，是规划的节奏，不是完成情况），圆点为实际值（累计指标为累计值）。';
    list.replaceChildren();
    let lastCat = null;
    for (const r of report.indicators.filter((x) => (x.table || '正文') === current)) {
      if (r.category && r.category !== lastCat) {
        list.append(h('div', { class: 'ind-cat' }, r.category));
        lastCat = r.category;
      }
      list.append(current === '表1' ? reviewRow(app, r) : statusRow(app, r, colours, report.store ? load : null));
    }
  };
  const focusRow = (id) => {
    const r = report.indicators.find((x) => x.id === id);
    if (r && (r.table || '正文') !== current) { current = r.table || '正文'; draw(); }
    const el = list.querySelector(`.ind-row[data-id="${CSS.escape(id)}"]`);
    if (el) { el.scrollIntoView({ block: 'center' }); el.classList.add('flash'); setTimeout(() => el.classList.remove('flash'), 1500); }
  };
  const load = async () => {
    try { report = await getJSON(`/indicators/status?year=${year}`); } catch (e) {
      list.replaceChildren(h('p', { class: 'error' }, `无法读取 /indicators/status：${e.message}`)); return;
    }
    container.dataset.year = String(report.year);
    draw();
    if (onMap.checked) await paintLinked(app, report);
  };
  yearSel.addEventListener('change', () => { year = Number(yearSel.value); load(); });
  onMap.addEventListener('change', () => (onMap.checked ? paintLinked(app, report) : clearLinked(app)));
  await load();
}

// ------------------------------------------------------------------ features linked to an indicator, on the map
const LINKED = 'kfq-ind-status';

/** The features an indicator names (layer_id + feature_id, or a whole layer) coloured by that indicator's status. */
async function paintLinked(app, report) {
  const linked = report.indicators.filter((r) => r.monitored && r.layer_id);
  const feats = [];
  await Promise.all(linked.map(async (r) => {
    try {
      const fc = r.feature_id
        ? { features: [await getJSON(`/collections/${encodeURIComponent(r.layer_id)}/items/${encodeURIComponent(r.feature_id)}?f=json`)] }
        : await getJSON(`/collections/${encodeURIComponent(r.layer_id)}/items?f=json&limit=10000`);
      for (const f of fc.features || []) {
        if (f?.geometry) feats.push({ type: 'Feature', geometry: f.geometry, properties: { indicator: r.id, status: r.status, colour: r.colour } });
      }
    } catch { /* a layer that cannot be read is left out */ }
  }));
  const map = app.map;
  const data = { type: 'FeatureCollection', features: feats };
  document.body.dataset.indicatorFeatures = String(feats.length);
  if (map.getSource(LINKED)) { map.getSource(LINKED).setData(data); return; }
  map.addSource(LINKED, { type: 'geojson', data });
  map.addLayer({ id: `${LINKED}-fill`, type: 'fill', source: LINKED, filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': ['get', 'colour'], 'fill-opacity': 0.45 } });
  map.addLayer({ id: `${LINKED}-line`, type: 'line', source: LINKED, filter: ['!=', ['geometry-type'], 'Point'],
    paint: { 'line-color': ['get', 'colour'], 'line-width': 2.5 } });
  map.addLayer({ id: `${LINKED}-point`, type: 'circle', source: LINKED, filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-radius': 8, 'circle-color': ['get', 'colour'], 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
}

function clearLinked(app) {
  const map = app.map;
  for (const id of [`${LINKED}-point`, `${LINKED}-line`, `${LINKED}-fill`]) if (map.getLayer(id)) map.removeLayer(id);
  if (map.getSource(LINKED)) map.removeSource(LINKED);
  delete document.body.dataset.indicatorFeatures;
}

function head(r, right) {
  const attr = r.attribute ? h('span', { class: `attr ${r.attribute === '约束性' ? 'binding' : ''}` }, r.attribute) : null;
  return h('div', { class: 'name' }, h('span', {}, `${r.seq ? r.seq + '. ' : ''}${r.name}${r.unit ? `（${r.unit}）` : ''}`),
    h('span', { class: 'right' }, attr, right));
}

function statusRow(app, r, colours, reload) {
  const row = h('div', { class: 'ind-row', dataset: { id: r.id, status: r.status } }, head(r, chip(r.status, colours)));
  const target = r.target_text ? `目标 ${r.target_text}${r.target_year ? `（${r.target_year}）` : ''}` : '';
  const actual = r.value_text !== null && r.value_text !== undefined
    ? `${r.measure === '五年累计' ? '累计' : r.measure === '年均' ? '年均' : '实际'} ${r.value_text}` : '无实际值';
  row.append(h('div', { class: 'ind-facts' }, h('span', {}, actual),
    r.plan_path !== null && r.plan_path !== undefined ? h('span', {}, `规划路径 ${fmt(r.plan_path, 4)}`) : null,
    h('span', {}, target)));
  if (r.monitored && (r.path_series.some((p) => p.path !== null) || r.value_series.length)) row.append(chart(r, colours));
  if (r.reason && r.status !== '无数据') row.append(h('div', { class: 'why' }, r.reason));
  if (r.monitored && reload) row.append(entryForm(r, reload));
  if (r.layer_id && r.feature_id) {
    row.classList.add('linked');
    row.title = '在地图上定位';
    row.addEventListener('click', () => app.select({ layer: r.layer_id, id: String(r.feature_id) }, { zoom: true }));
  }
  return row;
}

/** 录入: enter (or correct) one year's actual for this indicator — PUT /indicators/{id}/actuals/{year}; the
 *  server validates (a number, the year, the unit) and answers a problem the form shows. */
function entryForm(r, reload) {
  const box = h('details', { class: 'ind-entry' }, h('summary', {}, '录入实际值'));
  const year = h('select', { name: 'year', 'aria-label': '年份' }, YEARS.map((y) => h('option', { value: String(y), selected: y === r.year }, `${y}`)));
  const value = h('input', { name: 'value', inputmode: 'decimal', placeholder: r.measure === '五年累计' ? '当年新增量' : r.measure === '完成年份' ? '完成年份' : '实际值', 'aria-label': '实际值', size: 8 });
  const source = h('input', { name: 'source', placeholder: '来源，如 2023年统计公报', 'aria-label': '来源', size: 14 });
  const msg = h('span', { class: 'msg', role: 'status' });
  const save = h('button', { type: 'submit' }, '保存');
  const form = h('form', {}, year, value, h('span', { class: 'unit' }, r.unit || ''), source, save, msg);
  const fill = () => {
    const a = r.actuals.find((x) => String(x.year) === year.value);
    value.value = a ? a.value_text : '';
    source.value = a?.source || '';
  };
  year.addEventListener('change', fill);
  fill();
  form.addEventListener('click', (e) => e.stopPropagation());       // the row's click zooms to its feature
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    msg.textContent = '保存中…';
    msg.className = 'msg';
    try {
      const body = { value: value.value.trim() };
      if (source.value.trim()) body.source = source.value.trim();
      const s = await putJSON(`/indicators/${encodeURIComponent(r.id)}/actuals/${year.value}`, body);
      msg.textContent = `已保存：${s.year} 年 ${s.status}`;
      await reload();
    } catch (err) {
      msg.textContent = err.message;
      msg.className = 'msg error';
    }
  });
  box.append(form);
  box.addEventListener('click', (e) => e.stopPropagation());
  return box;
}

/** Actuals (dots, status colour) against the plan's path (dashed) and the target (a tick at the target year). */
function chart(r, colours) {
  const W = 260, H = 64, L = 4, R = 4, T = 6, B = 14;
  const path = r.path_series.filter((p) => p.path !== null);
  const vals = r.value_series;
  const years = [...path.map((p) => p.year), ...vals.map((v) => v.year), 2020, r.target_year || 2025];
  const x0 = Math.min(...years), x1 = Math.max(...years);
  const ys = [...path.map((p) => p.path), ...vals.map((v) => v.value)];
  if (r.target !== null && r.target !== undefined) ys.push(r.target);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const X = (y) => L + ((y - x0) / Math.max(x1 - x0, 1)) * (W - L - R);
  const Y = (v) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const svg = s('svg', { class: 'ind-svg', viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `${r.name}：实际值与规划路径` });
  svg.append(s('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#d9dee5' }));
  for (let y = x0; y <= x1; y += 1) {
    svg.append(s('text', { x: X(y), y: H - 3, 'font-size': 8, 'text-anchor': 'middle', fill: '#5f6b7a' }, document.createTextNode(String(y))));
  }
  if (path.length > 1) {
    svg.append(s('polyline', { class: 'plan-path', points: path.map((p) => `${X(p.year)},${Y(p.path)}`).join(' '),
      fill: 'none', stroke: '#1d4e89', 'stroke-width': 1.2, 'stroke-dasharray': '4 3' }));
  }
  if (r.target !== null && r.target !== undefined && r.target_year) {
    svg.append(s('line', { x1: X(r.target_year) - 5, x2: X(r.target_year) + 5, y1: Y(r.target), y2: Y(r.target),
      stroke: '#1d4e89', 'stroke-width': 2 }));
  }
  if (vals.length > 1) {
    svg.append(s('polyline', { points: vals.map((v) => `${X(v.year)},${Y(v.value)}`).join(' '), fill: 'none',
      stroke: '#1f2933', 'stroke-width': 1.2 }));
  }
  for (const v of vals) {
    const dot = s('circle', { class: 'actual', cx: X(v.year), cy: Y(v.value), r: 3,
      fill: v.year === r.year ? (colours[r.status] || '#1f2933') : '#1f2933' });
    dot.append(s('title', {}, document.createTextNode(`${v.year} 年：${v.value}`)));
    svg.append(dot);
  }
  return h('div', { class: 'ind-plot' }, svg);
}

/** 表1 (the 13th plan's review): 2020 actual against the 13th plan's target, as bars. */
function reviewRow(app, r) {
  const row = h('div', { class: 'ind-row', dataset: { id: r.id } }, head(r, null));
  const v0 = num(r.value_2020), v1 = num(r.target);
  if (v0 !== null || v1 !== null) {
    const max = Math.max(Math.abs(v0 ?? 0), Math.abs(v1 ?? 0)) || 1;
    const line = (label, v, text, cls) => {
      const inner = h('span', { class: cls });
      inner.style.width = v === null ? '0' : `${(100 * Math.abs(v)) / max}%`;
      return [h('span', {}, label), h('span', { class: 'bar' }, inner), h('span', { class: 'v', title: text ?? '' }, text ?? (v === null ? '—' : fmt(v, 2)))];
    };
    row.append(h('div', { class: 'pair' }, ...line('2020实际', v0, r.value_2020_text, 'b2020'),
      ...line(`${r.target_year || 2020}目标`, v1, r.target_text, 'b2025')));
  } else {
    row.append(h('div', { class: 'textonly' }, `2020：${r.value_2020_text ?? '—'}　目标：${r.target_text ?? '—'}`));
  }
  return row;
}

function num(v) { const n = Number(v); return v === null || v === undefined || v === '' || !Number.isFinite(n) ? null : n; }

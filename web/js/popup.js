// Click a feature: name, group, plan section, the figures the plan states for it (with units), its land area in
// 亩 and 公顷 (from the server), and the indicators linked to it.

import { getJSON, qs } from './api.js';
import { h, fmt, figureText, FIGURE_KIND_ZH, setStatus } from './util.js';
import { historySection } from './history.js';
import { mayEdit } from './auth.js';
import { store } from './store.js';

/** Parse the `figures` attribute (a JSON string column, or already a list). */
export function parseFigures(value) {
  if (!value) return [];
  if (Array.isArray(value)) return value;
  try { const v = JSON.parse(value); return Array.isArray(v) ? v : []; } catch { return []; }
}

function truthy(v) { return v === true || v === 'true' || v === 1 || v === '1'; }

/** Feature id of a rendered (tile) feature. */
export function featureIdOf(f) {
  const p = f.properties || {};
  return p.id ?? p.fid ?? (f.id !== undefined ? String(f.id) : undefined);
}

/** A layer's statistics in one unit, cached: GET /stats/layers/{id}?unit=… (every feature's ellipsoidal area). */
export function layerStats(app, layerId, unit) {
  const key = `${layerId}|${unit}`;
  const cache = app.cache.layerStats;
  if (!cache.has(key)) cache.set(key, getJSON(`/stats/layers/${encodeURIComponent(layerId)}?unit=${unit}`).catch(() => null));
  return cache.get(key);
}

/** A feature's land area in 亩 and 公顷, both as the server computes and rounds them. */
export async function featureArea(app, layerId, fid) {
  const [mu, ha] = await Promise.all([layerStats(app, layerId, 'mu'), layerStats(app, layerId, 'ha')]);
  const find = (stats) => (stats?.features || []).find((r) => String(r.id) === String(fid));
  const a = find(mu), b = find(ha);
  if (!a || a.area === null || a.area === undefined) return null;
  return { mu: a.area, ha: b?.area ?? null, m2: a.area_m2, perimeter: a.length_m ?? null };
}

/** An area written with no more digits than the outline's accuracy supports.
 *  The uncertainty of a polygon's area is about its perimeter × the positional error of its outline
 *  (±accuracy_m moves every edge); the area is rounded to that order of magnitude, keeping at least two
 *  significant digits. Returns {text, approx, uncertaintyMu}. An outline without an accuracy keeps 0.1 亩. */
export function areaDisplay(area, accuracyM) {
  if (!area || area.mu == null) return null;
  const acc = Number(accuracyM);
  if (!Number.isFinite(acc) || acc <= 0 || !area.perimeter) {
    return { text: `${fmt(area.mu, 1)} 亩 · ${fmt(area.ha, 2)} 公顷`, approx: false, uncertaintyMu: null };
  }
  const uncertaintyMu = Math.min(area.mu, (area.perimeter * acc * 3) / 2000);
  const roundTo = (v, u) => {
    if (!(v > 0)) return v;
    let step = 10 ** Math.floor(Math.log10(Math.max(u, 1e-9)));
    step = Math.min(step, 10 ** (Math.floor(Math.log10(v)) - 1));     // keep ≥ 2 significant digits
    if (step <= 0.1) return Math.round(v * 10) / 10;
    return Math.round(v / step) * step;
  };
  const mu = roundTo(area.mu, uncertaintyMu);
  const ha = roundTo(area.ha, uncertaintyMu / 15);
  const approx = uncertaintyMu >= 0.05;
  const digits = (v) => (Number.isInteger(v) ? 0 : 1);
  return { text: `${approx ? '约 ' : ''}${fmt(mu, digits(mu))} 亩 · ${fmt(ha, ha < 1 ? 2 : digits(ha))} 公顷`, approx, uncertaintyMu };
}

/** 定位依据 in Chinese, from the feature's flags; the data's own (English) placement note is kept below it. */
export function placementZh(p, layer) {
  const acc = p.accuracy_m ?? layer.accuracy_m;
  const schematic = truthy(p.schematic) || (p.schematic === undefined && layer.schematic);
  const illustrative = truthy(p.illustrative) || (p.illustrative === undefined && layer.illustrative);
  const parts = [];
  if (illustrative) parts.push('示例（占位）数据：边界和数字不是规划给定的');
  if (schematic) parts.push('示意位置：由规划文本中的地名、道路、河流和站点推断绘制，不是测绘成果');
  else parts.push('来自公开数据（非规划内容）');
  if (acc != null) parts.push(`位置误差约 ±${fmt(acc, 0)} 米`);
  return parts.join('；') + '。';
}

export async function linkedIndicators(app, layerId, fid) {
  const all = await app.indicators();
  return all.filter((r) => r.layer_id === layerId && (!r.feature_id || String(r.feature_id) === String(fid)));
}

export async function openFeaturePopup(app, lngLat, hits) {
  if (!hits.length) return;
  let i = 0;
  let shown = 0;     // the latest page asked for: a slow earlier answer must not replace it
  const popup = new maplibregl.Popup({ maxWidth: 'none', focusAfterOpen: false })
    .setLngLat(lngLat).setDOMContent(h('div', { class: 'pop' }, h('div', { class: 'loading' }, '正在读取…'))).addTo(app.map);
  app.currentPopup = popup;
  const show = async () => {
    const hit = hits[i];
    const token = ++shown;
    try {
      const body = await popupContent(app, hit);
      if (token !== shown) return;
      if (hits.length > 1) {
        const prev = h('button', { type: 'button', onclick: () => { i = (i + hits.length - 1) % hits.length; show(); } }, '‹ 上一个');
        const next = h('button', { type: 'button', onclick: () => { i = (i + 1) % hits.length; show(); } }, '下一个 ›');
        body.append(h('div', { class: 'pager' }, prev, h('span', {}, `${i + 1} / ${hits.length}（此处重叠要素）`), next));
      }
      popup.setDOMContent(body);
      app.select({ layer: hit.layer, id: hit.id, name: hit.name }, { zoom: false });
    } catch (err) {
      popup.setDOMContent(h('div', { class: 'pop error' }, `读取要素失败：${err.message}`));
    }
  };
  await show();
  popup.on('close', () => {
    if (app.currentPopup === popup) app.currentPopup = null;
    app.history?.showOutline(null);     // an old outline of 修改记录 goes with its popup
    if (app.selection && hits.some((x) => x.layer === app.selection.layer && x.id === app.selection.id)) app.select(null);
    else app.onViewChange();
  });
  return popup;
}

async function popupContent(app, hit) {
  const layer = app.catalog.byId.get(hit.layer) || { title_zh: hit.layer, group: '' };
  const feature = await getJSON(`/collections/${encodeURIComponent(hit.layer)}/items/${encodeURIComponent(hit.id)}?${qs({ f: 'json' })}`);
  const p = feature.properties || {};
  const rows = [];
  rows.push(['分组', layer.group || '—']);
  rows.push(['图层', layer.title_zh]);
  rows.push(['规划章节', p.source || layer.plan_section || '—']);
  const polygonal = /Polygon/.test(layer.geometry_type || feature.geometry?.type || '');
  if (polygonal) {
    const area = await featureArea(app, hit.layer, hit.id);
    const shown = areaDisplay(area, p.accuracy_m ?? layer.accuracy_m);
    rows.push(['图斑面积', shown
      ? h('span', { class: 'area', dataset: { approx: shown.approx ? '1' : '0' } }, shown.text,
        h('span', { class: 'fig-text' }, shown.approx
          ? `（椭球面积；轮廓误差 ±${fmt(p.accuracy_m ?? layer.accuracy_m, 0)} 米，面积不确定度约 ${fmt(shown.uncertaintyMu, 0)} 亩，仅供参考）`
          : '（椭球面积）'))
      : h('span', { class: 'hint' }, '服务器未提供面积')]);
  }
  for (const [key, label] of [['functions', '功能'], ['park_type', '园区类型'], ['current_use', '现状用途'],
    ['planned_use', '规划用途'], ['status', '实施状态'], ['year', '年度'], ['park', '所在园区']]) {
    if (p[key] !== undefined && p[key] !== null && p[key] !== '') rows.push([label, String(p[key])]);
  }
  const figs = parseFigures(p.figures);
  let lastText = null;
  const figRows = figs.map((f) => {
    const kind = f.kind === 'floor_area' || f.kind === 'demolition_floor_area'
      ? `${FIGURE_KIND_ZH[f.kind]}（非用地面积）` : (FIGURE_KIND_ZH[f.kind] || f.kind || '数据');
    const value = figureText(f.value, f.unit);
    const quote = f.text && f.text !== lastText ? h('div', { class: 'fig-text' }, `“${f.text}”`) : null;
    lastText = f.text || lastText;
    return h('tr', {}, h('th', {}, kind), h('td', {}, value ? h('div', {}, value) : null, quote));
  });
  const meta = h('div', { class: 'meta' }, h('span', {}, layer.title_zh));
  if (truthy(p.schematic) || (p.schematic === undefined && layer.schematic)) meta.append(h('span', { class: 'badge schematic' }, `示意 ±${p.accuracy_m ?? layer.accuracy_m ?? '—'}米`));
  if (truthy(p.illustrative) || (p.illustrative === undefined && layer.illustrative)) meta.append(h('span', { class: 'badge illustrative' }, '示例'));

  const table = h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))));
  const out = h('div', { class: 'pop', dataset: { layer: hit.layer, feature: hit.id } },
    h('h3', {}, p.name || hit.id), meta, table);
  if (figRows.length) out.append(h('div', { class: 'section' }, '规划数据'), h('table', {}, figRows));
  if (p.note) out.append(h('div', { class: 'note', role: 'note' }, `注：${p.note}`));
  if (figs.some((f) => /floor_area/.test(f.kind || ''))) {
    out.append(h('div', { class: 'note floor-note' }, '注：建筑面积是楼面面积之和，不是用地面积，不能与上面的图斑面积比较。'));
  }
  const inds = await linkedIndicators(app, hit.layer, hit.id).catch(() => []);
  if (inds.length) {
    out.append(h('div', { class: 'section' }, '相关指标'), h('table', {}, inds.slice(0, 8).map((r) =>
      h('tr', {}, h('th', { title: r.name }, r.name), h('td', {},
        `${withUnit(r.value_2020_text, r.value_2020, r.unit)} → ${withUnit(r.target_text, r.target, r.unit)}`)))));
  }
  const where = h('div', { class: 'more placement' }, h('b', {}, '定位依据：'), placementZh(p, layer));
  if (p.placement) where.append(h('details', {}, h('summary', {}, '数据的原始定位说明'), h('div', { lang: 'en' }, p.placement)));
  out.append(where);
  // 修改记录 and 编辑 (issue 13)
  const tools = h('div', { class: 'pop-tools' });
  if (mayEdit(store.get('user'), hit.layer) && app.edit) {
    tools.append(h('button', { type: 'button', class: 'pop-edit', onclick: () => { app.edit.enter(hit.layer); app.edit.open(hit.layer, hit.id); } }, '编辑此要素'));
  }
  out.append(tools, historySection(app, hit.layer, hit.id));
  return out;
}

/** "100万平方米" stays as it is; a bare number gets its unit ("100 万平方米"), never the unit twice. */
export function withUnit(text, value, unit) {
  if (text !== null && text !== undefined && text !== '') {
    return unit && !String(text).includes(unit) ? `${text} ${unit}` : String(text);
  }
  if (value === null || value === undefined) return '—';
  return `${fmt(value, 2)}${unit ? ` ${unit}` : ''}`;
}

/** What the map shows under a click, as [{layer, id, name}] (top layer first, one entry per feature). */
export function hitsAt(app, point) {
  const layers = app.layers.interactiveLayers();
  if (!layers.length) return [];
  const pad = 4;
  const feats = app.map.queryRenderedFeatures([[point.x - pad, point.y - pad], [point.x + pad, point.y + pad]], { layers });
  const seen = new Set();
  const out = [];
  for (const f of feats) {
    const cid = app.catalogIdOfStyleLayer(f.layer.id);
    const fid = featureIdOf(f);
    if (!cid || fid === undefined) continue;
    const key = `${cid}/${fid}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ layer: cid, id: String(fid), name: f.properties?.name });
  }
  // plan layers before context layers
  const rank = (x) => (app.catalog.byId.get(x.layer)?.group === '背景' ? 1 : 0);
  return out.sort((a, b) => rank(a) - rank(b));
}

export function reportError(err) { setStatus(`出错：${err.message}`, { error: true }); }

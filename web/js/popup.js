// Click a feature: name, group, plan section, the figures the plan states for it (with units), its land area in
// 亩 and 公顷 (from the server), and the indicators linked to it.

import { getJSON, qs } from './api.js';
import { h, fmt, figureText, FIGURE_KIND_ZH, setStatus } from './util.js';

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
  return { mu: a.area, ha: b?.area ?? null, m2: a.area_m2 };
}

export async function linkedIndicators(app, layerId, fid) {
  const all = await app.indicators();
  return all.filter((r) => r.layer_id === layerId && (!r.feature_id || String(r.feature_id) === String(fid)));
}

export async function openFeaturePopup(app, lngLat, hits) {
  if (!hits.length) return;
  let i = 0;
  const popup = new maplibregl.Popup({ maxWidth: 'none', focusAfterOpen: false })
    .setLngLat(lngLat).setDOMContent(h('div', { class: 'pop' }, h('div', { class: 'loading' }, '正在读取…'))).addTo(app.map);
  const show = async () => {
    const hit = hits[i];
    try {
      const body = await popupContent(app, hit);
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
  popup.on('close', () => { if (app.selection && hits.some((x) => x.layer === app.selection.layer && x.id === app.selection.id)) app.select(null); });
  app.currentPopup = popup;
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
    rows.push(['用地面积', area
      ? h('span', { class: 'area' }, `${fmt(area.mu, 1)} 亩 · ${fmt(area.ha, 2)} 公顷`, h('span', { class: 'fig-text' }, '（椭球面积）'))
      : h('span', { class: 'hint' }, '服务器未提供面积')]);
  }
  for (const [key, label] of [['functions', '功能'], ['park_type', '园区类型'], ['current_use', '现状用途'],
    ['planned_use', '规划用途'], ['status', '实施状态'], ['year', '年度'], ['park', '所在园区']]) {
    if (p[key] !== undefined && p[key] !== null && p[key] !== '') rows.push([label, String(p[key])]);
  }
  const figs = parseFigures(p.figures);
  let lastText = null;
  const figRows = figs.map((f) => {
    const kind = FIGURE_KIND_ZH[f.kind] || f.kind || '数据';
    const value = figureText(f.value, f.unit);
    const quote = f.text && f.text !== lastText ? h('div', { class: 'fig-text' }, `“${f.text}”`) : null;
    lastText = f.text || lastText;
    return h('tr', {}, h('th', {}, kind), h('td', {}, value ? h('div', {}, value) : null, quote));
  });
  const meta = h('div', { class: 'meta' }, h('span', {}, layer.title_zh));
  if (truthy(p.schematic) || layer.schematic) meta.append(h('span', { class: 'badge schematic' }, `示意 ±${p.accuracy_m ?? layer.accuracy_m ?? '—'}米`));
  if (truthy(p.illustrative) || layer.illustrative) meta.append(h('span', { class: 'badge illustrative' }, '示例'));

  const table = h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))));
  const out = h('div', { class: 'pop', dataset: { layer: hit.layer, feature: hit.id } },
    h('h3', {}, p.name || hit.id), meta, table);
  if (figRows.length) out.append(h('div', { class: 'section' }, '规划数据'), h('table', {}, figRows));
  const inds = await linkedIndicators(app, hit.layer, hit.id).catch(() => []);
  if (inds.length) {
    out.append(h('div', { class: 'section' }, '相关指标'), h('table', {}, inds.slice(0, 8).map((r) =>
      h('tr', {}, h('th', { title: r.name }, r.name), h('td', {},
        `${r.value_2020_text ?? fmt(r.value_2020)} → ${r.target_text ?? fmt(r.target)} ${r.unit || ''}`)))));
  }
  if (p.placement) out.append(h('div', { class: 'more' }, `定位依据：${p.placement}`));
  return out;
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

// A search hit in the indicator tables (表1 / 表2 / 正文) has no place on the map: it opens a card with the
// indicator itself (2020 value, target, unit, 约束性/预期性, source), read from GET /indicators (the rows the
// 指标 panel shows), with a link to the 指标 panel and, when the row belongs to a mapped feature, to that feature.

import { $, h, setStatus } from './util.js';

const TABLE_ZH = { 表1: '表1 “十三五”完成情况', 表2: '表2 “十四五”指标体系', 正文: '正文目标' };

export async function showIndicator(app, id) {
  let rows;
  try { rows = await app.indicators(); } catch (err) { setStatus(`无法读取指标：${err.message}`, { error: true }); return; }
  const r = rows.find((x) => String(x.id) === String(id));
  if (!r) { setStatus(`指标 ${id} 不存在`, { error: true }); return; }
  const dlg = dialog();
  const unit = r.unit ? `（${r.unit}）` : '';
  const value = (text, v, q) => (text ?? (v === null || v === undefined ? '—' : String(v))) + (q ? ` ${q}` : '');
  const facts = [
    ['所属', `${TABLE_ZH[r.table] || r.table || '正文'}${r.category ? ` · ${r.category}` : ''}`],
    ['2020 年', value(r.value_2020_text, r.value_2020, r.value_2020_qualifier)],
    [`${r.target_year || ''} 目标`.trim(), value(r.target_text, r.target, r.target_qualifier)],
    r.growth_text ? ['年均增长', r.growth_text] : null,
    r.actual_growth_text ? ['实际增长', r.actual_growth_text] : null,
    r.attribute ? ['指标属性', r.attribute] : null,
    ['出处', r.source || '—'],
    r.text ? ['原文', r.text] : null,
  ].filter(Boolean);
  const goPanel = h('button', { type: 'button', class: 'secondary', onclick: () => { dlg.close(); app.showTab('indicators'); } }, '在指标面板中查看');
  const goMap = r.layer_id && r.feature_id
    ? h('button', { type: 'button', class: 'secondary', onclick: () => { dlg.close(); app.select({ layer: r.layer_id, id: String(r.feature_id) }, { zoom: true }); } }, '在地图上定位')
    : null;
  dlg.replaceChildren(
    h('h3', {}, `${r.name}${unit}`,
      r.illustrative ? h('span', { class: 'badge illustrative', title: '示例：说明性数据，不是规划给定的数字' }, '示例') : null),
    h('dl', { class: 'indicator-facts', dataset: { id: String(r.id) } }, facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('menu', {}, goMap, goPanel, h('button', { type: 'button', class: 'primary', onclick: () => dlg.close() }, '关闭')));
  dlg.showModal();
}

function dialog() {
  let dlg = $('#dlg-indicator');
  if (!dlg) {
    dlg = h('dialog', { id: 'dlg-indicator', class: 'dialog', 'aria-label': '指标' });
    document.body.append(dlg);
  }
  return dlg;
}

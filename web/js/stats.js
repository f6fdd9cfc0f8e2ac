// The statistics panel: area by group and by park, the 5000亩 low-efficiency land programme as a progress bar
// (the indicator panel is monitor.js). Every number comes from the server's /stats and /indicators
// endpoints; JavaScript only lays them out.

import { getJSON } from './api.js';
import { h, fmt } from './util.js';


/** The first array found in a response ({groups:[…]}, {items:[…]}, or a bare list). */
function rowsOf(resp, ...keys) {
  if (Array.isArray(resp)) return resp;
  for (const k of [...keys, 'items', 'rows', 'features', 'layers', 'groups', 'data']) if (Array.isArray(resp?.[k])) return resp[k];
  return [];
}
const areaOf = (r) => Number(r.union_area ?? r.area ?? r.area_mu ?? r.value ?? 0);

function bars(rows, { unit = '亩', digits = 0, onClick } = {}) {
  const max = Math.max(...rows.map((r) => r.value), 1);
  const grid = h('div', { class: 'bars' });
  for (const r of rows) {
    const lbl = h('span', { class: 'lbl', title: r.label }, r.label);
    if (onClick && r.ref) { lbl.style.cursor = 'pointer'; lbl.style.color = 'var(--brand)'; lbl.addEventListener('click', () => onClick(r.ref)); }
    grid.append(lbl,
      h('span', { class: 'bar' }, h('span', { style: { width: `${(100 * r.value) / max}%`, background: r.colour || '' } })),
      h('span', { class: 'val' }, `${fmt(r.value, digits)} ${unit}`));
  }
  return grid;
}

export async function renderStats(app, container) {
  container.replaceChildren();
  const progressBox = h('section', { class: 'stat-block', id: 'stat-progress' }, h('h3', {}, '5000亩低效用地再利用'), h('div', { class: 'loading' }, '加载中…'));
  const groupBox = h('section', { class: 'stat-block', id: 'stat-groups' }, h('h3', {}, '各板块用地面积'), h('div', { class: 'loading' }, '加载中…'));
  const parkBox = h('section', { class: 'stat-block', id: 'stat-parks' }, h('h3', {}, '各园区用地面积'), h('div', { class: 'loading' }, '加载中…'));
  container.append(progressBox, groupBox, parkBox,
    h('p', { class: 'hint' }, '面积为 CGCS2000 椭球面积，由服务器按图层几何计算；示意图层的面积仅供参考。'));

  await Promise.all([
    renderProgress(app, progressBox),
    getJSON('/stats/groups?unit=mu').then((resp) => {
      const rows = rowsOf(resp, 'groups').map((r) => ({ label: r.group ?? r.name ?? r.title_zh, value: areaOf(r) }))
        .filter((r) => r.label && r.label !== '背景' && r.label !== '指标' && r.value > 0);
      groupBox.lastChild.replaceWith(rows.length ? bars(rows) : h('p', { class: 'hint' }, '暂无数据'));
    }).catch((e) => groupBox.lastChild.replaceWith(h('p', { class: 'error' }, `无法读取 /stats/groups：${e.message}`))),
    getJSON('/stats/layers/parks?unit=mu').then((resp) => {
      const rows = rowsOf(resp, 'features').map((r) => ({ label: r.name ?? r.id, value: areaOf(r), ref: { layer: 'parks', id: String(r.id ?? r.feature_id) } }))
        .filter((r) => r.value > 0).sort((a, b) => b.value - a.value);
      parkBox.lastChild.replaceWith(rows.length ? bars(rows, { onClick: (ref) => app.select(ref, { zoom: true }) }) : h('p', { class: 'hint' }, '暂无数据'));
    }).catch((e) => parkBox.lastChild.replaceWith(h('p', { class: 'error' }, `无法读取 /stats/layers/parks：${e.message}`))),
  ]);
}

async function renderProgress(app, box) {
  let p;
  try { p = await getJSON('/stats/progress'); } catch (e) {
    box.lastChild.replaceWith(h('p', { class: 'error' }, `无法读取 /stats/progress：${e.message}`)); return;
  }
  const prog = p.land || p.low_efficiency_land || p;
  const target = Number(prog.target_mu ?? prog.target ?? 5000);
  const byStatusRaw = prog.by_status ?? prog.status ?? {};
  const byStatus = Array.isArray(byStatusRaw)
    ? Object.fromEntries(byStatusRaw.map((r) => [r.status ?? r.name, Number(r.area_mu ?? r.area ?? r.value ?? 0)]))
    : Object.fromEntries(Object.entries(byStatusRaw).map(([k, v]) => [k, Number(typeof v === 'object' ? (v.area_mu ?? v.area ?? v.value) : v)]));
  const done = Number(prog.achieved_mu ?? byStatus['已完成'] ?? 0);
  const doing = Number(prog.in_progress_mu ?? byStatus['实施中'] ?? 0);
  const notStarted = Number(prog.not_started_mu ?? byStatus['未启动'] ?? 0);
  const remaining = Number(prog.remaining_mu ?? Math.max(target - done, 0));
  const identified = Number(prog.identified_mu ?? done + doing + notStarted);
  const unplaced = Math.max(target - identified, 0);
  const pct = (v) => `${Math.max(0, Math.min(100, (100 * v) / target))}%`;
  const seg = (cls, v, title, colour) => h('span', { class: cls, style: { width: pct(v), ...(colour ? { background: colour } : {}) }, title });
  const example = prog.illustrative !== false;
  const exampleBadge = () => (example
    ? h('span', { class: 'badge illustrative', title: '示例数据：地块、状态和年份为示例，不是规划内容；规划只给出 5000 亩总目标' }, '示例')
    : null);
  const body = h('div', { class: example ? 'progress-example' : '' },
    h('div', { class: 'big-figure' },
      h('span', {}, '目标'), h('span', { class: 'num', id: 'progress-target' }, fmt(target, 0)), h('span', { class: 'unit' }, '亩'),
      h('span', { style: { marginLeft: '1em' } }, '已完成'), exampleBadge(), h('span', { class: 'num', style: { color: 'var(--ok)' }, id: 'progress-done' }, fmt(done, 0)), h('span', { class: 'unit' }, '亩'),
      h('span', { class: 'unit' }, `（${fmt(prog.percent ?? (100 * done) / target, 1)}%${example ? '，示例' : ''}）`)),
    h('div', { class: 'progress', id: 'progress-bar', title: `已完成 ${fmt(done, 1)} 亩 · 实施中 ${fmt(doing, 1)} 亩 · 未启动 ${fmt(notStarted, 1)} 亩 · 尚未落图 ${fmt(unplaced, 1)} 亩` },
      seg('done', done, `已完成 ${fmt(done, 1)} 亩`),
      seg('doing', doing, `实施中 ${fmt(doing, 1)} 亩`),
      seg('idle', notStarted, `未启动 ${fmt(notStarted, 1)} 亩`, '#9fb3c8'),
      h('span', { class: 'todo', style: { flex: '1' }, title: `尚未落图 ${fmt(unplaced, 1)} 亩` })),
    h('div', { class: 'progress-legend' },
      h('span', {}, h('i', { style: { background: 'var(--ok)' } }), `已完成 ${fmt(done, 0)}`),
      h('span', {}, h('i', { style: { background: 'var(--warn)' } }), `实施中 ${fmt(doing, 0)}`),
      h('span', {}, h('i', { style: { background: '#9fb3c8' } }), `未启动 ${fmt(notStarted, 0)}`),
      h('span', {}, h('i', { style: { background: 'repeating-linear-gradient(135deg, #d5dbe3 0 3px, #eef1f4 3px 6px)' } }), `尚未落图 ${fmt(unplaced, 0)}`)),
    h('div', { class: 'hint', style: { marginTop: '.3em' } },
      `剩余 ${fmt(remaining, 0)} 亩待完成（统计至 ${prog.year ?? ''} 年）`,
      prog.planned_mu !== undefined ? `；按规划路径（匀速）应完成 ${fmt(prog.planned_mu, 0)} 亩，${prog.on_track ? '达到规划路径' : '落后于规划路径'}` : ''),
  );
  const byYearRaw = prog.by_year ?? prog.years ?? [];
  const byYear = (Array.isArray(byYearRaw) ? byYearRaw : []).filter((r) => r.year !== null && r.year !== undefined);
  if (byYear.length) {
    body.append(h('h4', { style: { fontSize: '.9em', margin: '.7em 0 .3em', color: 'var(--muted)' } }, '按年度（绿：当年完成，橙：当年计划实施中；右侧为累计完成）'),
      yearChart(byYear, target));
  }
  const byPark = (prog.by_park || []).filter((r) => r.park);
  if (byPark.length) {
    const max = Math.max(...byPark.map((r) => Number(r.area_mu || 0)), 1);
    const grid = h('div', { class: 'bars', id: 'progress-parks' });
    for (const r of byPark) {
      grid.append(h('span', { class: 'lbl', title: r.park }, r.park),
        h('span', { class: 'bar', style: { display: 'flex' } },
          h('span', { style: { width: `${(100 * (r.achieved_mu || 0)) / max}%`, background: 'var(--ok)' } }),
          h('span', { style: { width: `${(100 * ((r.area_mu || 0) - (r.achieved_mu || 0))) / max}%`, background: '#9fb3c8' } })),
        h('span', { class: 'val' }, `${fmt(r.achieved_mu, 0)} / ${fmt(r.area_mu, 0)} 亩`));
    }
    body.append(h('h4', { style: { fontSize: '.9em', margin: '.7em 0 .3em', color: 'var(--muted)' } }, '按园区：已完成 / 已落图地块'), grid);
  }
  if (prog.illustrative !== false) {
    body.append(h('p', { class: 'hint' }, h('span', { class: 'badge illustrative' }, '示例'),
      ' 规划只给出 5000 亩总目标；地块、状态与年度为示例数据。'));
  }
  if (example) box.querySelector('h3').append(h('span', { class: 'h-note' }, '（目标为规划值，进度为示例）'));
  box.lastChild.replaceWith(body);
}

/** Per year: completed (green) and in-progress (orange) 亩, and the cumulative completion against the target. */
function yearChart(rows, target) {
  const max = Math.max(...rows.map((r) => Number(r.completed_mu ?? 0) + Number(r.in_progress_mu ?? 0)), 1);
  const grid = h('div', { class: 'bars', id: 'progress-years' });
  for (const r of rows) {
    const done = Number(r.completed_mu ?? r.area_mu ?? 0), doing = Number(r.in_progress_mu ?? 0);
    const cum = r.cumulative_completed_mu;
    grid.append(h('span', { class: 'lbl' }, `${r.year}年`),
      h('span', { class: 'bar', style: { display: 'flex' }, title: `当年完成 ${fmt(done, 1)} 亩，实施中 ${fmt(doing, 1)} 亩` },
        h('span', { style: { width: `${(100 * done) / max}%`, background: 'var(--ok)' } }),
        h('span', { style: { width: `${(100 * doing) / max}%`, background: 'var(--warn)' } })),
      h('span', { class: 'val' }, cum !== undefined && cum !== null ? `累计 ${fmt(cum, 0)} / ${fmt(target, 0)} 亩` : `${fmt(done, 0)} 亩`));
  }
  return grid;
}

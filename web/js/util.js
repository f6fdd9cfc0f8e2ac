// Small DOM and formatting helpers (no maths on geometry here: areas come from the server).

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function escapeHtml(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

const nf = (digits) => new Intl.NumberFormat('zh-CN', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
export function fmt(value, digits = 1) {
  if (value === null || value === undefined || value === '' || Number.isNaN(Number(value))) return '—';
  return nf(digits).format(Number(value));
}

export const UNIT_ZH = {
  m2: '平方米', km2: '平方公里', mu: '亩', ha: '公顷', year: '年', count: '个', m: '米', km: '公里',
  percent: '%', '%': '%', yuan: '元', wan_m2: '万平方米', '万m2': '万平方米', '亿元': '亿元', '万元': '万元',
};
export const FIGURE_KIND_ZH = {
  land_area: '用地面积', floor_area: '建筑面积', demolition_floor_area: '拆除建筑面积', pv_area: '光伏面积',
  target: '目标', year: '年份', count: '数量',
};

export function unitZh(u) { return UNIT_ZH[u] ?? (u || ''); }

/** A figure the plan states, as the plan would write it: 74000 m2 → "7.4 万平方米", 0.8 km2 → "0.8 平方公里". */
export function figureText(value, unit) {
  if (value === null || value === undefined) return '';
  if (unit === 'm2' && Math.abs(value) >= 10000) return `${fmt(value / 10000, 2)} 万平方米`;
  if (unit === 'year') return `${value} 年`;
  return `${fmt(value, 2)} ${unitZh(unit)}`;
}

export function setStatus(msg, { error = false, timeout = 6000 } = {}) {
  const el = document.getElementById('status-msg');
  if (!el) return;
  el.textContent = msg || '';
  el.classList.toggle('error', !!error);
  clearTimeout(setStatus._t);
  if (msg && timeout) setStatus._t = setTimeout(() => { el.textContent = ''; }, timeout);
}

export function debounce(fn, ms) {
  let t; return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

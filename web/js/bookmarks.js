// 书签 (saved views): the current view — centre, zoom, bearing, visible layers, their opacity, the basemap — saved
// with a name and a note in this browser's localStorage; listed, opened, deleted, and shared as a link whose hash
// carries the note (hash.js `note=`). Opening such a link shows the note once, over the map.

import { readHash, hashFor } from './hash.js';
import { $, h, setStatus } from './util.js';

export const STORAGE_KEY = 'kfqmap.bookmarks';
const MAX_BOOKMARKS = 200;

export function loadBookmarks() {
  try {
    const list = JSON.parse(localStorage.getItem(STORAGE_KEY) || '[]');
    return Array.isArray(list) ? list.filter((b) => b && Array.isArray(b.center) && Number.isFinite(b.zoom)) : [];
  } catch { return []; }
}

function storeBookmarks(list) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(list));
}

export class Bookmarks {
  constructor(app) {
    this.app = app;
    this.dialog = this.build();
    $('#btn-bookmarks')?.addEventListener('click', () => this.open());
    const note = readHash().note;                    // read before the viewer rewrites the hash
    if (note) this.showNote(note);
    window.addEventListener('hashchange', () => { const n = readHash().note; if (n) this.showNote(n); });
  }

  // ------------------------------------------------------------------ state
  /** The current view as a bookmark body (map coordinates: GCJ-02 while the AMap basemap is on). */
  current() {
    const { map, layers } = this.app;
    const c = map.getCenter();
    return {
      center: [round(c.lng, 6), round(c.lat, 6)], zoom: round(map.getZoom(), 2), bearing: round(map.getBearing(), 1),
      layers: layers.visibleIds(),
      opacity: Object.fromEntries([...layers.opacity].filter(([, v]) => v < 0.995).map(([k, v]) => [k, round(v, 2)])),
      base: this.app.base,
    };
  }

  save(name, note) {
    const list = loadBookmarks();
    const bm = { id: `bm-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`, name: name.trim(),
      note: (note || '').trim(), created: new Date().toISOString(), ...this.current() };
    list.unshift(bm);
    try { storeBookmarks(list.slice(0, MAX_BOOKMARKS)); } catch (err) {
      setStatus(`书签无法保存（浏览器存储不可用或已满）：${err.message}`, { error: true });
      return null;
    }
    setStatus(`已保存书签“${bm.name}”`);
    return bm;
  }

  remove(id) {
    storeBookmarks(loadBookmarks().filter((b) => b.id !== id));
  }

  /** Go to a saved view: basemap, layers and their opacity, then the camera. */
  async go(bm) {
    const app = this.app;
    if (bm.base && bm.base !== app.base) await app.setBasemap(bm.base);
    const known = (bm.layers || []).filter((id) => app.catalog.byId.has(id));
    const missing = (bm.layers || []).filter((id) => !app.catalog.byId.has(id));
    for (const l of app.catalog.layers) {
      if (l.geometry_type === 'None') continue;
      const on = known.includes(l.id);
      if (on !== app.layers.visible.has(l.id)) app.layers.setVisible(l.id, on);
      const op = bm.opacity?.[l.id] ?? 1;
      if ((app.layers.opacity.get(l.id) ?? 1) !== op) app.layers.setOpacity(l.id, op);
    }
    app.layers.renderPanel($('#layer-groups'));     // checkboxes and sliders show the restored state
    app.map.jumpTo({ center: bm.center, zoom: bm.zoom, bearing: bm.bearing || 0 });
    app.onViewChange();
    setStatus(missing.length ? `书签中的图层不存在：${missing.join('、')}（已忽略）` : `已打开书签“${bm.name}”`, { error: missing.length > 0 });
  }

  linkFor(bm) {
    return `${location.origin}${location.pathname}${hashFor({ ...bm, note: bm.note || bm.name })}`;
  }

  // ------------------------------------------------------------------ the dialog
  build() {
    const name = h('input', { type: 'text', name: 'name', id: 'bookmark-name', maxlength: '60', required: true, autocomplete: 'off', placeholder: '如：青阳港片区 2023 进度' });
    const note = h('textarea', { name: 'note', id: 'bookmark-note', maxlength: '500', rows: '2', placeholder: '附言（随链接一起发送，打开链接时显示）' });
    const saveBtn = h('button', { type: 'submit', class: 'primary', id: 'btn-bookmark-save' }, '保存当前视图');
    const form = h('form', { class: 'bookmark-form' }, h('label', {}, '名称', name), h('label', {}, '附言', note), h('menu', {}, saveBtn));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!name.value.trim()) { name.focus(); return; }
      if (this.save(name.value, note.value)) { name.value = ''; note.value = ''; this.renderList(); }
    });
    this.list = h('ul', { class: 'bookmark-list', id: 'bookmark-list', 'aria-label': '已保存的书签' });
    this.linkBox = h('input', { type: 'text', id: 'bookmark-link', readonly: true, 'aria-label': '分享链接', hidden: true });
    const dlg = h('dialog', { id: 'dlg-bookmarks', class: 'dialog bookmarks', 'aria-labelledby': 'bookmarks-title' },
      h('h3', { id: 'bookmarks-title' }, '书签（保存的视图）'),
      h('p', { class: 'hint' }, '保存当前的位置、比例、可见图层、透明度和底图；书签存在本浏览器中。分享链接带附言。'),
      form, this.list, this.linkBox,
      h('menu', {}, h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, '关闭')));
    document.body.append(dlg);
    return dlg;
  }

  open() {
    this.linkBox.hidden = true;
    this.renderList();
    this.dialog.showModal();
  }

  renderList() {
    const list = loadBookmarks();
    if (!list.length) { this.list.replaceChildren(h('li', { class: 'hint' }, '还没有书签。')); return; }
    this.list.replaceChildren(...list.map((bm) => h('li', { dataset: { id: bm.id } },
      h('div', { class: 'bm-title' }, h('b', {}, bm.name), h('span', { class: 'hint' }, ` ${new Date(bm.created).toLocaleString('zh-CN')} · 缩放 ${bm.zoom} · ${bm.layers.length} 个图层`)),
      bm.note ? h('div', { class: 'bm-note' }, bm.note) : null,
      h('div', { class: 'bm-actions' },
        h('button', { type: 'button', class: 'bm-go', onclick: () => { this.dialog.close(); this.go(bm); } }, '前往'),
        h('button', { type: 'button', class: 'bm-link', onclick: () => this.share(bm) }, '分享链接'),
        h('button', { type: 'button', class: 'bm-del', 'aria-label': `删除书签 ${bm.name}`, onclick: () => { this.remove(bm.id); this.renderList(); } }, '删除')))));
  }

  async share(bm) {
    const url = this.linkFor(bm);
    this.linkBox.value = url;
    this.linkBox.hidden = false;
    this.linkBox.select();
    try { await navigator.clipboard.writeText(url); setStatus('已复制书签链接（含附言）'); } catch { setStatus('请复制对话框中的链接'); }
  }

  // ------------------------------------------------------------------ a shared link's note
  showNote(text) {
    let box = $('#link-note');
    if (!box) {
      box = h('div', { id: 'link-note', class: 'link-note', role: 'status' });
      $('.map-wrap').append(box);
    }
    box.replaceChildren(h('b', {}, '链接附言：'), h('span', { class: 'link-note-text' }, text),
      h('button', { type: 'button', class: 'link-note-close', 'aria-label': '关闭附言', title: '关闭', onclick: () => { box.hidden = true; } }, '×'));
    box.hidden = false;
  }
}

function round(v, digits) { const k = 10 ** digits; return Math.round(v * k) / k; }

// 编辑 mode: for a logged-in 编辑/管理 user, on the layers the server lets them change. Pick a feature on the map (or
// 新建 to draw one), change its outline by dragging vertices (snapping to other features' vertices or edges) and its
// attributes in a form generated from the layer's queryables, then 保存: a new feature is POSTed, a changed one is
// PATCHed (JSON merge patch of what changed) with If-Match = the ETag it was read with. 撤销 undoes the current
// edit step by step; 删除 asks first; 合并… absorbs a neighbour, 分割… cuts the polygon along a drawn line (editsplit.js).
// On 412 (someone saved the feature since it was read) the panel shows their version beside this one and offers to
// apply these changes on top of theirs. After a save the layer's tiles, the statistics and the highlighted selection
// are refreshed.

import {
  getItemVersioned, getEditSchema, createItem, patchItem, deleteItem, getHistory, transaction, ApiError,
} from './api.js';
import { store } from './store.js';
import { $, h, setStatus } from './util.js';
import { mayEdit } from './auth.js';
import { buildForm, fieldsOf, fieldLabel, formValues, propertiesPatch, sameValue } from './editform.js';
import { cloneGeometry, combinePolygons, drawKind, geometryProblems, sameGeometry } from './geomedit.js';
import { EditCanvas } from './editmap.js';
import { SplitTool } from './editsplit.js';
import { hitsAt } from './popup.js';
import { renderStats } from './stats.js';
import { historyEntries } from './history.js';

const KIND_ZH = { point: '点', line: '线', polygon: '面' };
const DRAW_HINT = {
  point: '单击地图放置新点；Esc 取消',
  line: '单击添加节点，双击结束（或按 Enter）；靠近其他要素的顶点或边时自动吸附；Esc 取消',
  polygon: '单击添加顶点，双击或单击起点结束；靠近其他要素的顶点或边时自动吸附；Esc 取消',
};
const EDIT_HINT = '拖动顶点修改形状（自动吸附到附近要素的顶点或边），拖动边中点可加点，双击顶点删除；Ctrl+Z 撤销';
const VERTEX_HINT = '已选中顶点：方向键移动 1 像素（Shift 加方向键 10 像素），Delete 删除；Esc 取消选中';

export class EditMode {
  constructor(app) {
    this.app = app;
    this.active = false;
    this.layerId = null;
    this.schemas = new Map();       // layer → write schema (or queryables)
    this.reset();
    this.canvas = new EditCanvas(app, {
      onChange: (g, { final, before }) => this.onGeometry(g, { final, before }),
      onDrawn: (g) => this.onDrawn(g),
      onPick: (e) => this.pick(e),
      onRefuse: (msg) => this.message(msg, 'error'),
      onSelectVertex: (sel) => { if (this.active && !this.merging && !this.splitter?.active) this.hint(sel ? VERTEX_HINT : EDIT_HINT); },
      exclude: () => (this.fid ? { layer: this.layerId, id: this.fid } : null),
      layers: () => this.app.layers.interactiveLayers(),
    });
    this.splitter = new SplitTool(this);
  }

  get editHint() { return EDIT_HINT; }

  /** No feature open: nothing to save. */
  reset() {
    this.fid = null;          // the feature's id; null for a new one (not yet saved)
    this.etag = null;         // the version it was read with (If-Match)
    this.original = null;     // {geometry, properties} as the server has it
    this.draft = null;        // {geometry, properties} being edited
    this.undo = [];           // earlier drafts of this edit
    this.form = null;
    this.conflict = null;
    this.merging = false;     // 合并: the next click picks the neighbour
    this.splitter?.clear();   // 分割: a cutting line belongs to the feature it was drawn over
  }

  get map() { return this.app.map; }
  get session() { return store.get('user') || null; }

  /** Layers this user may edit (spatial catalog layers the session allows). */
  editableLayers() {
    return this.app.catalog.layers.filter((l) => l.geometry_type && l.geometry_type !== 'None' && mayEdit(this.session, l.id));
  }

  /** After every style load. A basemap switch between WGS 84 and GCJ-02 changes the map's coordinates: the open
   *  feature is read again in the new ones (unsaved changes are dropped, with a message). */
  install() {
    this.canvas.install();
    if (this.active && this.crs && this.crs !== this.app.crs) {
      this.canvas.cancelDrawing();
      if (this.fid) {
        const [layer, fid] = [this.layerId, this.fid];
        this.open(layer, fid).then(() => this.message('底图坐标系已切换，已按新坐标重新读取要素（未保存的修改已放弃）'));
      } else { this.reset(); this.canvas.setGeometry(null); this.renderPanel(); }
    }
    this.crs = this.app.crs;
  }

  bind() {
    this.canvas.bind();
    $('#btn-edit').addEventListener('click', () => (this.active ? this.exit() : this.enter()));
    // another tool (点选, 多边形 …) ends 编辑 mode
    // (unless there are unsaved changes the user keeps: then the tool does not switch either)
    for (const b of document.querySelectorAll('.toolbar .tool')) {
      b.addEventListener('click', (e) => { if (this.active && !this.exit({ keepTool: true })) e.stopImmediatePropagation(); }, true);
    }
    store.on('user', () => this.onSession());
    document.addEventListener('keydown', (e) => {
      if (!this.active) return;
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName || '');
      if (e.key === 'Escape' && this.merging) { this.merging = false; this.hint(EDIT_HINT); this.message('已取消合并'); }
      else if (e.key === 'Escape' && this.splitter.active) this.splitter.cancel();
      else if (e.key === 'Enter' && this.canvas.drawing && !typing) { e.preventDefault(); this.canvas.finishDrawing(); }
      else if (!typing && this.canvas.onKey(e)) e.preventDefault();      // a selected vertex: arrows, Delete, Esc
      else if (e.key === 'Escape' && this.canvas.drawing) { this.canvas.cancelDrawing(); this.hint(this.draft ? EDIT_HINT : '单击要素开始编辑，或点“新建”绘制新要素'); }
      else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z' && !typing) { e.preventDefault(); this.undoStep(); }
    });
    this.onSession();
  }

  onSession() {
    const layers = this.editableLayers();
    $('#btn-edit').hidden = !layers.length;
    if (this.active && !layers.length) this.exit();
    else if (this.active) {
      if (this.form && this.draft) this.readForm();     // what was typed survives the redraw (e.g. after a new login)
      this.renderPanel();
    }
  }

  // ------------------------------------------------------------------ mode
  enter(layerId = null) {
    const layers = this.editableLayers();
    if (!layers.length) { setStatus('当前用户没有可编辑的图层', { error: true }); return; }
    this.active = true;
    this.canvas.active = true;
    // the layer asked for, else the one edited last, else the first editable layer on the map
    const ok = (id) => id && layers.some((l) => l.id === id);
    this.layerId = ok(layerId) ? layerId : ok(this.layerId) ? this.layerId
      : (layers.find((l) => this.app.layers.visible.has(l.id)) || layers[0]).id;
    if (this.app.currentPopup) { this.app.currentPopup.remove(); this.app.currentPopup = null; }
    this.app.draw.setMode('edit');
    this.map.getCanvas().style.cursor = 'crosshair';
    $('#btn-edit').classList.add('active');
    $('#btn-edit').setAttribute('aria-pressed', 'true');
    $('#edit-panel').hidden = false;
    document.body.dataset.editing = '1';
    this.layers(this.layerId);
    this.renderPanel();
    this.hint('单击要素开始编辑，或点“新建”绘制新要素');
  }

  /** Leave 编辑 mode; false when the user keeps unsaved changes. */
  exit({ keepTool = false } = {}) {
    if (this.dirty() && !window.confirm('有未保存的修改，确定放弃并退出编辑？')) return false;
    this.active = false;
    this.canvas.active = false;
    this.canvas.cancelDrawing();
    this.reset();
    this.canvas.setGeometry(null);
    $('#edit-panel').hidden = true;
    $('#btn-edit').classList.remove('active');
    $('#btn-edit').setAttribute('aria-pressed', 'false');
    delete document.body.dataset.editing;
    if (!keepTool) this.app.draw.setMode('select');
    return true;
  }

  /** Make sure the layer being edited is shown. */
  layers(layerId) {
    if (!this.app.layers.visible.has(layerId)) {
      this.app.layers.setVisible(layerId, true);
      const cb = document.querySelector(`input[data-layer="${layerId}"]`); if (cb) cb.checked = true;
    }
  }

  dirty() {
    if (!this.draft) return false;
    if (!this.fid) return true;
    this.readForm();
    return !sameGeometry(this.draft.geometry, this.original.geometry) || Object.keys(this.changedProperties()).length > 0;
  }

  /** The properties the user changed: the form's values against the original read through the same form (a stored
   *  1 for true, a number kept as 2024.0, an absent property vs null are no change and are not sent). */
  changedProperties() {
    const schema = this.schemas.get(this.layerId);
    if (!schema || !this.original) return propertiesPatch(this.original?.properties, this.draft.properties);
    const base = formValues(fieldsOf(schema), this.original.properties, { lockId: true });
    const now = Object.fromEntries(Object.keys(base).map((k) => [k, this.draft.properties[k]]));
    return propertiesPatch(base, now);
  }

  async schema(layerId) {
    if (!this.schemas.has(layerId)) this.schemas.set(layerId, await getEditSchema(layerId));
    return this.schemas.get(layerId);
  }

  // ------------------------------------------------------------------ open a feature / start a new one
  async pick(e) {
    if (this.canvas.drawing) return;
    const editable = new Set(this.editableLayers().map((l) => l.id));
    if (this.merging) {
      const other = hitsAt(this.app, e.point).find((x) => x.layer === this.layerId && x.id !== this.fid);
      if (other) await this.merge(other); else this.message('请单击同一图层中要合并的另一个面（Esc 取消）');
      return;
    }
    const hit = hitsAt(this.app, e.point).find((x) => editable.has(x.layer));
    if (!hit) { if (!this.dirty()) { this.reset(); this.canvas.setGeometry(null); this.renderPanel(); } return; }
    if (hit.layer === this.layerId && hit.id === this.fid) return;
    if (this.dirty() && !window.confirm('有未保存的修改，确定放弃并编辑另一个要素？')) return;
    await this.open(hit.layer, hit.id);
  }

  /** Open feature `fid` of `layerId` for editing (read with its ETag). */
  async open(layerId, fid) {
    try {
      const [{ feature, etag }] = await Promise.all([getItemVersioned(layerId, fid, { crs: this.app.crs }), this.schema(layerId)]);
      if (!etag) throw new Error('服务器未给出该要素的版本号（ETag），可能没有编辑此图层的权限');
      this.reset();
      this.layerId = layerId;
      this.fid = String(fid);
      this.etag = etag;
      this.crs = this.app.crs;
      this.original = { geometry: feature.geometry, properties: feature.properties || {} };
      this.draft = { geometry: cloneGeometry(feature.geometry), properties: { ...this.original.properties } };
      this.canvas.setGeometry(this.draft.geometry);
      this.renderPanel();
      this.hint(EDIT_HINT);
      this.message('');
    } catch (err) { this.message(`无法读取要素：${err.message}`, 'error'); }
  }

  async startNew() {
    if (this.dirty() && !window.confirm('有未保存的修改，确定放弃并新建要素？')) return;
    const layer = this.app.catalog.byId.get(this.layerId);
    const kind = drawKind(layer.geometry_type);
    this.reset();
    this.canvas.startDrawing(kind, layer.geometry_type);      // at once: the first click may come before the schema
    this.schema(this.layerId).catch((err) => this.message(`无法读取图层的属性定义：${err.message}`, 'error'));
    this.renderPanel();
    this.hint(DRAW_HINT[kind]);
    this.message(`正在绘制新${KIND_ZH[kind]}（${layer.title_zh}）`);
  }

  async onDrawn(geometry) {
    await this.schema(this.layerId).catch(() => null);
    const layer = this.app.catalog.byId.get(this.layerId);
    const props = { ...(this.draft?.properties || {}) };
    if (layer.illustrative) props.illustrative = true;
    this.draft = { geometry, properties: props };
    this.renderPanel();
    this.hint(EDIT_HINT);
    this.message('已绘制。请填写属性后点“保存”。');
    this.form?.inputs.get('name')?.input.focus();
  }

  onGeometry(geometry, { final, before }) {
    if (!this.draft) return;
    if (final) this.pushUndo({ geometry: before ?? this.draft.geometry });
    this.draft.geometry = geometry;
    if (final) this.updateButtons();
  }

  // ------------------------------------------------------------------ undo
  pushUndo(partial = {}) {
    this.readForm();
    this.undo.push({ geometry: cloneGeometry(partial.geometry ?? this.draft.geometry), properties: { ...(partial.properties ?? this.draft.properties) } });
    if (this.undo.length > 200) this.undo.shift();
  }

  undoStep() {
    if (this.splitter.line) { this.splitter.cancel('已撤销分割线'); return; }
    if (this.canvas.drawing) {      // while drawing: drop the last vertex
      this.canvas.drawing.pts.pop();
      this.canvas.render();
      return;
    }
    const prev = this.undo.pop();
    if (!prev) { this.message('没有可撤销的操作'); return; }
    this.draft = prev;
    this.canvas.setGeometry(prev.geometry);
    this.form?.fill(prev.properties);
    this.message('已撤销一步');
    this.updateButtons();
  }

  // ------------------------------------------------------------------ save / delete
  readForm() {
    if (!this.form || !this.draft) return { values: this.draft?.properties || {}, errors: {} };
    const r = this.form.read();
    this.draft.properties = { ...this.draft.properties, ...r.values };
    return r;
  }

  async save() {
    if (!this.draft) return;
    if (this.splitter.line) { await this.splitter.save(); return; }
    if (this.splitter.drawing) { this.message('请先画完分割线（双击或按 Enter 结束），或按 Esc 取消', 'error'); return; }
    const { errors } = this.readForm();
    if (Object.keys(errors).length) {
      this.message(`请先改正标红的字段：${Object.keys(errors).map((k) => fieldLabel(k, this.schemas.get(this.layerId)?.properties?.[k])).join('、')}`, 'error');
      return;
    }
    const problems = geometryProblems(this.draft.geometry);
    if (problems.length) { this.message(problems.join('；'), 'error'); return; }
    const note = $('#edit-note').value.trim() || undefined;
    const layerId = this.layerId;
    $('#edit-save').disabled = true;
    try {
      if (!this.fid) {
        const properties = Object.fromEntries(Object.entries(this.draft.properties).filter(([, v]) => v !== null && v !== ''));
        const made = await createItem(layerId, { type: 'Feature', geometry: this.draft.geometry, properties }, { note, crs: this.app.crs });
        await this.saved(layerId, made.id, '已新建要素');
      } else {
        const patch = {};
        const props = this.changedProperties();
        if (Object.keys(props).length) patch.properties = props;
        if (!sameGeometry(this.draft.geometry, this.original.geometry)) patch.geometry = this.draft.geometry;
        if (!Object.keys(patch).length) { this.message('没有修改，无需保存'); return; }
        await patchItem(layerId, this.fid, patch, this.etag, { note, crs: this.app.crs });
        await this.saved(layerId, this.fid, '已保存修改');
      }
    } catch (err) {
      await this.failed(err);
    } finally { $('#edit-save').disabled = false; this.updateButtons(); }
  }

  async saved(layerId, fid, text) {
    $('#edit-note').value = '';
    await this.open(layerId, fid);
    this.message(`${text}（${fid}）`, 'ok');
    setStatus(`${text}：${this.draft?.properties?.name || fid}`);
    this.refreshData(layerId);
  }

  async remove() {
    if (!this.fid) { this.reset(); this.canvas.cancelDrawing(); this.canvas.setGeometry(null); this.renderPanel(); return; }
    const name = this.original.properties?.name || this.fid;
    if (!(await confirmDialog(`确定删除“${name}”？`, '删除后可在修改记录中查到，管理员可恢复。'))) return;
    try {
      await deleteItem(this.layerId, this.fid, this.etag, { note: $('#edit-note').value.trim() || undefined });
      const layerId = this.layerId;
      this.reset();
      this.canvas.setGeometry(null);
      this.renderPanel();
      this.message(`已删除“${name}”`, 'ok');
      setStatus(`已删除：${name}`);
      this.app.select(null);
      this.refreshData(layerId);
    } catch (err) {
      if (err.status === 412) {     // changed meanwhile: show their version; deleting it is a new decision
        const who = this.original.properties?.name || this.fid;
        await this.open(this.layerId, this.fid);
        this.message(`未删除：“${who}”已被其他用户修改，已读取其新版本；确认后可再次删除。`, 'error');
        return;
      }
      await this.failed(err, '删除失败');
    }
  }

  // ------------------------------------------------------------------ 合并: this polygon absorbs a neighbour
  startMerge() {
    if (!this.fid || this.dirty()) { this.message('请先保存当前修改，再合并', 'error'); return; }
    this.merging = true;
    this.hint('单击要并入当前要素的另一个面（同一图层）；Esc 取消');
    this.message(`合并：单击要并入“${this.original.properties?.name || this.fid}”的面`);
  }

  /** One transaction: this feature's outline becomes the union of both (server repair), the other is deleted. */
  async merge(other) {
    this.merging = false;
    this.hint(EDIT_HINT);
    const mine = this.original.properties?.name || this.fid;
    let theirs;
    try { theirs = await getItemVersioned(this.layerId, other.id, { crs: this.app.crs }); } catch (err) {
      this.message(`无法读取要合并的要素：${err.message}`, 'error'); return;
    }
    const geometry = combinePolygons(this.original.geometry, theirs.feature.geometry);
    if (!geometry) { this.message('只能合并面要素', 'error'); return; }
    const name = theirs.feature.properties?.name || other.id;
    if (!(await confirmDialog(`将“${name}”并入“${mine}”？`, `合并后“${mine}”的范围包括两者，属性保持不变；“${name}”将被删除（修改记录中可查，管理员可恢复）。`))) return;
    const note = $('#edit-note').value.trim() || `合并：${name}（${other.id}）并入 ${this.fid}`;
    try {
      await transaction(this.layerId, [
        { op: 'update', id: this.fid, ifMatch: this.etag, patch: { geometry } },
        { op: 'delete', id: other.id, ifMatch: theirs.etag },
      ], { note, repair: true, crs: this.app.crs });
      $('#edit-note').value = '';
      await this.saved(this.layerId, this.fid, `已合并“${name}”`);
    } catch (err) {
      if (err.status === 412) {
        await this.open(this.layerId, this.fid);
        this.message('合并失败：其中一个要素已被其他用户修改，已重新读取，请再试', 'error');
        return;
      }
      await this.failed(err, '合并失败');
    }
  }

  async failed(err, what = '保存失败') {
    if (!(err instanceof ApiError)) { this.message(`${what}：${err.message}`, 'error'); return; }
    if (err.status === 412) { await this.showConflict(); return; }
    if (err.status === 401) this.app.auth?.openDialog();       // signed in again, 保存 sends the kept changes
    const why = {
      401: '登录已过期，请重新登录后再点“保存”（修改仍保留在表单中）',
      403: `没有修改该图层的权限：${err.message}`,
      404: '该要素已被删除',
      405: `该图层只读：${err.message}`,
      428: '请求缺少版本号（If-Match），请重新打开要素',
    }[err.status];
    this.message(why || `${what}（${err.status}）：${err.message}`, 'error');
  }

  // ------------------------------------------------------------------ 412: someone else changed it
  async showConflict() {
    let theirs;
    try { theirs = await getItemVersioned(this.layerId, this.fid, { crs: this.app.crs }); } catch (err) {
      this.message(err.status === 404 ? '保存失败：其他用户已删除该要素' : `保存失败：要素已被他人修改，且无法读取其当前版本（${err.message}）`, 'error');
      return;
    }
    let who = null;
    try { who = historyEntries(await getHistory(this.layerId, this.fid))[0] || null; } catch { /* history may be refused */ }
    this.readForm();
    const mine = { properties: this.changedProperties(),
      geometry: sameGeometry(this.draft.geometry, this.original.geometry) ? null : this.draft.geometry };
    this.conflict = { theirs, mine, who };
    this.app.history?.showOutline(theirs.feature.geometry, { crs: this.app.crs });
    this.renderConflict();
  }

  renderConflict() {
    const { theirs, mine, who } = this.conflict;
    const tp = theirs.feature.properties || {};
    const names = new Set([...Object.keys(mine.properties),
      ...Object.keys(tp).filter((k) => !sameValue(tp[k], this.original.properties[k]))]);
    const schema = this.schemas.get(this.layerId)?.properties || {};
    const rows = [...names].map((k) => h('tr', { dataset: { field: k } },
      h('th', {}, fieldLabel(k, schema[k] || {})),
      h('td', {}, fmtValue(this.original.properties[k])),
      h('td', { class: sameValue(tp[k], this.original.properties[k]) ? '' : 'changed' }, fmtValue(tp[k])),
      h('td', { class: k in mine.properties ? 'changed' : '' }, k in mine.properties ? fmtValue(mine.properties[k]) : '—')));
    const theirGeom = !sameGeometry(theirs.feature.geometry, this.original.geometry);
    if (theirGeom || mine.geometry) {
      rows.push(h('tr', { dataset: { field: 'geometry' } }, h('th', {}, '图形'), h('td', {}, '—'),
        h('td', { class: theirGeom ? 'changed' : '' }, theirGeom ? '已修改（地图上红色虚线）' : '未改'),
        h('td', { class: mine.geometry ? 'changed' : '' }, mine.geometry ? '已修改' : '—')));
    }
    const box = h('div', { class: 'edit-conflict', id: 'edit-conflict', role: 'alert' },
      h('p', {}, h('b', {}, '保存失败：此要素已被其他用户修改。'),
        who ? ` ${who.user} 于 ${who.time}（北京时间）保存了新版本${who.note ? `：“${who.note}”` : ''}。` : ' 您打开后，其他人保存了新版本。'),
      h('table', { class: 'data conflict-table' },
        h('thead', {}, h('tr', {}, h('th', {}, '字段'), h('th', {}, '打开时'), h('th', {}, '对方版本'), h('th', {}, '我的修改'))),
        h('tbody', {}, rows)),
      h('div', { class: 'edit-actions' },
        h('button', { type: 'button', class: 'primary', id: 'edit-reapply', onclick: () => this.reapply() }, '在对方版本上重新应用我的修改'),
        h('button', { type: 'button', id: 'edit-take-theirs', onclick: () => this.takeTheirs() }, '放弃我的修改，使用对方版本')));
    $('#edit-message').replaceChildren(box);
    $('#edit-message').className = 'edit-message error';
  }

  /** Their version becomes the base (its ETag too); my changed fields and outline go on top; the user reviews and saves. */
  reapply() {
    const { theirs, mine } = this.conflict;
    this.pushUndo();
    this.etag = theirs.etag;
    this.original = { geometry: theirs.feature.geometry, properties: theirs.feature.properties || {} };
    this.draft = { geometry: cloneGeometry(mine.geometry || theirs.feature.geometry), properties: { ...this.original.properties, ...mine.properties } };
    this.conflict = null;
    this.canvas.setGeometry(this.draft.geometry);
    this.renderPanel();
    this.message('已在对方版本上重新应用您的修改，请检查后再次保存。', 'ok');
  }

  takeTheirs() {
    const { theirs } = this.conflict;
    this.reset();
    this.conflict = null;
    this.app.history?.showOutline(null);
    this.open(this.layerId, theirs.feature.id ?? theirs.feature.properties?.id);
  }

  // ------------------------------------------------------------------ derived data follows
  /** The layer changed on the server: reload its tiles, the statistics and the selection outline. */
  refreshData(layerId) {
    const map = this.map;
    for (const [id, src] of Object.entries(map.getStyle().sources || {})) {
      if (src.type === 'vector') {
        if (typeof map.refreshTiles === 'function') map.refreshTiles(id);
        else map.style.sourceCaches[id]?.reload();
      } else if (id === `gcj:${layerId}` && typeof src.data === 'string') {
        map.getSource(id).setData(src.data);
      }
    }
    this.app.cache.layerStats.clear();
    renderStats(this.app, $('#tab-stats'));
    const table = this.app.attrTable;       // an open 属性表 of this layer reloads its rows
    if (table && !table.el.hidden && table.mode === 'layer' && table.layer === layerId) table.load();
    store.set('dataChanged', { layer: layerId, at: Date.now() });
  }

  // ------------------------------------------------------------------ the panel
  renderPanel() {
    const layers = this.editableLayers();
    const sel = $('#edit-layer');
    sel.replaceChildren(...layers.map((l) => h('option', { value: l.id }, `${l.group} · ${l.title_zh}`)));
    sel.value = this.layerId;
    const layer = this.app.catalog.byId.get(this.layerId);
    const kind = drawKind(layer?.geometry_type);
    $('#edit-new').textContent = `新建${KIND_ZH[kind] || ''}`;
    const title = $('#edit-title');
    if (this.draft) title.textContent = this.fid ? `正在编辑：${this.draft.properties?.name || this.fid}（${this.fid}）` : '新要素（未保存）';
    else title.textContent = this.canvas.drawing ? '正在绘制新要素' : '未选择要素';
    const box = $('#edit-form');
    const schema = this.schemas.get(this.layerId);
    if (this.draft && schema) {
      this.form = buildForm(fieldsOf(schema), this.draft.properties, { lockId: !!this.fid });
      // the step to undo is the state before this change: the properties as last read from the form
      this.form.onChange(() => {
        const before = this.draft.properties;
        this.readForm();
        if (!Object.keys(propertiesPatch(before, this.draft.properties)).length) return;    // a repeated change event
        this.undo.push({ geometry: cloneGeometry(this.draft.geometry), properties: { ...before } });
        this.updateButtons();
      });
      box.replaceChildren(this.form.element);
    } else {
      this.form = null;
      box.replaceChildren(h('p', { class: 'hint' }, this.canvas.drawing ? '绘制完成后在此填写属性。' : '在地图上单击可编辑图层中的要素，或点“新建”。'));
    }
    $('#edit-note-row').hidden = !this.draft;
    this.updateButtons();
  }

  updateButtons() {
    $('#edit-layer').disabled = !!this.draft && this.dirty();        // unsaved changes stay on their layer
    $('#edit-save').disabled = !this.draft;
    $('#edit-undo').disabled = !this.undo.length && !(this.canvas.drawing?.pts.length) && !this.splitter.line;
    $('#edit-delete').disabled = !this.draft && !this.canvas.drawing;
    $('#edit-delete').textContent = this.fid ? '删除要素' : '放弃';
    const polygonal = drawKind(this.app.catalog.byId.get(this.layerId)?.geometry_type) === 'polygon';
    $('#edit-merge').hidden = !polygonal;
    $('#edit-merge').disabled = !this.fid || this.dirty() || this.splitter.active;
    $('#edit-split').hidden = !polygonal;
    $('#edit-split').disabled = !this.fid || this.dirty() || this.splitter.active;
  }

  hint(text) {
    const el = $('#draw-hint');
    el.hidden = !text;
    el.textContent = text || '';
  }

  message(text, kind = '') {
    const el = $('#edit-message');
    el.className = `edit-message ${kind}`;
    el.replaceChildren(text ? h('span', {}, text) : '');
  }

  /** Called once: the panel's controls. */
  bindPanel() {
    $('#edit-layer').addEventListener('change', (e) => {
      this.layerId = e.target.value;
      this.layers(this.layerId);
      this.canvas.cancelDrawing();
      this.reset();
      this.canvas.setGeometry(null);
      this.renderPanel();
    });
    $('#edit-new').addEventListener('click', () => this.startNew());
    $('#edit-undo').addEventListener('click', () => this.undoStep());
    $('#edit-save').addEventListener('click', () => this.save());
    $('#edit-delete').addEventListener('click', () => this.remove());
    $('#edit-merge').addEventListener('click', () => this.startMerge());
    $('#edit-split').addEventListener('click', () => this.splitter.start());
    $('#edit-close').addEventListener('click', () => this.exit());
  }
}

function fmtValue(v) {
  if (v === null || v === undefined || v === '') return '（空）';
  if (typeof v === 'boolean') return v ? '是' : '否';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** A yes/no question in a modal <dialog> (Chinese buttons); resolves true for 确定. */
export function confirmDialog(question, detail = '') {
  return new Promise((resolve) => {
    const dlg = h('dialog', { class: 'dialog', id: 'dlg-confirm' },
      h('form', { method: 'dialog' }, h('h3', {}, question), detail ? h('p', { class: 'hint' }, detail) : null,
        h('menu', {}, h('button', { value: 'cancel', class: 'secondary' }, '取消'), h('button', { value: 'ok', class: 'primary danger', id: 'btn-confirm-ok' }, '确定'))));
    document.body.append(dlg);
    dlg.addEventListener('close', () => { resolve(dlg.returnValue === 'ok'); dlg.remove(); });
    dlg.showModal();
  });
}

// 分割 in 编辑 mode: the open polygon is cut along a line the user draws over it (click the line's points — they snap
// to vertices and edges, the polygon's own included —, double-click or Enter to finish, Esc cancels), then 保存
// sends POST /collections/{id}/items/{fid}/split with the feature's ETag. The server cuts it in one transaction:
// this feature keeps its id, its attributes and the largest part; every other part becomes a new feature with a
// copy of the attributes and an id the server gives (ids are unique). EditMode (edit.js) owns the panel; this owns
// the one pending cut.

import { splitItem, ApiError } from './api.js';
import { $, setStatus } from './util.js';

export const SPLIT_DRAW_HINT = '画分割线：单击加点（吸附顶点或边），双击或 Enter 结束，须穿过整个面；Esc 取消';
const SPLIT_READY_HINT = '点“保存”执行分割；“撤销”或 Esc 取消分割线';

export class SplitTool {
  /** `edit`: the EditMode whose open feature is cut. */
  constructor(edit) {
    this.edit = edit;
    this.line = null;        // the finished cutting line, waiting for 保存
    this.drawing = false;
  }

  /** A cut is being drawn or waits for 保存. */
  get active() { return this.drawing || !!this.line; }

  start() {
    const edit = this.edit;
    if (!edit.fid || edit.dirty()) { edit.message('请先保存当前修改，再分割', 'error'); return; }
    edit.merging = false;
    this.drawing = true;
    this.line = null;
    edit.canvas.startCut((line) => this.drawn(line));
    edit.hint(SPLIT_DRAW_HINT);
    edit.message(`分割“${edit.original.properties?.name || edit.fid}”：在地图上画一条穿过该面的线`);
    edit.updateButtons();
  }

  drawn(line) {
    this.drawing = false;
    this.line = line;
    const edit = this.edit;
    edit.hint(SPLIT_READY_HINT);
    edit.message('分割线已画好。点“保存”分割：本要素保留最大的一块及全部属性，其余部分成为新要素（复制属性，编号由系统分配）。');
    edit.updateButtons();
  }

  /** Drop the cut (drawn or being drawn); `text` says so in the panel. */
  cancel(text = '已取消分割') {
    if (!this.active) return;
    this.clear();
    this.edit.hint(this.edit.editHint);
    if (text) this.edit.message(text);
    this.edit.updateButtons();
  }

  clear() {
    const canvas = this.edit.canvas;
    if (this.drawing) canvas.cancelDrawing();
    canvas.clearCut();
    this.drawing = false;
    this.line = null;
  }

  async save() {
    const edit = this.edit;
    const [layerId, fid, name] = [edit.layerId, edit.fid, edit.original.properties?.name || edit.fid];
    const note = $('#edit-note').value.trim() || undefined;      // none: the server writes 分割：名称（id）分为 N 个面
    $('#edit-save').disabled = true;
    try {
      const done = await splitItem(layerId, fid, this.line, edit.etag, { note, crs: edit.app.crs });
      this.clear();
      const added = done.results.filter((r) => r.op === 'create').map((r) => r.id);
      await edit.saved(layerId, fid, `已分割为 ${done.parts} 个面`);
      edit.message(`已分割为 ${done.parts} 个面：“${name}”（${fid}）保留最大的一块；新要素 ${added.join('、')} 复制了属性，可单击后修改名称等。`, 'ok');
      setStatus(`已分割为 ${done.parts} 个面：${name}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        this.clear();
        await edit.open(layerId, fid);
        edit.message('分割失败：该要素已被其他用户修改，已读取其新版本，请重新画分割线。', 'error');
      } else if (err instanceof ApiError && err.status === 422) {
        this.cancel(null);          // the line cannot cut it: draw another
        edit.message(`无法分割：${err.message}`, 'error');
      } else {
        await edit.failed(err, '分割失败');
      }
    } finally { $('#edit-save').disabled = false; edit.updateButtons(); }
  }
}

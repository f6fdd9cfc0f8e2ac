// Export: the visible layers (view bbox or whole extent) or the features in the drawn area, through the server's
// /export endpoint (GET, or POST with the drawn geometry); and a PNG of the current view composed on a canvas
// with title, legend, scale bar and north arrow (the map is created with preserveDrawingBuffer).

import { download, qs, saveBlob } from './api.js';
import { $, setStatus } from './util.js';
import { paintOf } from './layers.js';

const CRS_BY_FORMAT = {
  dxf: ['EPSG:4549', 'EPSG:4528'],
  kml: ['EPSG:4326', 'EPSG:4490', 'GCJ-02'],
  xlsx: ['EPSG:4326'],
  html: ['EPSG:4326'],
  png: ['EPSG:4549', 'EPSG:4528', 'EPSG:3857'],
  pdf: ['EPSG:4549', 'EPSG:4528', 'EPSG:3857'],
};

const IMAGE_FORMATS = new Set(['png', 'pdf']);

/** A4 in the map's orientation, so the printed extent has the view's shape. */
function paperFor(map) {
  const c = map.getCanvas();
  return c.clientWidth >= c.clientHeight ? 'A4' : 'A4-portrait';
}

export class Exporter {
  constructor(app) {
    this.app = app;
    this.dialog = $('#dlg-export');
    const form = this.dialog.querySelector('form');
    form.format.addEventListener('change', () => {
      // a map picture looks wrong without its context layers; a table of numbers is wrong with them
      form.background.checked = IMAGE_FORMATS.has(form.format.value);
      this.syncCrs(); this.describe();
    });
    for (const el of [...form.scope, form.background]) el.addEventListener('change', () => this.describe());
    this.dialog.addEventListener('close', () => {
      if (this.dialog.returnValue === 'ok') this.run(new FormData(form)).catch((e) => setStatus(`导出失败：${e.message}`, { error: true }));
    });
  }

  syncCrs() {
    const form = this.dialog.querySelector('form');
    const allowed = CRS_BY_FORMAT[form.format.value];
    for (const opt of form.crs.options) opt.disabled = !!allowed && !allowed.includes(opt.value);
    if (form.crs.selectedOptions[0]?.disabled) form.crs.value = allowed[0];
  }

  open(scope) {
    const form = this.dialog.querySelector('form');
    const hasSel = !!this.app.draw.lastQueryGeometry && this.app.draw.lastQueryGeometry.type !== 'Point';
    form.querySelector('input[value=selection]').disabled = !hasSel;
    if (scope === 'selection' && hasSel) form.scope.value = 'selection';
    else if (form.scope.value === 'selection' && !hasSel) form.scope.value = 'visible';
    form.background.checked = IMAGE_FORMATS.has(form.format.value);
    this.syncCrs();
    this.describe();
    this.dialog.showModal();
  }

  describe() {
    const form = this.dialog.querySelector('form');
    const layers = this.exportLayers(form.scope.value, form.background.checked);
    form.background.disabled = form.scope.value === 'selection';
    $('#export-layers').textContent = `图层：${layers.map((id) => this.app.catalog.byId.get(id)?.title_zh || id).join('、') || '（无可见图层）'}`;
  }

  /** What the screen shows for the scope: a drawn area → exactly the layers of the query results (the visible plan
   *  layers, never the background); otherwise the visible layers, background ones only when asked for. */
  exportLayers(scope = 'visible', background = false) {
    if (scope === 'selection') {
      if (this.app.draw.results?.layers?.length) return [...this.app.draw.results.layers];
      background = false;
    }
    return this.app.layers.visibleIds().filter((id) => {
      const meta = this.app.catalog.byId.get(id);
      return meta && meta.geometry_type !== 'None' && (background || meta.group !== '背景');
    });
  }

  /** The current view as a lon/lat bbox (in the map's CRS): what 当前视图范围 exports. */
  viewBbox() {
    const b = this.app.map.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
  }

  async run(data) {
    const format = data.get('format');
    const crs = data.get('crs');
    const scope = data.get('scope');
    const layers = this.exportLayers(scope, data.get('background') === 'on');
    if (!layers.length) throw new Error('没有可导出的可见图层');
    setStatus('正在导出…', { timeout: 0 });
    let name;
    if (scope === 'selection') {
      const body = { layers, format, crs, geometry: this.app.draw.lastQueryGeometry, 'geometry-crs': this.app.crs };
      this.lastRequest = body;
      name = await download('/export', { method: 'POST', body, fallbackName: `kfqmap-selection.${format}` });
    } else {
      const params = { layers: layers.join(','), format, crs };
      if (scope === 'visible') {
        params.bbox = this.viewBbox().map((v) => v.toFixed(6)).join(',');
        if (this.app.crs !== 'EPSG:4326') params['bbox-crs'] = this.app.crs;
      }
      if (IMAGE_FORMATS.has(format)) params.size = paperFor(this.app.map);
      this.lastRequest = params;
      name = await download(`/export?${qs(params)}`, { fallbackName: `kfqmap.${format}` });
    }
    setStatus(`已下载 ${name}`);
    document.body.dataset.lastExport = name;
  }

  // ------------------------------------------------------------------ PNG of the view
  async png() {
    const { map } = this.app;
    await new Promise((resolve) => { if (map.loaded() && !map.isMoving()) resolve(); else map.once('idle', resolve); });
    map.triggerRepaint();
    await new Promise((resolve) => map.once('render', resolve));
    const src = map.getCanvas();
    const dpr = src.width / src.clientWidth;
    const W = src.width, mapH = src.height;
    const titleH = Math.round(64 * dpr), footH = Math.round(30 * dpr);
    const canvas = document.createElement('canvas');
    canvas.width = W; canvas.height = titleH + mapH + footH;
    const ctx = canvas.getContext('2d');
    const font = (px, weight = 'normal') => `${weight} ${Math.round(px * dpr)}px "Noto Sans CJK SC", "Microsoft YaHei", sans-serif`;
    ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, canvas.width, canvas.height);
    // title band
    ctx.fillStyle = '#1d4e89'; ctx.fillRect(0, 0, W, titleH);
    ctx.fillStyle = '#ffffff'; ctx.font = font(24, 'bold'); ctx.textBaseline = 'middle';
    ctx.fillText('昆山开发区“十四五”规划空间格局', 18 * dpr, titleH * 0.42);
    ctx.font = font(12); ctx.globalAlpha = 0.85;
    ctx.fillText(`KFQMap 规划一张图 · ${new Date().toLocaleDateString('zh-CN')} · 示意图，位置由规划文本推断`, 18 * dpr, titleH * 0.8);
    ctx.globalAlpha = 1;
    // the map
    ctx.drawImage(src, 0, titleH);
    this.drawLegend(ctx, dpr, titleH);
    this.drawScale(ctx, dpr, titleH + mapH);
    this.drawNorth(ctx, dpr, W - 46 * dpr, titleH + 16 * dpr);
    // footer
    ctx.fillStyle = '#f4f6f9'; ctx.fillRect(0, titleH + mapH, W, footH);
    ctx.fillStyle = '#5f6b7a'; ctx.font = font(11);
    ctx.fillText('坐标系 WGS 84 / Web 墨卡托显示；面积为 CGCS2000 椭球面积。“示意”图层位置为推断，“示例”为说明性数据。', 12 * dpr, titleH + mapH + footH / 2);
    const blob = await new Promise((r) => canvas.toBlob(r, 'image/png'));
    const name = `kfqmap-${new Date().toISOString().slice(0, 10)}.png`;
    saveBlob(blob, name);
    document.body.dataset.lastPng = `${canvas.width}x${canvas.height}`;
    setStatus(`已导出图片 ${name}`);
    return canvas;
  }

  drawLegend(ctx, dpr, top) {
    const layers = this.app.catalog.layers.filter((l) => this.app.layers.visible.has(l.id) && l.geometry_type !== 'None' && l.group !== '背景');
    if (!layers.length) return;
    const lh = 20 * dpr, pad = 10 * dpr;
    const label = (l) => {
      const word = l.illustrative ? '示例' : (l.schematic ? '示意' : '');
      return `${l.title_zh}${word && !l.title_zh.includes(word) ? `（${word}）` : ''}`;
    };
    ctx.font = `${Math.round(12 * dpr)}px "Noto Sans CJK SC", sans-serif`;
    const w = pad * 2 + 34 * dpr + Math.max(...layers.map((l) => ctx.measureText(label(l)).width));
    const h = pad * 2 + lh * (layers.length + 1);
    const x = 12 * dpr, y = top + 12 * dpr;
    ctx.fillStyle = 'rgba(255,255,255,0.92)'; ctx.strokeStyle = '#c9d1db'; ctx.lineWidth = dpr;
    ctx.fillRect(x, y, w, h); ctx.strokeRect(x, y, w, h);
    ctx.fillStyle = '#163a66'; ctx.font = `bold ${Math.round(13 * dpr)}px "Noto Sans CJK SC", sans-serif`; ctx.textBaseline = 'middle';
    ctx.fillText('图例', x + pad, y + pad + lh / 2);
    layers.forEach((l, i) => {
      const cy = y + pad + lh * (i + 1.5);
      const st = paintOf(this.app, l);
      const sx = x + pad, sw = 26 * dpr;
      const g = st.kind === 'circle' ? 'Point' : st.kind === 'line' ? 'LineString' : 'Polygon';
      ctx.setLineDash(st.dash ? st.dash.map((d) => Math.max(1, d) * dpr * 1.5) : []);
      ctx.strokeStyle = st.stroke || '#333'; ctx.lineWidth = Math.max(1.2, Math.min(4, st.width || 1.5)) * dpr;
      if (g === 'Point') {
        ctx.beginPath(); ctx.arc(sx + sw / 2, cy, 5 * dpr, 0, Math.PI * 2);
        ctx.fillStyle = st.fill || st.stroke || '#888'; ctx.fill(); ctx.setLineDash([]); ctx.stroke();
      } else if (g === 'LineString') {
        ctx.beginPath(); ctx.moveTo(sx, cy); ctx.lineTo(sx + sw, cy); ctx.stroke();
      } else {
        ctx.globalAlpha = Math.max(0.35, st.fill_opacity ?? 0.35);
        ctx.fillStyle = st.fill || 'rgba(0,0,0,0)'; ctx.fillRect(sx, cy - 6 * dpr, sw, 12 * dpr);
        ctx.globalAlpha = 1; ctx.strokeRect(sx, cy - 6 * dpr, sw, 12 * dpr);
      }
      ctx.setLineDash([]);
      ctx.fillStyle = '#1f2933'; ctx.font = `${Math.round(12 * dpr)}px "Noto Sans CJK SC", sans-serif`;
      ctx.fillText(label(l), sx + sw + 8 * dpr, cy);
    });
  }

  drawScale(ctx, dpr, bottom) {
    const { map } = this.app;
    const c = map.getCenter();
    const mPerCssPx = (40075016.686 * Math.cos((c.lat * Math.PI) / 180)) / (512 * 2 ** map.getZoom());
    const target = 160 * mPerCssPx;
    const pow = 10 ** Math.floor(Math.log10(target));
    const nice = [1, 2, 5, 10].map((k) => k * pow).filter((v) => v <= target).pop();
    const px = (nice / mPerCssPx) * dpr;
    const x = map.getCanvas().width - px - 24 * dpr, y = bottom - 22 * dpr;
    ctx.fillStyle = 'rgba(255,255,255,0.9)'; ctx.fillRect(x - 8 * dpr, y - 18 * dpr, px + 16 * dpr, 30 * dpr);
    ctx.fillStyle = '#1f2933';
    ctx.fillRect(x, y, px / 2, 5 * dpr);
    ctx.strokeStyle = '#1f2933'; ctx.lineWidth = dpr; ctx.strokeRect(x, y, px, 5 * dpr);
    ctx.font = `${Math.round(11 * dpr)}px "Noto Sans CJK SC", sans-serif`; ctx.textBaseline = 'bottom';
    ctx.fillText('0', x - 3 * dpr, y - 1 * dpr);
    const label = nice >= 1000 ? `${nice / 1000} 公里` : `${nice} 米`;
    ctx.fillText(label, x + px - ctx.measureText(label).width / 2, y - 1 * dpr);
    ctx.textBaseline = 'middle';
  }

  drawNorth(ctx, dpr, x, y) {
    const bearing = this.app.map.getBearing();
    const s = 30 * dpr;
    ctx.save();
    ctx.fillStyle = 'rgba(255,255,255,0.9)'; ctx.fillRect(x - 6 * dpr, y - 4 * dpr, s + 12 * dpr, s + 22 * dpr);
    ctx.translate(x + s / 2, y + s / 2 + 12 * dpr);
    ctx.rotate((-bearing * Math.PI) / 180);
    ctx.beginPath(); ctx.moveTo(0, -s / 2); ctx.lineTo(s / 4, s / 2); ctx.lineTo(0, s / 4); ctx.closePath();
    ctx.fillStyle = '#1f2933'; ctx.fill();
    ctx.beginPath(); ctx.moveTo(0, -s / 2); ctx.lineTo(-s / 4, s / 2); ctx.lineTo(0, s / 4); ctx.closePath();
    ctx.strokeStyle = '#1f2933'; ctx.lineWidth = dpr; ctx.stroke();
    ctx.restore();
    ctx.fillStyle = '#1f2933'; ctx.font = `bold ${Math.round(12 * dpr)}px "Noto Sans CJK SC", sans-serif`; ctx.textBaseline = 'middle';
    ctx.fillText('北', x + s / 2 - 6 * dpr, y + 6 * dpr);
  }
}

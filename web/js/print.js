// 打印/专题图: a map sheet at a chosen paper size (A4/A3/A1, portrait/landscape), scale (1:N) or the current view's
// extent, and resolution, with an editable title, the legend of the chosen layers, 指北针, scale bar, a 制图单位/日期
// block and the 示意 note; saved as PNG or PDF (a one-page PDF holding the sheet as a JPEG image, written here: no
// library). The map is re-rendered off screen by a second MapLibre map sized to the paper, so the printed scale is
// exact at the sheet's centre (Web Mercator: metres per pixel = 40075016.686 × cos φ / (512 × 2^zoom)).

import { saveBlob } from './api.js';
import { $, h, fmt, setStatus } from './util.js';
import { HATCH_IMAGE, hatchImage, paintOf } from './layers.js';

const PAPER_MM = { A4: [297, 210], A3: [420, 297], A1: [841, 594] };
const MM_PER_IN = 25.4;
const CSS_DPI = 96;
const EQUATOR_M = 40075016.686;
const MARGIN_MM = 10, TITLE_MM = 16, FOOT_MM = 14;

/** Metres per CSS pixel on the map at `lat` and `zoom` (512-px tiles). */
export function metresPerPixel(lat, zoom) { return (EQUATOR_M * Math.cos((lat * Math.PI) / 180)) / (512 * 2 ** zoom); }

/** The zoom at which 1 printed mm is `scale` mm on the ground at latitude `lat` (CSS px = 1/96 in). */
export function zoomForScale(scale, lat) {
  const mpp = (scale * MM_PER_IN) / 1000 / CSS_DPI;
  return Math.log2((EQUATOR_M * Math.cos((lat * Math.PI) / 180)) / (512 * mpp));
}

/** The scale (N of 1:N) the screen map shows now. */
export function currentScale(map) {
  return (metresPerPixel(map.getCenter().lat, map.getZoom()) * CSS_DPI * 1000) / MM_PER_IN;
}

/** A round scale near `n` (1:1,000, 2,000, 2,500, 5,000 …). */
export function niceScale(n) {
  const pow = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 2.5, 5, 10].map((k) => k * pow).reduce((a, b) => (Math.abs(b - n) < Math.abs(a - n) ? b : a));
}

export class Printer {
  constructor(app) {
    this.app = app;
    this.dialog = $('#dlg-print');
    const form = this.dialog.querySelector('form');
    for (const r of form.querySelectorAll('input[name=mode]')) r.addEventListener('change', () => this.sync());
    this.dialog.addEventListener('close', () => {
      if (this.dialog.returnValue !== 'ok') return;
      this.print(this.options(new FormData(form))).catch((e) => setStatus(`打印失败：${e.message}`, { error: true }));
    });
  }

  open() {
    const form = this.dialog.querySelector('form');
    form.scale.value = niceScale(currentScale(this.app.map));
    const layers = this.app.catalog.layers.filter((l) => this.app.layers.visible.has(l.id) && l.geometry_type !== 'None');
    $('#print-legend').replaceChildren(...layers.map((l) => h('label', { class: 'radio' },
      h('input', { type: 'checkbox', name: 'legend', value: l.id, checked: l.group !== '背景' }), ` ${l.title_zh}`)));
    this.sync();
    this.dialog.showModal();
  }

  sync() {
    const form = this.dialog.querySelector('form');
    form.scale.disabled = form.querySelector('input[name=mode]:checked').value !== 'scale';
  }

  options(data) {
    return {
      title: String(data.get('title') || '').trim() || '昆山开发区“十四五”规划空间格局',
      paper: data.get('paper'), orientation: data.get('orientation'), dpi: Number(data.get('dpi')),
      mode: data.get('mode'), scale: Number(data.get('scale')), legend: data.getAll('legend'),
      unit: String(data.get('unit') || '').trim(), format: data.get('format'),
    };
  }

  /** Render the sheet; returns {canvas, scale, zoom}. */
  async render(o) {
    const [a, b] = PAPER_MM[o.paper] || PAPER_MM.A4;
    const [wmm, hmm] = o.orientation === 'portrait' ? [b, a] : [a, b];
    const px = (mm) => Math.round((mm / MM_PER_IN) * o.dpi);
    const W = px(wmm), H = px(hmm);
    const dpr = o.dpi / CSS_DPI;
    const frame = { x: px(MARGIN_MM), y: px(MARGIN_MM + TITLE_MM), w: W - 2 * px(MARGIN_MM), h: H - px(MARGIN_MM + TITLE_MM) - px(FOOT_MM + MARGIN_MM / 2) };
    const view = this.app.map;
    const centre = view.getCenter();
    if (this.lastMap) { this.lastMap.remove(); this.lastStage.remove(); }
    const box = h('div', { class: 'print-stage', style: { width: `${frame.w / dpr}px`, height: `${frame.h / dpr}px` } });
    document.body.append(box);
    const style = view.getStyle();
    const map = new maplibregl.Map({
      container: box, style, center: centre, bearing: view.getBearing(), pixelRatio: dpr, interactive: false,
      attributionControl: false, fadeDuration: 0, canvasContextAttributes: { preserveDrawingBuffer: true }, preserveDrawingBuffer: true,
      zoom: o.mode === 'scale' ? zoomForScale(o.scale, centre.lat) : view.getZoom(),
      localIdeographFontFamily: '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", sans-serif', maxZoom: 22,
    });
    window.kfqPrintMap = map;     // for tests: the printed map's own projection
    map.on('styleimagemissing', (e) => { if (e.id === HATCH_IMAGE && !map.hasImage(HATCH_IMAGE)) map.addImage(HATCH_IMAGE, hatchImage(), { pixelRatio: 2 }); });
    await new Promise((resolve) => map.once('load', resolve));
    if (o.mode === 'extent') {
      const bb = view.getBounds();
      map.fitBounds(bb, { padding: 0, duration: 0 });
    }
    await new Promise((resolve) => { map.once('idle', resolve); map.triggerRepaint(); });
    const mpp = metresPerPixel(map.getCenter().lat, map.getZoom());         // per CSS px of the print map
    const scale = (mpp * CSS_DPI * 1000) / MM_PER_IN;

    const canvas = document.createElement('canvas');
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext('2d');
    const font = (pt, weight = 'normal') => `${weight} ${Math.round((pt / 72) * o.dpi)}px "Noto Sans CJK SC", "Microsoft YaHei", sans-serif`;
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = '#1f2933'; ctx.textBaseline = 'middle'; ctx.textAlign = 'center';
    ctx.font = font(20, 'bold');
    ctx.fillText(o.title, W / 2, px(MARGIN_MM + TITLE_MM * 0.45));
    ctx.textAlign = 'left';
    ctx.drawImage(map.getCanvas(), frame.x, frame.y, frame.w, frame.h);
    ctx.strokeStyle = '#1f2933'; ctx.lineWidth = Math.max(1, dpr); ctx.strokeRect(frame.x, frame.y, frame.w, frame.h);
    this.legend(ctx, o, dpr, frame);
    this.scaleBar(ctx, dpr, frame, mpp / dpr);
    this.north(ctx, dpr, frame, map.getBearing());
    // 制图单位 / 日期 / scale / note block
    const y1 = frame.y + frame.h + px(4), y2 = y1 + px(5);
    ctx.font = font(9); ctx.fillStyle = '#1f2933';
    ctx.fillText(`制图单位：${o.unit || '—'}　　制图日期：${new Date().toLocaleDateString('zh-CN')}　　比例尺 1:${fmt(Math.round(scale), 0)}（图幅中心）　　${o.paper} ${o.orientation === 'portrait' ? '纵向' : '横向'} · ${o.dpi} dpi`, frame.x, y1);
    ctx.fillStyle = '#a4161a'; ctx.font = font(8);
    ctx.fillText('示意：图中规划要素位置由规划文本推断，并非测绘成果，不作为用地依据；标“示例”的为占位数据。Web 墨卡托显示，面积以 CGCS2000 椭球面积为准。', frame.x, y2);
    this.lastMap = map;          // kept (off screen) until the next sheet, so a test can read its projection
    this.lastStage = box;
    return { canvas, scale, zoom: map.getZoom(), mpp };
  }

  legend(ctx, o, dpr, frame) {
    const layers = o.legend.map((id) => this.app.catalog.byId.get(id)).filter(Boolean);
    if (!layers.length) return;
    const lh = 18 * dpr, pad = 8 * dpr, sw = 24 * dpr;
    ctx.font = `${Math.round(11 * dpr)}px "Noto Sans CJK SC", sans-serif`;
    const label = (l) => `${l.title_zh}${l.illustrative && !l.title_zh.includes('示例') ? '（示例）' : ''}`;
    const w = pad * 3 + sw + Math.max(...layers.map((l) => ctx.measureText(label(l)).width));
    const hgt = pad * 2 + lh * (layers.length + 1);
    const x = frame.x + 8 * dpr, y = frame.y + frame.h - hgt - 8 * dpr;
    ctx.fillStyle = 'rgba(255,255,255,0.94)'; ctx.strokeStyle = '#8895a7'; ctx.lineWidth = dpr;
    ctx.fillRect(x, y, w, hgt); ctx.strokeRect(x, y, w, hgt);
    ctx.fillStyle = '#163a66'; ctx.font = `bold ${Math.round(12 * dpr)}px "Noto Sans CJK SC", sans-serif`;
    ctx.fillText('图例', x + pad, y + pad + lh / 2);
    layers.forEach((l, i) => {
      const cy = y + pad + lh * (i + 1.5);
      const st = paintOf(this.app, l);
      ctx.setLineDash(st.dash ? st.dash.map((d) => Math.max(1, d) * dpr * 1.5) : []);
      ctx.strokeStyle = st.stroke || '#333'; ctx.lineWidth = Math.max(1.2, Math.min(4, st.width || 1.5)) * dpr;
      if (st.kind === 'circle') {
        ctx.beginPath(); ctx.arc(x + pad + sw / 2, cy, 5 * dpr, 0, Math.PI * 2);
        ctx.fillStyle = st.fill || st.stroke || '#888'; ctx.fill(); ctx.setLineDash([]); ctx.stroke();
      } else if (st.kind === 'line') {
        ctx.beginPath(); ctx.moveTo(x + pad, cy); ctx.lineTo(x + pad + sw, cy); ctx.stroke();
      } else {
        ctx.globalAlpha = Math.max(0.35, st.fill_opacity ?? 0.35);
        ctx.fillStyle = st.fill || 'rgba(0,0,0,0)'; ctx.fillRect(x + pad, cy - 6 * dpr, sw, 12 * dpr);
        ctx.globalAlpha = 1; ctx.strokeRect(x + pad, cy - 6 * dpr, sw, 12 * dpr);
      }
      ctx.setLineDash([]);
      ctx.fillStyle = '#1f2933'; ctx.font = `${Math.round(11 * dpr)}px "Noto Sans CJK SC", sans-serif`;
      ctx.fillText(label(l), x + pad * 2 + sw, cy);
    });
  }

  /** A bar of a round length; `mPerDevicePx` metres per printed pixel. */
  scaleBar(ctx, dpr, frame, mPerDevicePx) {
    const target = 140 * dpr * mPerDevicePx;
    const pow = 10 ** Math.floor(Math.log10(target));
    const nice = [1, 2, 5, 10].map((k) => k * pow).filter((v) => v <= target).pop();
    const len = nice / mPerDevicePx;
    const x = frame.x + frame.w - len - 40 * dpr, y = frame.y + frame.h - 20 * dpr;
    ctx.fillStyle = 'rgba(255,255,255,0.94)'; ctx.fillRect(x - 10 * dpr, y - 20 * dpr, len + 44 * dpr, 32 * dpr);
    ctx.fillStyle = '#1f2933'; ctx.fillRect(x, y, len / 2, 5 * dpr);
    ctx.strokeStyle = '#1f2933'; ctx.lineWidth = dpr; ctx.strokeRect(x, y, len, 5 * dpr);
    ctx.font = `${Math.round(10 * dpr)}px "Noto Sans CJK SC", sans-serif`; ctx.textBaseline = 'bottom';
    ctx.fillText('0', x - 3 * dpr, y - dpr);
    const label = nice >= 1000 ? `${nice / 1000} 公里` : `${nice} 米`;
    ctx.fillText(label, x + len - ctx.measureText(label).width / 2, y - dpr);
    ctx.textBaseline = 'middle';
    this.lastBar = { metres: nice, px: len };
  }

  north(ctx, dpr, frame, bearing) {
    const s = 30 * dpr, x = frame.x + frame.w - s - 16 * dpr, y = frame.y + 14 * dpr;
    ctx.save();
    ctx.fillStyle = 'rgba(255,255,255,0.94)'; ctx.fillRect(x - 6 * dpr, y - 4 * dpr, s + 12 * dpr, s + 24 * dpr);
    ctx.translate(x + s / 2, y + s / 2 + 12 * dpr); ctx.rotate((-bearing * Math.PI) / 180);
    ctx.beginPath(); ctx.moveTo(0, -s / 2); ctx.lineTo(s / 4, s / 2); ctx.lineTo(0, s / 4); ctx.closePath();
    ctx.fillStyle = '#1f2933'; ctx.fill();
    ctx.beginPath(); ctx.moveTo(0, -s / 2); ctx.lineTo(-s / 4, s / 2); ctx.lineTo(0, s / 4); ctx.closePath();
    ctx.strokeStyle = '#1f2933'; ctx.lineWidth = dpr; ctx.stroke();
    ctx.restore();
    ctx.fillStyle = '#1f2933'; ctx.font = `bold ${Math.round(12 * dpr)}px "Noto Sans CJK SC", sans-serif`;
    ctx.fillText('北', x + s / 2 - 6 * dpr, y + 6 * dpr);
  }

  async print(o) {
    setStatus('正在制图…', { timeout: 0 });
    const { canvas, scale, zoom } = await this.render(o);
    const base = `kfqmap-${o.paper}-1-${Math.round(scale)}`;
    let name;
    if (o.format === 'pdf') {
      const jpeg = await new Promise((r) => canvas.toBlob(r, 'image/jpeg', 0.92));
      const [a, b] = PAPER_MM[o.paper] || PAPER_MM.A4;
      const [wmm, hmm] = o.orientation === 'portrait' ? [b, a] : [a, b];
      const pdf = pdfWithImage(new Uint8Array(await jpeg.arrayBuffer()), canvas.width, canvas.height,
        (wmm / MM_PER_IN) * 72, (hmm / MM_PER_IN) * 72, o.title);
      name = `${base}.pdf`;
      saveBlob(pdf, name);
    } else {
      name = `${base}.png`;
      saveBlob(await new Promise((r) => canvas.toBlob(r, 'image/png')), name);
    }
    document.body.dataset.lastPrint = JSON.stringify({ width: canvas.width, height: canvas.height, scale, zoom, bar: this.lastBar, name });
    setStatus(`已输出 ${name}（比例尺 1:${fmt(Math.round(scale), 0)}）`);
  }
}

/** A one-page PDF 1.4 whose page (ptW × ptH points) is filled by one JPEG image. */
export function pdfWithImage(jpeg, pxW, pxH, ptW, ptH, title = '') {
  const enc = new TextEncoder();
  const parts = [];
  const offsets = [];
  let len = 0;
  const push = (x) => { const b = typeof x === 'string' ? enc.encode(x) : x; parts.push(b); len += b.length; };
  const obj = (n, write) => { offsets[n] = len; push(`${n} 0 obj\n`); write(); push('\nendobj\n'); };
  const utf16 = (s) => `<FEFF${[...s].map((c) => { const u = c.codePointAt(0); return u > 0xffff ? '003F' : u.toString(16).padStart(4, '0').toUpperCase(); }).join('')}>`;
  const w = ptW.toFixed(2), hh = ptH.toFixed(2);
  push('%PDF-1.4\n');
  obj(1, () => push('<< /Type /Catalog /Pages 2 0 R >>'));
  obj(2, () => push('<< /Type /Pages /Kids [3 0 R] /Count 1 >>'));
  obj(3, () => push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${w} ${hh}] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>`));
  obj(4, () => {
    push(`<< /Type /XObject /Subtype /Image /Width ${pxW} /Height ${pxH} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length ${jpeg.length} >>\nstream\n`);
    push(jpeg); push('\nendstream');
  });
  const content = `q ${w} 0 0 ${hh} 0 0 cm /Im0 Do Q`;
  obj(5, () => push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`));
  obj(6, () => push(`<< /Title ${utf16(title)} /Producer (KFQMap viewer) >>`));
  const xref = len;
  push(`xref\n0 7\n0000000000 65535 f \n${offsets.slice(1).map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`);
  push(`trailer\n<< /Size 7 /Root 1 0 R /Info 6 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
  return new Blob(parts, { type: 'application/pdf' });
}

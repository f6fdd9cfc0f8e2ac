// 导入数据: upload a file, choose the target layer and mode, see the server's validation report and a preview
// overlay of the features where they will land, then commit (POST /imports with commit=true). Every check and
// number is the server's (kfqmap.importing); this module only shows them.

import { postImport } from './api.js';
import { $, h, fmt, setStatus } from './util.js';
import { PLAN_GROUPS } from './layers.js';

const PREVIEW = 'kfqmap-import-preview';
const HOW = { file: '取自文件', option: '按所选坐标系', guess: '按坐标范围推测（待确认）', control_points: '控制点配准' };

export class Importer {
  constructor(app) {
    this.app = app;
    this.dialog = $('#dlg-import');
    this.form = $('#import-form');
    this.reportEl = $('#import-report');
    const groups = [...PLAN_GROUPS, '背景', '额外'];
    $('#import-group').replaceChildren(...groups.map((g) => h('option', { value: g, selected: g === '额外' }, g)));
    for (const radio of this.form.target) radio.addEventListener('change', () => this.syncTarget());
    for (const el of this.form.querySelectorAll('input, select')) el.addEventListener('change', () => this.invalidate());
    $('#btn-import-check').addEventListener('click', () => this.run(false));
    $('#btn-import-commit').addEventListener('click', () => this.run(true));
    $('#btn-import-overlay').addEventListener('click', () => { this.keepOverlay = true; this.dialog.close(); });
    // closing keeps the overlay only after 仅叠加显示 (an overlay-only look at a file: nothing is imported)
    this.dialog.addEventListener('close', () => { if (!this.keepOverlay) this.clearPreview(); });
    $('#btn-clear').addEventListener('click', () => this.clearPreview());
    $('#btn-import-drawing').addEventListener('click', () => this.loadDrawing());
    $('#import-drawing').addEventListener('click', (e) => this.pickOnDrawing(e));
    this.form.file.addEventListener('change', () => { this.pairs = []; this.renderPairs(); $('#import-drawing').setAttribute('hidden', ''); });
    this.pairs = [];
  }

  open() {
    this.keepOverlay = false;
    this.clearPreview();
    this.pairs = [];
    this.drawing = null;
    this.renderPairs();
    $('#import-drawing').setAttribute('hidden', '');
    const spatial = this.app.catalog.layers.filter((l) => l.geometry_type !== 'None');
    $('#import-layer').replaceChildren(...spatial.map((l) => h('option', { value: l.id }, `${l.title_zh}（${l.id}）`)));
    this.syncTarget();
    this.invalidate();
    this.dialog.showModal();
  }

  syncTarget() {
    const existing = this.form.target.value === 'layer';
    $('#import-new').hidden = existing;
    $('#import-existing').hidden = !existing;
    $('#import-new-layer').required = !existing;
  }

  invalidate() {
    $('#btn-import-commit').disabled = true;
    $('#btn-import-overlay').disabled = true;
    this.checked = null;
  }

  formData(commit) {
    const f = this.form;
    const data = new FormData();
    data.append('file', f.file.files[0]);
    if (f.target.value === 'layer') {
      data.append('layer', f.layer.value);
      data.append('mode', f.mode.value);
      if (f.key.value.trim()) data.append('key', f.key.value.trim());
    } else {
      data.append('new_layer', f.new_layer.value.trim());
      if (f.title.value.trim()) data.append('title', f.title.value.trim());
      data.append('group', f.group.value);
    }
    if (f.crs.value) data.append('crs', f.crs.value);
    if (f.swap_xy.checked) data.append('swap_xy', 'true');
    if (f.control_points.files[0]) data.append('control_points', f.control_points.files[0]);
    else if (this.pairs.length) {      // points picked on the drawing and the map → the same CSV the CLI takes
      const rows = this.pairs.map((p, i) => `P${i + 1},${p.sx},${p.sy},${p.lon},${p.lat}`);
      data.append('control_points', new Blob([['name,src_x,src_y,dst_x,dst_y', ...rows].join('\n') + '\n'],
        { type: 'text/csv' }), 'picked_control_points.csv');
      data.append('control_crs', 'EPSG:4326');
    }
    if (f.control_points.files[0] || this.pairs.length) {
      data.append('control_method', f.control_method.value);
      data.append('max_rms', f.max_rms.value || '1');
    }
    data.append(commit ? 'commit' : 'preview', 'true');
    return data;
  }

  async run(commit) {
    if (!this.form.file.files[0]) { this.showError('请先选择要导入的文件'); return; }
    if (this.form.target.value === 'new' && !this.form.new_layer.checkValidity()) {
      this.showError('新图层 id 只能用小写字母、数字和下划线，并以字母开头'); return;
    }
    this.reportEl.replaceChildren(h('p', {}, commit ? '正在写入…' : '正在检查…'));
    try {
      const report = await postImport(this.formData(commit));
      this.showReport(report);
      if (commit) {
        this.clearPreview();
        setStatus(`已导入 ${report.features_imported} 个要素到 ${report.target_title}（导入编号 ${report.import_id}）`);
      } else {
        this.showPreview(report.preview);
        $('#btn-import-commit').disabled = !report.ok;
        $('#btn-import-overlay').disabled = !report.preview?.features?.length;
      }
    } catch (e) {
      this.clearPreview();
      this.showError(e.message);
    }
  }

  // ---------------------------------------------------------------- control points picked on drawing + map
  async loadDrawing() {
    if (!this.form.file.files[0]) { this.showError('请先选择要导入的文件'); return; }
    const data = new FormData();
    data.append('file', this.form.file.files[0]);
    data.append('drawing', 'true');
    try {
      this.drawing = await postImport(data);
    } catch (e) { this.showError(e.message); return; }
    const svg = $('#import-drawing');
    const [minx, miny, maxx, maxy] = this.drawing.bbox;
    const pad = Math.max(maxx - minx, maxy - miny) * 0.03 || 1;
    svg.setAttribute('viewBox', `${minx - pad} ${-maxy - pad} ${maxx - minx + 2 * pad} ${maxy - miny + 2 * pad}`);
    svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
    const ns = 'http://www.w3.org/2000/svg';
    const paths = this.drawing.features.map((f) => {
      const el = document.createElementNS(ns, 'path');
      el.setAttribute('d', svgPath(f.geometry));
      if (f.properties.name) el.appendChild(Object.assign(document.createElementNS(ns, 'title'), { textContent: f.properties.name }));
      return el;
    });
    svg.replaceChildren(...paths);
    svg.removeAttribute('hidden');     // an SVG element has no .hidden property
    this.renderPairs();
  }

  pickOnDrawing(e) {
    const svg = $('#import-drawing');
    const pt = svg.createSVGPoint();
    pt.x = e.clientX; pt.y = e.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    const pending = { sx: +p.x.toFixed(4), sy: +(-p.y).toFixed(4) };
    // the dialog steps aside (keeping the preview) for one click on the map, then comes back
    this.keepOverlay = true;
    this.dialog.close();
    setStatus(`图纸点 (${pending.sx}, ${pending.sy})：请在地图上点击对应位置`, { timeout: 0 });
    document.body.dataset.importPicking = '1';
    this.app.map.once('click', (ev) => {
      delete document.body.dataset.importPicking;
      const [lon, lat] = this.app.coords.mapToWgs(ev.lngLat);     // WGS 84 also over the GCJ-02 (高德) basemap
      this.pairs.push({ ...pending, lon: +lon.toFixed(8), lat: +lat.toFixed(8) });
      setStatus(`已取得第 ${this.pairs.length} 对控制点`);
      this.keepOverlay = false;
      this.renderPairs();
      this.invalidate();
      this.dialog.showModal();
    });
  }

  renderPairs() {
    const list = $('#import-pairs');
    list.replaceChildren(...this.pairs.map((p, i) => h('li', {},
      `P${i + 1}：图纸 (${fmt(p.sx, 2)}, ${fmt(p.sy, 2)}) → 地图 (${p.lon.toFixed(6)}, ${p.lat.toFixed(6)})`,
      h('button', { type: 'button', class: 'secondary', onclick: () => { this.pairs.splice(i, 1); this.renderPairs(); this.invalidate(); } }, '删除'))));
    const svg = $('#import-drawing');
    for (const c of [...svg.querySelectorAll('circle')]) c.remove();
    if (!this.drawing) return;
    const [minx, miny, maxx, maxy] = this.drawing.bbox;
    const r = Math.max(maxx - minx, maxy - miny) * 0.008 || 1;
    for (const p of this.pairs) {
      const c = document.createElementNS('http://www.w3.org/2000/svg', 'circle');
      c.setAttribute('cx', p.sx); c.setAttribute('cy', -p.sy); c.setAttribute('r', r);
      svg.appendChild(c);
    }
  }

  showError(message) {
    $('#btn-import-commit').disabled = true;
    $('#btn-import-overlay').disabled = true;
    this.reportEl.replaceChildren(h('p', { class: 'error', role: 'alert' }, message));
  }

  showReport(r) {
    const rows = [
      ['来源', `${r.source}（${r.reader}）`],
      ['目标', `${r.target_title}（${r.target}）${r.new_layer ? '，新建' : `，${r.mode}`}`],
      ['编码', `${r.encoding || '—'}（${r.encoding_origin || '—'}）`],
      ['坐标系', `${r.crs}（${HOW[r.crs_how] || r.crs_how}${r.swapped_xy ? '，x/y 互换' : ''}）`],
      ['要素', `读入 ${r.features_read}（${Object.entries(r.counts_by_type).map(([k, v]) => `${k} ${v}`).join('，')}），导入 ${r.features_imported}`],
    ];
    if (r.area_m2) rows.push(['面积', `${fmt(r.area_mu, 2)} 亩`]);
    if (r.length_m) rows.push(['长度', `${fmt(r.length_m / 1000, 3)} km`]);
    if (r.control_points) rows.push(['控制点', `RMS ${fmt(r.control_points.rms_m, 3)} m；残差 ${r.control_points.residuals_m.map((v) => fmt(v, 3)).join('、')} m`]);
    for (const o of r.overlaps || []) rows.push(['重叠', `${o.title} ${fmt(o.area_mu, 2)} 亩`]);
    if (r.invalid?.length) rows.push(['无效几何', r.invalid.map((i) => `${i.feature}：${i.reason}${i.repaired ? '（已修复）' : ''}`).join('；')]);
    if (r.matching) rows.push(['匹配', `对上 ${r.matching.matched} 个；旧要素未匹配 ${r.matching.unmatched_old.length} 个；新要素未匹配 ${r.matching.unmatched_new.length} 个`]);
    rows.push(['字段', r.columns.map((c) => `${c.source}→${c.target ?? '舍弃'}`).join('；')]);
    const table = h('table', {}, rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v))));
    const lines = [
      ...r.notes.map((n) => h('li', {}, n)),
      ...r.warnings.map((w) => h('li', { class: 'warning' }, `警告：${w}`)),
      ...r.errors.map((e) => h('li', { class: 'error' }, `错误：${e}`)),
    ];
    const verdict = r.committed
      ? h('p', { class: 'ok', id: 'import-verdict' }, `已导入（编号 ${r.import_id}）。刷新页面后新数据出现在地图上。`,
        h('button', { type: 'button', class: 'secondary', onclick: () => window.location.reload() }, '刷新地图'))
      : h('p', { class: r.ok ? 'ok' : 'error', id: 'import-verdict' }, r.ok ? '检查通过：可以导入（预览见地图）' : '有错误，不能导入');
    this.reportEl.replaceChildren(verdict, table, h('ul', {}, lines));
  }

  showPreview(fc) {
    this.clearPreview();
    if (!fc || !fc.features?.length) return;
    const map = this.app.map;
    map.addSource(PREVIEW, { type: 'geojson', data: fc });
    map.addLayer({ id: `${PREVIEW}-fill`, type: 'fill', source: PREVIEW, filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': '#ff6f00', 'fill-opacity': 0.35 } });
    map.addLayer({ id: `${PREVIEW}-line`, type: 'line', source: PREVIEW,
      paint: { 'line-color': '#e65100', 'line-width': 2, 'line-dasharray': [2, 1] } });
    map.addLayer({ id: `${PREVIEW}-point`, type: 'circle', source: PREVIEW, filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-color': '#ff6f00', 'circle-radius': 6, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
    const b = bounds(fc);
    if (b) map.fitBounds(b, { padding: 60, maxZoom: 16, duration: 0 });
    document.body.dataset.importPreview = String(fc.features.length);
  }

  clearPreview() {
    const map = this.app.map;
    for (const id of [`${PREVIEW}-fill`, `${PREVIEW}-line`, `${PREVIEW}-point`]) if (map.getLayer(id)) map.removeLayer(id);
    if (map.getSource(PREVIEW)) map.removeSource(PREVIEW);
    delete document.body.dataset.importPreview;
  }
}

/** A GeoJSON geometry in drawing coordinates → an SVG path (y flipped: the drawing's y goes up). */
function svgPath(g) {
  const ring = (cs, close) => cs.map((c, i) => `${i ? 'L' : 'M'}${c[0]} ${-c[1]}`).join('') + (close ? 'Z' : '');
  switch (g.type) {
    case 'Polygon': return g.coordinates.map((r) => ring(r, true)).join('');
    case 'MultiPolygon': return g.coordinates.flatMap((p) => p.map((r) => ring(r, true))).join('');
    case 'LineString': return ring(g.coordinates, false);
    case 'MultiLineString': return g.coordinates.map((l) => ring(l, false)).join('');
    case 'Point': return `M${g.coordinates[0]} ${-g.coordinates[1]}h0.001`;
    case 'MultiPoint': return g.coordinates.map((c) => `M${c[0]} ${-c[1]}h0.001`).join('');
    default: return '';
  }
}

function bounds(fc) {
  let minx = Infinity, miny = Infinity, maxx = -Infinity, maxy = -Infinity;
  const visit = (c) => {
    if (typeof c[0] === 'number') {
      minx = Math.min(minx, c[0]); maxx = Math.max(maxx, c[0]); miny = Math.min(miny, c[1]); maxy = Math.max(maxy, c[1]);
    } else c.forEach(visit);
  };
  for (const f of fc.features) if (f.geometry) visit(f.geometry.coordinates);
  return Number.isFinite(minx) ? [[minx, miny], [maxx, maxy]] : null;
}

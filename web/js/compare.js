// The 对比 panel (对比分析): two layers (or two versions of a layer loaded beside it) compared by the server
// (GET /compare?a=&b=&by=&geometry=true): counts, 亩 gained and lost, the changed features listed, and on the map
// the differences highlighted — added green, removed red, changed amber (the earlier outline dashed). A swipe
// (卷帘) shows layer A left of the handle and layer B right of it, on two synchronised maps.

import { getJSON, postJSON } from './api.js';
import { h, fmt } from './util.js';

const SRC = 'kfq-compare';
export const CHANGE_COLOURS = { added: '#2e9d4f', removed: '#d7301f', changed: '#f0a202' };
const CHANGE_ZH = { added: '新增', removed: '删除', changed: '修改' };
const COLOUR_EXPR = ['match', ['get', 'change'], 'added', CHANGE_COLOURS.added, 'removed', CHANGE_COLOURS.removed, CHANGE_COLOURS.changed];

export function renderCompare(app, container) {
  const polygons = app.catalog.layers.filter((l) => ['Polygon', 'MultiPolygon'].includes(l.geometry_type));
  const all = app.catalog.layers.filter((l) => l.geometry_type !== 'None');
  const opt = (l, sel) => h('option', { value: l.id, selected: l.id === sel }, `${l.title_zh}（${l.id}）`);
  const first = all.find((l) => l.id === 'low_efficiency_land') ? 'low_efficiency_land' : all[0]?.id;
  const selA = h('select', { id: 'cmp-a', 'aria-label': '图层 A（之前）' }, all.map((l) => opt(l, first)));
  const selB = h('select', { id: 'cmp-b', 'aria-label': '图层 B（之后）' }, all.map((l) => opt(l, first)));
  const file = h('input', { type: 'file', id: 'cmp-file', class: 'sr-only', accept: '.geojson,.json,application/geo+json', 'aria-label': '或上传 B 的 GeoJSON 文件' });
  const fileName = h('span', { class: 'file-name' }, '未选择文件');
  const pick = h('label', { class: 'file-pick', for: 'cmp-file' }, '选择 GeoJSON…');
  const fileCrs = h('select', { id: 'cmp-file-crs', 'aria-label': '上传文件的坐标系' },
    ['EPSG:4326', 'EPSG:4490', 'EPSG:4549', 'EPSG:4528', 'GCJ-02'].map((c) => h('option', { value: c }, c)));
  let upload = null;      // {name, doc}: an imported version of layer A, compared instead of layer B
  file.addEventListener('change', async () => {
    upload = null;
    const f = file.files[0];
    fileName.textContent = f ? f.name : '未选择文件';
    if (!f) return;
    try { upload = { name: f.name, doc: JSON.parse(await f.text()) }; } catch {
      out.replaceChildren(h('p', { class: 'error' }, `无法读取 ${f.name}：不是有效的 GeoJSON`)); file.value = '';
    }
  });
  const selBy = h('select', { id: 'cmp-by', 'aria-label': '汇总图层' }, h('option', { value: '' }, '不汇总'),
    polygons.map((l) => opt(l, 'parks')));
  const run = h('button', { type: 'button', id: 'cmp-run', class: 'primary' }, '对比');
  const swipe = h('button', { type: 'button', id: 'cmp-swipe', disabled: true, title: '左侧显示 A，右侧显示 B，拖动中线比较' }, '卷帘');
  const side = h('button', { type: 'button', id: 'cmp-side', disabled: true, title: '左右两幅同步地图：左 A，右 B' }, '并排');
  const out = h('div', { id: 'cmp-result' });
  container.replaceChildren(
    h('div', { class: 'cmp-form' },
      h('label', {}, 'A（之前）', selA), h('label', {}, 'B（之后）', selB),
      h('div', { class: 'cmp-row' }, h('span', {}, '或上传 B'), h('span', { class: 'cmp-file' }, file, pick, fileName, fileCrs)),
      h('label', {}, '按区域汇总', selBy),
      h('div', { class: 'cmp-actions' }, run, swipe, side)),
    h('p', { class: 'hint' }, '按要素编号（id）匹配 A 与 B：新增为绿色，删除为红色，修改为橙色（虚线为修改前的轮廓）。面积为 CGCS2000 椭球面积。'),
    out);
  let swiper = null;
  let bData = null;       // the uploaded version's changed features, drawn on the second map instead of a layer
  run.addEventListener('click', async () => {
    out.replaceChildren(h('div', { class: 'loading' }, '正在对比…'));
    const params = new URLSearchParams({ a: selA.value, b: selB.value, geometry: 'true' });
    if (selBy.value) params.set('by', selBy.value);
    let c;
    try {
      c = upload
        ? await postJSON('/compare', { a: selA.value, b: upload.doc, crs: fileCrs.value === 'GCJ-02' ? 'gcj02' : fileCrs.value,
          by: selBy.value || null, geometry: true })
        : await getJSON(`/compare?${params}`);
    } catch (e) {
      out.replaceChildren(h('p', { class: 'error' }, `对比失败：${e.message}`)); return;
    }
    if (upload) c.b = `上传：${upload.name}`;
    // the second map draws the uploaded version itself when it is lon/lat, else the changed features (the server
    // returns those in WGS 84)
    bData = !upload ? null : (['EPSG:4326', 'EPSG:4490'].includes(fileCrs.value) ? upload.doc
      : { type: 'FeatureCollection', features: c.features.filter((f) => f.change !== 'removed' && f.geometry)
        .map((f) => ({ type: 'Feature', geometry: f.geometry, properties: { id: f.id } })) });
    container.dataset.compared = `${c.a}|${c.b}`;
    draw(app, c);
    out.replaceChildren(...result(app, c));
    swipe.disabled = side.disabled = !upload && c.a === c.b;
  });
  const toggle = (btn, mode) => {
    const was = swiper?.mode;
    if (swiper) { swiper.close(); swiper = null; swipe.classList.remove('active'); side.classList.remove('active'); }
    if (was === mode) return;
    swiper = new Swipe(app, selA.value, bData ? 'upload' : selB.value, mode, bData);
    btn.classList.add('active');
  };
  swipe.addEventListener('click', () => toggle(swipe, 'swipe'));
  side.addEventListener('click', () => toggle(side, 'side'));
}

function result(app, c) {
  const n = c.counts;
  const chip = (k) => { const s = h('span', { class: 'status-chip' }, CHANGE_ZH[k]); s.style.background = CHANGE_COLOURS[k]; return s; };
  const head = h('div', { class: 'cmp-summary', id: 'cmp-summary' },
    h('span', {}, chip('added'), ` ${n.added}`), h('span', {}, chip('removed'), ` ${n.removed}`),
    h('span', {}, chip('changed'), ` ${n.changed}`), h('span', {}, `未变 ${n.unchanged}`),
    h('div', { class: 'cmp-area' }, `增加 ${fmt(c.gained_mu, 2)} 亩 · 减少 ${fmt(c.lost_mu, 2)} 亩 · 净 ${c.net_mu >= 0 ? '+' : ''}${fmt(c.net_mu, 2)} 亩`));
  const list = h('ul', { class: 'cmp-list', id: 'cmp-list' });
  for (const f of c.features) {
    const attrs = f.attributes.map((a) => `${a.name}：${a.a ?? '—'} → ${a.b ?? '—'}`).join('；');
    const area = f.change === 'added' ? `+${fmt(f.gained_mu, 2)} 亩` : f.change === 'removed' ? `−${fmt(f.lost_mu, 2)} 亩`
      : (f.geometry_changed ? `+${fmt(f.gained_mu, 2)} / −${fmt(f.lost_mu, 2)} 亩` : '');
    const li = h('li', { dataset: { id: f.id, change: f.change } }, chip(f.change), ' ', h('b', {}, f.name || f.id), ' ',
      h('span', { class: 'num' }, area), attrs ? h('div', { class: 'why' }, attrs) : null);
    li.addEventListener('click', () => fitTo(app, f.geometry || f.geometry_a));
    list.append(li);
  }
  const parts = [head, c.features.length ? list : h('p', { class: 'hint' }, '两者相同：没有新增、删除或修改的要素。')];
  if (c.by_zone?.length) {
    const t = h('table', { class: 'cmp-zones' }, h('tr', {}, ['区域', '新增', '删除', '修改', '增加(亩)', '减少(亩)'].map((x) => h('th', {}, x))));
    for (const z of c.by_zone) {
      t.append(h('tr', {}, [z.zone_name || z.zone_id, z.added, z.removed, z.changed, fmt(z.gained_mu, 2), fmt(z.lost_mu, 2)].map((x) => h('td', {}, String(x)))));
    }
    parts.push(h('h3', {}, `按 ${c.by} 汇总`), t);
  }
  for (const note of c.notes || []) parts.push(h('p', { class: 'hint' }, note));
  return parts;
}

function draw(app, c) {
  const map = app.map;
  const feats = [];
  for (const f of c.features) {
    if (f.geometry) feats.push({ type: 'Feature', geometry: f.geometry, properties: { id: f.id, change: f.change, before: false } });
    if (f.geometry_a) feats.push({ type: 'Feature', geometry: f.geometry_a, properties: { id: f.id, change: f.change, before: true } });
  }
  const data = { type: 'FeatureCollection', features: feats };
  if (map.getSource(SRC)) { map.getSource(SRC).setData(data); return; }
  map.addSource(SRC, { type: 'geojson', data });
  map.addLayer({ id: 'kfq-cmp-fill', type: 'fill', source: SRC, filter: ['all', ['==', ['geometry-type'], 'Polygon'], ['!', ['get', 'before']]],
    paint: { 'fill-color': COLOUR_EXPR, 'fill-opacity': 0.35 } });
  map.addLayer({ id: 'kfq-cmp-line', type: 'line', source: SRC, filter: ['!', ['get', 'before']],
    paint: { 'line-color': COLOUR_EXPR, 'line-width': 2.5 } });
  map.addLayer({ id: 'kfq-cmp-before', type: 'line', source: SRC, filter: ['get', 'before'],
    paint: { 'line-color': CHANGE_COLOURS.changed, 'line-width': 2, 'line-dasharray': [2, 2] } });
  map.addLayer({ id: 'kfq-cmp-point', type: 'circle', source: SRC, filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-radius': 7, 'circle-color': COLOUR_EXPR, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
}

function fitTo(app, g) {
  if (!g) return;
  const xs = [], ys = [];
  const walk = (c) => { if (typeof c[0] === 'number') { xs.push(c[0]); ys.push(c[1]); } else c.forEach(walk); };
  walk(g.coordinates);
  app.map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 80, maxZoom: 16 });
}

/** 卷帘 (``mode`` 'swipe'): a second map over the first, clipped to the right of a draggable handle, moving with
 *  it. 并排 ('side'): the main map in the left half, the second in the right half. The main map shows layer A only,
 *  the second layer B only; closing restores the main map's layers and size. */
class Swipe {
  constructor(app, a, b, mode = 'swipe', bData = null) {
    this.app = app;
    this.mode = mode;
    const map = app.map;
    const wrap = map.getContainer().parentElement;
    this.before = app.layers.visibleIds();
    for (const id of this.before) if (id !== a) app.layers.setVisible(id, false);
    const aStyled = hasStyleLayers(app, a);
    if (aStyled) app.layers.setVisible(a, true); else this.aLayer = addItemsLayer(map, a, '#1d4e89');
    this.box = h('div', { class: 'swipe-map', id: 'swipe-map' });
    this.handle = h('div', { class: 'swipe-handle', id: 'swipe-handle', role: 'separator', 'aria-label': '卷帘分隔线（左 A，右 B）' },
      h('span', { class: 'swipe-label left' }, 'A'), h('span', { class: 'swipe-label right' }, 'B'));
    wrap.append(this.box, this.handle);
    // the second map: the same basemap and context, every plan layer hidden; layer B drawn from its items
    const style = app.styleFor(app.base);
    for (const l of style.layers) {
      if (app.catalogIdOfStyleLayer(l.id)) l.layout = { ...(l.layout || {}), visibility: 'none' };
    }
    // eslint-disable-next-line no-undef
    this.map2 = new maplibregl.Map({ container: this.box, style, center: map.getCenter(), zoom: map.getZoom(),
      bearing: map.getBearing(), pitch: map.getPitch(), interactive: false, attributionControl: false });
    this.map2.on('load', () => { this.bLayer = addItemsLayer(this.map2, b, '#7b4fa0', bData); });
    window.kfqSwipeMap = this.map2;
    this.sync = () => this.map2.jumpTo({ center: map.getCenter(), zoom: map.getZoom(), bearing: map.getBearing(), pitch: map.getPitch() });
    map.on('move', this.sync);
    if (mode === 'side') {
      wrap.classList.add('side-by-side');
      this.box.classList.add('side');
      this.handle.classList.add('side');
      map.resize();
      this.map2.resize();
      this.sync();
      document.body.dataset.sideBySide = `${a}|${b}`;
      return;
    }
    this.setX(wrap.clientWidth / 2);
    const drag = (e) => { const r = wrap.getBoundingClientRect(); this.setX(Math.min(Math.max(e.clientX - r.left, 0), r.width)); };
    this.handle.addEventListener('pointerdown', (e) => {
      this.handle.setPointerCapture(e.pointerId);
      this.handle.addEventListener('pointermove', drag);
      this.handle.addEventListener('pointerup', () => this.handle.removeEventListener('pointermove', drag), { once: true });
    });
    document.body.dataset.swipe = `${a}|${b}`;
  }

  setX(x) {
    this.x = x;
    this.box.style.clipPath = `inset(0 0 0 ${x}px)`;
    this.handle.style.left = `${x}px`;
  }

  close() {
    const map = this.app.map;
    map.off('move', this.sync);
    if (this.aLayer) for (const id of [...this.aLayer.layers].reverse()) if (map.getLayer(id)) map.removeLayer(id);
    if (this.aLayer && map.getSource(this.aLayer.source)) map.removeSource(this.aLayer.source);
    this.map2.remove();
    delete window.kfqSwipeMap;
    this.box.remove();
    this.handle.remove();
    if (this.mode === 'side') {
      map.getContainer().parentElement.classList.remove('side-by-side');
      map.resize();
      delete document.body.dataset.sideBySide;
    }
    for (const id of this.app.layers.visibleIds()) if (!this.before.includes(id)) this.app.layers.setVisible(id, false);
    for (const id of this.before) this.app.layers.setVisible(id, true);
    delete document.body.dataset.swipe;
  }
}

function hasStyleLayers(app, id) {
  return (app.map.getStyle()?.layers || []).some((l) => app.catalogIdOfStyleLayer(l.id) === id);
}

/** A layer's features (GET /collections/{id}/items) drawn as a GeoJSON overlay: for layers the plan style lacks
 *  (extra layers, an imported version) and for the swipe's second map. */
function addItemsLayer(map, id, colour, data = null) {
  const source = `kfq-swipe-${id}`;
  const layers = [`${source}-fill`, `${source}-line`, `${source}-point`];
  map.addSource(source, { type: 'geojson', data: data || `/collections/${encodeURIComponent(id)}/items?f=json&limit=10000` });
  map.addLayer({ id: layers[0], type: 'fill', source, filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': colour, 'fill-opacity': 0.3 } });
  map.addLayer({ id: layers[1], type: 'line', source, filter: ['!=', ['geometry-type'], 'Point'],
    paint: { 'line-color': colour, 'line-width': 1.8 } });
  map.addLayer({ id: layers[2], type: 'circle', source, filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-radius': 5, 'circle-color': colour, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 } });
  return { source, layers };
}

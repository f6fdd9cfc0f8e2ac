// KFQMap viewer: wires the map, the layer panel, popups, search, statistics, drawing queries, export and the
// URL hash together. Plain ES modules, no build step; MapLibre GL JS is the UMD build served by our server.

import { getJSON, qs, search, getCollection } from './api.js';
import { $, $$, h, setStatus, debounce } from './util.js';
import { LayerManager, prepareStyle, gcjStyle, PLAN_GROUPS, catalogIdOf } from './layers.js';
import { readHash, writeHash } from './hash.js';
import { openFeaturePopup, hitsAt } from './popup.js';
import { renderStats } from './stats.js';
import { renderIndicators } from './monitor.js';
import { DrawTools } from './draw.js';
import { Exporter } from './exporter.js';
import { Importer } from './importer.js';
import { BASEMAPS, addBasemap } from './basemaps.js';
import { CoordTools } from './coords.js';
import { AttributeTable } from './attrtable.js';
import { NearQuery } from './near.js';
import { TimeSlider } from './timeslider.js';
import { Bookmarks } from './bookmarks.js';
import { showIndicator } from './indicatorcard.js';
import { Printer } from './print.js';
import { store } from './store.js';
import { Auth } from './auth.js';
import { EditMode } from './edit.js';
import { HistoryOverlay } from './history.js';
import { CompareTool } from './compare.js';

const DEFAULT_VIEW = { center: [121.02, 31.36], zoom: 11.6 };
const HIGHLIGHT_SRC = 'kfq-highlight';

class App {
  constructor() {
    this.cache = { layerStats: new Map() };
    this.selection = null;
    this.base = 'offline';
    this.config = { tianditu_key: '', online_basemaps: true };
    this.layers = new LayerManager(this);
    this.draw = new DrawTools(this);
    this.auth = new Auth(this);          // 登录/退出 (issue 13)
    this.edit = new EditMode(this);      // 编辑 mode
    this.history = new HistoryOverlay(this);   // old outlines of 修改记录
    this.compare = new CompareTool(this);
    this._indicators = null;
    this.ready = false;
  }

  /** Coordinates on the map are GCJ-02 while the AMap basemap is on, WGS 84 otherwise. */
  get crs() { return BASEMAPS[this.base]?.gcj ? 'GCJ-02' : 'EPSG:4326'; }

  indicators() {
    if (!this._indicators) {
      this._indicators = getJSON('/indicators').then((r) => (Array.isArray(r) ? r : (r.indicators || r.items || r.features?.map((f) => f.properties) || [])));
    }
    return this._indicators;
  }

  async start() {
    // the session is read beside the first loads (no extra wait); a closed server (KFQMAP_ANONYMOUS=none) answers
    // them 401: then the login dialog comes first and the loads are made again once signed in
    const signedIn = this.auth.start();
    const hash = readHash();
    const load = () => Promise.all([
      getJSON('/web/config.json').catch(() => this.config),
      getJSON('/web/catalog.json'),
      getJSON('/styles/plan.json'),
      getJSON('/collections/etdz_extent?f=json').catch(() => null),
    ]);
    let loaded;
    try { loaded = await load(); } catch (err) {
      if (err.status !== 401) throw err;
      await signedIn;
      loaded = await load();
    }
    await signedIn;
    const [config, catalog, style, extent] = loaded;
    this.config = config;
    const layers = catalog.layers || catalog;
    this.catalog = { layers, byId: new Map(layers.map((l) => [l.id, l])) };
    this.planStyle = prepareStyle(style);
    this.legend = new Map((style.metadata?.['kfqmap:legend'] || []).map((e) => [e.id, e]));
    this.styleLayerToCatalog = new Map();

    // initial visibility: the hash, else every plan layer + the offline basemap's context layers
    const spatial = layers.filter((l) => l.geometry_type !== 'None');
    let initial = hash.layers ? hash.layers.filter((id) => this.catalog.byId.has(id)) : spatial.map((l) => l.id);
    const unknown = (hash.layers || []).filter((id) => !this.catalog.byId.has(id));
    if (unknown.length) {
      // a link from an older version or with a typo: say so, and never open a blank map
      this.startupMessage = `链接中的图层不存在：${unknown.join('、')}${initial.length ? '（已忽略）' : '；已显示全部图层'}`;
      if (!initial.length) initial = spatial.map((l) => l.id);
    }
    for (const id of initial) this.layers.visible.add(id);
    for (const [id, v] of Object.entries(hash.opacity || {})) if (this.catalog.byId.has(id)) this.layers.opacity.set(id, v);
    this.pendingPopup = !!hash.popup;
    if (hash.base && BASEMAPS[hash.base]) this.base = hash.base;
    if (!config.online_basemaps) $('#online-basemaps').hidden = true;
    $('#tdt-key').value = localStorage.getItem('kfqmap.tianditu_key') || config.tianditu_key || '';

    const bbox = extent?.extent?.spatial?.bbox?.[0];
    const bounds = Array.isArray(bbox) && bbox.length >= 4 ? [[bbox[0], bbox[1]], [bbox[2], bbox[3]]] : null;
    this.map = new maplibregl.Map({
      container: 'map',
      style: this.styleFor(this.base),
      ...(hash.center ? { center: hash.center, zoom: hash.zoom } : bounds
        ? { bounds, fitBoundsOptions: { padding: 24 } } : DEFAULT_VIEW),
      bearing: hash.bearing || 0,
      hash: false,
      attributionControl: { compact: true },
      canvasContextAttributes: { preserveDrawingBuffer: true, antialias: true },
      preserveDrawingBuffer: true,
      localIdeographFontFamily: '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", sans-serif',
      maxZoom: 19,
    });
    window.kfqMap = this.map;     // for tests and the console
    window.kfqApp = this;
    this.map.addControl(new maplibregl.NavigationControl({ visualizePitch: false }), 'top-right');
    this.map.addControl(new NorthArrow(), 'top-right');
    this.map.addControl(new maplibregl.ScaleControl({ maxWidth: 160, unit: 'metric' }), 'bottom-right');
    this.map.on('style.load', () => this.onStyleLoad());
    this.map.on('error', (e) => {
      // an online basemap that cannot be reached (no network, blocked, bad key): say so once per switch
      const src = e.sourceId || e.source?.id || '';
      if (!String(src).startsWith('basemap:')) { console.error(e.error || e); return; }   // MapLibre's default, kept
      if (this.basemapWarned === this.base) return;
      this.basemapWarned = this.base;
      setStatus(`${BASEMAPS[this.base]?.title || '在线底图'}无法加载（可能没有网络或密钥无效）；规划图层不受影响，可切回“离线底图”`, { error: true, timeout: 0 });
      document.body.dataset.basemapError = this.base;
    });
    this.map.on('moveend', () => this.onViewChange());
    this.coords = new CoordTools(this);
    this.coords.bind();
    this.map.on('zoom', () => { $('#status-zoom').textContent = `缩放 ${this.map.getZoom().toFixed(1)}`; });
    this.map.on('mousemove', debounce((e) => this.hoverCursor(e), 30));
    this.draw.bind();
    this.near = new NearQuery(this);             // 周边查询 with its buffer ring (issue 15)
    this.timeSlider = new TimeSlider(this);      // 时间轴
    this.bookmarks = new Bookmarks(this);        // 书签 and the note of a shared link
    this.exporter = new Exporter(this);
    this.importer = new Importer(this);
    this.attrTable = new AttributeTable(this);
    this.printer = new Printer(this);
    this.bindUi();
    this.edit.bind();
    this.edit.bindPanel();
    this.pendingSelection = hash.selection || null;

    renderStats(this, $('#tab-stats'));
    renderIndicators(this, $('#tab-indicators'));
  }

  styleFor(base) {
    return BASEMAPS[base]?.gcj ? gcjStyle(this.planStyle) : structuredClone(this.planStyle);
  }

  onStyleLoad() {
    const style = this.map.getStyle();
    this.styleLayerToCatalog = new Map(style.layers.map((l) => [l.id, catalogIdOf(l)]));
    if (this.base !== 'offline') addBasemap(this.map, this.base, { key: $('#tdt-key').value.trim() });
    this.scaleForScreen(style);
    this.layers.onStyle(this.map.getStyle());
    this.installHighlight();
    this.draw.install();
    this.history.install();
    this.edit.install();
    if (!this.ready) {
      this.ready = true;
      this.layers.renderPanel($('#layer-groups'));
      $$('input[name=basemap]').forEach((r) => { r.checked = r.value === this.base; });
      if (this.pendingSelection) {
        const s = this.pendingSelection; this.pendingSelection = null;
        if (!this.catalog.byId.has(s.layer)) this.startupMessage = `链接中选中的图层不存在：${s.layer}`;
        else if (this.pendingPopup) this.map.once('idle', () => this.openPopupFor(s));
        else this.select(s, { zoom: false });
      }
      if (this.startupMessage) setStatus(this.startupMessage, { error: true, timeout: 20000 });
      this.map.once('idle', () => { document.body.dataset.mapReady = '1'; });
    } else if (this.selection) {
      this.select(this.selection, { zoom: false });
    }
  }

  /** On a wall screen the map's labels and symbols grow with the UI (the style is written for a laptop). */
  scaleForScreen(style) {
    const k = Math.min(2.2, Math.max(1, window.innerWidth / 1700));
    document.body.dataset.mapScale = k.toFixed(2);
    if (k < 1.05) return;
    for (const l of style.layers) {
      const scale = (kind, prop) => {
        const v = l[kind]?.[prop];
        if (typeof v === 'number') this.map[kind === 'layout' ? 'setLayoutProperty' : 'setPaintProperty'](l.id, prop, v * k);
      };
      if (l.type === 'symbol') { scale('layout', 'text-size'); scale('paint', 'text-halo-width'); }
      if (l.type === 'circle') { scale('paint', 'circle-radius'); scale('paint', 'circle-stroke-width'); }
      if (l.type === 'line') scale('paint', 'line-width');
    }
  }

  installHighlight() {
    const map = this.map;
    map.addSource(HIGHLIGHT_SRC, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    map.addLayer({ id: 'kfq-hl-fill', type: 'fill', source: HIGHLIGHT_SRC, filter: ['==', ['geometry-type'], 'Polygon'],
      paint: { 'fill-color': ['case', ['get', 'selected'], '#f2a900', '#2b8cbe'], 'fill-opacity': 0.22 } });
    map.addLayer({ id: 'kfq-hl-line', type: 'line', source: HIGHLIGHT_SRC, filter: ['!=', ['geometry-type'], 'Point'],
      paint: { 'line-color': ['case', ['get', 'selected'], '#e67e00', '#1f6fa8'], 'line-width': ['case', ['get', 'selected'], 4, 2.5] } });
    map.addLayer({ id: 'kfq-hl-point', type: 'circle', source: HIGHLIGHT_SRC, filter: ['==', ['geometry-type'], 'Point'],
      paint: { 'circle-radius': 10, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': ['case', ['get', 'selected'], '#e67e00', '#1f6fa8'], 'circle-stroke-width': 3 } });
    this.highlight = { selected: null, results: [] };
  }

  refreshHighlight() {
    const src = this.map.getSource(HIGHLIGHT_SRC);
    if (!src) return;
    const feats = [...(this.highlight.results || [])];
    if (this.highlight.selected) feats.push(this.highlight.selected);
    src.setData({ type: 'FeatureCollection', features: feats });
  }

  async fetchFeature(layer, id) {
    const params = { f: 'json' };
    if (this.crs !== 'EPSG:4326') params.crs = this.crs;
    return getJSON(`/collections/${encodeURIComponent(layer)}/items/${encodeURIComponent(id)}?${qs(params)}`);
  }

  /** Select a feature (highlight, URL hash; optionally zoom to it). `null` clears. */
  async select(sel, { zoom = false } = {}) {
    this.selection = sel;
    store.set('selection', sel);
    this.onViewChange();
    if (!sel) { if (this.highlight) { this.highlight.selected = null; this.refreshHighlight(); } return; }
    try {
      const f = await this.fetchFeature(sel.layer, sel.id);
      if (this.selection !== sel) return;
      this.highlight.selected = { type: 'Feature', geometry: f.geometry, properties: { selected: true } };
      this.refreshHighlight();
      if (zoom && f.geometry) {
        this.layers.setVisible(sel.layer, true);
        const cb = document.querySelector(`input[data-layer="${sel.layer}"]`); if (cb) cb.checked = true;
        const bb = bboxOf(f.geometry);
        const isPoint = bb[0] === bb[2] && bb[1] === bb[3];
        if (isPoint) this.map.flyTo({ center: [bb[0], bb[1]], zoom: Math.max(this.map.getZoom(), 14.5) });
        else this.map.fitBounds([[bb[0], bb[1]], [bb[2], bb[3]]], { padding: 80, maxZoom: 16 });
      }
    } catch (err) { setStatus(`无法定位要素：${err.message}`, { error: true }); }
  }

  async setResultHighlight(rows) {
    if (!this.highlight) return;
    const feats = await Promise.all(rows.slice(0, 200).map((r) => this.fetchFeature(r.layer, r.id).catch(() => null)));
    this.highlight.results = feats.filter(Boolean).map((f) => ({ type: 'Feature', geometry: f.geometry, properties: { selected: false } }));
    this.refreshHighlight();
  }

  setTool(mode) { this.draw.setMode(mode); }

  catalogIdOfStyleLayer(id) { return this.styleLayerToCatalog.get(id); }

  async onSelectClick(e) {
    const hits = hitsAt(this, e.point);
    if (this.currentPopup) { this.currentPopup.remove(); this.currentPopup = null; }
    if (!hits.length) { this.select(null); return; }
    await openFeaturePopup(this, e.lngLat, hits);
  }

  hoverCursor(e) {
    if (this.draw.mode !== 'select' || !this.ready) return;
    const hits = this.map.queryRenderedFeatures(e.point, { layers: this.layers.interactiveLayers() });
    this.map.getCanvas().style.cursor = hits.length ? 'pointer' : '';
  }

  onViewChange() {
    if (!this.map) return;
    writeHash({ map: this.map, layers: this.layers.visibleIds(), selection: this.selection, base: this.base,
      opacity: Object.fromEntries(this.layers.opacity), popup: !!this.currentPopup?.isOpen?.() });
  }

  /** Open a feature's popup at a point on it (search results, permalinks with pop=1). */
  async openPopupFor(sel, { zoom = false } = {}) {
    try {
      const f = await this.fetchFeature(sel.layer, sel.id);
      const at = pointOn(f.geometry);
      if (zoom) await this.select(sel, { zoom: true });
      if (this.currentPopup) this.currentPopup.remove();
      await openFeaturePopup(this, { lng: at[0], lat: at[1] }, [{ layer: sel.layer, id: String(sel.id), name: sel.name }]);
      this.onViewChange();
    } catch (err) { setStatus(`无法打开要素：${err.message}`, { error: true }); }
  }

  showTab(name, { focus = false } = {}) {
    for (const t of $$('.tab')) {
      const on = t.dataset.tab === name;
      t.classList.toggle('active', on);
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      if (on && focus) t.focus();
    }
    for (const p of $$('.tab-page')) p.hidden = p.id !== `tab-${name}`;
    $('.layout').classList.remove('right-collapsed');
    if (isNarrow()) this.openDrawer('side-panel', true);
  }

  /** Phones and tablets: the two panels are drawers over the map, closed at start (see app.css). */
  openDrawer(panel, open) {
    const cls = panel === 'layer-panel' ? 'left-open' : 'right-open';
    const layout = $('.layout');
    const on = open ?? !layout.classList.contains(cls);
    layout.classList.toggle(cls, on);
    if (on) layout.classList.remove(cls === 'left-open' ? 'right-open' : 'left-open');   // one drawer at a time
    for (const [id, c] of [['btn-drawer-layers', 'left-open'], ['btn-drawer-side', 'right-open']]) {
      $(`#${id}`).setAttribute('aria-expanded', String(layout.classList.contains(c)));
    }
  }

  async setBasemap(name) {
    if (name === this.base) return;
    if (name === 'tianditu' && !$('#tdt-key').value.trim()) {
      setStatus('请先填写天地图密钥（tk）', { error: true });
      $$('input[name=basemap]').forEach((r) => { r.checked = r.value === this.base; });
      $('#tdt-key').focus();
      return;
    }
    const toGcj = !!BASEMAPS[name]?.gcj, fromGcj = !!BASEMAPS[this.base]?.gcj;
    this.base = name;
    this.basemapWarned = null;
    delete document.body.dataset.basemapError;
    setStatus('');          // a stale message (e.g. the 天地图 key warning) must not outlive the switch
    this.map.setStyle(this.styleFor(name), { diff: false });
    if (toGcj !== fromGcj) {
      // keep the same place on the ground: map coordinates switch between WGS 84 and GCJ-02. The local offset
      // (a few hundred metres here, nearly constant across the zone) is read from the server, never computed here.
      const d = await this.gcjOffset().catch(() => null);
      if (d) {
        const c = this.map.getCenter();
        const sign = toGcj ? 1 : -1;
        this.map.jumpTo({ center: [c.lng + sign * d[0], c.lat + sign * d[1]] });
      }
      setStatus(toGcj ? '已切换到高德底图：叠加图层按 GCJ-02 坐标显示' : '已切换回 WGS 84 坐标');
    }
    this.onViewChange();
  }

  /** GCJ-02 minus WGS 84 at the zone, from the same feature served in both systems. */
  gcjOffset() {
    if (!this._gcjOffset) {
      const url = (crs) => `/collections/etdz_extent/items?${qs({ limit: 1, f: 'json', ...(crs ? { crs } : {}) })}`;
      this._gcjOffset = Promise.all([getJSON(url()), getJSON(url('GCJ-02'))]).then(([a, b]) => {
        const ca = bboxOf(a.features[0].geometry), cb = bboxOf(b.features[0].geometry);
        return [(cb[0] + cb[2]) / 2 - (ca[0] + ca[2]) / 2, (cb[1] + cb[3]) / 2 - (ca[1] + ca[3]) / 2];
      });
    }
    return this._gcjOffset;
  }

  /** A link pasted into an open viewer: follow the hash (view, layers, selection). */
  onHashChange() {
    const h = readHash();
    if (h.center) this.map.jumpTo({ center: h.center, zoom: h.zoom, bearing: h.bearing || 0 });
    if (h.layers) {
      for (const l of this.catalog.layers) {
        const on = h.layers.includes(l.id);
        if (on !== this.layers.visible.has(l.id)) {
          this.layers.setVisible(l.id, on);
          const cb = document.querySelector(`input[data-layer="${l.id}"]`); if (cb) cb.checked = on;
        }
      }
    }
    if (h.selection && (!this.selection || h.selection.layer !== this.selection.layer || h.selection.id !== this.selection.id)) {
      this.select(h.selection, { zoom: !h.center });
    }
  }

  // ------------------------------------------------------------------ UI wiring
  bindUi() {
    for (const b of $$('.toolbar .tool')) b.addEventListener('click', () => this.draw.setMode(b.dataset.tool));
    $('#btn-clear').addEventListener('click', () => this.draw.clearAll());
    $('#btn-export').addEventListener('click', () => this.exporter.open());
    $('#btn-import').addEventListener('click', () => this.importer.open());
    $('#btn-table').addEventListener('click', () => this.attrTable.openLayer());
    $('#btn-print').addEventListener('click', () => this.printer.open());
    $('#btn-png').addEventListener('click', () => this.exporter.png().catch((e) => setStatus(`导出图片失败：${e.message}`, { error: true })));
    $('#btn-link').addEventListener('click', async () => {
      this.onViewChange();
      try { await navigator.clipboard.writeText(location.href); setStatus('已复制当前视图链接'); } catch { setStatus(location.href, { timeout: 15000 }); }
    });
    $('#btn-near').addEventListener('click', () => this.openNear());
    $('#btn-compare').addEventListener('click', () => this.compare.open());
    const tabs = $$('.tab');
    for (const t of tabs) {
      t.addEventListener('click', () => this.showTab(t.dataset.tab));
      t.addEventListener('keydown', (e) => {     // arrow keys move between tabs (WAI-ARIA tabs pattern)
        const k = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
        if (!k) return;
        e.preventDefault();
        const next = tabs[(tabs.indexOf(t) + k + tabs.length) % tabs.length];
        this.showTab(next.dataset.tab, { focus: true });
      });
    }
    for (const c of $$('.collapse')) {
      c.addEventListener('click', () => {
        if (isNarrow()) { this.openDrawer(c.dataset.collapse, false); return; }
        const side = c.dataset.collapse === 'layer-panel' ? 'left-collapsed' : 'right-collapsed';
        const collapsed = $('.layout').classList.toggle(side);
        c.setAttribute('aria-expanded', String(!collapsed));
        setTimeout(() => this.map.resize(), 50);
      });
    }
    $('#btn-drawer-layers').addEventListener('click', () => this.openDrawer('layer-panel'));
    $('#btn-drawer-side').addEventListener('click', () => this.openDrawer('side-panel'));
    $$('input[name=basemap]').forEach((r) => r.addEventListener('change', () => { if (r.checked) this.setBasemap(r.value); }));
    $('#tdt-key').addEventListener('change', (e) => {
      localStorage.setItem('kfqmap.tianditu_key', e.target.value.trim());
      if (this.base === 'tianditu') { this.base = 'offline'; this.setBasemap('tianditu'); }
    });
    this.bindSearch();
    window.addEventListener('hashchange', () => this.onHashChange());
  }

  openNear() { return this.near.open(); }

  /** Plan groups and layers whose names contain the query (一带四园, 两核多园, 多园 …), searched in the catalog. */
  layerMatches(q) {
    const out = [];
    const groups = [...new Set(this.catalog.layers.filter((l) => l.geometry_type !== 'None').map((l) => l.group))];
    for (const g of groups) if (g.includes(q) || q.includes(g)) out.push({ kind: 'group', group: g, name: g });
    for (const l of this.catalog.layers) {
      if (l.geometry_type === 'None') continue;
      if (l.title_zh.includes(q) || (l.title_en || '').toLowerCase().includes(q.toLowerCase())) out.push({ kind: 'layer', layer: l.id, name: l.title_zh, group: l.group });
    }
    return out;
  }

  /** Show a group's or a layer's features and zoom to them (extent from /collections/{id}). */
  async showLayers(ids) {
    for (const id of ids) {
      this.layers.setVisible(id, true);
      const cb = document.querySelector(`input[data-layer="${id}"]`); if (cb) cb.checked = true;
    }
    const docs = await Promise.all(ids.map((id) => getCollection(id).catch(() => null)));
    const boxes = docs.map((d) => d?.extent?.spatial?.bbox?.[0]).filter((b) => Array.isArray(b) && b.length >= 4);
    if (!boxes.length) return;
    let b = [Math.min(...boxes.map((x) => x[0])), Math.min(...boxes.map((x) => x[1])), Math.max(...boxes.map((x) => x[2])), Math.max(...boxes.map((x) => x[3]))];
    if (this.crs === 'GCJ-02') { const d = await this.gcjOffset().catch(() => [0, 0]); b = [b[0] + d[0], b[1] + d[1], b[2] + d[0], b[3] + d[1]]; }
    this.map.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40, maxZoom: 16 });
    setStatus(`已显示：${ids.map((id) => this.catalog.byId.get(id)?.title_zh || id).join('、')}`);
  }

  bindSearch() {
    const input = $('#search-input');
    const list = $('#search-results');
    let items = [];
    let active = -1;
    const run = debounce(async () => {
      const q = input.value.trim();
      if (!q) { list.hidden = true; return; }
      try {
        const resp = await search(q);
        const features = resp.hits.map((r) => ({ kind: this.catalog.byId.get(r.layer_id)?.geometry_type === 'None' ? 'indicator' : 'feature',
          layer: r.layer_id, id: String(r.id), name: r.name, group: r.group, layerTitle: r.layer_title_zh }));
        items = [...this.layerMatches(q), ...features];
        active = items.length ? 0 : -1;
        list.replaceChildren(...(items.length ? items.slice(0, 40).map((r, i) => {
          const meta = r.layer ? this.catalog.byId.get(r.layer) : null;
          const note = r.kind === 'group' ? '规划板块（整组图层）' : r.kind === 'layer' ? `图层 · ${r.group}` : (meta?.title_zh || r.layerTitle || r.layer);
          const li = h('li', { class: `${i === active ? 'active' : ''} kind-${r.kind}`, role: 'option', dataset: { kind: r.kind, ...(r.kind === 'feature' || r.kind === 'indicator' ? { layer: r.layer, feature: r.id } : r.kind === 'layer' ? { layer: r.layer } : { group: r.group }) } },
            h('span', {}, r.name), h('span', { class: 'grp' }, note));
          li.addEventListener('mousedown', (e) => { e.preventDefault(); choose(r); });
          return li;
        }) : [h('li', { class: 'hint' }, '没有匹配的名称')]));
        list.hidden = false;
      } catch (err) { setStatus(`搜索失败：${err.message}`, { error: true }); }
    }, 200);
    const choose = (r) => {
      list.hidden = true;
      input.value = r.name;
      if (r.kind === 'group') this.showLayers(this.catalog.layers.filter((l) => l.group === r.group && l.geometry_type !== 'None').map((l) => l.id));
      else if (r.kind === 'layer') this.showLayers([r.layer]);
      else if (r.kind === 'indicator') showIndicator(this, r.id);       // a row of the indicator tables: its card
      else this.openPopupFor({ layer: r.layer, id: r.id, name: r.name }, { zoom: true });   // zoom there and open its popup
    };
    input.addEventListener('input', run);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        if (!items.length) return;
        active = (active + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
        [...list.children].forEach((li, i) => li.classList.toggle('active', i === active));
        e.preventDefault();
      } else if (e.key === 'Enter' && active >= 0 && items[active]) { choose(items[active]); }
      else if (e.key === 'Escape') list.hidden = true;
    });
    input.addEventListener('blur', () => setTimeout(() => { list.hidden = true; }, 150));
  }
}

class NorthArrow {
  onAdd(map) {
    this.map = map;
    this.el = h('div', { class: 'maplibregl-ctrl north-arrow', title: '指北针（点击复位正北）' });
    this.el.innerHTML = '<svg viewBox="0 0 40 40"><text x="20" y="11" text-anchor="middle" font-size="10" font-weight="700" fill="#1f2933">北</text><path d="M20 13 L27 36 L20 31 L13 36 Z" fill="#1f2933"/><path d="M20 13 L13 36 L20 31 Z" fill="#fff" stroke="#1f2933" stroke-width="1"/></svg>';
    this.el.addEventListener('click', () => map.easeTo({ bearing: 0, pitch: 0 }));
    map.on('rotate', () => { this.el.firstChild.style.transform = `rotate(${-map.getBearing()}deg)`; });
    return this.el;
  }
  onRemove() { this.el.remove(); }
}

/** The phone/tablet layout (panels as drawers); the same breakpoint as app.css. */
export function isNarrow() { return window.matchMedia('(max-width: 900px)').matches; }

/** A point on a geometry for a popup: a vertex-free interior guess (bbox centre when inside, else the first vertex). */
function pointOn(geometry) {
  const b = bboxOf(geometry);
  if (geometry.type === 'Point') return geometry.coordinates;
  const c = [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
  const rings = geometry.type === 'Polygon' ? [geometry.coordinates] : geometry.type === 'MultiPolygon' ? geometry.coordinates : null;
  if (rings && rings.some((poly) => inRing(c, poly[0]))) return c;
  let first = geometry.coordinates;
  while (Array.isArray(first[0])) first = first[0];
  return rings || geometry.type !== 'LineString' ? first : geometry.coordinates[Math.floor(geometry.coordinates.length / 2)];
}

function inRing([x, y], ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function bboxOf(geometry) {
  const b = [Infinity, Infinity, -Infinity, -Infinity];
  const walk = (c) => {
    if (typeof c[0] === 'number') { b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]); b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]); }
    else for (const x of c) walk(x);
  };
  if (geometry.type === 'GeometryCollection') geometry.geometries.forEach((g) => walk(g.coordinates)); else walk(geometry.coordinates);
  return b;
}

const app = new App();
app.start().catch((err) => {
  console.warn(err);
  setStatus(`启动失败：${err.message}`, { error: true, timeout: 0 });
  const box = $('#layer-groups');
  if (box) box.replaceChildren(h('p', { class: 'error' }, `无法加载图层或样式：${err.message}`));
});

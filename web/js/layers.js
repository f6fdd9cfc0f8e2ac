// The plan layers on the map: the shared MapLibre style (/styles/plan.json), which style layers belong to which
// catalog layer, visibility and opacity, the layer panel with its legend, and the 示意 / 示例 marks.

import { h, $ } from './util.js';

export const GROUP_ORDER = ['两轴三带', '两核多园', '一带四园', '更新地块', '低效用地', '背景', '额外'];
export const PLAN_GROUPS = GROUP_ORDER.slice(0, 5);
export const HATCH_IMAGE = 'kfq-hatch';

/** The catalog layer a style layer draws (metadata first, then the vector source-layer, then a GeoJSON source id). */
export function catalogIdOf(styleLayer) {
  const md = styleLayer.metadata || {};
  const mid = md['kfqmap:layer'] || md['kfqmap:layer_id'] || md.layer_id || md['kfqmap:collection'];
  if (mid) return mid;
  if (styleLayer['source-layer']) return styleLayer['source-layer'];
  if (typeof styleLayer.source === 'string' && styleLayer.source.startsWith('gcj:')) return styleLayer.source.slice(4);
  return null;
}

/** Make every URL in the style absolute (MapLibre wants absolute tile URLs) and drop any remote glyph server. */
export function prepareStyle(style) {
  const s = structuredClone(style);
  const abs = (u) => (typeof u === 'string' ? new URL(u, location.origin).href : u);
  if (s.glyphs && !s.glyphs.startsWith(location.origin) && /^https?:/.test(s.glyphs)) delete s.glyphs;
  if (s.sprite && typeof s.sprite === 'string' && /^https?:/.test(s.sprite) && !s.sprite.startsWith(location.origin)) delete s.sprite;
  for (const src of Object.values(s.sources || {})) {
    if (src.url) src.url = abs(src.url);
    if (Array.isArray(src.tiles)) src.tiles = src.tiles.map(abs);
    if (typeof src.data === 'string') src.data = abs(src.data);
  }
  for (const layer of s.layers || []) {
    if (layer.layout && layer.layout['text-font'] === undefined && layer.type === 'symbol') {
      layer.layout['text-font'] = ['Noto Sans CJK SC', 'sans-serif'];
    }
  }
  return s;
}

/** Replace the vector tile source by GeoJSON in GCJ-02 from the server, one source per catalog layer. */
export function gcjStyle(style) {
  const s = structuredClone(style);
  const vectorSources = new Set(Object.entries(s.sources).filter(([, v]) => v.type === 'vector').map(([k]) => k));
  const needed = new Set();
  for (const layer of s.layers) {
    if (!vectorSources.has(layer.source)) continue;
    const id = catalogIdOf(layer);
    if (!id) continue;
    needed.add(id);
    layer.source = `gcj:${id}`;
    delete layer['source-layer'];
  }
  for (const id of needed) {
    s.sources[`gcj:${id}`] = {
      type: 'geojson',
      data: `${location.origin}/collections/${encodeURIComponent(id)}/items?crs=GCJ-02&limit=10000&f=json`,
    };
  }
  for (const k of vectorSources) delete s.sources[k];
  return s;
}

/** catalogId → [style layer ids] */
export function indexStyle(style) {
  const index = new Map();
  for (const layer of style.layers || []) {
    const id = catalogIdOf(layer);
    if (!id) continue;
    if (!index.has(id)) index.set(id, []);
    index.get(id).push(layer.id);
  }
  return index;
}

const OPACITY_PROPS = {
  fill: ['fill-opacity'], line: ['line-opacity'], circle: ['circle-opacity', 'circle-stroke-opacity'],
  symbol: ['text-opacity', 'icon-opacity'], 'fill-extrusion': ['fill-extrusion-opacity'], raster: ['raster-opacity'],
};

export class LayerManager {
  constructor(app) {
    this.app = app;
    this.index = new Map();
    this.baseOpacity = new Map();     // styleLayerId → {prop: base value}
    this.visible = new Set();
    this.opacity = new Map();         // catalogId → 0..1
  }

  get map() { return this.app.map; }

  /** Called after every style load: index the style, add the hatch overlays, re-apply state. */
  onStyle(style) {
    this.index = indexStyle(style);
    this.baseOpacity.clear();
    for (const layer of style.layers) {
      const base = {};
      for (const prop of OPACITY_PROPS[layer.type] || []) {
        const v = layer.paint?.[prop];
        base[prop] = typeof v === 'number' ? v : (v === undefined ? 1 : null);
      }
      this.baseOpacity.set(layer.id, base);
    }
    this.addHatching(style);
    for (const id of this.index.keys()) this.apply(id);
  }

  /** Illustrative (示例) polygons get a hatch over their fill so they never read as plan data: every feature of a
   *  layer flagged illustrative, and in other layers each feature whose own `illustrative` property is true (the
   *  placeholder 四园 and parks), or whose own `placeholder` flag is true. Labels of such features read "名称（示例）". */
  addHatching(style) {
    const map = this.map;
    if (!map.hasImage(HATCH_IMAGE)) map.addImage(HATCH_IMAGE, hatchImage(), { pixelRatio: 2 });
    // a feature whose own position or outline is a placeholder (占位) is hatched and labelled like an example
    const perFeature = ['any', ['==', ['get', 'illustrative'], true], ['==', ['get', 'placeholder'], true]];
    for (const layer of style.layers) {
      const cid = catalogIdOf(layer);
      const meta = this.app.catalog.byId.get(cid);
      if (!meta || layer.metadata?.['kfqmap:overlay']) continue;
      if (layer.type === 'symbol' && !meta.illustrative && layer.layout?.['text-field'] !== undefined) {
        const orig = layer.layout['text-field'];
        const base = Array.isArray(orig) ? orig : ['to-string', ['get', 'name']];
        map.setLayoutProperty(layer.id, 'text-field', ['case', perFeature, ['concat', base, '（示例）'], base]);
        continue;
      }
      if (layer.type !== 'fill') continue;
      const hid = `${layer.id}__hatch`;
      if (map.getLayer(hid)) continue;
      const def = { id: hid, type: 'fill', source: layer.source, paint: { 'fill-pattern': HATCH_IMAGE, 'fill-opacity': 0.9 },
        metadata: { 'kfqmap:layer': cid, 'kfqmap:overlay': 'hatch' } };
      if (layer['source-layer']) def['source-layer'] = layer['source-layer'];
      const own = meta.illustrative ? null : perFeature;
      const filters = [layer.filter, own].filter(Boolean);
      if (filters.length === 1) def.filter = filters[0];
      else if (filters.length > 1) def.filter = ['all', ...filters];
      const i = style.layers.findIndex((l) => l.id === layer.id);
      const next = style.layers[i + 1];
      map.addLayer(def, next ? next.id : undefined);
      this.index.get(cid).push(hid);
      this.baseOpacity.set(hid, { 'fill-opacity': 0.9 });
    }
  }

  setVisible(id, on) {
    if (on) this.visible.add(id); else this.visible.delete(id);
    this.apply(id);
    this.app.onViewChange?.();
  }

  setOpacity(id, value) {
    this.opacity.set(id, value);
    this.apply(id);
    clearTimeout(this._hashTimer);     // the permalink keeps opacity (written once the slider rests)
    this._hashTimer = setTimeout(() => this.app.onViewChange?.(), 250);
  }

  apply(id) {
    const map = this.map;
    const on = this.visible.has(id);
    const k = this.opacity.has(id) ? this.opacity.get(id) : 1;
    for (const lid of this.index.get(id) || []) {
      const layer = map.getLayer(lid);
      if (!layer) continue;
      map.setLayoutProperty(lid, 'visibility', on ? 'visible' : 'none');
      const base = this.baseOpacity.get(lid) || {};
      for (const [prop, b] of Object.entries(base)) {
        if (b === null) continue;          // an expression: leave it alone
        map.setPaintProperty(lid, prop, b * k);
      }
    }
  }

  /** Style layer ids that answer clicks (visible plan and context layers, not hatching or labels). */
  interactiveLayers() {
    const out = [];
    for (const [cid, ids] of this.index) {
      if (!this.visible.has(cid)) continue;
      for (const lid of ids) {
        const l = this.map.getLayer(lid);
        if (l && l.type !== 'symbol' && !lid.endsWith('__hatch')) out.push(lid);
      }
    }
    return out;
  }

  visibleIds() {
    return this.app.catalog.layers.filter((l) => this.visible.has(l.id)).map((l) => l.id);
  }

  // ------------------------------------------------------------------ the panel
  renderPanel(container) {
    const { catalog } = this.app;
    container.replaceChildren();
    for (const group of GROUP_ORDER) {
      const layers = catalog.layers.filter((l) => l.group === group && l.geometry_type !== 'None' && this.index.has(l.id));
      if (!layers.length) continue;
      const list = h('ul', { class: 'layer-list' });
      const groupBox = h('input', { type: 'checkbox', title: '整组显示/隐藏', 'aria-label': `${group} 整组显示/隐藏` });
      const listId = `layer-list-${GROUP_ORDER.indexOf(group)}`;
      list.id = listId;
      const toggle = h('button', { type: 'button', class: 'group-toggle', 'aria-expanded': 'true', 'aria-controls': listId,
        title: `展开/收起“${group}”` }, h('h3', {}, group), h('span', { class: 'caret', 'aria-hidden': 'true' }, '▾'));
      const section = h('section', { class: 'layer-group', dataset: { group } }, h('header', {}, groupBox, toggle), list);
      toggle.addEventListener('click', () => {
        const closed = section.classList.toggle('closed');
        toggle.setAttribute('aria-expanded', String(!closed));
      });
      groupBox.addEventListener('change', () => {
        for (const l of layers) this.setVisible(l.id, groupBox.checked);
        for (const cb of list.querySelectorAll('input[type=checkbox]')) cb.checked = groupBox.checked;
      });
      const syncGroup = () => {
        const n = layers.filter((l) => this.visible.has(l.id)).length;
        groupBox.checked = n === layers.length; groupBox.indeterminate = n > 0 && n < layers.length;
      };
      for (const layer of layers) list.append(this.layerItem(layer, syncGroup));
      syncGroup();
      container.append(section);
    }
  }

  layerItem(layer, syncGroup) {
    const cb = h('input', { type: 'checkbox', 'data-layer': layer.id, 'aria-label': layer.title_zh });
    cb.checked = this.visible.has(layer.id);
    cb.addEventListener('change', () => { this.setVisible(layer.id, cb.checked); syncGroup(); });
    const pct = Math.round((this.opacity.get(layer.id) ?? 1) * 100);
    const slider = h('input', { type: 'range', min: 0, max: 100, value: pct, 'aria-label': `${layer.title_zh} 透明度` });
    const pctLabel = h('span', {}, `${pct}%`);
    slider.addEventListener('input', () => { this.setOpacity(layer.id, slider.value / 100); pctLabel.textContent = `${slider.value}%`; });
    const badges = [];
    if (layer.schematic) {
      badges.push(h('span', { class: 'badge schematic', title: `示意：位置由规划文本推断，典型误差约 ${layer.accuracy_m ?? '—'} 米` },
        layer.accuracy_m ? `示意 ±${formatMetres(layer.accuracy_m)}` : '示意'));
    }
    if (layer.illustrative) badges.push(h('span', { class: 'badge illustrative', title: '示例：说明性数据，不是规划确定的地块' }, '示例'));
    return h('li', { class: 'layer-item', dataset: { layer: layer.id } },
      h('div', { class: 'row' },
        h('label', { title: `${layer.title_zh}（${layer.title_en || layer.id}）\n规划章节：${layer.plan_section || '—'}\n${layer.description || ''}` },
          cb, legendSwatch(layer, paintOf(this.app, layer)), h('span', { class: 'title' }, layer.title_zh)),
        h('button', { type: 'button', class: 'open-table', title: `打开“${layer.title_zh}”的属性表`, 'aria-label': `打开“${layer.title_zh}”的属性表`,
          onclick: () => this.app.attrTable?.openLayer(layer.id) }, '表')),
      h('div', { class: 'opacity' }, ...badges, h('span', { class: 'op-label', title: '不透明度' }, '◐'), slider, pctLabel),
      categoryLegend(layer, paintOf(this.app, layer)));
  }
}

function formatMetres(m) { return m >= 1000 ? `${(m / 1000).toFixed(m % 1000 ? 1 : 0)}km` : `${m}m`; }

/** How a layer is drawn, from the shared style's legend (style.metadata["kfqmap:legend"], generated from the
 *  catalog's Layer.style by the server); falls back to the catalog's own style record. */
export function paintOf(app, layer) {
  const entry = app.legend?.get(layer.id);
  if (entry) return entry;
  const st = layer.style || {};
  const g = (layer.geometry_type || '').replace('Multi', '');
  return { kind: g === 'Point' ? 'circle' : g === 'LineString' ? 'line' : 'fill', fill: st.fill, fill_opacity: st.fill_opacity ?? 0.35,
    stroke: st.stroke || '#333', width: st.stroke_width || 1.5, dash: st.dash, radius: st.radius || 5, illustrative: layer.illustrative };
}

/** Sub-entries for layers coloured by a category (e.g. 多园 by park_type), from the shared style. */
function categoryLegend(layer, p) {
  const cats = p.categories;
  if (!cats || !cats.values) return '';
  return h('ul', { class: 'category-legend', dataset: { field: cats.field } },
    ...Object.entries(cats.values).map(([value, c]) => h('li', {},
      legendSwatch(layer, { ...p, fill: c.fill || p.fill, stroke: c.stroke || p.stroke }), h('span', {}, value))));
}

/** A small legend symbol drawn from the shared style. */
export function legendSwatch(layer, p) {
  const fill = p.fill || 'none';
  const stroke = p.stroke || '#333';
  const dash = Array.isArray(p.dash) && p.dash.length ? `stroke-dasharray="${p.dash.map((d) => Math.max(1, d)).join(' ')}"` : '';
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 30 20');
  svg.setAttribute('class', 'swatch');
  let inner;
  if (p.kind === 'circle') {
    inner = `<circle cx="15" cy="10" r="${Math.min(7, Math.max(4, p.radius || 5))}" fill="${p.fill || stroke}" stroke="${stroke}" stroke-width="1.5"/>`;
  } else if (p.kind === 'line') {
    inner = `<line x1="2" y1="10" x2="28" y2="10" stroke="${stroke}" stroke-width="${Math.min(6, Math.max(2, p.width || 2))}" ${dash}/>`;
  } else {
    inner = `<rect x="2" y="3" width="26" height="14" rx="2" fill="${fill}" fill-opacity="${Math.max(p.fill_opacity ?? 0.35, 0.3)}" stroke="${stroke}" stroke-width="1.6" ${dash}/>`;
    if (p.illustrative || layer.illustrative) inner += '<path d="M4 17 L14 3 M10 17 L20 3 M16 17 L26 3" stroke="#a01b2c" stroke-width="1" opacity=".7"/>';
  }
  svg.innerHTML = inner;
  return svg;
}

/** 12×12 diagonal hatch (red-brown, semi-transparent) for illustrative polygons. */
export function hatchImage() {
  const size = 16;
  const data = new Uint8Array(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on = ((x + y) % 8) < 2;
      const i = (y * size + x) * 4;
      if (on) { data[i] = 160; data[i + 1] = 27; data[i + 2] = 44; data[i + 3] = 150; }
    }
  }
  return { width: size, height: size, data };
}

export function fillPanelLoading(container, text) {
  container.replaceChildren(h('div', { class: 'loading' }, text));
}

export { $ };

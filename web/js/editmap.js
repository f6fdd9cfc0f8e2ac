// The map side of 编辑 mode: the feature being edited drawn with its vertex handles (and midpoints to add a vertex),
// dragging a vertex with the mouse or a finger, drawing a new point / line / polygon or a cutting line (分割), and
// snapping to the vertices — else the edges — of other features within SNAP_PX pixels, and moving a selected vertex
// with the arrow keys (1 px, Shift: 10 px; Delete removes it). It owns one GeoJSON source; EditMode (edit.js) owns
// the data and asks for changes through the callbacks it passes.

import {
  vertices, midpoints, moveVertex, insertVertex, removeVertex, geometryFromDrawing, snapPoint, snapToVertices,
  onTileBorder,
} from './geomedit.js';

export const EDIT_SRC = 'kfq-edit';
export const SNAP_PX = 12;
const TOO_FEW = '顶点已是最少数量，不能再删除';
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
const HANDLE_LAYERS = ['kfq-edit-vertex', 'kfq-edit-mid'];

const emptyFC = () => ({ type: 'FeatureCollection', features: [] });

export class EditCanvas {
  /** `hooks`: {onChange(geometry, {final}), onDrawn(geometry), onPick(event), exclude() → {layer, id}, layers() → style
   *  layer ids to snap to}. */
  constructor(app, hooks) {
    this.app = app;
    this.hooks = hooks;
    this.geometry = null;       // the draft being edited
    this.drawing = null;        // {kind, geometryType, pts:[], cursor, onDone}: onDone set for a cutting line
    this.cut = null;            // a finished cutting line (LineString), shown over the feature until it is used
    this.drag = null;           // {ring, index, insert, start}
    this.selected = null;       // {ring, index}: the vertex the arrow keys move (a click on a vertex selects it)
    this.keyboardOff = false;   // the map's own arrow-key panning is off while a vertex is selected
    this.snap = null;           // {coord, kind: 'vertex'|'edge'}: where the last move snapped (drawn as a ring)
    this.active = false;
  }

  get map() { return this.app.map; }

  install() {
    const map = this.map;
    if (!map.getSource(EDIT_SRC)) map.addSource(EDIT_SRC, { type: 'geojson', data: emptyFC() });
    const add = (def) => { if (!map.getLayer(def.id)) map.addLayer(def); };
    const role = (r) => ['==', ['get', 'role'], r];
    add({ id: 'kfq-edit-fill', type: 'fill', source: EDIT_SRC, filter: ['all', role('shape'), ['==', ['geometry-type'], 'Polygon']],
      paint: { 'fill-color': '#7b3fe4', 'fill-opacity': 0.18 } });
    add({ id: 'kfq-edit-line', type: 'line', source: EDIT_SRC, filter: ['all', role('shape'), ['!=', ['geometry-type'], 'Point']],
      paint: { 'line-color': '#5b21b6', 'line-width': 2.5 } });
    add({ id: 'kfq-edit-point', type: 'circle', source: EDIT_SRC, filter: ['all', role('shape'), ['==', ['geometry-type'], 'Point']],
      paint: { 'circle-radius': 8, 'circle-color': '#7b3fe4', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } });
    add({ id: 'kfq-edit-cut', type: 'line', source: EDIT_SRC, filter: role('cut'),
      layout: { 'line-cap': 'round' }, paint: { 'line-color': '#d11a2a', 'line-width': 3, 'line-dasharray': [2, 1.2] } });
    add({ id: 'kfq-edit-mid', type: 'circle', source: EDIT_SRC, filter: role('mid'),
      paint: { 'circle-radius': 4, 'circle-color': '#fff', 'circle-opacity': 0.85, 'circle-stroke-color': '#7b3fe4', 'circle-stroke-width': 1.5 } });
    add({ id: 'kfq-edit-vertex', type: 'circle', source: EDIT_SRC, filter: role('vertex'),
      paint: { 'circle-radius': ['case', ['==', ['get', 'sel'], 1], 8, 6], 'circle-color': ['case', ['==', ['get', 'sel'], 1], '#f5b700', '#fff'],
        'circle-stroke-color': '#5b21b6', 'circle-stroke-width': 2.5 } });
    // a vertex snap is an orange ring, an edge snap a smaller teal one
    add({ id: 'kfq-edit-snap', type: 'circle', source: EDIT_SRC, filter: role('snap'),
      paint: { 'circle-radius': ['match', ['get', 'kind'], 'edge', 8, 11], 'circle-color': 'rgba(0,0,0,0)',
        'circle-stroke-color': ['match', ['get', 'kind'], 'edge', '#0f8a8a', '#e67e00'], 'circle-stroke-width': 3 } });
    this.render();
  }

  bind() {
    const map = this.map;
    map.on('mousedown', (e) => this.onDown(e));
    map.on('touchstart', (e) => { if (e.points?.length === 1) this.onDown(e); });
    map.on('mousemove', (e) => this.onMove(e));
    map.on('touchmove', (e) => this.onMove(e));
    map.on('mouseup', (e) => this.onUp(e));
    map.on('touchend', (e) => this.onUp(e));
    map.on('click', (e) => this.onClick(e));
    map.on('dblclick', (e) => this.onDblClick(e));
  }

  setGeometry(geometry) { this.geometry = geometry; this.selectVertex(null); }

  /** Select vertex {ring, index} (null: none) for the arrow keys; the map stops panning with them meanwhile. */
  selectVertex(sel) {
    const changed = (sel?.ring !== this.selected?.ring) || (sel?.index !== this.selected?.index);
    this.selected = sel;
    const keyboard = this.map?.keyboard;
    if (sel && !this.keyboardOff && keyboard?.isEnabled()) { keyboard.disable(); this.keyboardOff = true; }
    if (!sel && this.keyboardOff) { keyboard?.enable(); this.keyboardOff = false; }
    this.render();
    if (changed) this.hooks.onSelectVertex?.(sel);
  }

  /** A key pressed in 编辑 mode (not in a text box): arrows move the selected vertex by 1 px (Shift: 10 px),
   *  Delete/Backspace removes it, Esc unselects it. True when the key was used. */
  onKey(e) {
    if (!this.selected || !this.geometry || this.drawing || this.cut) return false;
    if (e.key === 'Escape') { this.selectVertex(null); return true; }
    const before = this.geometry;
    const { ring, index } = this.selected;
    if (ARROWS[e.key]) {
      const v = vertices(before).find((x) => x.ring === ring && x.index === index);
      if (!v) { this.selectVertex(null); return false; }
      const step = e.shiftKey ? 10 : 1;
      const p = this.map.project(v.coord);
      const to = this.map.unproject([p.x + ARROWS[e.key][0] * step, p.y + ARROWS[e.key][1] * step]);
      this.geometry = moveVertex(before, ring, index, [to.lng, to.lat]);
      this.render();
    } else if (e.key === 'Delete' || e.key === 'Backspace') {
      const g = removeVertex(before, ring, index);
      if (!g) { this.hooks.onRefuse?.(TOO_FEW); return true; }
      this.geometry = g;
      this.selectVertex(null);
    } else return false;
    this.hooks.onChange(this.geometry, { final: true, before });
    return true;
  }

  startDrawing(kind, geometryType) {
    this.drawing = { kind, geometryType, pts: [], cursor: null };
    this.geometry = null;
    this.selectVertex(null);
  }

  /** Draw a cutting line over the open feature (kept, without handles); `onDone(line)` gets the LineString, which
   *  stays on the map (`this.cut`) until `clearCut()`. */
  startCut(onDone) {
    this.cut = null;
    this.drawing = { kind: 'line', geometryType: 'LineString', pts: [], cursor: null, onDone };
    this.selectVertex(null);
  }

  clearCut() { this.cut = null; this.render(); }

  cancelDrawing() { this.drawing = null; this.snap = null; this.render(); }

  /** Snap a map event's point to a nearby vertex (else edge) of another feature — or, for a cutting line, of the
   *  open feature too: {coord, snapped, kind}. */
  snapped(e) {
    const p = e.point;
    const layers = (this.hooks.layers?.() || []).filter((id) => this.map.getLayer(id));
    let candidates = layers.length
      ? this.map.queryRenderedFeatures([[p.x - SNAP_PX, p.y - SNAP_PX], [p.x + SNAP_PX, p.y + SNAP_PX]], { layers }) : [];
    const ex = this.hooks.exclude?.();
    if (ex) candidates = candidates.filter((f) => !(this.app.catalogIdOfStyleLayer(f.layer.id) === ex.layer && String(f.properties?.id ?? f.id) === String(ex.id)));
    candidates = candidates.map(tileCandidate);
    // the drawing's own first vertex closes a polygon: offer it as a target too
    if (this.drawing?.pts.length >= 3 && !this.drawing.onDone) candidates.push({ geometry: { type: 'Point', coordinates: this.drawing.pts[0] } });
    const project = (c) => this.map.project(c);
    // a cutting line snaps to the open feature too, its own exact corners first (the tiles' copies of neighbours'
    // corners are quantised: a cut through one could pass a hair beside this corner)
    const own = this.drawing?.onDone && this.geometry ? { geometry: this.geometry } : null;
    if (own) candidates.push(own);
    const corner = own && snapToVertices(p, [own], project, SNAP_PX);
    const hit = corner ? { ...corner, kind: 'vertex' } : snapPoint(p, candidates, project, SNAP_PX);
    this.snap = hit ? { coord: hit.coord, kind: hit.kind } : null;
    return hit ? { coord: hit.coord, snapped: true, kind: hit.kind } : { coord: [e.lngLat.lng, e.lngLat.lat], snapped: false };
  }

  handleAt(point) {
    if (!this.geometry) return null;
    const layers = HANDLE_LAYERS.filter((id) => this.map.getLayer(id));
    const pad = 6;
    const f = this.map.queryRenderedFeatures([[point.x - pad, point.y - pad], [point.x + pad, point.y + pad]], { layers });
    const v = f.find((x) => x.properties.role === 'vertex') || f.find((x) => x.properties.role === 'mid');
    return v ? { role: v.properties.role, ring: v.properties.ring, index: v.properties.index } : null;
  }

  // ------------------------------------------------------------------ events (only while active)
  onDown(e) {
    if (!this.active || this.drawing || this.cut) return;
    const hit = this.handleAt(e.point);
    if (!hit) return;
    e.preventDefault();
    this.map.dragPan.disable();
    let geometry = this.geometry;
    let index = hit.index;
    if (hit.role === 'mid') {     // dragging a midpoint adds a vertex there
      geometry = insertVertex(geometry, hit.ring, hit.index, [e.lngLat.lng, e.lngLat.lat]);
      index = hit.index + 1;
    }
    this.drag = { ring: hit.ring, index, start: this.geometry, geometry, moved: false, insert: hit.role === 'mid' };
  }

  onMove(e) {
    if (!this.active) return;
    if (this.drag) {
      const { coord } = this.snapped(e);
      this.drag.geometry = moveVertex(this.drag.geometry, this.drag.ring, this.drag.index, coord);
      this.drag.moved = true;
      this.geometry = this.drag.geometry;
      this.render();
      this.hooks.onChange(this.geometry, { final: false });
      return;
    }
    if (this.drawing) {
      this.drawing.cursor = this.snapped(e).coord;
      this.render();
      return;
    }
    const over = this.geometry && this.handleAt(e.point);
    this.map.getCanvas().style.cursor = over ? 'move' : 'crosshair';
  }

  onUp() {
    if (!this.drag) return;
    const d = this.drag;
    this.drag = null;
    this.snap = null;
    this.map.dragPan.enable();
    this.justDragged = d.moved;
    if (d.moved) this.hooks.onChange(d.geometry, { final: true, before: d.start });
    // a press on a vertex (or a drag that made or moved one) selects it for the arrow keys
    this.selectVertex(d.moved || !d.insert ? { ring: d.ring, index: d.index } : null);
  }

  onClick(e) {
    if (!this.active) return;
    if (this.justDragged) { this.justDragged = false; return; }
    if (this.drawing) {
      const { coord } = this.snapped(e);
      const d = this.drawing;
      if (d.kind === 'point') { d.pts = [coord]; this.finishDrawing(); return; }
      if (d.kind === 'polygon' && d.pts.length >= 3) {
        const first = this.map.project(d.pts[0]);
        if (Math.hypot(first.x - e.point.x, first.y - e.point.y) < 8) { this.finishDrawing(); return; }
      }
      const last = d.pts[d.pts.length - 1];
      if (!last || last[0] !== coord[0] || last[1] !== coord[1]) d.pts.push(coord);
      this.render();
      return;
    }
    if (this.handleAt(e.point)) return;       // a click on a handle is not a pick
    this.hooks.onPick(e);
  }

  onDblClick(e) {
    if (!this.active) return;
    e.preventDefault();
    if (this.drawing) { this.finishDrawing(); return; }
    const hit = this.handleAt(e.point);
    if (hit?.role === 'vertex') {          // double-click a vertex: remove it
      const g = removeVertex(this.geometry, hit.ring, hit.index);
      if (g) { const before = this.geometry; this.geometry = g; this.selectVertex(null); this.hooks.onChange(g, { final: true, before }); }
      else this.hooks.onRefuse?.(TOO_FEW);
    }
  }

  finishDrawing() {
    const d = this.drawing;
    if (!d) return;
    // a double-click adds the same point twice (two clicks); drop repeats
    const pts = d.pts.filter((p, i) => i === 0 || p[0] !== d.pts[i - 1][0] || p[1] !== d.pts[i - 1][1]);
    const g = geometryFromDrawing(d.geometryType, pts);
    if (!g) { this.hooks.onRefuse?.(d.kind === 'polygon' ? '面至少需要 3 个顶点' : '线至少需要 2 个顶点'); return; }
    this.drawing = null;
    this.snap = null;
    if (d.onDone) { this.cut = g; this.render(); d.onDone(g); return; }
    this.geometry = g;
    this.render();
    this.hooks.onDrawn(g);
  }

  render() {
    const src = this.map?.getSource(EDIT_SRC);
    if (!src) return;
    const feats = [];
    const pt = (coord, props) => feats.push({ type: 'Feature', geometry: { type: 'Point', coordinates: coord }, properties: props });
    const cutting = !!(this.drawing?.onDone || this.cut);
    if (this.geometry && (!this.drawing || cutting)) {
      feats.push({ type: 'Feature', geometry: this.geometry, properties: { role: 'shape' } });
      if (this.active && !cutting && this.geometry.type !== 'Point') {
        for (const m of midpoints(this.geometry)) pt(m.coord, { role: 'mid', ring: m.ring, index: m.after });
      }
      if (this.active && !cutting) {
        const sel = this.selected;
        for (const v of vertices(this.geometry)) {
          pt(v.coord, { role: 'vertex', ring: v.ring, index: v.index, sel: sel?.ring === v.ring && sel?.index === v.index ? 1 : 0 });
        }
      }
    }
    if (this.drawing) {
      const pts = this.drawing.cursor ? [...this.drawing.pts, this.drawing.cursor] : this.drawing.pts;
      const g = this.drawing.kind === 'polygon' && pts.length >= 3 ? { type: 'Polygon', coordinates: [[...pts, pts[0]]] }
        : pts.length >= 2 && this.drawing.kind !== 'point' ? { type: 'LineString', coordinates: pts } : null;
      if (g) feats.push({ type: 'Feature', geometry: g, properties: { role: cutting ? 'cut' : 'shape' } });
      this.drawing.pts.forEach((c, i) => pt(c, { role: 'vertex', ring: 0, index: i }));
    }
    if (this.cut) feats.push({ type: 'Feature', geometry: this.cut, properties: { role: 'cut' } });
    if (this.snap) pt(this.snap.coord, { role: 'snap', kind: this.snap.kind });
    src.setData({ type: 'FeatureCollection', features: feats });
  }
}

/** A rendered feature as a snapping candidate: edges along its tile's border (MapLibre clips tiles) are ghosts. */
function tileCandidate(f) {
  const tile = Number.isInteger(f._z) ? { z: f._z, x: f._x, y: f._y } : null;
  return tile ? { geometry: f.geometry, ghost: (a, b) => onTileBorder(a, b, tile) } : f;
}

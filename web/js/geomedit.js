// Editing a GeoJSON geometry by its vertices: list them, move, insert and remove one, snap a screen point to the
// vertices or edges of nearby features, and check a drawn outline before it is sent. Pure functions over plain GeoJSON
// (WGS 84 or GCJ-02 lon/lat: whatever the map shows); the server validates again and measures.

/** The coordinate arrays that hold vertices: [{coords, closed, min}] (a polygon ring is closed: its last vertex
 *  repeats the first). References into `geometry`, so a change through them changes the geometry. */
export function ringsOf(geometry) {
  if (!geometry) return [];
  const c = geometry.coordinates;
  switch (geometry.type) {
    case 'Point': return [{ coords: [c], closed: false, min: 1, point: true }];
    case 'MultiPoint': return [{ coords: c, closed: false, min: 1 }];
    case 'LineString': return [{ coords: c, closed: false, min: 2 }];
    case 'MultiLineString': return c.map((line) => ({ coords: line, closed: false, min: 2 }));
    case 'Polygon': return c.map((ring) => ({ coords: ring, closed: true, min: 4 }));
    case 'MultiPolygon': return c.flatMap((poly) => poly.map((ring) => ({ coords: ring, closed: true, min: 4 })));
    default: return [];
  }
}

export function cloneGeometry(geometry) { return geometry ? JSON.parse(JSON.stringify(geometry)) : null; }

/** Every editable vertex: [{ring, index, coord}] (a closed ring's repeated last vertex is left out). */
export function vertices(geometry) {
  const out = [];
  ringsOf(geometry).forEach((r, ring) => {
    const n = r.closed ? r.coords.length - 1 : r.coords.length;
    for (let index = 0; index < n; index++) out.push({ ring, index, coord: r.coords[index] });
  });
  return out;
}

/** Midpoints of every edge, where a drag inserts a new vertex: [{ring, after, coord}]. */
export function midpoints(geometry) {
  const out = [];
  ringsOf(geometry).forEach((r, ring) => {
    if (r.point) return;
    for (let i = 0; i + 1 < r.coords.length; i++) {
      const a = r.coords[i], b = r.coords[i + 1];
      out.push({ ring, after: i, coord: [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2] });
    }
  });
  return out;
}

/** A copy of `geometry` with vertex (ring, index) at `coord`. */
export function moveVertex(geometry, ring, index, coord) {
  const g = cloneGeometry(geometry);
  if (g.type === 'Point') { g.coordinates = [...coord]; return g; }
  const r = ringsOf(g)[ring];
  r.coords[index] = [...coord];
  if (r.closed && index === 0) r.coords[r.coords.length - 1] = [...coord];
  return g;
}

/** A copy of `geometry` with a new vertex after position `after` of ring `ring`. */
export function insertVertex(geometry, ring, after, coord) {
  const g = cloneGeometry(geometry);
  ringsOf(g)[ring].coords.splice(after + 1, 0, [...coord]);
  return g;
}

/** A copy without vertex (ring, index), or null when the ring would fall below its minimum (a triangle stays). */
export function removeVertex(geometry, ring, index) {
  const g = cloneGeometry(geometry);
  const r = ringsOf(g)[ring];
  if (!r || r.point || r.coords.length - 1 < r.min) return null;
  r.coords.splice(index, 1);
  if (r.closed && index === 0) r.coords[r.coords.length - 1] = [...r.coords[0]];
  return g;
}

/** The geometry a layer of `geometryType` gets from drawn vertices (a MultiPolygon layer gets a one-part one). */
export function geometryFromDrawing(geometryType, pts) {
  const t = geometryType || '';
  if (/Point/.test(t)) return pts.length ? { type: 'Point', coordinates: [...pts[0]] } : null;
  if (/LineString/.test(t)) {
    if (pts.length < 2) return null;
    return t === 'MultiLineString' ? { type: 'MultiLineString', coordinates: [pts] } : { type: 'LineString', coordinates: pts };
  }
  if (pts.length < 3) return null;
  const ring = [...pts, [...pts[0]]];
  return t === 'MultiPolygon' ? { type: 'MultiPolygon', coordinates: [[ring]] } : { type: 'Polygon', coordinates: [ring] };
}

/** What a layer draws: 'point' | 'line' | 'polygon' (null: a table without geometry). */
export function drawKind(geometryType) {
  if (!geometryType || geometryType === 'None') return null;
  if (/Point/.test(geometryType)) return 'point';
  if (/LineString/.test(geometryType)) return 'line';
  return 'polygon';
}

/** Problems the server would refuse, in Chinese, checked before sending: too few vertices, a ring that crosses
 *  itself. Returns [] when the geometry looks valid. (The server is the judge; this saves a round trip.) */
export function geometryProblems(geometry) {
  if (!geometry) return ['没有几何图形'];
  const out = [];
  for (const r of ringsOf(geometry)) {
    const distinct = new Set(r.coords.map((c) => `${c[0]},${c[1]}`)).size;
    if (r.closed && distinct < 3) out.push('面至少需要 3 个不同的顶点');
    else if (!r.closed && !r.point && distinct < 2) out.push('线至少需要 2 个不同的顶点');
    else if (r.closed && selfIntersects(r.coords)) out.push('面的边界自相交（请拖动顶点消除交叉）');
  }
  return out;
}

/** Whether two non-adjacent edges of a closed ring cross. O(n²): rings drawn by hand have few vertices. */
export function selfIntersects(ring) {
  const n = ring.length - 1;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (j === i + 1 || (i === 0 && j === n - 1)) continue;     // neighbours share a vertex
      if (segmentsCross(ring[i], ring[i + 1], ring[j], ring[j + 1])) return true;
    }
  }
  return false;
}

function orient(a, b, c) { return Math.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])); }

function segmentsCross(p1, p2, q1, q2) {
  const d1 = orient(q1, q2, p1), d2 = orient(q1, q2, p2), d3 = orient(p1, p2, q1), d4 = orient(p1, p2, q2);
  return d1 * d2 < 0 && d3 * d4 < 0;
}

/** Snap a screen point to the nearest vertex of a rendered feature within `px` pixels.
 *  `candidates` is MapLibre rendered features (queryRenderedFeatures); `project` maps lon/lat → {x, y}.
 *  Returns {coord, distance} or null. Vertices on tile edges (the cuts MapLibre makes) are not real corners
 *  but are usually far from where a user aims; the nearest real vertex wins when both are in range. */
export function snapToVertices(point, candidates, project, px = 10) {
  let best = null;
  for (const f of candidates) {
    for (const v of vertices(f.geometry)) {
      const s = project(v.coord);
      const d = Math.hypot(s.x - point.x, s.y - point.y);
      if (d <= px && (!best || d < best.distance)) best = { coord: [v.coord[0], v.coord[1]], distance: d };
    }
  }
  return best;
}

/** The point of segment a–b (screen {x, y}) nearest to p: {t (0…1 along a→b), distance}. */
export function nearestOnSegment(p, a, b) {
  const dx = b.x - a.x, dy = b.y - a.y;
  const len2 = dx * dx + dy * dy;
  const t = len2 ? Math.min(1, Math.max(0, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2)) : 0;
  return { t, distance: Math.hypot(a.x + t * dx - p.x, a.y + t * dy - p.y) };
}

/** Snap a screen point to the nearest point on an edge of a rendered feature within `px` pixels (same arguments
 *  as snapToVertices). The point is interpolated along the edge in lon/lat, so it lies on the edge the server
 *  stores. A candidate may carry `ghost(a, b)` (lon/lat ends): true for an edge that is not the feature's own
 *  (a tile cut: MapLibre's rendered geometries are clipped at tile borders), which is skipped.
 *  Returns {coord, distance} or null. */
export function snapToEdges(point, candidates, project, px = 10) {
  let best = null;
  for (const f of candidates) {
    for (const r of ringsOf(f.geometry)) {
      if (r.point) continue;
      const screen = r.coords.map((c) => project(c));
      for (let i = 0; i + 1 < r.coords.length; i++) {
        const a = r.coords[i], b = r.coords[i + 1];
        const hit = nearestOnSegment(point, screen[i], screen[i + 1]);
        if (hit.distance > px || (best && hit.distance >= best.distance) || f.ghost?.(a, b)) continue;
        best = { coord: [a[0] + hit.t * (b[0] - a[0]), a[1] + hit.t * (b[1] - a[1])], distance: hit.distance };
      }
    }
  }
  return best;
}

/** Where a pointer snaps: a vertex within `px` wins over an edge within `px` (so a corner is easy to hit),
 *  else the nearest edge point. {coord, distance, kind: 'vertex' | 'edge'} or null. */
export function snapPoint(point, candidates, project, px = 10) {
  const v = snapToVertices(point, candidates, project, px);
  if (v) return { ...v, kind: 'vertex' };
  const e = snapToEdges(point, candidates, project, px);
  return e ? { ...e, kind: 'edge' } : null;
}

/** Whether lon/lat segment a–b runs along or outside the border of tile z/x/y (both ends on or beyond the same
 *  side): a clipping artefact of a rendered tile, not an edge of the feature. */
export function onTileBorder(a, b, { z, x, y }) {
  const n = 2 ** z;
  const lon = (i) => (i / n) * 360 - 180;
  const lat = (j) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * j) / n))) * 180) / Math.PI;
  const [west, east, north, south] = [lon(x), lon(x + 1), lat(y), lat(y + 1)];
  const eps = 1e-9 * 360;
  return (a[0] <= west + eps && b[0] <= west + eps) || (a[0] >= east - eps && b[0] >= east - eps)
    || (a[1] >= north - eps && b[1] >= north - eps) || (a[1] <= south + eps && b[1] <= south + eps);
}

/** Whether two geometries have the same coordinates (rounded to ~1 cm). */
export function sameGeometry(a, b) {
  const norm = (g) => JSON.stringify(g ? { t: g.type, c: round(g.coordinates) } : null);
  return norm(a) === norm(b);
}

function round(c) { return typeof c === 'number' ? Math.round(c * 1e7) / 1e7 : c.map(round); }

/** Two polygonal geometries as one MultiPolygon (the server's repair turns touching or overlapping parts into
 *  their union); null when either is not polygonal. */
export function combinePolygons(a, b) {
  const polys = (g) => (g?.type === 'Polygon' ? [g.coordinates] : g?.type === 'MultiPolygon' ? g.coordinates : null);
  const pa = polys(a), pb = polys(b);
  return pa && pb ? { type: 'MultiPolygon', coordinates: [...pa, ...pb] } : null;
}

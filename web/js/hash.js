// The URL hash holds the view so a planner can send a link:
//   #map=<zoom>/<lat>/<lon>[/<bearing>]&layers=a,b,c&sel=<layer>/<featureId>[&pop=1]&base=offline|tianditu|osm|amap
//   &op=<layer>:<opacity 0–1>,… (only layers not at 100 %)&note=<text> (a shared bookmark's note, shown once as a
//   message when the link is opened; the viewer does not write it back)

export function readHash() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  const out = {};
  const m = (p.get('map') || '').split('/').map(Number);
  if (m.length >= 3 && m.slice(0, 3).every(Number.isFinite)) {
    out.zoom = m[0]; out.center = [m[2], m[1]];
    if (Number.isFinite(m[3])) out.bearing = m[3];
  }
  if (p.has('layers')) out.layers = p.get('layers').split(',').filter(Boolean);
  if (p.get('sel')) {
    const [layer, ...rest] = p.get('sel').split('/');
    if (layer && rest.length) out.selection = { layer, id: rest.join('/') };
  }
  if (p.get('base')) out.base = p.get('base');
  if (p.get('op')) {
    out.opacity = {};
    for (const part of p.get('op').split(',')) {
      const [id, v] = part.split(':');
      const n = Number(v);
      if (id && Number.isFinite(n)) out.opacity[id] = Math.max(0, Math.min(1, n));
    }
  }
  out.popup = p.get('pop') === '1';
  if (p.get('note')) out.note = p.get('note').slice(0, 500);
  return out;
}

/** The hash for a view: {center:[lon,lat], zoom, bearing, layers, selection, base, opacity:{id:0–1}, popup, note}. */
export function hashFor({ center, zoom, bearing = 0, layers, selection, base, opacity, popup, note }) {
  const parts = [`map=${zoom.toFixed(2)}/${center[1].toFixed(5)}/${center[0].toFixed(5)}${bearing ? '/' + bearing.toFixed(1) : ''}`];
  if (layers) parts.push(`layers=${layers.join(',')}`);
  if (selection) parts.push(`sel=${encodeURIComponent(selection.layer)}/${encodeURIComponent(selection.id)}`);
  if (selection && popup) parts.push('pop=1');
  const op = Object.entries(opacity || {}).filter(([, v]) => v < 0.995).map(([k, v]) => `${k}:${v.toFixed(2)}`);
  if (op.length) parts.push(`op=${op.join(',')}`);
  if (base && base !== 'offline') parts.push(`base=${base}`);
  if (note) parts.push(`note=${encodeURIComponent(note)}`);
  return '#' + parts.join('&');
}

export function writeHash({ map, layers, selection, base, opacity, popup }) {
  const c = map.getCenter();
  const hash = hashFor({ center: [c.lng, c.lat], zoom: map.getZoom(), bearing: map.getBearing(), layers, selection, base, opacity, popup });
  if (hash !== location.hash) history.replaceState(null, '', hash);
}

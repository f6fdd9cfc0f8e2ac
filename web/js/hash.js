// The URL hash holds the view so a planner can send a link:
//   #map=<zoom>/<lat>/<lon>[/<bearing>]&layers=a,b,c&sel=<layer>/<featureId>[&pop=1]&base=offline|tianditu|osm|amap
//   &op=<layer>:<opacity 0–1>,… (only layers not at 100 %)

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
  return out;
}

export function writeHash({ map, layers, selection, base, opacity, popup }) {
  const c = map.getCenter();
  const z = map.getZoom();
  const parts = [`map=${z.toFixed(2)}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}${map.getBearing() ? '/' + map.getBearing().toFixed(1) : ''}`];
  if (layers) parts.push(`layers=${layers.join(',')}`);
  if (selection) parts.push(`sel=${encodeURIComponent(selection.layer)}/${encodeURIComponent(selection.id)}`);
  if (selection && popup) parts.push('pop=1');
  const op = Object.entries(opacity || {}).filter(([, v]) => v < 0.995).map(([k, v]) => `${k}:${v.toFixed(2)}`);
  if (op.length) parts.push(`op=${op.join(',')}`);
  if (base && base !== 'offline') parts.push(`base=${base}`);
  const hash = '#' + parts.join('&');
  if (hash !== location.hash) history.replaceState(null, '', hash);
}

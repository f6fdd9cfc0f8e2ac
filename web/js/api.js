// Every request the viewer makes goes through here: same-origin URLs of the KFQMap server only.

export class ApiError extends Error {
  constructor(message, status, url) { super(message); this.status = status; this.url = url; }
}

async function problemMessage(resp) {
  try {
    const body = await resp.json();
    return body.detail || body.title || body.message || JSON.stringify(body);
  } catch { return `${resp.status} ${resp.statusText}`; }
}

export async function getJSON(url, { signal } = {}) {
  const resp = await fetch(url, { headers: { Accept: 'application/json, application/geo+json' }, signal });
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, url);
  return resp.json();
}

export async function postJSON(url, body, { signal } = {}) {
  const resp = await fetch(url, {
    method: 'POST', signal,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, application/geo+json' },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, url);
  return resp.json();
}

export async function putJSON(url, body, { signal } = {}) {
  const resp = await fetch(url, {
    method: 'PUT', signal,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, url);
  return resp.json();
}

/** Fetch a file (GET or POST) and hand it to the browser as a download. */
export async function download(url, { method = 'GET', body = null, fallbackName = 'kfqmap-export' } = {}) {
  const init = { method };
  if (body) { init.body = JSON.stringify(body); init.headers = { 'Content-Type': 'application/json' }; }
  const resp = await fetch(url, init);
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, url);
  const blob = await resp.blob();
  const name = filenameFrom(resp.headers.get('Content-Disposition')) || fallbackName;
  saveBlob(blob, name);
  return name;
}

export function saveBlob(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 2000);
}

function filenameFrom(disposition) {
  if (!disposition) return null;
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
  if (star) return decodeURIComponent(star[1]);
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(disposition);
  return plain ? plain[1] : null;
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  return u.toString();
}

// ------------------------------------------------------------------ one function per endpoint the viewer calls
// (each knows the one shape the server's pydantic model gives; callers never guess keys)

/** POST /query/geometry → QueryResult {kind:'geometry', params:{area_m2, layers, …}, count, layers:{id:n}, hits:[QueryHit]} */
export function queryGeometry({ geometry, crs, layers, predicate = 'intersects', filter }) {
  return postJSON('/query/geometry', { geometry, crs, predicate, layers, ...(filter ? { filter } : {}) });
}

/** GET /query/point → QueryResult {kind:'point', …} */
export function queryPoint({ lon, lat, crs, tolerance, layers }) {
  return getJSON(`/query/point?${qs({ lon, lat, crs, tolerance, layers: layers.join(',') })}`);
}

/** GET /query/near → QueryResult {kind:'near', hits:[{distance_m, near_name, …}], buffer: GeoJSON|null}
 *  (`layer`: one id or a comma-separated list; `buffer`: ask for the searched area, in `bufferCrs`) */
export function queryNear({ layer, near, distance, nearFilter, buffer = false, bufferCrs }) {
  return getJSON(`/query/near?${qs({ layer, near, distance, near_filter: nearFilter, buffer: buffer ? 'true' : undefined, buffer_crs: bufferCrs })}`);
}

/** GET /stats/layers/{id}?unit= → LayerStats {features:[{id, name, area, area_m2, length_m}], …} */
export function layerStatsFor(layerId, unit) {
  return getJSON(`/stats/layers/${encodeURIComponent(layerId)}?unit=${encodeURIComponent(unit)}`);
}

/** GET /collections/{id}/items → GeoJSON FeatureCollection (+ numberMatched). `filter` is CQL2 text. */
export function getItems(layerId, { limit = 1000, offset = 0, filter, crs, bbox } = {}) {
  return getJSON(`/collections/${encodeURIComponent(layerId)}/items?${qs({ f: 'json', limit, offset, filter, 'filter-lang': filter ? 'cql2-text' : undefined, crs, bbox })}`);
}

/** GET /collections/{id}/items/{fid} → GeoJSON Feature */
export function getItem(layerId, fid, { crs } = {}) {
  return getJSON(`/collections/${encodeURIComponent(layerId)}/items/${encodeURIComponent(fid)}?${qs({ f: 'json', crs })}`);
}

/** GET /search?q= → {q, count, hits:[SearchHit]} */
export function search(q) {
  return getJSON(`/search?${qs({ q })}`);
}

/** GET /collections/{id} → the OGC collection document (extent.spatial.bbox[0] = [w, s, e, n] in CRS84) */
export function getCollection(layerId) {
  return getJSON(`/collections/${encodeURIComponent(layerId)}?f=json`);
}

/** POST /imports (multipart) → ImportReport {ok, committed, import_id, errors, warnings, preview?: FeatureCollection, …};
 *  a refused import throws ApiError with the problem's detail (400 unusable file, 413 too large, 422 report errors). */
export async function postImport(formData) {
  const resp = await fetch('/imports', { method: 'POST', body: formData, headers: { Accept: 'application/json' } });
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, '/imports');
  return resp.json();
}

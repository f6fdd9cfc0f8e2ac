// Every request the viewer makes goes through here: same-origin URLs of the KFQMap server only.

// Signed in, every POST/PUT/PATCH/DELETE (queries and exports too) must carry the session's CSRF token: the
// server refuses a state-changing request with the session cookie but without it (403 CSRFRejected).
let csrfToken = null;
function csrfHeaders() { return csrfToken ? { 'X-CSRF-Token': csrfToken } : {}; }

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
    headers: { 'Content-Type': 'application/json', Accept: 'application/json, application/geo+json', ...csrfHeaders() },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, url);
  return resp.json();
}

export async function putJSON(url, body, { signal } = {}) {
  const resp = await fetch(url, {
    method: 'PUT', signal,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...csrfHeaders() },
    body: JSON.stringify(body),
  });
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, url);
  return resp.json();
}

/** Fetch a file (GET or POST) and hand it to the browser as a download. */
export async function download(url, { method = 'GET', body = null, fallbackName = 'kfqmap-export' } = {}) {
  const init = { method };
  if (body) { init.body = JSON.stringify(body); init.headers = { 'Content-Type': 'application/json', ...csrfHeaders() }; }
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
  const resp = await fetch('/imports', { method: 'POST', body: formData, headers: { Accept: 'application/json', ...csrfHeaders() } });
  if (!resp.ok) throw new ApiError(await problemMessage(resp), resp.status, '/imports');
  return resp.json();
}

// ------------------------------------------------------------------ accounts and writes (issue 13)
// The session is a cookie (HttpOnly, set by POST /auth/login); every state-changing request carries the session's
// CSRF token in X-CSRF-Token. Writes use OGC API – Features Part 4 with optimistic concurrency (If-Match: ETag).

/** The CSRF token of the current session (from /auth/login or /auth/me); null when logged out. */
export function setCsrfToken(token) { csrfToken = token || null; }

/** A request whose answer the caller needs in full: {status, etag, location, body}. A non-2xx answer throws an
 *  ApiError carrying `status` and the problem+json `body` (a 412's body and the current ETag included). */
export async function send(method, url, { body, headers = {}, contentType = 'application/json' } = {}) {
  // never from the HTTP cache: a feature's body and ETag must be the server's current ones
  const init = { method, cache: 'no-store', headers: { Accept: 'application/json, application/geo+json', ...headers } };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) init.headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) { init.body = JSON.stringify(body); init.headers['Content-Type'] = contentType; }
  const resp = await fetch(url, init);
  const text = await resp.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  const out = { status: resp.status, etag: resp.headers.get('ETag'), location: resp.headers.get('Location'), body: parsed };
  if (!resp.ok) {
    const msg = (parsed && typeof parsed === 'object' && (parsed.detail || parsed.title)) || `${resp.status} ${resp.statusText}`;
    const err = new ApiError(msg, resp.status, url);
    Object.assign(err, out);
    throw err;
  }
  return out;
}

const itemUrl = (layerId, fid) => `/collections/${encodeURIComponent(layerId)}/items${fid === undefined ? '' : `/${encodeURIComponent(fid)}`}`;

/** POST /auth/login {username, password} → {user, role, layers, csrf} (+ the session cookie) */
export async function login(username, password) {
  return (await send('POST', '/auth/login', { body: { username, password } })).body;
}

/** POST /auth/logout (ends the session) */
export async function logout() {
  try { await send('POST', '/auth/logout'); } finally { setCsrfToken(null); }
}

/** GET /auth/me → {user, role, layers, csrf} of the session, or null when anonymous (401) */
export async function whoAmI() {
  try { return (await send('GET', '/auth/me')).body; } catch (err) { if (err.status === 401 || err.status === 404) return null; throw err; }
}

/** GET /collections/{id}/queryables → JSON Schema of the layer's properties (types) */
export function getQueryables(layerId) {
  return getJSON(`/collections/${encodeURIComponent(layerId)}/queryables?f=json`);
}

/** GET /collections/{id}/schema → the layer's write schema (JSON Schema: types, `required`, allowed values in
 *  `enum`, `readOnly` id); a server without it (or a read-only layer) → its queryables. */
export async function getEditSchema(layerId) {
  const [schema, queryables] = await Promise.all([
    getJSON(`/collections/${encodeURIComponent(layerId)}/schema`).catch((err) => { if (err.status === 404) return null; throw err; }),
    getQueryables(layerId).catch(() => null),
  ]);
  if (!schema) return queryables;
  // the store keeps some whole numbers (year) in REAL columns, so the write schema says number where the
  // queryables (read from the data) say integer: the form asks for a whole number then
  for (const [name, q] of Object.entries(queryables?.properties || {})) {
    const w = schema.properties?.[name];
    if (q.type === 'integer' && w && [w.type].flat().includes('number')) w.type = [w.type].flat().map((t) => (t === 'number' ? 'integer' : t));
  }
  return schema;
}

/** `crs` of a read, `Content-Crs` of a write: the map's coordinates (GCJ-02 under the 高德 basemap); WGS 84 adds nothing. */
const crsQuery = (crs) => (crs && crs !== 'EPSG:4326' ? `&crs=${encodeURIComponent(crs)}` : '');
const crsHeader = (crs) => (crs && crs !== 'EPSG:4326' ? { 'Content-Crs': `<${crs}>` } : {});

/** GET one feature with its version: {feature, etag} (coordinates in `crs`) */
export async function getItemVersioned(layerId, fid, { crs } = {}) {
  const r = await send('GET', `${itemUrl(layerId, fid)}?f=json${crsQuery(crs)}`);
  return { feature: r.body, etag: r.etag };
}

/** POST /collections/{id}/items → 201 {feature id from Location, etag} */
export async function createItem(layerId, feature, { note, crs } = {}) {
  const r = await send('POST', itemUrl(layerId), { body: feature, contentType: 'application/geo+json', headers: { ...noteHeader(note), ...crsHeader(crs) } });
  const id = r.location ? decodeURIComponent(r.location.split('/').pop().split('?')[0]) : (r.body?.id ?? feature.properties?.id);
  return { id: String(id), etag: r.etag, feature: r.body };
}

/** PATCH /collections/{id}/items/{fid} (JSON merge patch) with If-Match */
export async function patchItem(layerId, fid, patch, etag, { note, crs } = {}) {
  const r = await send('PATCH', itemUrl(layerId, fid), { body: patch, contentType: 'application/merge-patch+json', headers: { 'If-Match': etag, ...noteHeader(note), ...crsHeader(crs) } });
  return { etag: r.etag, feature: r.body };
}

/** PUT /collections/{id}/items/{fid} (the whole feature) with If-Match */
export async function replaceItem(layerId, fid, feature, etag, { note, crs } = {}) {
  const r = await send('PUT', itemUrl(layerId, fid), { body: feature, contentType: 'application/geo+json', headers: { 'If-Match': etag, ...noteHeader(note), ...crsHeader(crs) } });
  return { etag: r.etag, feature: r.body };
}

/** DELETE /collections/{id}/items/{fid} with If-Match */
export async function deleteItem(layerId, fid, etag, { note } = {}) {
  await send('DELETE', itemUrl(layerId, fid), { headers: { 'If-Match': etag, ...noteHeader(note) } });
}

/** POST /collections/{id}/transactions {operations, note}: several changes, all or nothing. `repair` lets the server
 *  make the geometries valid (shapely make_valid; a merge sends both outlines as one MultiPolygon and gets their
 *  union back). → {version, results: [{op, id, etag, href}]} */
export async function transaction(layerId, operations, { note, repair = false, crs } = {}) {
  const url = `/collections/${encodeURIComponent(layerId)}/transactions${repair ? '?repair=true' : ''}`;
  return (await send('POST', url, { body: { operations, ...(note ? { note } : {}) }, headers: crsHeader(crs) })).body;
}

/** POST /collections/{id}/items/{fid}/split {line, note} with If-Match: 分割 a polygon along `line` (in `crs`), one
 *  transaction. → {version, parts, results: [{op, id, etag, href}]}: the update of `fid` (the largest part), then
 *  one create per other part */
export async function splitItem(layerId, fid, line, etag, { note, crs } = {}) {
  return (await send('POST', `${itemUrl(layerId, fid)}/split`, { body: { line, ...(note ? { note } : {}) }, headers: { 'If-Match': etag, ...crsHeader(crs) } })).body;
}

/** GET /collections/{id}/items/{fid}/history → the feature's changes, newest first */
export async function getHistory(layerId, fid) {
  return (await send('GET', `${itemUrl(layerId, fid)}/history`)).body;
}

/** 修改说明 travels in the X-Change-Note header, percent-encoded UTF-8 (a header carries only Latin-1). */
function noteHeader(note) {
  return note ? { 'X-Change-Note': encodeURIComponent(note) } : {};
}

/** Restore (admins): bring back the feature as it was after change `seq` (itself recorded as a change). */
export async function restoreVersion(layerId, fid, seq) {
  return (await send('POST', `${itemUrl(layerId, fid)}/history/${encodeURIComponent(seq)}/restore`)).body;
}

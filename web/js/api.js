// The JSON API client: same-origin fetch with the session cookie, the CSRF
// token on every state-changing request, and RFC 9457 problem documents
// turned into ApiError.

let csrfToken = null;
const listeners = { activity: [], unauthorized: [] };

export class ApiError extends Error {
  constructor(status, problem, path) {
    const p = problem && typeof problem === 'object' ? problem : {};
    super(p.detail || p.title || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.problem = p;
    this.title = p.title || (status === 0 ? 'Network error' : `HTTP ${status}`);
    this.detail = p.detail || '';
    this.path = path;
  }
  // The route does not exist in this daemon (a module not built in yet).
  // Unknown routes fall through to the static files: 404 without a detail,
  // or 405 for methods other than GET.
  get notAvailable() { return (this.status === 404 && !this.problem.detail) || this.status === 405; }
  get forbidden() { return this.status === 403; }
}

export function setCsrf(token) { csrfToken = token || null; }
export function on(event, fn) { listeners[event].push(fn); }
const emit = (event, ...args) => listeners[event].forEach((fn) => fn(...args));

function url(path, query) {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

// api('GET', '/api/v1/users'), api('POST', '/api/v1/users', {body: {...}})
// Options: query (object), body (object → JSON; string/Blob → as is with
// contentType), raw (return the Response), quiet401 (no sign-out on 401).
export async function api(method, path, opts = {}) {
  const headers = { Accept: 'application/json', ...(opts.headers || {}) };
  let body;
  if (opts.body !== undefined) {
    if (typeof opts.body === 'string' || opts.body instanceof Blob) {
      body = opts.body;
      headers['Content-Type'] = opts.contentType || 'application/octet-stream';
    } else {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = 'application/json';
    }
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let res;
  try {
    res = await fetch(url(path, opts.query), {
      method, headers, body, credentials: 'same-origin', cache: 'no-store', redirect: 'error', signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'Network error', detail: 'The appliance could not be reached. Check the connection and try again.' }, path);
  }
  if (res.status !== 401) emit('activity');
  if (opts.raw && res.ok) return res;
  const type = res.headers.get('Content-Type') || '';
  let doc = null;
  if (res.status !== 204 && (type.includes('json'))) {
    try { doc = await res.json(); } catch { doc = null; }
  } else if (res.status !== 204 && !opts.raw) {
    const text = await res.text();
    doc = res.ok ? text : { title: res.statusText, detail: text.slice(0, 300) };
  }
  if (!res.ok) {
    const err = new ApiError(res.status, doc, path);
    const retry = res.headers.get('Retry-After');
    if (retry) err.retryAfter = Number(retry);
    if (res.status === 401 && !opts.quiet401) emit('unauthorized', err);
    throw err;
  }
  return doc;
}

export const get = (path, query, opts) => api('GET', path, { ...opts, query });
export const post = (path, body, opts) => api('POST', path, { ...opts, body });
export const put = (path, body, opts) => api('PUT', path, { ...opts, body });
export const patch = (path, body, opts) => api('PATCH', path, { ...opts, body });
export const del = (path, body, opts) => api('DELETE', path, { ...opts, body });

// Lists come as {items}, {users}, {tokens}, {scans}, ... or a bare array.
export function listOf(doc, ...keys) {
  if (Array.isArray(doc)) return doc;
  if (!doc || typeof doc !== 'object') return [];
  for (const k of [...keys, 'items', 'data', 'results']) {
    if (Array.isArray(doc[k])) return doc[k];
  }
  return [];
}

// The one way the page talks to the server: same-origin fetch of /api/…,
// the CSRF token on every state change, errors as ApiError carrying the
// server's sentence (shown to the user as it is).

let csrf = null;
let onUnauthenticated = () => {};

export function setCsrf(token) {
  csrf = token;
}

/** Called when any request answers 401: the session ended (signed out elsewhere, user disabled). */
export function whenUnauthenticated(handler) {
  onUnauthenticated = handler;
}

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super((body && body.error) || fallback);
    this.status = status;
    this.code = body && body.code;
    this.matches = (body && body.matches) || null;
  }
}

export async function api(path, { method = 'GET', body, quiet401 = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    if (csrf) headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
  }
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch (e) {
    throw new ApiError(0, null, String(e.message || e));
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = res.ok ? text : { error: text.slice(0, 300) };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, `HTTP ${res.status}`);
    if (res.status === 401 && !quiet401) onUnauthenticated(err);
    throw err;
  }
  return data;
}

/** Query string from an object, skipping empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    q.set(k, v === true ? '1' : String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// The whole view lives in the URL's query string, so a view can be
// bookmarked and shared: the page, every filter, the map's view, the open
// case, the patrol, the KPI period, the language. Modules read it with
// get() and change it with update(); listeners re-render.

const listeners = new Set();

export function params() {
  return new URLSearchParams(location.search);
}

export function get(key, fallback = '') {
  const v = params().get(key);
  return v === null ? fallback : v;
}

/**
 * Sets (or, for '', null, undefined, false, deletes) keys. `push` makes a
 * browser history entry (page changes, opening a case); map pans and typing
 * replace the current one.
 */
export function update(changes, { push = false, silent = false } = {}) {
  const p = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '' || v === false) p.delete(k);
    else p.set(k, v === true ? '1' : String(v));
  }
  const url = location.pathname + (p.toString() ? '?' + p.toString() : '');
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
  if (!silent) notify(Object.keys(changes));
}

export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function notify(keys) {
  for (const l of listeners) l(new Set(keys));
}

window.addEventListener('popstate', () => notify(new Set(['*'])));

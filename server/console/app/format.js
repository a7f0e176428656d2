// Times, durations and numbers as the city reads them. The server speaks
// UTC (RFC 3339); the page shows local time in the city's offset from the
// working calendar (session.utc_offset_minutes), whatever the browser's own
// time zone is.

import { t } from './i18n.js';

let offsetMinutes = 480;
// The page's notion of "now", corrected by the server's clock when known
// (a supervisor's PC with a wrong clock must not show wrong countdowns).
let skewMs = 0;

export function setOffset(minutes) {
  if (Number.isFinite(minutes)) offsetMinutes = minutes;
}

export function setServerNow(serverMs) {
  if (Number.isFinite(serverMs)) skewMs = serverMs - Date.now();
}

export function now() {
  return Date.now() + skewMs;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

function shifted(ms) {
  return new Date(ms + offsetMinutes * 60000);
}

export function offsetLabel() {
  const sign = offsetMinutes < 0 ? '-' : '+';
  const m = Math.abs(offsetMinutes);
  return `UTC${sign}${m / 60 | 0}${m % 60 ? ':' + pad(m % 60) : ''}`;
}

/** "2026-12-05 14:03" in city time, from RFC 3339 or ms. */
export function localTime(value) {
  const ms = toMs(value);
  if (ms === null) return '';
  const d = shifted(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** "14:03" in city time. */
export function localClock(value) {
  const ms = toMs(value);
  if (ms === null) return '';
  const d = shifted(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** Today's date in the city, YYYY-MM-DD. */
export function localToday(offsetDays = 0) {
  const d = shifted(now() + offsetDays * 86400000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The day after a YYYY-MM-DD date. */
export function nextDay(date) {
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms)) return date;
  return new Date(ms + 86400000).toISOString().slice(0, 10);
}

/** The first day of this month in the city, YYYY-MM-DD. */
export function localMonthStart() {
  return localToday().slice(0, 8) + '01';
}

export function toMs(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** "2 d 3 h", "3 h 12 min", "5 min" */
export function duration(ms) {
  const min = Math.max(0, Math.round(ms / 60000));
  const d = Math.floor(min / 1440);
  const hr = Math.floor((min % 1440) / 60);
  const m = min % 60;
  if (d > 0) return t('dur.dh', { d, h: hr });
  if (hr > 0) return t('dur.hm', { h: hr, m });
  return t('dur.m', { m });
}

/**
 * A deadline as a countdown: {text, overdue, title}. "3 h 12 min left" or
 * "overdue 2 h 5 min"; the title gives the deadline in city time.
 */
export function countdown(deadline) {
  const ms = toMs(deadline);
  if (ms === null) return { text: '—', overdue: false, title: '' };
  const left = ms - now();
  const title = `${localTime(ms)} (${offsetLabel()})`;
  if (left < 0) return { text: t('deadline.overdue', { d: duration(-left) }), overdue: true, title };
  return { text: t('deadline.left', { d: duration(left) }), overdue: false, title };
}

export function km(metres) {
  if (!Number.isFinite(metres)) return '—';
  return metres >= 1000 ? `${(metres / 1000).toFixed(2)} km` : `${Math.round(metres)} m`;
}

export function percent(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${(x * 100).toFixed(1)}%`;
}

export function number(x, digits = 0) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return digits ? x.toFixed(digits) : String(x);
}

// Every report id the page has seen. Ids are UUIDv7, whose first twelve
// hex digits are the time in milliseconds: reports made within a minute
// share their first eight characters, so eight would read the same for
// several rows. A case is shown by its time part (`01a2485f-970b`, the
// first 13 characters) and more where another id the page knows starts the
// same — what a person can type back into the search.
const MIN_SHOWN = 13;
const known = new Set();
let sorted = null;

export function rememberIds(ids) {
  for (const id of ids) {
    if (id && !known.has(id)) {
      known.add(id);
      sorted = null;
    }
  }
}

function common(a, b) {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n += 1;
  return n;
}

/** The shortest prefix of a report id (≥ 13 characters) that no other known id shares. */
export function shortId(id) {
  const text = String(id);
  if (!known.has(text)) rememberIds([text]);
  if (!sorted) sorted = [...known].sort();
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < text) lo = mid + 1;
    else hi = mid;
  }
  const shared = Math.max(
    lo > 0 ? common(sorted[lo - 1], text) : 0,
    lo + 1 < sorted.length ? common(sorted[lo + 1], text) : 0,
  );
  let n = Math.max(MIN_SHOWN, shared + 1);
  // A prefix never ends on the dash: one more character reads better.
  if (text[n - 1] === '-') n += 1;
  return text.slice(0, n);
}

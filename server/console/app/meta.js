// Reference data (/api/meta and the cells of /api/grid): names next to codes.

import { api } from './api.js';
import { currentLang, t } from './i18n.js';

export const meta = {
  categories: [],
  departments: [],
  users: [],
  streets: [],
  cells: new Map(), // code -> {name, street, community}
  byCategory: new Map(),
  byDepartment: new Map(),
  byStreet: new Map(),
  classes: [], // [{code, name}]
};

export async function loadMeta() {
  const m = await api('/api/meta');
  meta.categories = m.categories || [];
  meta.departments = m.departments || [];
  meta.users = m.users || [];
  meta.streets = m.streets || [];
  meta.byCategory = new Map(meta.categories.map((c) => [c.code, c]));
  meta.byDepartment = new Map(meta.departments.map((d) => [d.code, d]));
  meta.byStreet = new Map(meta.streets.map((s) => [s.code, s]));
  const classes = new Map();
  for (const c of meta.categories) {
    if (c.class_code && !classes.has(c.class_code)) classes.set(c.class_code, c.class_name || c.class_code);
  }
  meta.classes = [...classes].map(([code, name]) => ({ code, name }));
  return meta;
}

export function setCells(features) {
  meta.cells = new Map(
    features.map((f) => [f.properties.code, {
      name: f.properties.name,
      street: f.properties.street,
      community: f.properties.community,
    }]),
  );
}

/** "上水井盖" — a category's name in the page's language when the table has one. */
export function categoryName(code, fallback) {
  const c = meta.byCategory.get(code);
  if (!c) return fallback || code || '';
  if (currentLang() === 'en' && c.name_en) return c.name_en;
  return c.name || fallback || code;
}

export function departmentName(code, fallback) {
  if (!code) return '';
  return meta.byDepartment.get(code)?.name || fallback || code;
}

export function cellName(code, fallback) {
  if (!code) return '';
  return meta.cells.get(code)?.name || fallback || code;
}

/** A street's name; the code hierarchy often has none, then "街道 001". */
export function streetName(code) {
  if (!code) return '';
  const name = meta.byStreet.get(code)?.name;
  return name && name !== code ? name : t('street.code', { code: code.length > 3 ? code.slice(-3) : code });
}

/** Users who may verify in the field (wardens and liaisons). */
export function fieldUsers() {
  return meta.users.filter((u) => u.role === 'warden' || u.role === 'liaison');
}

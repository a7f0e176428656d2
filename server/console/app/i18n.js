// One message table per language (i18n/zh.js, i18n/en.js). Chinese is the
// default; `?lang=en` or the toggle switches, and the choice is kept in the
// URL so a shared link shows the same language.

import zh from '../i18n/zh.js';
import en from '../i18n/en.js';

export const TABLES = { zh, en };
let lang = 'zh';

export function setLang(code) {
  lang = TABLES[code] ? code : 'zh';
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

export function currentLang() {
  return lang;
}

/** t('queue.count', {n: 3}): the message with {name} placeholders filled. */
export function t(key, vars) {
  let text = TABLES[lang][key];
  if (text === undefined) text = TABLES.zh[key];
  if (text === undefined) return key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

/** A status, step, role… name by code, falling back to the code itself. */
export function named(group, code) {
  const key = `${group}.${code}`;
  const text = TABLES[lang][key] ?? TABLES.zh[key];
  return text === undefined ? String(code) : text;
}

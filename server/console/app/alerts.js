// Alerts — cases about to go overdue, overdue ones, hot spots — and the
// live feed (Server-Sent Events from /api/events) that keeps the page
// current: new reports and steps show without a reload.

import { api } from './api.js';
import { h, replace } from './dom.js';
import { t, named } from './i18n.js';
import { categoryName, cellName } from './meta.js';
import { countdown, localTime, shortId } from './format.js';

export class Alerts {
  constructor(root, { badge, onOpenCase }) {
    this.root = root;
    this.badge = badge;
    this.onOpenCase = onOpenCase;
    this.data = null;
  }

  async refresh() {
    try {
      this.data = await api('/api/alerts');
      const d = this.data;
      const n = (d.due_soon_total ?? (d.due_soon || []).length) + (d.overdue_total ?? (d.overdue || []).length)
        + (d.hotspots || []).length;
      this.badge.textContent = n ? String(n) : '';
      this.badge.hidden = !n;
      this.badge.setAttribute('aria-label', t('alerts.badge', { n }));
      if (!this.root.hidden) this.render();
    } catch (e) {
      replace(this.root, h('p', { class: 'error', role: 'alert', text: e.message }));
    }
  }

  render() {
    const d = this.data || { due_soon: [], overdue: [], hotspots: [] };
    replace(this.root,
      h('h2', { text: t('alerts.title') }),
      section('alerts-overdue', t('alerts.overdue', { n: d.overdue_total ?? d.overdue.length }), caseList(d.overdue, this.onOpenCase)),
      section('alerts-due', t('alerts.due_soon', { n: d.due_soon_total ?? d.due_soon.length }), caseList(d.due_soon, this.onOpenCase)),
      section('alerts-hotspots', t('alerts.hotspots', { n: d.hotspots.length }), d.hotspots.length
        ? h('ul', { class: 'hotspots' }, d.hotspots.map((hs) => h('li', {},
          h('strong', { text: hs.cell_name || cellName(hs.cell) }), ` (${hs.cell}) · `,
          categoryName(hs.subclass, hs.subclass_name), ' · ',
          t('alerts.hotspot_count', { n: hs.count, since: localTime(hs.since) }))))
        : h('p', { class: 'muted', text: t('alerts.none') })));
  }
}

function section(cls, title, body) {
  return h('section', { class: cls, 'aria-label': title }, h('h3', { text: title }), body);
}

function caseList(rows, onOpen) {
  if (!rows.length) return h('p', { class: 'muted', text: t('alerts.none') });
  return h('ul', { class: 'alert-cases' }, rows.map((r) => {
    const cd = countdown(r.deadline);
    return h('li', { class: cd.overdue ? 'overdue' : null },
      h('button', { type: 'button', class: 'link mono', text: shortId(r.id), 'aria-label': t('queue.open', { id: shortId(r.id) }), onclick: () => onOpen(r.id) }),
      ' ', h('span', { class: `chip status-${r.status}`, text: named('status', r.status) }),
      ' ', categoryName(r.category, r.category_name),
      ' · ', r.cell_name || cellName(r.cell),
      ' · ', h('span', { class: 'countdown' + (cd.overdue ? ' overdue' : ''), title: cd.title, text: cd.text }));
  }));
}

/**
 * Listens to /api/events. The browser's EventSource reconnects by itself
 * after a dropped connection; `onReport`, `onCase`, `onAlert` get the
 * parsed data.
 */
export function listen({ onReport, onCase, onAlert, onState, onEnd }) {
  const source = new EventSource('/api/events');
  const parse = (e) => {
    try {
      return JSON.parse(e.data);
    } catch {
      return null;
    }
  };
  source.addEventListener('report', (e) => onReport(parse(e)));
  source.addEventListener('case', (e) => onCase(parse(e)));
  source.addEventListener('alert', (e) => onAlert(parse(e)));
  // The session ended (signed out elsewhere, user disabled): stop reconnecting.
  source.addEventListener('end', () => {
    source.close();
    onEnd?.();
  });
  source.addEventListener('open', () => onState?.(true));
  source.addEventListener('error', () => onState?.(false));
  return source;
}

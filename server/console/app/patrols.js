// Patrols: per warden and day, each patrol's distance, duration, flags,
// reports and coverage; the selected one's track on the map with its
// jumps; the cells nobody visited that day. Imported (GPX) and untimed
// patrols are marked.

import { api, query } from './api.js';
import { h, field, select, replace } from './dom.js';
import { t, named } from './i18n.js';
import * as state from './state.js';
import { meta, cellName } from './meta.js';
import { duration, km, localClock, localTime, localToday, percent, shortId } from './format.js';

export class Patrols {
  constructor(root, { map, onOpenCase }) {
    this.root = root;
    this.map = map;
    this.onOpenCase = onOpenCase;
    this.seq = 0;
    this.build();
  }

  build() {
    const wardens = meta.users.filter((u) => u.role === 'warden' || u.role === 'liaison');
    this.warden = select([['', t('filter.any')], ...wardens.map((u) => [u.name, `${u.name} (${named('role', u.role)})`])],
      state.get('warden'), { name: 'warden', onchange: (e) => state.update({ warden: e.target.value, patrol: '' }) });
    this.date = h('input', {
      type: 'date', name: 'date', value: this.day(),
      onchange: (e) => state.update({ date: e.target.value, patrol: '' }),
    });
    this.list = h('div', { class: 'patrol-list' });
    this.detail = h('div', { class: 'patrol-detail', 'aria-live': 'polite' });
    this.unvisited = h('section', { class: 'unvisited', 'aria-label': t('patrols.unvisited') });
    replace(this.root,
      h('h2', { text: t('patrols.title') }),
      h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
        field(t('patrols.warden'), this.warden), field(t('patrols.date'), this.date)),
      this.list, this.detail, this.unvisited);
  }

  day() {
    return state.get('date') || localToday();
  }

  async show() {
    const seq = ++this.seq;
    this.warden.value = state.get('warden');
    this.date.value = this.day();
    const params = { warden: state.get('warden'), date: this.day() };
    try {
      const [patrols, unvisited] = await Promise.all([
        api('/api/patrols' + query(params)),
        api('/api/cells/unvisited' + query({ date: this.day() })),
      ]);
      if (seq !== this.seq) return;
      this.renderList(patrols);
      this.renderUnvisited(unvisited);
      const open = state.get('patrol');
      if (open) await this.open(open);
      else {
        replace(this.detail);
        this.map.clearTrack();
      }
    } catch (e) {
      if (seq !== this.seq) return;
      replace(this.list, h('p', { class: 'error', role: 'alert', text: e.message }));
    }
  }

  hide() {
    this.map.clearTrack();
    this.map.showUnvisited([]);
  }

  renderList(patrols) {
    if (!patrols.length) {
      replace(this.list, h('p', { class: 'muted', text: t('patrols.none') }));
      return;
    }
    const open = state.get('patrol');
    replace(this.list, h('table', { class: 'patrols' },
      h('caption', { class: 'visually-hidden', text: t('patrols.title') }),
      h('thead', {}, h('tr', {}, [
        t('patrols.warden'), t('patrols.time'), t('patrols.distance'), t('patrols.duration'),
        t('patrols.flags'), t('patrols.reports'), t('patrols.coverage'), t('patrols.kind'),
      ].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, patrols.map((p) => h('tr', { class: p.id === open ? 'open' : null, dataset: { id: p.id } },
        h('td', {}, h('button', {
          type: 'button', class: 'link', text: p.warden,
          'aria-label': t('patrols.open', { warden: p.warden, time: localClock(p.started_at) || shortId(p.id) }),
          onclick: () => state.update({ patrol: p.id }, { push: true }),
        })),
        h('td', { class: 'nowrap', text: p.untimed ? '—' : `${localClock(p.started_at)}–${localClock(p.ended_at)}` }),
        h('td', { text: km(p.distance_m) }),
        h('td', { text: p.untimed || !Number.isFinite(p.duration_s) ? '—' : duration(p.duration_s * 1000) }),
        h('td', { class: flagCount(p.flags) ? 'flagged' : '', text: flagText(p.flags) }),
        h('td', { text: String(Array.isArray(p.reports) ? p.reports.length : p.reports ?? 0) }),
        h('td', { text: coverageText(p.coverage) }),
        h('td', {}, kindTags(p)))))));
  }

  renderUnvisited(codes) {
    this.map.showUnvisited(codes);
    const title = t('patrols.unvisited_count', { n: codes.length, date: this.day() });
    // A long list folds away; the map shows the same cells outlined.
    replace(this.unvisited, h('h3', { text: title }),
      codes.length ? h('details', { open: codes.length <= 12 },
        h('summary', { text: t('patrols.unvisited_list') }),
        h('ul', { class: 'cell-list' }, codes.map((c) => h('li', { title: c, text: cellName(c) })))) : null);
  }

  async open(id) {
    try {
      const p = await api('/api/patrols/' + encodeURIComponent(id));
      this.map.showTrack(p);
      const reports = p.report_ids || [];
      replace(this.detail,
        h('h3', { text: t('patrols.detail', { warden: p.warden, date: localTime(p.started_at) || '' }) }),
        h('dl', { class: 'facts' },
          h('dt', { text: t('patrols.distance') }), h('dd', { class: 'patrol-distance', text: km(p.distance_m) }),
          h('dt', { text: t('patrols.duration') }), h('dd', { text: p.untimed ? t('patrols.untimed') : duration((p.duration_s || 0) * 1000) }),
          h('dt', { text: t('patrols.points') }), h('dd', { class: 'patrol-points', text: String((p.track || []).length) }),
          h('dt', { text: t('patrols.flags') }), h('dd', { class: 'patrol-flags' }, flagDetail(p)),
          h('dt', { text: t('patrols.coverage') }), h('dd', { text: coverageText(p.coverage) }),
          h('dt', { text: t('patrols.kind') }), h('dd', {}, kindTags(p) || t('patrols.recorded'))),
        h('h4', { text: t('patrols.reports_made', { n: reports.length }) }),
        reports.length ? h('ul', { class: 'patrol-reports' }, reports.map((rid) => h('li', {},
          h('button', { type: 'button', class: 'link mono', text: shortId(rid), onclick: () => this.onOpenCase(rid) })))) : null);
    } catch (e) {
      replace(this.detail, h('p', { class: 'error', role: 'alert', text: e.message }));
    }
  }
}

function flagCount(flags) {
  if (Array.isArray(flags)) return flags.length;
  return Number(flags) || 0;
}

function flagText(flags) {
  if (Array.isArray(flags)) return flags.length ? flags.map((f) => named('flag', typeof f === 'string' ? f : f.kind || f.type || '?')).join(', ') : '0';
  return String(flags ?? 0);
}

function flagDetail(p) {
  const jumps = (p.jumps || []).length;
  return jumps ? t('patrols.jumps', { n: jumps }) : flagText(p.flags);
}

function coverageText(c) {
  if (!c || !c.assigned) return '—';
  return `${c.covered}/${c.assigned} (${percent(c.covered / c.assigned)})`;
}

function kindTags(p) {
  const tags = [];
  if (p.imported) tags.push(h('span', { class: 'tag imported', text: t('patrols.imported') }));
  if (p.untimed) tags.push(h('span', { class: 'tag untimed', text: t('patrols.untimed') }));
  return tags.length ? tags : null;
}


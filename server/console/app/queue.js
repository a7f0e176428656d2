// The case queue: every filter of the issue, search by id prefix or note
// text, names next to codes, deadlines as countdowns in city time, sorting,
// paging, CSV export of exactly what the filters show, and bulk register /
// dispatch of a selection. All of it reads and writes the URL.

import { api, query, ApiError } from './api.js';
import { h, field, select, replace } from './dom.js';
import { t, named } from './i18n.js';
import * as state from './state.js';
import { meta, categoryName, cellName, departmentName, streetName } from './meta.js';
import { countdown, localTime, rememberIds, shortId } from './format.js';

export const STATUSES = ['reported', 'registered', 'rejected', 'dispatched', 'disposed', 'verifying', 'verified', 'closed'];
const FILTERS = ['status', 'class', 'subclass', 'cell', 'street', 'department', 'reporter', 'source', 'from', 'to', 'overdue', 'q', 'id'];
const SORTABLE = ['observed', 'deadline', 'status', 'category', 'cell'];
const PAGE = 50;
// Most cells the cell filter lists at once.
const CELL_LIST = 400;
// A search that looks like the start of a report id (hex, maybe dashes) is an id prefix.
const ID_PREFIX = /^[0-9a-f][0-9a-f-]{3,35}$/i;

/** The case filters in the URL, as the API takes them (bbox added when the list follows the map). */
export function caseFilters(map) {
  const f = {};
  for (const k of FILTERS) f[k] = state.get(k);
  if (map && state.get('inview') !== '0') f.bbox = map.bbox();
  return f;
}

export class Queue {
  constructor(root, { map, onOpen }) {
    this.root = root;
    this.map = map;
    this.onOpen = onOpen;
    this.selected = new Set();
    this.seq = 0;
    this.rows = [];
    this.build();
    state.onChange((keys) => {
      if (keys.has('*')) {
        this.syncForm();
        this.reload();
        this.reloadMarkers();
        return;
      }
      const filterChanged = [...keys].some((k) => FILTERS.includes(k));
      // A click on the map chooses a cell: the list shows it.
      if (keys.has('cell') && this.form.cell.value !== state.get('cell')) this.fillCells();
      if (filterChanged) this.reloadMarkers();
      if (filterChanged || ['sort', 'dir', 'offset', 'inview'].some((k) => keys.has(k))) this.reload();
    });
    // Countdowns tick without a reload.
    this.timer = setInterval(() => this.tick(), 30000);
  }

  build() {
    const f = this.form = {};
    const onChange = (key) => (e) => {
      const el = e.target;
      const value = el.type === 'checkbox' ? el.checked : el.value;
      const changes = { [key]: value, offset: '' };
      if (key === 'class') changes.subclass = '';
      state.update(changes);
      if (key === 'class') this.fillSubclasses();
      if (key === 'street') this.fillCells();
    };
    f.status = select([['', t('filter.any')], ...STATUSES.map((s) => [s, named('status', s)])], state.get('status'),
      { name: 'status', onchange: onChange('status') });
    f.class = select([['', t('filter.any')], ...meta.classes.map((c) => [c.code, `${c.code} ${c.name}`])], state.get('class'),
      { name: 'class', onchange: onChange('class') });
    f.subclass = select([], '', { name: 'subclass', onchange: onChange('subclass') });
    f.street = select([['', t('filter.any')], ...meta.streets.map((s) => [s.code, streetName(s.code)])], state.get('street'),
      { name: 'street', onchange: onChange('street') });
    f.cell = select([['', t('filter.any')]], state.get('cell'), { name: 'cell', onchange: onChange('cell') });
    f.department = select([['', t('filter.any')], ...meta.departments.map((d) => [d.code, d.name || d.code])], state.get('department'),
      { name: 'department', onchange: onChange('department') });
    f.reporter = select([['', t('filter.any')], ...meta.users.map((u) => [u.name, `${u.name} (${named('role', u.role)})`])], state.get('reporter'),
      { name: 'reporter', onchange: onChange('reporter') });
    f.source = select([['', t('filter.any')], ['device', t('source.device')], ['hotline', t('source.hotline')]], state.get('source'),
      { name: 'source', onchange: onChange('source') });
    f.from = h('input', { type: 'date', name: 'from', value: state.get('from'), onchange: onChange('from') });
    f.to = h('input', { type: 'date', name: 'to', value: state.get('to'), onchange: onChange('to') });
    f.overdue = h('input', { type: 'checkbox', name: 'overdue', checked: state.get('overdue') === '1', onchange: onChange('overdue') });
    f.inview = h('input', {
      type: 'checkbox', name: 'inview', checked: state.get('inview') !== '0',
      onchange: (e) => state.update({ inview: e.target.checked ? '' : '0', offset: '' }),
    });
    f.search = h('input', {
      type: 'search', name: 'search', value: state.get('id') || state.get('q'),
      placeholder: t('filter.search_hint'), autocomplete: 'off',
    });
    let debounce = null;
    f.search.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.applySearch(), 300);
    });
    f.search.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        clearTimeout(debounce);
        this.applySearch();
      }
    });
    this.fillSubclasses();
    this.fillCells();

    const clear = h('button', {
      type: 'button', class: 'secondary', text: t('filter.clear'),
      onclick: () => {
        const changes = { offset: '' };
        for (const k of FILTERS) changes[k] = '';
        state.update(changes);
        this.syncForm();
      },
    });

    this.count = h('p', { class: 'queue-count', role: 'status', 'aria-live': 'polite' });
    this.csv = h('a', { class: 'button-link', href: '#', download: 'cases.csv', text: t('queue.csv') });
    this.bulkDept = select([['', t('bulk.route_department')], ...meta.departments.map((d) => [d.code, d.name || d.code])], '',
      { name: 'bulk-department' });
    this.bulkRegister = h('button', { type: 'button', text: t('bulk.register'), onclick: () => this.bulk('register') });
    this.bulkDispatch = h('button', { type: 'button', text: t('bulk.dispatch'), onclick: () => this.bulk('dispatch') });
    this.bulkResult = h('div', { class: 'bulk-result', role: 'status', 'aria-live': 'polite' });
    this.selectAll = h('input', {
      type: 'checkbox', 'aria-label': t('queue.select_all'),
      onchange: (e) => {
        for (const r of this.rows) e.target.checked ? this.selected.add(r.id) : this.selected.delete(r.id);
        this.renderRows();
      },
    });
    this.thead = h('thead');
    this.tbody = h('tbody');
    this.pager = h('nav', { class: 'pager', 'aria-label': t('queue.pages') });
    this.error = h('div', { class: 'error', role: 'alert' });

    replace(this.root,
      h('h2', { class: 'visually-hidden', text: t('queue.title') }),
      h('form', { class: 'filters', role: 'search', 'aria-label': t('filter.title'), onsubmit: (e) => e.preventDefault() },
        field(t('filter.search'), f.search, { class: 'wide' }),
        field(t('filter.status'), f.status),
        field(t('filter.class'), f.class),
        field(t('filter.subclass'), f.subclass),
        field(t('filter.street'), f.street),
        field(t('filter.cell'), f.cell),
        field(t('filter.department'), f.department),
        field(t('filter.reporter'), f.reporter),
        field(t('filter.source'), f.source),
        field(t('filter.from'), f.from),
        field(t('filter.to'), f.to),
        field(t('filter.overdue'), f.overdue, { class: 'check' }),
        field(t('filter.inview'), f.inview, { class: 'check' }),
        clear),
      h('div', { class: 'queue-tools' },
        this.count,
        this.csv,
        h('div', { class: 'bulk', role: 'group', 'aria-label': t('bulk.title') },
          this.bulkRegister,
          field(t('bulk.department'), this.bulkDept, { class: 'inline' }),
          this.bulkDispatch)),
      this.bulkResult,
      this.error,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'cases' }, h('caption', { class: 'visually-hidden', text: t('queue.title') }), this.thead, this.tbody)),
      this.pager);
    this.renderHead();
  }

  applySearch() {
    const text = this.form.search.value.trim();
    if (ID_PREFIX.test(text)) state.update({ id: text.toLowerCase(), q: '', offset: '' });
    else state.update({ q: text, id: '', offset: '' });
  }

  fillSubclasses() {
    const cls = state.get('class');
    const subs = meta.categories.filter((c) => !cls || c.class_code === cls);
    replace(this.form.subclass, ...[['', t('filter.any')], ...subs.map((c) => [c.code, `${c.code} ${categoryName(c.code)}`])]
      .map(([v, label]) => h('option', { value: v, text: label, selected: v === state.get('subclass') })));
  }

  /**
   * The cell list: a city has thousands, too many for one list, so past
   * CELL_LIST it holds the cells of the chosen street (and the chosen cell;
   * a click on the map chooses any).
   */
  fillCells() {
    const street = state.get('street');
    const chosen = state.get('cell');
    let cells = [...meta.cells].filter(([, c]) => !street || c.street === street);
    const options = [['', t('filter.any')]];
    if (cells.length > CELL_LIST) {
      cells = cells.filter(([code]) => code === chosen);
      options.push(['', t('filter.cell_street_first')]);
    }
    cells.sort((a, b) => a[0].localeCompare(b[0]));
    options.push(...cells.map(([code, c]) => [code, `${c.name || code} (${code})`]));
    replace(this.form.cell, ...options.map(([v, label], i) => h('option', {
      value: v, text: label, selected: v === chosen && (v !== '' || i === 0), disabled: i === 1 && v === '' && label !== t('filter.any'),
    })));
  }

  syncForm() {
    const f = this.form;
    for (const k of ['status', 'class', 'street', 'department', 'reporter', 'source', 'from', 'to']) f[k].value = state.get(k);
    this.fillSubclasses();
    this.fillCells();
    f.overdue.checked = state.get('overdue') === '1';
    f.inview.checked = state.get('inview') !== '0';
    f.search.value = state.get('id') || state.get('q');
  }

  renderHead() {
    const sort = state.get('sort', 'observed');
    const dir = state.get('dir', 'desc');
    const th = (key, label) => {
      if (!SORTABLE.includes(key)) return h('th', { scope: 'col', text: label });
      const active = sort === key;
      return h('th', { scope: 'col', 'aria-sort': active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none' },
        h('button', {
          type: 'button', class: 'sort' + (active ? ' active' : ''),
          'aria-label': t('queue.sort_by', { column: label }),
          onclick: () => state.update({ sort: key, dir: active && dir === 'desc' ? 'asc' : 'desc', offset: '' }),
        }, label, active ? (dir === 'asc' ? ' ▲' : ' ▼') : ''));
    };
    replace(this.thead, h('tr', {},
      h('th', { scope: 'col' }, this.selectAll),
      th('id', t('col.id')),
      th('status', t('col.status')),
      th('category', t('col.category')),
      th('cell', t('col.cell')),
      th('department', t('col.department')),
      th('reporter', t('col.reporter')),
      th('observed', t('col.observed')),
      th('deadline', t('col.deadline')),
      th('note', t('col.note'))));
  }

  params() {
    return {
      ...caseFilters(this.map),
      sort: state.get('sort'),
      dir: state.get('dir'),
      offset: state.get('offset'),
      limit: PAGE,
    };
  }

  async reload() {
    const seq = ++this.seq;
    const params = this.params();
    this.renderHead();
    const { offset, limit, ...csvParams } = params;
    this.csv.href = '/api/cases.csv' + query(csvParams);
    try {
      const data = await api('/api/cases' + query(params));
      if (seq !== this.seq) return; // a newer request is on its way
      replace(this.error);
      this.total = data.total;
      this.rows = data.rows || [];
      rememberIds(this.rows.map((r) => r.id));
      this.renderRows();
      this.renderPager(Number(offset) || 0);
    } catch (e) {
      if (seq !== this.seq) return;
      this.rows = [];
      this.renderRows();
      replace(this.error, e instanceof ApiError ? e.message : String(e));
    }
  }

  async reloadMarkers() {
    if (!this.map) return;
    const f = caseFilters(null);
    const seq = (this.markerSeq = (this.markerSeq || 0) + 1);
    try {
      const list = await api('/api/reports/markers' + query(f));
      rememberIds(list.map((m) => m.id));
      if (seq === this.markerSeq) {
        this.map.setMarkers(list);
        // Short ids may have grown with the ids just learnt (once the rows are in).
        if (this.total !== undefined) this.renderRows();
      }
    } catch (e) {
      if (seq === this.markerSeq) replace(this.error, e.message);
    }
  }

  renderRows() {
    const open = state.get('case');
    replace(this.count, t('queue.count', { n: this.total ?? 0 }));
    if (!this.rows.length) {
      replace(this.tbody, h('tr', {}, h('td', { colspan: 10, class: 'empty', text: t('queue.empty') })));
      return;
    }
    replace(this.tbody, ...this.rows.map((r) => {
      const cd = countdown(r.deadline);
      const overdue = r.overdue || cd.overdue;
      return h('tr', {
        class: [overdue ? 'overdue' : '', open && r.id.startsWith(open) ? 'open' : ''].join(' ').trim() || null,
        dataset: { id: r.id },
      },
        h('td', {}, h('input', {
          type: 'checkbox', checked: this.selected.has(r.id),
          'aria-label': t('queue.select', { id: shortId(r.id) }),
          onchange: (e) => (e.target.checked ? this.selected.add(r.id) : this.selected.delete(r.id)),
        })),
        h('td', {}, h('button', {
          type: 'button', class: 'link mono', title: r.id,
          'aria-label': t('queue.open', { id: shortId(r.id) }),
          text: shortId(r.id), onclick: () => this.onOpen(r.id),
        })),
        h('td', {}, h('span', { class: `chip status-${r.status}`, text: named('status', r.status) })),
        h('td', { title: r.category, text: categoryName(r.category, r.category_name) }),
        h('td', { title: r.cell || '', text: r.cell_name || cellName(r.cell) || t('queue.no_cell') }),
        h('td', { text: r.department_name || departmentName(r.department) }),
        h('td', {}, r.reporter || '', r.source === 'hotline' ? h('span', { class: 'tag', text: t('source.hotline') }) : null),
        h('td', { class: 'nowrap', text: localTime(r.observed_at) }),
        h('td', {
          class: 'nowrap countdown' + (overdue ? ' overdue' : ''),
          title: cd.title, dataset: { deadline: r.deadline || '' },
          text: r.deadline ? cd.text : '—',
        }),
        h('td', { class: 'note', text: r.note || '' }));
    }));
  }

  tick() {
    for (const td of this.tbody.querySelectorAll('td.countdown')) {
      if (!td.dataset.deadline) continue;
      const cd = countdown(td.dataset.deadline);
      td.textContent = cd.text;
      td.classList.toggle('overdue', cd.overdue);
      td.closest('tr')?.classList.toggle('overdue', cd.overdue);
    }
  }

  renderPager(offset) {
    const total = this.total || 0;
    const first = total ? offset + 1 : 0;
    const last = Math.min(offset + PAGE, total);
    replace(this.pager,
      h('button', {
        type: 'button', class: 'secondary', text: t('queue.prev'), disabled: offset <= 0,
        onclick: () => state.update({ offset: Math.max(0, offset - PAGE) || '' }),
      }),
      h('span', { text: t('queue.range', { first, last, total }) }),
      h('button', {
        type: 'button', class: 'secondary', text: t('queue.next'), disabled: offset + PAGE >= total,
        onclick: () => state.update({ offset: offset + PAGE }),
      }));
  }

  async bulk(step) {
    const ids = [...this.selected];
    if (!ids.length) {
      replace(this.bulkResult, h('p', { class: 'error', text: t('bulk.none') }));
      return;
    }
    const body = { ids, step };
    if (step === 'dispatch' && this.bulkDept.value) body.department = this.bulkDept.value;
    try {
      const res = await api('/api/cases/bulk', { method: 'POST', body });
      const failed = res.results.filter((r) => !r.ok);
      replace(this.bulkResult,
        h('p', { text: t('bulk.done', { ok: res.results.length - failed.length, failed: failed.length }) }),
        failed.length ? h('ul', {}, failed.map((r) => h('li', {}, h('span', { class: 'mono', text: shortId(r.id) }), ': ', r.error))) : null);
      this.selected = new Set(failed.map((r) => r.id));
      this.changed();
    } catch (e) {
      replace(this.bulkResult, h('p', { class: 'error', role: 'alert', text: e.message }));
    }
  }

  /** Something changed on the server (a step, a new report): reload what shows it. */
  changed() {
    this.reload();
    this.reloadMarkers();
    this.map?.refreshCounts().catch(() => {});
  }
}


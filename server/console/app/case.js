// The case panel: the report (note, place, photos), the whole history as a
// timeline, and the steps this user may take now, each with its form.
// Refused steps show the server's sentence as it is.

import { api, ApiError } from './api.js';
import { h, field, select, replace } from './dom.js';
import { t, named } from './i18n.js';
import { meta, categoryName, cellName, departmentName, fieldUsers, streetName } from './meta.js';
import { countdown, localTime, shortId, offsetLabel } from './format.js';

// The steps a console user can take, in the order the buttons show.
const STEPS = ['register', 'reject', 'dispatch', 'postpone', 'send_for_verification', 'close', 'reopen'];
// Steps whose text is required (the server refuses them without one).
const NEEDS_TEXT = new Set(['reject', 'postpone', 'reopen']);

export class CasePanel {
  constructor(root, { map, onChanged, onClose, onOpen }) {
    this.root = root;
    this.map = map;
    this.onChanged = onChanged;
    this.onClose = onClose;
    this.onOpen = onOpen;
    this.current = null;
  }

  /** The panel takes a column of its own; the map narrows while it shows. */
  visible(on) {
    this.root.hidden = !on;
    this.root.closest('main')?.classList.toggle('case-open', on);
    this.map?.resize();
  }

  async show(idOrPrefix) {
    this.visible(true);
    replace(this.root, h('p', { class: 'loading', text: t('common.loading') }));
    try {
      const data = await api('/api/cases/' + encodeURIComponent(idOrPrefix));
      this.render(data);
    } catch (e) {
      this.current = null;
      this.map?.selectCase(null);
      if (e instanceof ApiError && e.code === 'ambiguous' && e.matches) {
        replace(this.root, this.closeButton(),
          h('h2', { text: t('case.ambiguous', { prefix: idOrPrefix }) }),
          h('ul', { class: 'matches' }, e.matches.map((id) => h('li', {},
            h('button', { type: 'button', class: 'link mono', text: id, onclick: () => this.onOpen(id) })))));
      } else {
        replace(this.root, this.closeButton(), h('p', { class: 'error', role: 'alert', text: e.message }));
      }
    }
  }

  /** Whether the user is filling in a step's form (a refresh would wipe it). */
  busy() {
    return !!this.actionArea?.querySelector('form');
  }

  /**
   * The same case again after a change elsewhere (a live update), unless
   * a step's form is open: the user's submission then meets the server's
   * rules, and a refused step says why.
   */
  async refresh() {
    if (!this.current || this.busy()) return;
    const id = this.current.report.id;
    try {
      const data = await api('/api/cases/' + encodeURIComponent(id));
      if (this.current?.report.id === id && !this.busy()) this.render(data, { pan: false });
    } catch {
      // The next open shows the error; a live refresh stays quiet.
    }
  }

  hide() {
    this.current = null;
    this.visible(false);
    replace(this.root);
    this.map?.selectCase(null);
  }

  closeButton() {
    return h('button', { type: 'button', class: 'close', 'aria-label': t('case.close_panel'), text: '×', onclick: () => this.onClose() });
  }

  render(data, { pan = true } = {}) {
    this.current = data;
    const r = data.report;
    const kase = data.case || {};
    const history = data.history || [];
    const deadline = kase.deadline ?? [...history].reverse().find((st) => st.deadline)?.deadline;
    const department = kase.department ?? r.department;
    const cd = countdown(deadline);
    this.map?.selectCase(r, { pan });
    const status = kase.status || r.status || 'reported';
    this.actionArea = h('div', { class: 'action-form' });
    replace(this.root,
      this.closeButton(),
      h('h2', { class: 'case-title' },
        h('span', { class: 'mono', title: r.id, text: shortId(r.id) }), ' ',
        h('span', { class: `chip status-${status}`, text: named('status', status) })),
      h('p', { class: 'case-category', text: `${categoryName(r.category, r.category_name)} (${r.category})` }),
      h('dl', { class: 'facts' },
        dt(t('case.note')), h('dd', { class: 'case-note', text: r.note || '—' }),
        dt(t('case.place')), h('dd', {},
          h('span', { class: 'case-cell', text: r.cell ? `${r.cell_name || cellName(r.cell)} (${r.cell})` : t('queue.no_cell') }),
          r.cell && meta.cells.get(r.cell)?.street ? h('div', { text: streetName(meta.cells.get(r.cell).street) }) : null,
          r.address ? h('div', { text: r.address }) : null,
          h('div', { class: 'mono small', text: coords(r) }),
          h('button', { type: 'button', class: 'secondary small', text: t('case.show_on_map'), onclick: () => this.map?.selectCase(r) })),
        dt(t('case.reporter')), h('dd', { text: `${r.reporter || ''}${r.source === 'hotline' ? ' · ' + t('source.hotline') : ''}` }),
        dt(t('case.observed')), h('dd', { text: `${localTime(r.observed_at)} (${offsetLabel()})` }),
        department ? [dt(t('case.department')), h('dd', { text: departmentName(department, r.department_name) })] : null,
        kase.verifier ? [dt(t('case.verifier')), h('dd', { text: kase.verifier })] : null,
        deadline ? [dt(t('case.deadline')), h('dd', { class: cd.overdue ? 'overdue' : '', title: cd.title, text: `${cd.text} · ${localTime(deadline)}` })] : null,
        r.patrol ? [dt(t('case.patrol')), h('dd', { class: 'mono', text: shortId(r.patrol) })] : null),
      photos(r.photos, t('case.photos')),
      h('section', { class: 'actions', 'aria-label': t('case.actions') },
        h('h3', { text: t('case.actions') }),
        this.actionButtons(data),
        this.actionArea),
      h('section', { class: 'history', 'aria-label': t('case.history') },
        h('h3', { text: t('case.history') }),
        timeline(history)));
  }

  actionButtons(data) {
    const allowed = STEPS.filter((s) => (data.actions || []).includes(s));
    if (!allowed.length) return h('p', { class: 'muted', text: t('case.no_actions') });
    return h('div', { class: 'buttons' }, allowed.map((step) => h('button', {
      type: 'button', class: `step step-${step}`, dataset: { step }, text: named('step', step),
      onclick: () => this.openForm(step),
    })));
  }

  openForm(step) {
    const data = this.current;
    const controls = {};
    const rows = [];
    if (step === 'dispatch') {
      controls.department = select(
        [['', t('form.choose')], ...meta.departments.map((d) => [d.code, d.name || d.code])],
        data.defaults?.department || '', { name: 'department', 'aria-required': 'true' });
      rows.push(field(t('form.department'), controls.department));
    }
    if (step === 'send_for_verification') {
      controls.verifier = select(
        [['', t('form.anyone_covering')], ...fieldUsers().map((u) => [u.name, `${u.name} (${named('role', u.role)})`])],
        data.defaults?.verifier || '', { name: 'verifier' });
      rows.push(field(t('form.verifier'), controls.verifier));
    }
    if (step === 'postpone') {
      controls.amount = h('input', { type: 'number', name: 'amount', min: 1, max: 365, value: 1, required: true });
      controls.unit = select([['working_days', t('form.working_days')], ['working_hours', t('form.working_hours')]], 'working_days', { name: 'unit' });
      rows.push(field(t('form.extension'), controls.amount), field(t('form.unit'), controls.unit));
    }
    if (step !== 'send_for_verification') {
      controls.text = h('textarea', { name: 'text', rows: 2, 'aria-required': NEEDS_TEXT.has(step) ? 'true' : null, maxlength: 2000 });
      rows.push(field(NEEDS_TEXT.has(step) ? t('form.reason') : t('form.note'), controls.text));
    }
    const error = h('div', { class: 'error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'primary', text: t('form.confirm', { step: named('step', step) }) });
    const form = h('form', {
      class: `step-form form-${step}`, 'aria-label': named('step', step),
      onsubmit: async (e) => {
        e.preventDefault();
        const body = { step };
        if (controls.text) {
          const text = controls.text.value.trim();
          if (NEEDS_TEXT.has(step) && !text) {
            replace(error, t('form.reason_needed'));
            controls.text.focus();
            return;
          }
          if (text) body.text = text;
        }
        if (controls.department) {
          if (!controls.department.value) {
            replace(error, t('form.department_needed'));
            controls.department.focus();
            return;
          }
          body.department = controls.department.value;
        }
        if (controls.verifier && controls.verifier.value) body.verifier = controls.verifier.value;
        if (controls.amount) body.extension = { [controls.unit.value]: Number(controls.amount.value) };
        submit.disabled = true;
        try {
          const updated = await api(`/api/cases/${encodeURIComponent(data.report.id)}/steps`, { method: 'POST', body });
          this.render(updated, { pan: false });
          this.onChanged?.();
          replace(this.actionArea, h('p', { class: 'ok', role: 'status', text: t('form.done', { step: named('step', step) }) }));
        } catch (err) {
          submit.disabled = false;
          replace(error, err.message);
        }
      },
    },
    h('h4', { text: named('step', step) }),
    ...rows,
    error,
    h('div', { class: 'buttons' }, submit,
      h('button', { type: 'button', class: 'secondary', text: t('form.cancel'), onclick: () => replace(this.actionArea) })));
    replace(this.actionArea, form);
    (form.querySelector('select, textarea, input') || submit).focus();
  }
}

function dt(text) {
  return h('dt', { text });
}

function coords(r) {
  if (!Number.isFinite(r.lat) || !Number.isFinite(r.lon)) return '';
  const acc = Number.isFinite(r.accuracy_m) ? ` ±${Math.round(r.accuracy_m)} m` : '';
  return `${r.lat.toFixed(6)}, ${r.lon.toFixed(6)}${acc}`;
}

/** Thumbnails; a click opens the full image in a dialog. */
export function photos(list, label) {
  if (!list || !list.length) return null;
  return h('section', { class: 'photos', 'aria-label': label },
    h('h3', { text: label }),
    h('div', { class: 'thumbs' }, list.map((p, i) => h('button', {
      type: 'button', class: 'thumb', 'aria-label': t('case.photo_open', { n: i + 1 }),
      onclick: () => openPhoto(p),
    }, h('img', { src: `/api/photos/${encodeURIComponent(p.hash)}?thumb=1`, alt: t('case.photo', { n: i + 1 }), loading: 'lazy' })))));
}

function openPhoto(p) {
  const close = h('button', { type: 'button', class: 'close', 'aria-label': t('case.photo_close'), text: '×' });
  const dialog = h('dialog', { class: 'photo-dialog', 'aria-label': t('case.photo_full') },
    close, h('img', { src: `/api/photos/${encodeURIComponent(p.hash)}`, alt: t('case.photo_full') }));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => dialog.remove());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}

function timeline(history) {
  if (!history.length) return h('p', { class: 'muted', text: t('case.no_history') });
  return h('ol', { class: 'timeline' }, history.map((s) => h('li', { class: `step-${s.step}` },
    h('div', { class: 'when', text: localTime(s.at) }),
    h('div', { class: 'what' },
      h('strong', { text: named('step', s.step) }),
      ' · ', s.actor || '', s.role ? ` (${named('role', s.role)})` : ''),
    s.text ? h('div', { class: 'why', text: s.text }) : null,
    s.department ? h('div', { class: 'small', text: `${t('case.department')}: ${departmentName(s.department)}` }) : null,
    s.deadline ? h('div', { class: 'small', text: `${t('case.deadline')}: ${localTime(s.deadline)}` }) : null,
    photos(s.photos, t('case.step_photos')))));
}

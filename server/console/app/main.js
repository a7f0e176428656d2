// The console's entry point: session or sign-in form, the page shell
// (navigation, language, sign-out), and the pages wired to the URL state.

import { api, setCsrf, whenUnauthenticated } from './api.js';
import { h, field, replace } from './dom.js';
import { t, named, setLang, currentLang } from './i18n.js';
import * as state from './state.js';
import { loadMeta } from './meta.js';
import { setOffset, setServerNow, shortId, offsetLabel } from './format.js';
import { GridMap } from './map.js';
import { Queue } from './queue.js';
import { CasePanel } from './case.js';
import { Patrols } from './patrols.js';
import { Kpi } from './kpi.js';
import { Alerts, listen } from './alerts.js';

const PAGES = ['cases', 'patrols', 'kpi', 'alerts'];
const root = document.getElementById('app');

setLang(state.get('lang') || 'zh');
document.title = t('app.title');
whenUnauthenticated(() => showSignIn());
boot();

async function boot() {
  let session;
  try {
    session = await api('/api/session', { quiet401: true });
  } catch (e) {
    if (e.status === 401) showSignIn();
    else replace(root, h('p', { class: 'error', role: 'alert', text: e.message }));
    return;
  }
  try {
    await start(session);
  } catch (e) {
    if (e.status !== 401) replace(root, h('p', { class: 'error', role: 'alert', text: e.message }));
  }
}

function langToggle() {
  const other = currentLang() === 'zh' ? 'en' : 'zh';
  return h('button', {
    type: 'button', class: 'lang', lang: other === 'zh' ? 'zh-CN' : 'en',
    'aria-label': t('app.switch_lang'), text: other === 'zh' ? '中文' : 'English',
    onclick: () => {
      state.update({ lang: other === 'zh' ? '' : 'en' }, { silent: true });
      location.reload();
    },
  });
}

function showSignIn(message) {
  document.body.classList.add('signed-out');
  const user = h('input', { type: 'text', name: 'user', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert', text: message || '' });
  const submit = h('button', { type: 'submit', class: 'primary', text: t('login.submit') });
  replace(root, h('main', { class: 'sign-in' },
    h('div', { class: 'sign-in-box' },
      h('div', { class: 'sign-in-head' }, h('h1', { text: t('app.title') }), langToggle()),
      h('form', {
        'aria-label': t('login.title'),
        onsubmit: async (e) => {
          e.preventDefault();
          submit.disabled = true;
          replace(error);
          try {
            await api('/api/login', { method: 'POST', body: { user: user.value.trim(), password: password.value }, quiet401: true });
            location.reload();
          } catch (err) {
            submit.disabled = false;
            replace(error, err.message);
            password.select();
          }
        },
      },
      h('h2', { text: t('login.title') }),
      field(t('login.user'), user),
      field(t('login.password'), password),
      error,
      submit),
      h('p', { class: 'muted small', text: t('login.link_hint') }))));
  user.focus();
}

async function start(session) {
  document.body.classList.remove('signed-out');
  setCsrf(session.csrf);
  setOffset(session.utc_offset_minutes);
  if (session.now) setServerNow(Date.parse(session.now));
  await loadMeta();

  const badge = h('span', { class: 'badge', hidden: true });
  const navButtons = Object.fromEntries(PAGES.map((p) => [p, h('button', {
    type: 'button', class: 'nav', dataset: { page: p },
    onclick: () => state.update({ page: p === 'cases' ? '' : p }, { push: true }),
  }, t(`nav.${p}`), p === 'alerts' ? badge : null)]));
  const live = h('span', { class: 'live', title: t('live.title'), text: t('live.off') });
  const signOut = h('button', {
    type: 'button', class: 'secondary', text: t('app.sign_out'),
    onclick: async () => {
      try {
        await api('/api/logout', { method: 'POST' });
      } finally {
        location.reload();
      }
    },
  });
  const mapEl = h('div', { id: 'map', role: 'region', 'aria-label': t('map.label') });
  const metric = h('select', { name: 'metric', onchange: (e) => { state.update({ metric: e.target.value }, { silent: true }); map.setMetric(e.target.value); } },
    h('option', { value: 'open', text: t('map.metric.open'), selected: state.get('metric') !== 'overdue' }),
    h('option', { value: 'overdue', text: t('map.metric.overdue'), selected: state.get('metric') === 'overdue' }));
  const mapPane = h('div', { id: 'map-pane' },
    h('div', { class: 'map-tools' }, field(t('map.colour_by'), metric, { class: 'inline' })),
    mapEl);
  const sections = Object.fromEntries(PAGES.map((p) => [p, h('section', { id: `page-${p}`, class: 'page', hidden: true })]));
  const panel = h('aside', { id: 'case-panel', hidden: true, 'aria-label': t('case.panel') });
  const toasts = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
  const scope = session.district ? t('app.scope_district', { n: session.district.length }) : t('app.scope_all');

  replace(root,
    h('header', { class: 'top' },
      h('h1', { text: t('app.title') }),
      h('nav', { 'aria-label': t('nav.label') }, Object.values(navButtons)),
      h('div', { class: 'who' },
        live,
        h('span', { class: 'user', text: `${session.user} · ${named('role', session.role)} · ${scope} · ${offsetLabel()}` }),
        langToggle(),
        signOut)),
    h('main', { class: 'shell' }, mapPane, h('div', { id: 'side' }, ...Object.values(sections), panel)),
    toasts);

  const openCase = (id) => state.update({ case: id, page: '' }, { push: true });
  let queue = null; // the map fits its cells (a move) before the queue exists
  const map = new GridMap(mapEl, session, {
    onCell: (code) => state.update({ cell: code, offset: '' }),
    onReport: openCase,
    onMove: () => {
      if (queue && currentPage() === 'cases' && state.get('inview') !== '0') queue.reload();
    },
  });
  await map.loadGrid();
  queue = new Queue(sections.cases, { map, onOpen: openCase });
  const casePanel = new CasePanel(panel, {
    map,
    onChanged: () => queue.changed(),
    onClose: () => state.update({ case: '' }, { push: true }),
    onOpen: openCase,
  });
  const patrols = new Patrols(sections.patrols, { map, onOpenCase: openCase });
  const kpi = new Kpi(sections.kpi);
  const alerts = new Alerts(sections.alerts, { badge, onOpenCase: openCase });

  function currentPage() {
    const p = state.get('page');
    return PAGES.includes(p) ? p : 'cases';
  }

  let shown = null;
  function route(keys) {
    const page = currentPage();
    if (page !== shown || keys.has('*')) {
      for (const p of PAGES) {
        sections[p].hidden = p !== page;
        navButtons[p].setAttribute('aria-current', p === page ? 'page' : 'false');
      }
      const shell = document.querySelector('main.shell');
      shell.classList.remove(...PAGES.map((p) => `page-${p}`));
      shell.classList.add(`page-${page}`);
      mapPane.hidden = page === 'kpi' || page === 'alerts';
      if (shown === 'patrols' && page !== 'patrols') patrols.hide();
      map.showMarkers(page === 'cases');
      map.resize();
      if (page === 'patrols') patrols.show();
      if (page === 'kpi') kpi.show();
      if (page === 'alerts') alerts.render();
      shown = page;
    } else if (page === 'patrols' && ['warden', 'date', 'patrol'].some((k) => keys.has(k))) {
      patrols.show();
    } else if (page === 'kpi' && ['by', 'kfrom', 'kto', 'figure'].some((k) => keys.has(k))) {
      kpi.show();
    }
    if (keys.has('case') || keys.has('*') || keys.has('init')) {
      const id = state.get('case');
      if (id && page === 'cases') casePanel.show(id);
      else casePanel.hide();
    }
    if (keys.has('page') && page !== 'cases') casePanel.hide();
  }
  state.onChange(route);
  route(new Set(['init']));
  queue.reload();
  queue.reloadMarkers();
  alerts.refresh();

  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.get('case') && !document.querySelector('dialog[open]')) {
      state.update({ case: '' }, { push: true });
    }
  });

  // Live updates. Several events in a burst cause one reload.
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      queue.changed();
      alerts.refresh();
      casePanel.refresh();
    }, 250);
  };
  listen({
    onReport: (row) => {
      if (row && row.id) toast(toasts, t('live.new_report', { id: shortId(row.id), note: row.note || '' }), () => openCase(row.id));
      soon();
    },
    onCase: () => soon(),
    onAlert: () => alerts.refresh(),
    onEnd: () => showSignIn(t('login.ended')),
    onState: (up) => {
      live.textContent = up ? t('live.on') : t('live.off');
      live.classList.toggle('up', up);
    },
  });
}

// Notices of new reports stay until used (a missed one is a missed
// report); the newest few are kept.
const TOASTS = 4;

function toast(box, text, onClick) {
  const item = h('button', { type: 'button', class: 'toast', text, onclick: () => { onClick(); item.remove(); } });
  box.append(item);
  while (box.children.length > TOASTS) box.firstElementChild.remove();
}

// KPIs by grid, street, department or warden over a period: the table (the
// same figures `gw kpi` prints, computed by the server with workflow::kpi),
// bars per group for a chosen figure, the weekly trend, and CSV export.

import { api, query } from './api.js';
import { h, field, select, replace } from './dom.js';
import { t } from './i18n.js';
import * as state from './state.js';
import { localMonthStart, localToday, nextDay, number, percent } from './format.js';
import { barChart, trendChart } from './charts.js';

export const COUNTS = ['reported', 'registered', 'rejected', 'dispatched', 'due', 'closed', 'closed_on_time',
  'reworked', 'overdue', 'postponed', 'closed_in_period'];
export const RATES = ['closing_rate', 'on_time_rate', 'rework_rate'];
const COLUMNS = [...COUNTS, 'mean_hours_to_close', ...RATES];
const GROUPS = ['grid', 'street', 'department', 'warden'];

function show(key, v) {
  if (RATES.includes(key)) return percent(v);
  if (key === 'mean_hours_to_close') return number(v, 1);
  return number(v);
}

export class Kpi {
  constructor(root) {
    this.root = root;
    this.seq = 0;
    this.build();
  }

  /** The period as the form shows it: `to` is the last day, included. */
  period() {
    return {
      by: GROUPS.includes(state.get('by')) ? state.get('by') : 'grid',
      from: state.get('kfrom') || localMonthStart(),
      to: state.get('kto') || localToday(),
    };
  }

  /** The period as the API (and `gw kpi --to`) reads it: `to` is the day after the last. */
  query() {
    const p = this.period();
    return { ...p, to: nextDay(p.to) };
  }

  build() {
    const p = this.period();
    this.by = select(GROUPS.map((g) => [g, t(`kpi.by.${g}`)]), p.by, { name: 'by', onchange: (e) => state.update({ by: e.target.value }) });
    this.from = h('input', { type: 'date', name: 'kfrom', value: p.from, onchange: (e) => state.update({ kfrom: e.target.value }) });
    this.to = h('input', { type: 'date', name: 'kto', value: p.to, onchange: (e) => state.update({ kto: e.target.value }) });
    this.figure = select([...RATES, ...COUNTS, 'mean_hours_to_close'].map((k) => [k, t(`kpi.${k}`)]), state.get('figure') || 'closing_rate',
      { name: 'figure', onchange: (e) => state.update({ figure: e.target.value }) });
    this.csv = h('a', { class: 'button-link', href: '#', download: 'kpi.csv', text: t('kpi.csv') });
    this.table = h('div', { class: 'table-wrap' });
    this.bars = h('figure', { class: 'chart-box' });
    this.trend = h('figure', { class: 'chart-box' });
    this.error = h('div', { class: 'error', role: 'alert' });
    replace(this.root,
      h('h2', { text: t('kpi.title') }),
      h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
        field(t('kpi.group'), this.by), field(t('kpi.from'), this.from), field(t('kpi.to'), this.to), this.csv),
      this.error,
      this.table,
      h('div', { class: 'charts' },
        h('div', {}, field(t('kpi.figure'), this.figure), this.bars),
        this.trend));
  }

  async show() {
    const seq = ++this.seq;
    const p = this.period();
    this.by.value = p.by;
    this.from.value = p.from;
    this.to.value = p.to;
    const q = this.query();
    this.csv.href = '/api/kpi.csv' + query(q);
    try {
      const [kpi, trend] = await Promise.all([
        api('/api/kpi' + query(q)),
        api('/api/kpi/trend' + query(q)).catch((e) => ({ error: e.message })),
      ]);
      if (seq !== this.seq) return;
      replace(this.error);
      this.renderTable(kpi, p);
      this.renderBars(kpi);
      this.renderTrend(trend);
    } catch (e) {
      if (seq !== this.seq) return;
      replace(this.error, e.message);
    }
  }

  renderTable(kpi, p) {
    const row = (r, total) => h('tr', { class: total ? 'total' : null, dataset: { key: r.key } },
      h(total ? 'th' : 'td', { scope: total ? 'row' : null, title: r.key, text: total ? t('kpi.total') : (r.name && r.name !== r.key ? `${r.name} (${r.key})` : r.key) }),
      ...COLUMNS.map((k) => h('td', {
        class: 'num', text: show(k, r[k]),
        // The exact figure, for a reader (or a test) comparing with `gw kpi --json`.
        dataset: { figure: k, value: r[k] === null || r[k] === undefined ? '' : String(r[k]) },
      })));
    replace(this.table, h('table', { class: 'kpi' },
      h('caption', { text: t('kpi.caption', { by: t(`kpi.by.${p.by}`), from: p.from, to: p.to }) }),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t(`kpi.by.${p.by}`) }),
        ...COLUMNS.map((k) => h('th', { scope: 'col', class: 'num', text: t(`kpi.${k}`) })))),
      h('tbody', {}, (kpi.rows || []).map((r) => row(r, false))),
      kpi.total ? h('tfoot', {}, row(kpi.total, true)) : null));
  }

  renderBars(kpi) {
    const key = this.figure.value;
    const rows = (kpi.rows || []).map((r) => ({ label: r.name || r.key, value: r[key] ?? null }));
    replace(this.bars,
      h('figcaption', { text: t('kpi.bars_title', { figure: t(`kpi.${key}`) }) }),
      rows.length ? barChart(rows, {
        title: t('kpi.bars_title', { figure: t(`kpi.${key}`) }),
        format: (v) => show(key, v),
        max: RATES.includes(key) ? 1 : undefined,
      }) : h('p', { class: 'muted', text: t('kpi.empty') }));
  }

  renderTrend(trend) {
    // Each week carries the KPI rows of its groups and their total; the trend draws the totals.
    const weeks = (Array.isArray(trend) ? trend : []).map((w) => ({ week: w.week, ...(w.total || {}) }));
    const title = t('kpi.trend_title');
    if (trend.error || !weeks.length) {
      replace(this.trend, h('figcaption', { text: title }), h('p', { class: 'muted', text: trend.error || t('kpi.empty') }));
      return;
    }
    const series = ['reported', 'closed', 'overdue'].filter((k) => weeks.some((w) => k in w))
      .map((k) => ({ key: k, label: t(`kpi.${k}`) }));
    replace(this.trend, h('figcaption', { text: title }), trendChart(weeks, series, { title }));
  }
}

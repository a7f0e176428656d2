// Two small charts drawn as inline SVG (no chart library): horizontal bars
// per group, and a weekly trend of a few series. Labels are SVG text nodes.

import { s } from './dom.js';

const PALETTE = ['#0b5cad', '#d9731a', '#2f8f4e', '#a3121f', '#6b2fa3'];

/** rows: [{label, value}], value a number (or null, drawn empty). */
export function barChart(rows, { title, format = String, max } = {}) {
  const rowH = 22;
  const labelW = 150;
  const width = 560;
  const barW = width - labelW - 70;
  const height = rows.length * rowH + 8;
  const top = max ?? Math.max(0, ...rows.map((r) => r.value || 0));
  const svg = s('svg', {
    class: 'chart bars', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title,
  }, s('title', { text: title }));
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    const w = top > 0 && r.value ? Math.max(1, (r.value / top) * barW) : 0;
    svg.append(
      s('text', { x: labelW - 6, y: y + 15, 'text-anchor': 'end', class: 'label', text: clip(r.label, 18) }),
      s('rect', { x: labelW, y: y + 3, width: w, height: rowH - 7, fill: PALETTE[0], rx: 2 },
        s('title', { text: `${r.label}: ${format(r.value)}` })),
      s('text', { x: labelW + w + 5, y: y + 15, class: 'value', text: format(r.value) }));
  });
  return svg;
}

/**
 * weeks: [{week: '2026-W49', <key>: n, …}]; series: [{key, label}].
 * One polyline per series over the weeks, with a legend.
 */
export function trendChart(weeks, series, { title } = {}) {
  const width = 560;
  const height = 220;
  const pad = { l: 40, r: 12, t: 14, b: 46 };
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const top = Math.max(1, ...weeks.flatMap((w) => series.map((se) => Number(w[se.key]) || 0)));
  const x = (i) => pad.l + (weeks.length <= 1 ? plotW / 2 : (i / (weeks.length - 1)) * plotW);
  const y = (v) => pad.t + plotH - (v / top) * plotH;
  const svg = s('svg', {
    class: 'chart trend', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': title,
  }, s('title', { text: title }));
  // Axis and a few gridlines.
  for (const v of [0, top / 2, top]) {
    const yy = y(v);
    svg.append(
      s('line', { x1: pad.l, x2: width - pad.r, y1: yy, y2: yy, class: 'grid' }),
      s('text', { x: pad.l - 6, y: yy + 4, 'text-anchor': 'end', class: 'value', text: Number.isInteger(v) ? v : v.toFixed(1) }));
  }
  weeks.forEach((w, i) => {
    svg.append(s('text', { x: x(i), y: height - pad.b + 16, 'text-anchor': 'middle', class: 'label', text: String(w.week).replace(/^\d{4}-/, '') }));
  });
  series.forEach((se, k) => {
    const colour = PALETTE[k % PALETTE.length];
    const pts = weeks.map((w, i) => `${x(i).toFixed(1)},${y(Number(w[se.key]) || 0).toFixed(1)}`);
    if (pts.length > 1) svg.append(s('polyline', { points: pts.join(' '), fill: 'none', stroke: colour, 'stroke-width': 2.5 }));
    weeks.forEach((w, i) => svg.append(s('circle', { cx: x(i), cy: y(Number(w[se.key]) || 0), r: 3.5, fill: colour },
      s('title', { text: `${w.week} ${se.label}: ${Number(w[se.key]) || 0}` }))));
    const lx = pad.l + k * 130;
    svg.append(
      s('rect', { x: lx, y: height - 16, width: 12, height: 12, fill: colour }),
      s('text', { x: lx + 16, y: height - 6, class: 'label', text: se.label }));
  });
  return svg;
}

function clip(text, n) {
  const str = String(text ?? '');
  return str.length > n ? str.slice(0, n - 1) + '…' : str;
}


// Building DOM nodes. Text always goes in as text (text nodes, textContent,
// attributes): nothing here ever parses a string as HTML, so whatever a
// device wrote — a note holding `<script>` — shows as the characters it is.

/**
 * h('button', {class: 'x', onclick: f, 'aria-label': '…'}, 'text', child, …)
 * Attributes: `class`, `text` (textContent), `on<event>` (listeners),
 * `dataset` (object), booleans (true sets, false/null/undefined omits),
 * anything else via setAttribute. Children: nodes, strings (as text), arrays,
 * null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(':')
    ? document.createElementNS(SVG_NS, tag.slice(tag.indexOf(':') + 1))
    : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' && 'value' in el && !(el instanceof SVGElement)) el.value = value;
    else if (key === 'checked' || key === 'selected' || key === 'disabled') el[key] = !!value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element: s('rect', {x: 1, …}). */
export function s(tag, attrs = {}, ...children) {
  return h('svg:' + tag, attrs, ...children);
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A labelled form field: <label for=id>text</label> + control. */
export function field(label, control, extra = {}) {
  if (!control.id) control.id = uid(extra.prefix || 'f');
  return h('div', { class: 'field' + (extra.class ? ' ' + extra.class : '') },
    h('label', { for: control.id, text: label }), control);
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `gw-${prefix}-${counter}`;
}

/** <select> with options [[value, label], …]; `value` preselected. */
export function select(options, value, attrs = {}) {
  const el = h('select', attrs);
  for (const [v, label] of options) {
    el.append(h('option', { value: v, text: label, selected: String(v) === String(value ?? '') }));
  }
  return el;
}

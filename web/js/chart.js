// Charts drawn by the console itself: SVG elements built with
// createElementNS and attributes only (the CSP refuses inline styles and
// third-party scripts), colours from CSS classes in app.css (.chart .s-*).
//
// chart() draws bars per category (stacked when there are several series)
// with an optional line on a second axis, marks the categories flagged in
// `marks` with a cross and a label (not by colour alone), and comes with a
// legend and a "Show as table" view holding the same numbers, for screen
// readers and for anyone who wants the figures.

import { h, svg } from './ui.js';

const W = 640;
const H = 240;

// A "nice" top for an axis of four steps: 1, 2 or 5 times a power of ten
// (of `base`'s powers for bytes: 1024), at least max; counts (integer) get
// whole-number steps.
export function niceMax(max, { integer = false, base = 1 } = {}) {
  if (!(max > 0)) return integer ? 4 : 1;
  if (integer) return Math.max(4, Math.ceil(max / 4) * 4);  // whole-number steps
  let unit = 1;
  while (base > 1 && max / unit >= base) unit *= base;
  const v = max / unit;
  const p = 10 ** Math.floor(Math.log10(v));
  let top = 10 * p;
  for (const m of [1, 2, 5, 10]) if (m * p >= v) { top = m * p; break; }
  return top * unit;
}

const text = (x, y, s, attrs = {}) => {
  const t = svg('text', { x, y, ...attrs });
  t.textContent = s;
  return t;
};

// opts:
//   id, title        the figure's id and heading (also the aria-label's start)
//   labels           one label per category (x axis), oldest first
//   bars             [{name, cls, values}]: stacked bars, cls a .s-* class
//   line             optional {name, cls, values}: a line on the right axis
//   marks            optional: per category a label ('failed') or null
//   yLabel, y2Label  axis titles; fmt, fmt2 format the values
//   yAxis, y2Axis    niceMax options: {integer} for counts, {base: 1024} for bytes
//   labelHeader      the table's first column ('Run', 'Scan', 'Day')
//   summary          a sentence for the aria-label (what the chart says)
export function chart({ id, title, labels, bars = [], line = null, marks = [], yLabel = '', y2Label = '',
  fmt = String, fmt2 = String, yAxis = {}, y2Axis = {}, labelHeader = 'When', summary = '' }) {
  const n = labels.length;
  const M = { top: 14, right: line ? 60 : 16, bottom: 44, left: 72 };
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const totals = labels.map((_, i) => bars.reduce((s, b) => s + (Number(b.values[i]) || 0), 0));
  const yMax = niceMax(Math.max(0, ...totals), yAxis);
  const y2Max = line ? niceMax(Math.max(0, ...line.values.map(Number)), y2Axis) : 1;
  const slot = n ? pw / n : pw;
  const bw = Math.max(2, Math.min(40, slot * 0.6));
  const xOf = (i) => M.left + slot * i + slot / 2;
  const yOf = (v, max) => M.top + ph - (ph * v) / max;

  const root = svg('svg', {
    class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}. ${summary}`.trim(),
    preserveAspectRatio: 'xMidYMid meet',
  });
  // Grid and left axis: four steps.
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    const y = yOf(v, yMax);
    root.append(svg('line', { class: 'chart-grid', x1: M.left, x2: W - M.right, y1: y, y2: y }));
    root.append(text(M.left - 6, y + 4, fmt(v), { class: 'chart-tick', 'text-anchor': 'end' }));
    if (line) root.append(text(W - M.right + 6, y + 4, fmt2((y2Max * k) / 4), { class: 'chart-tick' }));
  }
  root.append(svg('line', { class: 'chart-axis', x1: M.left, x2: W - M.right, y1: M.top + ph, y2: M.top + ph }));
  if (yLabel) root.append(text(12, M.top + ph / 2, yLabel, { class: 'chart-axis-label', 'text-anchor': 'middle', transform: `rotate(-90 12 ${M.top + ph / 2})` }));
  if (y2Label) root.append(text(W - 10, M.top + ph / 2, y2Label, { class: 'chart-axis-label', 'text-anchor': 'middle', transform: `rotate(90 ${W - 10} ${M.top + ph / 2})` }));

  // X labels: at most ~8, counted back from the newest (always labelled),
  // so they do not overlap.
  const every = Math.max(1, Math.ceil(n / 8));
  labels.forEach((l, i) => {
    if ((n - 1 - i) % every === 0) root.append(text(xOf(i), H - M.bottom + 16, l, { class: 'chart-tick', 'text-anchor': 'middle' }));
  });

  labels.forEach((l, i) => {
    let base = 0;
    for (const b of bars) {
      const v = Number(b.values[i]) || 0;
      if (v <= 0) continue;
      const y0 = yOf(base, yMax);
      const y1 = yOf(base + v, yMax);
      const r = svg('rect', { class: `chart-bar ${b.cls}`, x: xOf(i) - bw / 2, y: y1, width: bw, height: Math.max(1, y0 - y1),
        'data-index': i, 'data-value': v });
      r.append(svg('title', {}));
      r.lastChild.textContent = `${l}: ${b.name} ${fmt(v)}`;
      root.append(r);
      base += v;
    }
    if (marks[i]) {
      // A cross above the category's bar (at its foot when there is none)
      // plus its label under the axis: readable without colour.
      const x = xOf(i);
      const y = Math.max(M.top + 6, yOf(base, yMax) - 10);
      const g = svg('g', { class: 'chart-mark', 'data-index': i });
      g.append(svg('path', { d: `M${x - 5} ${y - 5} L${x + 5} ${y + 5} M${x - 5} ${y + 5} L${x + 5} ${y - 5}` }));
      g.append(text(x, H - M.bottom + 30, marks[i], { class: 'chart-mark-label', 'text-anchor': 'middle' }));
      const t = svg('title', {});
      t.textContent = `${l}: ${marks[i]}`;
      g.append(t);
      root.append(g);
    }
  });

  if (line && n) {
    const pts = line.values.map((v, i) => `${xOf(i)},${yOf(Number(v) || 0, y2Max)}`);
    root.append(svg('polyline', { class: `chart-line ${line.cls}`, points: pts.join(' ') }));
    line.values.forEach((v, i) => {
      const c = svg('circle', { class: `chart-point ${line.cls}`, cx: xOf(i), cy: yOf(Number(v) || 0, y2Max), r: 3 });
      c.append(svg('title', {}));
      c.lastChild.textContent = `${labels[i]}: ${line.name} ${fmt2(Number(v) || 0)}`;
      root.append(c);
    });
  }

  const legendItems = [...bars.map((b) => [b.name, b.cls, 'bar']), ...(line ? [[line.name, line.cls, 'line']] : [])];
  const legend = h('ul', { class: 'chart-legend' },
    legendItems.map(([name, cls, kind]) => h('li', null, h('span', { class: `swatch ${kind} ${cls}`, 'aria-hidden': 'true' }), name)),
    marks.some(Boolean) ? h('li', null, h('span', { class: 'swatch mark', 'aria-hidden': 'true' }, '✕'), 'failed run') : null);

  const head = h('tr', null, h('th', { scope: 'col' }, labelHeader), bars.map((b) => h('th', { scope: 'col', class: 'num' }, b.name)),
    line ? h('th', { scope: 'col', class: 'num' }, line.name) : null,
    marks.some(Boolean) ? h('th', { scope: 'col' }, 'Outcome') : null);
  const body = h('tbody', null, labels.map((l, i) => h('tr', { 'data-index': i }, h('th', { scope: 'row' }, l),
    bars.map((b) => h('td', { class: 'num', 'data-value': Number(b.values[i]) || 0 }, fmt(Number(b.values[i]) || 0))),
    line ? h('td', { class: 'num', 'data-value': Number(line.values[i]) || 0 }, fmt2(Number(line.values[i]) || 0)) : null,
    marks.some(Boolean) ? h('td', null, marks[i] || 'ok') : null)));
  const tableView = h('details', { class: 'chart-table' }, h('summary', null, 'Show as table'),
    h('div', { class: 'table-wrap' }, h('table', null, h('caption', null, title), h('thead', null, head), body)));

  return h('figure', { class: 'chart-figure', id },
    n ? root : h('p', { class: 'muted' }, 'Nothing to chart yet.'), n ? legend : null, tableView);
}

// Short date labels for the x axis ("Dec 7", "Dec 7 14:05").
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const timeFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
export const dayLabel = (d) => dayFmt.format(d);
export const timeLabel = (d) => timeFmt.format(d);

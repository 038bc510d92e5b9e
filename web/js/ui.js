// DOM helpers shared by every page. Text always goes in as text nodes (never
// innerHTML), so data from the API cannot inject markup.

let idCounter = 0;
export const uid = (prefix = 'f') => `${prefix}-${++idCounter}`;

// h('button', {class: 'primary', onclick: fn}, 'Save')
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value' && 'value' in el) el.value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden' || k === 'required' ||
               k === 'multiple' || k === 'readOnly') el[k] = Boolean(v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

// ---- time ------------------------------------------------------------------

// Accepts ISO strings, Unix seconds, milliseconds or microseconds.
export function toDate(v) {
  if (v === null || v === undefined || v === '') return null;
  if (v instanceof Date) return v;
  if (typeof v === 'number') {
    if (v > 1e14) return new Date(v / 1000);
    if (v > 1e11) return new Date(v);
    return new Date(v * 1000);
  }
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
export const formatLocal = (d) => dateFormat.format(d);
export const formatUtc = (d) => d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');

// <time> in the browser's locale; the UTC time on hover.
export function time(v, { relative = false } = {}) {
  const d = toDate(v);
  if (!d) return h('span', { class: 'muted' }, '—');
  const label = relative ? `${formatLocal(d)} (${ago(d)})` : formatLocal(d);
  return h('time', { datetime: d.toISOString(), title: formatUtc(d) }, label);
}

export function ago(d) {
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const abs = Math.abs(s);
  const unit = abs < 90 ? [abs, 's'] : abs < 5400 ? [Math.round(abs / 60), 'min'] :
    abs < 172800 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), 'd'];
  return s >= 0 ? `${unit[0]} ${unit[1]} ago` : `in ${unit[0]} ${unit[1]}`;
}

export function duration(seconds) {
  const neg = seconds < 0;
  let s = Math.abs(Math.round(seconds));
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  const text = hh ? `${hh} h ${String(mm).padStart(2, '0')} min` : `${mm}:${String(s).padStart(2, '0')}`;
  return neg ? `-${text}` : text;
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0; let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
}

// ---- small components --------------------------------------------------------

const STATE_KIND = {
  ok: 'ok', healthy: 'ok', passed: 'ok', resolved: 'ok', unlocked: 'ok', not_exposed: 'ok', success: 'ok', verified: 'ok',
  completed: 'ok', done: 'ok', info: 'info', low: 'info', acknowledged: 'info', running: 'info', in_progress: 'info',
  degraded: 'warn', medium: 'warn', warning: 'warn', undetermined: 'warn', locked: 'warn', pending: 'warn',
  failed: 'bad', failure: 'bad', high: 'bad', critical: 'bad', exposed: 'bad', open: 'bad', denied: 'bad', error: 'bad',
};
export const kindOf = (state) => STATE_KIND[String(state).toLowerCase()] || 'neutral';
export function badge(text, kind) {
  const k = kind || kindOf(text);
  return h('span', { class: `badge ${k}` }, String(text).replace(/_/g, ' '));
}

export function field(labelText, control, { hint, id } = {}) {
  const cid = control.id || id || uid();
  control.id = cid;
  const wrap = h('div', { class: 'field' }, h('label', { for: cid }, labelText), control);
  if (hint) {
    const hid = `${cid}-hint`;
    wrap.append(h('div', { class: 'hint', id: hid }, hint));
    control.setAttribute('aria-describedby', hid);
  }
  return wrap;
}

export function input(attrs = {}) { return h('input', { type: 'text', ...attrs }); }

export function select(options, attrs = {}) {
  const el = h('select', attrs);
  for (const o of options) {
    const [value, label] = Array.isArray(o) ? o : [o, o];
    el.append(h('option', { value, selected: attrs.value === value }, label));
  }
  if (attrs.value !== undefined) el.value = attrs.value;
  return el;
}

// table({columns: [{label, render(row) | key, class}], rows, empty, caption})
export function table({ columns, rows, empty = 'Nothing to show.', caption, rowAttrs }) {
  const head = h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label)));
  const body = h('tbody');
  if (!rows.length) {
    body.append(h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty)));
  }
  for (const row of rows) {
    const tr = h('tr', rowAttrs ? rowAttrs(row) : null);
    for (const c of columns) {
      const v = c.render ? c.render(row) : row[c.key];
      tr.append(h('td', { class: c.class }, v === null || v === undefined || v === '' ? h('span', { class: 'muted' }, '—') : v));
    }
    body.append(tr);
  }
  return h('div', { class: 'table-wrap' },
    h('table', null, caption ? h('caption', null, caption) : null, h('thead', null, head), body));
}

export function pageHead(title, subtitle, ...actions) {
  return h('div', { class: 'page-head' },
    h('div', null, h('h1', { tabindex: '-1' }, title), subtitle ? h('p', null, subtitle) : null),
    actions.length ? h('div', { class: 'row' }, actions) : null);
}

export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', null, title) : null, children);
}

// An error from the API (ApiError) or anything else, as an alert with the
// problem document's title, detail and field errors.
export function errorBox(err, { prefix } = {}) {
  const box = h('div', { class: 'alert error', role: 'alert' });
  const title = err && err.title ? err.title : 'Something went wrong';
  const detail = err && err.detail ? err.detail : (err && err.message && !err.title ? err.message : '');
  box.append(h('strong', null, prefix ? `${prefix}: ${title}` : title));
  if (detail && detail !== title) box.append(h('div', null, detail));
  const list = err && err.problem && Array.isArray(err.problem.errors) ? err.problem.errors : [];
  if (list.length) {
    box.append(h('ul', null, list.slice(0, 50).map((e) => h('li', null,
      e.row !== undefined ? `Row ${e.row}${e.column ? `, ${e.column}` : ''}: ${e.reason || e.message}` :
        `${e.field ? `${e.field}: ` : ''}${e.message || e.reason || ''}`))));
  }
  return box;
}

export function alertBox(kind, ...children) {
  return h('div', { class: `alert ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, children);
}

// "Not available in this version": a feature whose API this daemon lacks.
export function unavailable(what) {
  return h('div', { class: 'unavailable', dataset: { unavailable: 'true' } },
    h('strong', null, `${what}: not available in this version.`),
    h('div', { class: 'small' }, 'This daemon does not provide this API yet; the rest of the console works as usual.'));
}

// Shows `message` at a form control (null clears it): the text below the
// control, aria-invalid="true", and aria-describedby naming the message
// first (then the field's hint, which stays described).
export function setFieldError(control, message) {
  const wrap = control.closest('.field') || control.parentElement;
  if (control.dataset.hintIds === undefined) control.dataset.hintIds = control.getAttribute('aria-describedby') || '';
  const hints = control.dataset.hintIds;
  const old = control.dataset.errorId && document.getElementById(control.dataset.errorId);
  if (!message) {
    old?.remove();
    delete control.dataset.errorId;
    control.removeAttribute('aria-invalid');
    if (hints) control.setAttribute('aria-describedby', hints); else control.removeAttribute('aria-describedby');
    return;
  }
  const msg = old || h('div', { class: 'error-text', id: uid('err') });
  msg.textContent = message;
  if (!old) wrap?.append(msg);
  control.dataset.errorId = msg.id;
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-describedby', hints ? `${msg.id} ${hints}` : msg.id);
}

// Marks fields with server-side validation errors (problem `errors: [{field}]`)
// and clears the earlier marks. Returns how many errors found their field:
// when all did, the form need not repeat them above itself.
export function markFieldErrors(form, err) {
  for (const el of form.querySelectorAll('[aria-invalid]')) setFieldError(el, null);
  for (const el of form.querySelectorAll('.error-text')) el.remove();
  const list = err && err.problem && Array.isArray(err.problem.errors) ? err.problem.errors : [];
  let placed = 0;
  for (const e of list) {
    const control = e.field && form.querySelector(`[name="${CSS.escape(e.field)}"]`);
    if (!control) continue;
    setFieldError(control, e.message || e.reason || 'invalid');
    placed++;
  }
  return placed === list.length ? placed : 0;
}

// A message in the corner; at most three show at once (the oldest goes).
// Each can be dismissed at once (its x button). While any is shown the body has
// `has-toasts` and --toasts-height, with which narrow screens (no sidebar
// to hold them) pad the page so its last controls scroll clear of them.
const MAX_TOASTS = 3;
// Long identifiers in messages (config keys such as
// backup.recovery_public_key, paths) may wrap after '.', '_' or '/' instead
// of mid-word; <wbr> adds no character, so copied text stays exact.
function wrappable(text) {
  const out = [];
  String(text).split(/(?<=[._/])/).forEach((part, i) => { if (i) out.push(h('wbr')); out.push(part); });
  return out;
}
// Errors stay until dismissed: they say what to fix, and 8 s was too short
// to read (or copy) a configuration key. Other messages go after 4 s.
export function toast(message, kind = '') {
  const area = document.getElementById('toasts');
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss notification' }, '\u00d7');
  const text = typeof message === 'string' ? wrappable(message) : [message];
  const t = h('div', { class: `toast ${kind}` }, h('span', { class: 'toast-text' }, ...text), close);
  const layout = () => {
    document.body.classList.toggle('has-toasts', area.children.length > 0);
    document.body.style.setProperty('--toasts-height', `${area.offsetHeight}px`);
  };
  const remove = () => { t.remove(); layout(); };
  close.addEventListener('click', remove);
  area.append(t);
  while (area.children.length > MAX_TOASTS) area.firstElementChild.remove();
  layout();
  if (kind !== 'error') setTimeout(remove, 4000);
}

// A button that copies `getText()` to the clipboard.
export function copyButton(getText, label = 'Copy') {
  const b = h('button', { type: 'button', class: 'small', 'aria-label': label === 'Copy' ? 'Copy to clipboard' : label });
  b.textContent = label;
  b.addEventListener('click', async () => {
    const text = typeof getText === 'function' ? getText() : getText;
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      const ta = h('textarea', { class: 'visually-hidden', 'aria-hidden': 'true' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      ta.remove();
    }
    b.textContent = ok ? 'Copied' : 'Copy failed';
    b.dataset.copied = ok ? 'true' : 'false';
    setTimeout(() => { b.textContent = label; }, 2000);
  });
  return b;
}

// A modal dialog; resolves with the value passed to close(), or null when dismissed.
export function dialog(title, build, { wide = false } = {}) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const d = h('dialog', { 'aria-labelledby': titleId, class: wide ? 'wide' : '' });
    const body = h('div', { class: 'dialog-body' }, h('h2', { id: titleId }, title));
    const actions = h('div', { class: 'dialog-actions' });
    let result = null;
    const close = (value) => { result = value; d.close(); };
    d.append(body, actions);
    build({ body, actions, close });
    d.addEventListener('close', () => { d.remove(); resolve(result); });
    document.body.append(d);
    d.showModal();
    const first = body.querySelector('input, select, textarea') || actions.querySelector('button.primary, button');
    first?.focus();
  });
}

export function confirm(title, message, { confirmLabel = 'Confirm', danger = false } = {}) {
  return dialog(title, ({ body, actions, close }) => {
    body.append(h('p', null, message));
    actions.append(
      h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: danger ? 'danger solid' : 'primary', onclick: () => close(true) }, confirmLabel));
  }).then((v) => v === true);
}

// Runs an async action with the button disabled; shows errors in `where` (or a toast).
export async function busy(button, fn) {
  const was = button ? button.disabled : false;
  if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
  try {
    return await fn();
  } finally {
    if (button) { button.disabled = was; button.removeAttribute('aria-busy'); }
  }
}

// Reads a form's named controls into an object (empty strings left out).
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.type === 'checkbox') out[el.name] = el.checked;
    else if (el.value !== '') out[el.name] = el.value;
  }
  return out;
}

export function download(url) {
  const a = h('a', { href: url, download: '' });
  document.body.append(a);
  a.click();
  a.remove();
}

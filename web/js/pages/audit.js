// Audit log: filters, paging, chain verification, export.

import { get, listOf } from '../api.js';
import { h, time, badge, table, pageHead, card, field, input, errorBox, alertBox, busy, formValues } from '../ui.js';

const PAGE = 50;

// datetime-local (browser's time zone) → RFC 3339 UTC for the API.
const toUtc = (v) => (v ? new Date(v).toISOString().replace(/\.\d+Z$/, 'Z') : '');

export default async function render(main) {
  const verifyButton = h('button', { type: 'button', class: 'primary', id: 'audit-verify' }, 'Verify the chain');
  main.append(pageHead('Audit log', 'Every access to customer data and every security event, hash-chained so that tampering shows.',
    verifyButton,
    h('a', { class: 'button', href: '/api/v1/audit/export?format=csv', download: 'audit.csv' }, 'Export CSV'),
    h('a', { class: 'button', href: '/api/v1/audit/export?format=jsonl', download: 'audit.jsonl' }, 'Export JSON Lines')));
  const verifyArea = h('div', { id: 'verify-result', 'aria-live': 'polite' });
  verifyButton.addEventListener('click', () => busy(verifyButton, async () => {
    verifyArea.replaceChildren(alertBox('info', 'Verifying…'));
    try {
      const r = await get('/api/v1/audit/verify');
      if (r.ok) {
        verifyArea.replaceChildren(alertBox('ok', h('strong', null, 'The audit chain is intact.'),
          h('p', null, `${r.entries} entries checked in ${r.duration_ms} ms; head #${r.head_seq}`,
            r.anchor_seq !== null && r.anchor_seq !== undefined ? `; anchor at #${r.anchor_seq} ${r.anchor_ok ? 'matches' : 'does NOT match'}` : '', '.'),
          h('p', { class: 'small mono' }, `head hash ${r.head_hash || ''}`)));
      } else {
        verifyArea.replaceChildren(alertBox('error', h('strong', null, 'The audit chain is BROKEN.'),
          h('p', null, r.first_broken_seq ? `First broken entry: #${r.first_broken_seq}. ` : '', r.problem || ''),
          h('p', null, 'Treat this as a security incident: the log was changed outside privstack.')));
      }
    } catch (e) { verifyArea.replaceChildren(errorBox(e)); }
  }));

  const state = { cursor: '', stack: [], next: null, filter: {} };
  const filters = h('form', { class: 'inline', role: 'search', 'aria-label': 'Filter the audit log', id: 'audit-filters' },
    field('Actor', input({ name: 'actor', type: 'search', placeholder: 'user:alice' })),
    field('Action', input({ name: 'action', type: 'search', placeholder: 'records.' })),
    field('Object', input({ name: 'object', type: 'search', placeholder: 'recipient:42' })),
    field('From', input({ name: 'from', type: 'datetime-local' })),
    field('To', input({ name: 'to', type: 'datetime-local' })),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
    h('button', { type: 'reset' }, 'Clear'));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = formValues(filters);
    state.filter = { actor: v.actor, action: v.action, object: v.object, from: toUtc(v.from), to: toUtc(v.to) };
    state.cursor = ''; state.stack = [];
    load();
  });
  filters.addEventListener('reset', () => { state.filter = {}; state.cursor = ''; state.stack = []; setTimeout(load); });

  const listArea = h('div', { id: 'audit-list' });
  async function load() {
    try {
      const doc = await get('/api/v1/audit', { ...state.filter, cursor: state.cursor, limit: PAGE });
      state.next = doc.next_cursor || null;
      const prev = h('button', { type: 'button', class: 'small', disabled: !state.stack.length }, '← Previous');
      const next = h('button', { type: 'button', class: 'small', disabled: !state.next }, 'Next →');
      prev.addEventListener('click', () => { state.cursor = state.stack.pop() || ''; load(); });
      next.addEventListener('click', () => { state.stack.push(state.cursor); state.cursor = state.next; load(); });
      listArea.replaceChildren(table({
        columns: [
          { label: '#', class: 'num', render: (e) => String(e.seq) },
          { label: 'Time', render: (e) => time(e.time_us || e.time) },
          { label: 'Actor', render: (e) => h('span', { class: 'mono small' }, e.actor) },
          { label: 'Source', render: (e) => h('span', { class: 'small' }, e.source || '') },
          { label: 'Action', render: (e) => h('span', { class: 'mono small' }, e.action) },
          { label: 'Object', render: (e) => h('span', { class: 'mono small' }, e.object || '') },
          { label: 'Outcome', render: (e) => badge(e.outcome) },
          { label: 'Reason / detail', render: (e) => h('span', { class: 'small' }, [e.reason, e.detail].filter(Boolean).join(' — ')) },
        ],
        rows: listOf(doc),
        empty: 'No entries match.',
      }), h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, h('span', { class: 'small muted' }, `Page ${state.stack.length + 1}`), next));
    } catch (e) { listArea.replaceChildren(errorBox(e)); }
  }
  main.append(verifyArea, card(null, filters), card(null, listArea));
  await load();
}

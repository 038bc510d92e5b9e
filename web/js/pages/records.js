// Recipients and results: search, paging, edit, CSV import with per-row
// errors, CSV export. Support staff first state a reason (access grant).

import { get, post, patch, del, api, listOf, ApiError } from '../api.js';
import {
  h, time, badge, table, pageHead, card, field, input, select, errorBox, alertBox, toast, busy, dialog, confirm,
  markFieldErrors, formValues,
} from '../ui.js';

const TABS = [['recipients', 'Recipients'], ['results', 'Results'], ['transfer', 'Import & export']];
const STATUSES = ['passed', 'failed', 'in_progress'];
const PAGE = 25;

export default async function render(main, ctx) {
  const write = ctx.can('records.write');
  const support = ctx.role === 'support';
  main.append(pageHead('Recipients & results', 'Customer data. Every access is recorded in the audit log.'));

  if (support) {
    const ok = await ensureGrant(main, ctx);
    if (!ok) return;
  }

  const tab = TABS.some(([t]) => t === ctx.params[0]) ? ctx.params[0] : 'recipients';
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Customer data' });
  for (const [t, label] of TABS) {
    if (t === 'transfer' && support) continue;
    const b = h('button', { type: 'button', role: 'tab', id: `tab-${t}`, 'aria-selected': String(t === tab), 'aria-controls': 'records-panel', tabindex: t === tab ? '0' : '-1' }, label);
    b.addEventListener('click', () => ctx.navigate(`records/${t}`));
    tabs.append(b);
  }
  tabs.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const all = [...tabs.querySelectorAll('[role=tab]')];
    const i = all.indexOf(document.activeElement);
    const next = all[(i + (e.key === 'ArrowRight' ? 1 : all.length - 1)) % all.length];
    next.focus();
    next.click();
  });
  const panel = h('div', { id: 'records-panel', role: 'tabpanel', 'aria-labelledby': `tab-${tab}` });
  main.append(tabs, panel);
  if (tab === 'recipients') await recipients(panel, write);
  else if (tab === 'results') await results(panel, write);
  else await transfer(panel, write);
}

// ---- support: stated reason --------------------------------------------------------

async function ensureGrant(main, ctx) {
  let grants = [];
  try { grants = listOf(await get('/api/v1/records/access-grants')); } catch (e) { main.append(errorBox(e)); return false; }
  const active = grants.find((g) => g.user === ctx.user && new Date(g.expires_at) > new Date());
  if (active) {
    main.append(alertBox('info', 'Access granted for ticket ', h('strong', null, active.ticket), ' until ', time(active.expires_at), `: ${active.reason}`));
    return true;
  }
  const ticket = input({ name: 'ticket', required: true });
  const reason = h('textarea', { name: 'reason', required: true, minlength: '10', maxlength: '500' });
  const minutes = input({ type: 'number', name: 'minutes', min: '1', max: '480', value: '60' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Request access');
  const msg = h('div');
  const form = h('form', { class: 'form', id: 'access-grant', novalidate: true },
    field('Ticket', ticket, { hint: 'The support ticket this access is for.' }),
    field('Reason', reason, { hint: 'Why you need to see customer data (10 characters or more). It is written to the audit log with every access.' }),
    field('Minutes', minutes), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        const v = formValues(form);
        await post('/api/v1/records/access-grants', { ticket: v.ticket, reason: v.reason, minutes: Number(v.minutes || 60) });
        toast('Access granted.', 'ok');
        if (location.hash === '#/records/recipients') window.dispatchEvent(new HashChangeEvent('hashchange'));
        else ctx.navigate('records/recipients');
      } catch (err) { markFieldErrors(form, err); msg.replaceChildren(errorBox(err)); }
    });
  });
  main.append(card('State a reason first', h('p', null, 'Support staff see customer data only for a stated reason, for a limited time.'), msg, form));
  return false;
}

// ---- paging helper ------------------------------------------------------------------

function pager(state, reload) {
  const prev = h('button', { type: 'button', class: 'small', disabled: state.stack.length === 0 }, '← Previous');
  const next = h('button', { type: 'button', class: 'small', disabled: !state.next }, 'Next →');
  prev.addEventListener('click', () => { state.cursor = state.stack.pop() || ''; reload(); });
  next.addEventListener('click', () => { state.stack.push(state.cursor); state.cursor = state.next; reload(); });
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, h('span', { class: 'small muted' }, `Page ${state.stack.length + 1}`), next);
}

// ---- recipients ------------------------------------------------------------------------

async function recipients(panel, write) {
  const state = { cursor: '', stack: [], next: null, filter: {} };
  const listArea = h('div', { id: 'recipients-list' });
  const extId = input({ name: 'external_id', type: 'search' });
  const email = input({ name: 'email', type: 'search' });
  const group = input({ name: 'group', type: 'search' });
  const search = h('form', { class: 'inline', role: 'search', 'aria-label': 'Search recipients' },
    field('External id', extId), field('E-mail', email), field('Group', group),
    h('button', { type: 'submit', class: 'primary' }, 'Search'),
    h('button', { type: 'reset' }, 'Clear'));
  search.addEventListener('submit', (e) => { e.preventDefault(); state.filter = formValues(search); state.cursor = ''; state.stack = []; load(); });
  search.addEventListener('reset', () => { state.filter = {}; state.cursor = ''; state.stack = []; setTimeout(load); });

  async function load() {
    try {
      const doc = await get('/api/v1/recipients', { ...state.filter, cursor: state.cursor, limit: PAGE });
      state.next = doc.next_cursor || null;
      const rows = listOf(doc);
      listArea.replaceChildren(table({
        columns: [
          { label: 'External id', render: (r) => h('span', { class: 'mono' }, r.external_id) },
          { label: 'Name', key: 'name' },
          { label: 'E-mail', key: 'email' },
          { label: 'Group', key: 'group' },
          { label: 'Updated', render: (r) => time(r.updated_at) },
          {
            label: 'Actions',
            render: (r) => h('div', { class: 'actions' },
              h('a', { class: 'button small', href: `#/records/results?recipient_id=${r.id}` }, 'Results'),
              write ? h('button', { type: 'button', class: 'small', 'aria-label': `Edit ${r.external_id}`, onclick: () => edit(r) }, 'Edit') : null,
              write ? h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${r.external_id}`, onclick: () => remove(r) }, 'Delete') : null),
          },
        ],
        rows,
        empty: Object.keys(state.filter).length ? 'No recipient matches.' : 'No recipients yet.',
      }), pager(state, load));
    } catch (e) { listArea.replaceChildren(errorBox(e)); }
  }

  async function edit(r) {
    const changed = await dialog(`Edit ${r.external_id}`, ({ body, actions, close }) => {
      const msg = h('div');
      const form = h('form', { class: 'form', novalidate: true },
        field('Name', input({ name: 'name', value: r.name })),
        field('E-mail', input({ name: 'email', type: 'email', value: r.email })),
        field('Group', input({ name: 'group', value: r.group || '' })));
      const save = h('button', { type: 'button', class: 'primary' }, 'Save');
      save.addEventListener('click', () => busy(save, async () => {
        try {
          const v = formValues(form);
          await patch(`/api/v1/recipients/${r.id}`, { name: v.name || '', email: v.email || '', group: v.group || '' });
          close(true);
        } catch (err) { markFieldErrors(form, err); msg.replaceChildren(errorBox(err)); }
      }));
      form.addEventListener('submit', (e) => { e.preventDefault(); save.click(); });
      body.append(msg, form);
      actions.append(h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'), save);
    });
    if (changed) { toast('Recipient saved.', 'ok'); await load(); }
  }

  async function remove(r) {
    if (!(await confirm('Delete recipient', `Delete ${r.external_id} (${r.name}) and all their results?`, { confirmLabel: 'Delete', danger: true }))) return;
    try { await del(`/api/v1/recipients/${r.id}`); toast('Recipient deleted.', 'ok'); await load(); } catch (e) { toast(e.detail || e.message, 'error'); }
  }

  panel.append(card(null, search), card(null, listArea));
  if (write) {
    const msg = h('div');
    const add = h('button', { type: 'submit', class: 'primary' }, 'Add recipient');
    const form = h('form', { class: 'inline', id: 'add-recipient', novalidate: true },
      field('External id', input({ name: 'external_id', required: true })),
      field('Name', input({ name: 'name', required: true })),
      field('E-mail', input({ name: 'email', type: 'email', required: true })),
      field('Group', input({ name: 'group' })), add);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(add, async () => {
        try {
          await post('/api/v1/recipients', formValues(form));
          form.reset(); markFieldErrors(form, null); msg.replaceChildren();
          toast('Recipient added.', 'ok');
          await load();
        } catch (err) { markFieldErrors(form, err); msg.replaceChildren(errorBox(err)); }
      });
    });
    panel.append(card('Add a recipient', msg, form));
  }
  await load();
}

// ---- results ----------------------------------------------------------------------------

async function results(panel, write) {
  const initial = new URLSearchParams(location.hash.split('?')[1] || '');
  const state = { cursor: '', stack: [], next: null, filter: {} };
  if (initial.get('recipient_id')) state.filter.recipient_id = initial.get('recipient_id');
  const listArea = h('div', { id: 'results-list' });
  const search = h('form', { class: 'inline', role: 'search', 'aria-label': 'Search results' },
    field('Recipient id', input({ name: 'recipient_id', type: 'number', min: '1', value: state.filter.recipient_id || '' })),
    field('Achievement', input({ name: 'achievement', type: 'search' })),
    field('Status', select([['', 'any'], ...STATUSES.map((s) => [s, s.replace('_', ' ')])], { name: 'status', value: '' })),
    field('Completed from', input({ name: 'completed_from', type: 'date' })),
    field('Completed to', input({ name: 'completed_to', type: 'date' })),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  search.addEventListener('submit', (e) => { e.preventDefault(); state.filter = formValues(search); state.cursor = ''; state.stack = []; load(); });

  async function load() {
    try {
      const doc = await get('/api/v1/results', { ...state.filter, cursor: state.cursor, limit: PAGE });
      state.next = doc.next_cursor || null;
      listArea.replaceChildren(table({
        columns: [
          { label: 'Id', class: 'num', key: 'id' },
          { label: 'Recipient', class: 'num', key: 'recipient_id' },
          { label: 'Achievement', key: 'achievement' },
          { label: 'Status', render: (r) => badge(r.status) },
          { label: 'Score', class: 'num', render: (r) => (r.score === null || r.score === undefined ? '' : String(r.score)) },
          { label: 'Completed', render: (r) => time(r.completed_at) },
          { label: 'Credential', render: (r) => (r.credential_id ? h('span', { class: 'mono small' }, r.credential_id) : '') },
          write ? { label: 'Actions', render: (r) => h('button', { type: 'button', class: 'small', 'aria-label': `Edit result ${r.id}`, onclick: () => edit(r) }, 'Edit') } : null,
        ].filter(Boolean),
        rows: listOf(doc),
        empty: 'No results match.',
      }), pager(state, load));
    } catch (e) { listArea.replaceChildren(errorBox(e)); }
  }

  async function edit(r) {
    const changed = await dialog(`Edit result ${r.id}`, ({ body, actions, close }) => {
      const msg = h('div');
      const form = h('form', { class: 'form', novalidate: true },
        field('Achievement', input({ name: 'achievement', value: r.achievement })),
        field('Status', select(STATUSES, { name: 'status', value: r.status })),
        field('Score (0-100, empty for none)', input({ name: 'score', type: 'number', min: '0', max: '100', step: 'any', value: r.score ?? '' })),
        field('Completed at', input({ name: 'completed_at', value: r.completed_at || '' }), { hint: 'YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ' }));
      const save = h('button', { type: 'button', class: 'primary' }, 'Save');
      save.addEventListener('click', () => busy(save, async () => {
        const v = formValues(form);
        const bodyDoc = { achievement: v.achievement || '', status: v.status, score: v.score === undefined ? null : Number(v.score) };
        if (v.completed_at) bodyDoc.completed_at = v.completed_at;
        try { await patch(`/api/v1/results/${r.id}`, bodyDoc); close(true); } catch (err) { markFieldErrors(form, err); msg.replaceChildren(errorBox(err)); }
      }));
      form.addEventListener('submit', (e) => { e.preventDefault(); save.click(); });
      body.append(msg, form);
      actions.append(h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'), save);
    });
    if (changed) { toast('Result saved.', 'ok'); await load(); }
  }

  panel.append(card(null, search), card(null, listArea));
  await load();
}

// ---- import and export ---------------------------------------------------------------------

async function transfer(panel, write) {
  panel.append(card('Export',
    h('p', null, 'Everything as RFC 4180 CSV (UTF-8, one line per result, with the recipient\'s fields) or as JSON Lines. Cells that a spreadsheet would run as a formula start with an apostrophe.'),
    h('div', { class: 'row' },
      h('a', { class: 'button primary', href: '/api/v1/export/records.csv', download: 'records.csv', id: 'export-csv' }, 'Export CSV'),
      h('a', { class: 'button', href: '/api/v1/export/records.jsonl', download: 'records.jsonl', id: 'export-jsonl' }, 'Export JSON Lines'))));
  if (!write) return;
  const file = h('input', { type: 'file', name: 'file', accept: '.csv,text/csv', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const report = h('div', { id: 'import-report', 'aria-live': 'polite' });
  const form = h('form', { class: 'inline', id: 'import-form' }, field('CSV file', file, { hint: 'The export format. All or nothing: one bad row and nothing changes.' }), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    report.replaceChildren();
    const f = file.files[0];
    if (!f) { report.append(alertBox('error', 'Choose a CSV file first.')); return; }
    busy(submit, async () => {
      try {
        const doc = await api('POST', '/api/v1/import/records.csv', { body: f, contentType: 'text/csv' });
        report.append(alertBox('ok', h('strong', null, `Imported ${doc.rows} row${doc.rows === 1 ? '' : 's'}.`),
          h('p', null, `Recipients: ${doc.recipients_created} created, ${doc.recipients_updated} updated. Results: ${doc.results_created} created, ${doc.results_updated} updated.`)));
      } catch (err) {
        const errors = err instanceof ApiError && Array.isArray(err.problem.errors) ? err.problem.errors : null;
        if (!errors || !errors.length || errors[0].row === undefined) { report.append(errorBox(err)); return; }
        const count = err.problem.error_count ?? errors.length;
        report.append(
          alertBox('error', h('strong', null, `Nothing was imported: ${count} row error${count === 1 ? '' : 's'}.`),
            h('p', null, 'Fix these rows and import the file again.')),
          table({
            caption: 'Row errors',
            columns: [
              { label: 'Row', class: 'num', render: (x) => String(x.row) },
              { label: 'Column', render: (x) => x.column || '' },
              { label: 'Problem', render: (x) => x.reason || x.message || '' },
            ],
            rows: errors,
          }));
      }
    });
  });
  panel.append(card('Import', h('p', null, 'Rows with an external id that exists update that recipient; rows with a result_id update that result.'), form, report));
}

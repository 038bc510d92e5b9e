// API tokens: list (own; all for admins), create (role no higher than mine,
// expiry, shown once), revoke.

import { get, post, del, listOf } from '../api.js';
import { h, time, badge, table, pageHead, card, field, input, select, errorBox, alertBox, toast, busy, confirm, copyButton, markFieldErrors, formValues, toDate } from '../ui.js';
import { ROLES, covers } from '../perms.js';

export default async function render(main, ctx) {
  main.append(pageHead('API tokens', ctx.can('tokens.manage_all')
    ? 'Tokens for integrations (Authorization: Bearer). You see every user\'s tokens.'
    : 'Tokens for integrations (Authorization: Bearer). A token never has more rights than you.'));
  const created = h('div', { id: 'token-created', 'aria-live': 'polite' });
  const listArea = h('div', { id: 'tokens-list' });

  async function load() {
    try {
      const tokens = listOf(await get('/api/v1/tokens'), 'tokens');
      listArea.replaceChildren(table({
        caption: `${tokens.length} token${tokens.length === 1 ? '' : 's'}`,
        columns: [
          { label: 'Name', render: (t) => h('strong', null, t.name) },
          { label: 'Owner', key: 'owner' },
          { label: 'Role', render: (t) => badge(t.role, 'info') },
          { label: 'Created', render: (t) => time(t.created_at) },
          { label: 'Expires', render: (t) => { const d = toDate(t.expires_at); return d && d < new Date() ? badge('expired', 'bad') : time(t.expires_at); } },
          { label: 'Last used', render: (t) => (t.last_used_at ? time(t.last_used_at, { relative: true }) : h('span', { class: 'muted' }, 'never')) },
          {
            label: 'Actions',
            render: (t) => h('button', {
              type: 'button', class: 'small danger', 'aria-label': `Revoke token ${t.name}`,
              onclick: async () => {
                if (!(await confirm('Revoke token', `Revoke "${t.name}"? Integrations using it stop working at once.`, { confirmLabel: 'Revoke', danger: true }))) return;
                try { await del(`/api/v1/tokens/${encodeURIComponent(t.id)}`); toast('Token revoked.', 'ok'); await load(); } catch (e) { toast(e.detail || e.message, 'error'); }
              },
            }, 'Revoke'),
          },
        ],
        rows: tokens,
        empty: 'No API tokens yet.',
      }));
    } catch (e) { listArea.replaceChildren(errorBox(e)); }
  }

  const name = input({ name: 'name', required: true, autocomplete: 'off' });
  const role = select(ROLES.filter((r) => covers(ctx.role, r)), { name: 'role', value: ctx.role });
  const days = input({ type: 'number', name: 'expires_in_days', min: '1', max: '366', value: '90' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create token');
  const msg = h('div');
  const form = h('form', { class: 'inline', id: 'create-token', novalidate: true },
    field('Name', name, { hint: 'What uses it, e.g. "LMS sync"' }), field('Role', role), field('Expires after (days)', days), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.replaceChildren();
    busy(submit, async () => {
      try {
        const v = formValues(form);
        const doc = await post('/api/v1/tokens', { name: v.name, role: v.role, expires_in_days: Number(v.expires_in_days || 90) });
        form.reset();
        role.value = ctx.role;
        created.replaceChildren(alertBox('ok',
          h('strong', null, `Token "${doc.name}" created.`),
          h('p', null, 'Copy it now: it is shown only once and stored only as a hash.'),
          h('div', { class: 'copy-row' }, h('code', { class: 'secret', id: 'new-token' }, doc.token), copyButton(doc.token))));
        await load();
      } catch (err) { markFieldErrors(form, err); msg.replaceChildren(errorBox(err)); }
    });
  });
  main.append(created, card('New token', msg, form), card('Tokens', listArea));
  await load();
}

// Users and roles: list, create, change role, lock/unlock, reset password,
// revoke sessions, delete. Auditors see the list read-only.

import { get, post, patch, put, del, listOf } from '../api.js';
import {
  h, ago, toDate, formatUtc, badge, table, pageHead, card, field, input, select, errorBox, toast, dialog, confirm,
  busy, markFieldErrors, formValues,
} from '../ui.js';
import { ROLES, ROLE_DESCRIPTIONS } from '../perms.js';
import { PASSWORD_HINT, watchPassword } from '../password.js';

// How a sign-in was made, in words; a method this console does not know yet
// (the API says to treat it as text) is shown as it is.
const SIGN_IN_METHODS = {
  password: 'password',
  'password+totp': 'password + TOTP',
  'password+recovery_code': 'password + recovery code',
};

// Days only for the creation and password dates (the exact time on hover):
// the table then fits 800 px with its last sign-in column.
const dayFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
function day(v) {
  const d = toDate(v);
  if (!d) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: d.toISOString(), title: formatUtc(d) }, dayFormat.format(d));
}

function lastSignIn(u) {
  const d = u.last_sign_in && toDate(u.last_sign_in.at);
  if (!d) return h('span', { class: 'muted' }, 'never');
  const method = u.last_sign_in.method;
  return h('span', { class: 'last-sign-in' },
    h('time', { datetime: d.toISOString(), title: formatUtc(d) }, ago(d)),
    h('span', { class: 'small muted' }, ` (${SIGN_IN_METHODS[method] || method})`));
}

// A role drop-down of role names only, with the selected role's description
// as the field's hint below it (a long "role: description" option would be
// cut off on narrow screens).
function roleField(label, value) {
  const sel = select(ROLES, { name: 'role', value });
  const wrap = field(label, sel, { hint: ROLE_DESCRIPTIONS[value] });
  const hint = wrap.querySelector('.hint');
  hint.classList.add('role-description');
  hint.setAttribute('aria-live', 'polite');
  sel.addEventListener('change', () => { hint.textContent = ROLE_DESCRIPTIONS[sel.value] || ''; });
  return { sel, wrap };
}

export default async function render(main, ctx) {
  const manage = ctx.can('users.manage');
  main.append(pageHead('Users & roles', manage ? 'Accounts of this appliance, one role each.' : 'Accounts of this appliance (read only for your role).'));
  const listArea = h('div', { id: 'users-list' });
  const status = h('div', { 'aria-live': 'polite' });

  async function load() {
    try {
      const users = listOf(await get('/api/v1/users'), 'users');
      listArea.replaceChildren(table({
        caption: `${users.length} user${users.length === 1 ? '' : 's'}`,
        columns: [
          { label: 'Name', render: (u) => h('strong', null, u.name, u.name === ctx.user ? ' (you)' : '') },
          { label: 'Role', render: (u) => badge(u.role, 'info') },
          { label: 'Status', render: (u) => (u.locked ? badge('locked', 'bad') : badge('active', 'ok')) },
          { label: 'Two-factor', render: (u) => (u.totp_enabled ? badge('enabled', 'ok') : badge('off', 'neutral')) },
          { label: 'Last sign-in', render: lastSignIn },
          { label: 'Created', render: (u) => day(u.created_at) },
          { label: 'Password changed', render: (u) => day(u.password_changed_at) },
          manage ? { label: 'Actions', render: (u) => h('button', { type: 'button', class: 'small', 'aria-label': `Manage ${u.name}`, dataset: { user: u.name }, onclick: () => manageUser(u) }, 'Manage') } : null,
        ].filter(Boolean),
        rows: users,
        rowAttrs: (u) => ({ dataset: { user: u.name } }),
      }));
    } catch (e) {
      listArea.replaceChildren(errorBox(e));
    }
  }

  async function manageUser(u) {
    await dialog(`Manage ${u.name}`, ({ body, actions, close }) => {
      const msg = h('div', { 'aria-live': 'polite' });
      const { sel: roleSel, wrap: roleWrap } = roleField('Role', u.role);
      const saveRole = h('button', { type: 'button', class: 'primary small' }, 'Change role');
      saveRole.addEventListener('click', () => busy(saveRole, async () => {
        try {
          await patch(`/api/v1/users/${encodeURIComponent(u.name)}`, { role: roleSel.value });
          toast(`${u.name} is now ${roleSel.value}; their sessions were ended.`, 'ok');
          close(true);
        } catch (e) { msg.replaceChildren(errorBox(e)); }
      }));
      const lock = h('button', { type: 'button', class: u.locked ? 'small' : 'small danger' }, u.locked ? 'Unlock account' : 'Lock account');
      lock.addEventListener('click', () => busy(lock, async () => {
        try {
          await patch(`/api/v1/users/${encodeURIComponent(u.name)}`, { locked: !u.locked });
          toast(`${u.name} ${u.locked ? 'unlocked' : 'locked'}.`, 'ok');
          close(true);
        } catch (e) { msg.replaceChildren(errorBox(e)); }
      }));
      const revoke = h('button', { type: 'button', class: 'small' }, 'Revoke all sessions');
      revoke.addEventListener('click', () => busy(revoke, async () => {
        try {
          await del(`/api/v1/users/${encodeURIComponent(u.name)}/sessions`);
          toast(`Every session of ${u.name} ended.`, 'ok');
          if (u.name === ctx.user) return; // our own session ended too: the 401 signs us out
          close(true);
        } catch (e) { msg.replaceChildren(errorBox(e)); }
      }));
      const pw = input({ type: 'password', name: 'new_password', autocomplete: 'new-password' });
      const setPw = h('button', { type: 'submit', class: 'small' }, 'Set password');
      const pwForm = h('form', { class: 'inline' }, field('New password', pw, { hint: PASSWORD_HINT }), setPw);
      const checkPw = watchPassword(pw, () => u.name);
      pwForm.addEventListener('submit', (e) => {
        e.preventDefault();
        busy(setPw, async () => {
          markFieldErrors(pwForm, null);
          msg.replaceChildren();
          if (!(await checkPw())) return; // the error is at the field; nothing was sent
          try {
            await put(`/api/v1/users/${encodeURIComponent(u.name)}/password`, { new_password: pw.value });
            pw.value = '';
            toast(`Password of ${u.name} reset; their other sessions ended.`, 'ok');
            close(true);
          } catch (err) {
            if (!markFieldErrors(pwForm, err)) msg.replaceChildren(errorBox(err));
          }
        });
      });
      const remove = h('button', { type: 'button', class: 'small danger' }, 'Delete user');
      remove.addEventListener('click', async () => {
        if (!(await confirm('Delete user', `Delete ${u.name}? Their sessions and API tokens are removed too.`, { confirmLabel: 'Delete', danger: true }))) return;
        try {
          await del(`/api/v1/users/${encodeURIComponent(u.name)}`);
          toast(`${u.name} deleted.`, 'ok');
          close(true);
        } catch (e) { msg.replaceChildren(errorBox(e)); }
      });
      body.append(msg,
        h('div', { class: 'stack' },
          h('fieldset', null, h('legend', null, 'Role'), h('div', { class: 'row' }, roleWrap, saveRole),
            h('p', { class: 'small muted' }, 'Changing the role ends the user\'s sessions.')),
          h('fieldset', null, h('legend', null, 'Password'), pwForm),
          h('fieldset', null, h('legend', null, 'Access'), h('div', { class: 'row' }, lock, revoke, remove))));
      actions.append(h('button', { type: 'button', onclick: () => close(false) }, 'Close'));
    });
    await load();
  }

  main.append(card(null, listArea), status);

  if (manage) {
    const name = input({ name: 'name', autocomplete: 'off', required: true, spellcheck: 'false' });
    const { sel: role, wrap: roleWrap } = roleField('Role', 'operator');
    const password = input({ type: 'password', name: 'password', autocomplete: 'new-password', required: true });
    const submit = h('button', { type: 'submit', class: 'primary' }, 'Create user');
    const msg = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'form', id: 'create-user', novalidate: true },
      field('User name', name), roleWrap, field('Initial password', password, { hint: PASSWORD_HINT }), submit);
    const checkPassword = watchPassword(password, () => name.value);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      msg.replaceChildren();
      busy(submit, async () => {
        markFieldErrors(form, null);
        if (!(await checkPassword())) return; // the error is at the field; nothing was sent
        try {
          const v = formValues(form);
          await post('/api/v1/users', { name: v.name, role: v.role, password: v.password || '' });
          toast(`User ${v.name} created.`, 'ok');
          form.reset();
          role.value = 'operator';
          role.dispatchEvent(new Event('change'));
          await load();
        } catch (err) {
          if (!markFieldErrors(form, err)) msg.replaceChildren(errorBox(err));
        }
      });
    });
    main.append(card('Create a user', msg, form,
      h('p', { class: 'small muted' }, 'Tell the user their initial password over a separate channel; they can change it and turn on two-factor authentication under My account.')));
  }
  await load();
}

// My account: password, two-factor authentication (TOTP enrollment with a QR
// code and recovery codes), ending my other sessions.

import { get, post, put, del } from '../api.js';
import {
  h, svg, time, badge, pageHead, card, field, input, errorBox, alertBox, toast, busy, copyButton, markFieldErrors, confirm,
} from '../ui.js';
import { PASSWORD_HINT, watchPassword } from '../password.js';

// The QR code module (qrcode-generator, MIT, vendored from npm) is loaded only here.
async function qrSvg(text) {
  const { default: qrcode } = await import('../../vendor/qrcode.mjs');
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  let d = '';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
    }
  }
  const size = n + quiet * 2;
  return svg('svg', { viewBox: `0 0 ${size} ${size}`, class: 'qr', role: 'img', 'aria-label': 'QR code for your authenticator app', 'shape-rendering': 'crispEdges' },
    svg('path', { d }));
}

export default async function render(main, ctx) {
  const me = await get('/api/v1/users/me');
  const pending = ctx.session.totp_enrollment_required;
  main.append(pageHead('My account', `${me.name}, role ${me.role}.`));
  if (pending) {
    main.append(alertBox('warn', h('strong', null, 'Two-factor authentication is required for your role.'),
      h('p', null, 'Set it up below to continue to the console.')));
  }

  // ---- two-factor ------------------------------------------------------------
  const totpArea = h('div', { id: 'totp' });
  main.append(card('Two-factor authentication', totpArea));

  function showStatus(user) {
    if (!user.totp_enabled) {
      const start = h('button', { type: 'button', class: 'primary', id: 'totp-start' }, 'Set up two-factor authentication');
      const msg = h('div');
      start.addEventListener('click', () => busy(start, async () => {
        try { showEnrollment(await post('/api/v1/users/me/totp', {})); } catch (e) { msg.replaceChildren(errorBox(e)); }
      }));
      totpArea.replaceChildren(
        h('p', null, 'Status: ', badge('off', 'neutral')),
        h('p', null, 'Protect your account with an authenticator app (TOTP, RFC 6238: any app such as FreeOTP, Aegis or Google Authenticator).'),
        msg, start);
      return;
    }
    const pw = input({ type: 'password', name: 'password', autocomplete: 'current-password' });
    const off = h('button', { type: 'submit', class: 'danger' }, 'Turn off');
    const msg = h('div');
    const form = h('form', { class: 'inline' }, field('Your password', pw), off);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(off, async () => {
        try {
          await del('/api/v1/users/me/totp', { password: pw.value });
          toast('Two-factor authentication turned off.', 'ok');
          showStatus(await get('/api/v1/users/me'));
        } catch (err) { msg.replaceChildren(errorBox(err)); }
      });
    });
    totpArea.replaceChildren(h('p', null, 'Status: ', badge('enabled', 'ok')),
      h('p', { class: 'small muted' }, 'Sign-in asks for a code from your authenticator app. A recovery code works once in place of a code.'),
      h('details', null, h('summary', null, 'Turn off two-factor authentication'), msg, form));
  }

  async function showEnrollment(doc) {
    const codes = doc.recovery_codes || [];
    const code = input({ name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', id: 'totp-code' });
    const confirmButton = h('button', { type: 'submit', class: 'primary' }, 'Confirm and turn on');
    const msg = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'inline', id: 'totp-confirm' }, field('Code from the app', code, { hint: '6 digits' }), confirmButton);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(confirmButton, async () => {
        try {
          await put('/api/v1/users/me/totp', { code: code.value.trim() });
          toast('Two-factor authentication is on.', 'ok');
          if (pending) { await ctx.restart('dashboard'); return; }
          showStatus(await get('/api/v1/users/me'));
        } catch (err) { markFieldErrors(form, err); msg.replaceChildren(errorBox(err)); code.select(); }
      });
    });
    let qr;
    try { qr = await qrSvg(doc.otpauth_uri); } catch (e) { qr = errorBox(e, { prefix: 'QR code' }); }
    const codesText = codes.join('\n');
    totpArea.replaceChildren(
      h('ol', { class: 'stack' },
        h('li', null, h('p', null, 'Scan this QR code with your authenticator app:'), qr,
          h('p', { class: 'small' }, 'Or enter this key by hand:'),
          h('div', { class: 'copy-row' }, h('code', { class: 'secret', id: 'totp-secret' }, doc.secret), copyButton(doc.secret))),
        h('li', null, h('p', null, h('strong', null, 'Save your recovery codes now.'), ' Each works once if you lose the device; they are not shown again.'),
          h('ul', { class: 'codes', id: 'recovery-codes', 'aria-label': 'Recovery codes' }, codes.map((c) => h('li', null, c))),
          copyButton(codesText, 'Copy recovery codes')),
        h('li', null, h('p', null, 'Enter the code the app shows to finish:'), msg, form)));
    code.focus();
  }

  showStatus(me);

  if (pending) return; // nothing else is reachable until enrollment is done

  // ---- password ------------------------------------------------------------------
  const current = input({ type: 'password', name: 'current_password', autocomplete: 'current-password' });
  const next = input({ type: 'password', name: 'new_password', autocomplete: 'new-password' });
  const change = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const pwMsg = h('div', { 'aria-live': 'polite' });
  const pwForm = h('form', { class: 'form', novalidate: true }, field('Current password', current),
    field('New password', next, { hint: PASSWORD_HINT }), change);
  const checkNext = watchPassword(next, () => me.name);
  pwForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(change, async () => {
      markFieldErrors(pwForm, null);
      pwMsg.replaceChildren();
      if (!(await checkNext())) return; // the error is at the field; nothing was sent
      try {
        await put(`/api/v1/users/${encodeURIComponent(me.name)}/password`, { current_password: current.value, new_password: next.value });
        pwForm.reset();
        pwMsg.replaceChildren(alertBox('ok', 'Password changed. Your other sessions were ended.'));
      } catch (err) {
        if (!markFieldErrors(pwForm, err)) pwMsg.replaceChildren(errorBox(err));
      }
    });
  });
  main.append(card('Password', h('p', { class: 'small muted' }, 'Last changed ', time(me.password_changed_at), '.'), pwMsg, pwForm));

  // ---- sessions ------------------------------------------------------------------
  const everywhere = h('button', { type: 'button', class: 'danger' }, 'Sign out everywhere');
  everywhere.addEventListener('click', async () => {
    if (!(await confirm('Sign out everywhere', 'End every session of your account, including this one?', { confirmLabel: 'Sign out everywhere', danger: true }))) return;
    try { await del(`/api/v1/users/${encodeURIComponent(me.name)}/sessions`); } catch { /* the 401 that follows signs us out */ }
    await get('/api/v1/session').catch(() => {});
  });
  main.append(card('Sessions',
    h('dl', { class: 'kv' },
      h('dt', null, 'This session ends'), h('dd', null, time(ctx.session.expires_at), ' at the latest'),
      h('dt', null, 'Idle timeout'), h('dd', null, `${Math.round((ctx.session.idle_timeout_seconds || 0) / 60)} minutes without activity`)),
    h('p', { class: 'small muted' }, 'If you suspect someone else used your account, end all sessions and change your password.'),
    everywhere));
}

// Sign-in: user name and password, then (when the account has TOTP) a
// second step for the 6-digit code or a recovery code.

import { api, ApiError } from '../api.js';
import { h, field, input, errorBox, alertBox, busy } from '../ui.js';

export default function render(root, { message, kind, onSignedIn }) {
  const messageArea = h('div', { id: 'signin-messages' });
  if (message) messageArea.append(alertBox(kind || 'info', message));

  const username = input({ name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = input({ name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const code = input({ name: 'totp', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '32', spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, 'Sign in');
  const back = h('button', { type: 'button', class: 'link', hidden: true }, 'Use a different account');

  const credentials = h('div', { class: 'stack' },
    field('User name', username),
    field('Password', password));
  const second = h('div', { class: 'stack', hidden: true },
    h('p', null, 'This account uses two-factor authentication.'),
    field('Authentication code', code, { hint: 'The 6-digit code from your authenticator app, or one of your recovery codes.' }));

  const form = h('form', { class: 'form', novalidate: true, 'aria-labelledby': 'signin-title' }, credentials, second, submit, back);
  let step = 'password';

  function showStep(s) {
    step = s;
    credentials.hidden = s !== 'password';
    second.hidden = s !== 'totp';
    back.hidden = s !== 'totp';
    submit.textContent = s === 'totp' ? 'Verify' : 'Sign in';
    (s === 'totp' ? code : username).focus();
  }

  back.addEventListener('click', () => {
    code.value = '';
    password.value = '';
    messageArea.replaceChildren();
    showStep('password');
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    messageArea.replaceChildren();
    if (!username.value || !password.value) {
      messageArea.append(alertBox('error', 'Enter your user name and password.'));
      (username.value ? password : username).focus();
      return;
    }
    if (step === 'totp' && !code.value.trim()) {
      messageArea.append(alertBox('error', 'Enter the code from your authenticator app.'));
      code.focus();
      return;
    }
    busy(submit, async () => {
      const body = { username: username.value.trim(), password: password.value };
      if (step === 'totp') body.totp = code.value.replace(/\s+/g, '');
      try {
        const doc = await api('POST', '/api/v1/session', { body, quiet401: true });
        password.value = '';
        code.value = '';
        onSignedIn(doc);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 401 && err.problem.totp_required && step === 'password') {
          showStep('totp');
          return;
        }
        if (err.status === 503) {
          messageArea.append(alertBox('warn',
            h('strong', null, 'No administrator exists yet.'),
            h('p', null, 'Create the first administrator on the server; there is no default password:'),
            h('pre', null, 'privstackctl user add NAME --role admin --password-stdin')));
          return;
        }
        if (err.status === 429) {
          const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : '';
          messageArea.append(alertBox('error', `Too many attempts.${wait}`));
          return;
        }
        messageArea.append(errorBox(err));
        if (step === 'totp') { code.value = ''; code.focus(); } else { password.value = ''; password.focus(); }
      }
    });
  });

  root.append(h('div', { class: 'signin' },
    h('div', { class: 'signin-card' },
      h('div', { class: 'brand' }, h('img', { src: 'img/icon.svg', alt: '' }), 'privstack'),
      h('h1', { id: 'signin-title' }, 'Sign in'),
      h('p', { class: 'muted' }, 'Administration console of this appliance.'),
      messageArea,
      form,
      h('p', { class: 'signin-foot' },
        'Forgot your password? An administrator can reset it under Users & roles, or on the server with ',
        h('code', null, 'privstackctl user passwd'), '.'))));
  username.focus();
}

// The password rules in the browser, for every form that sets a password
// (create user, reset a password, change one's own). The rules come from
// GET /api/v1/password-policy; the server stays the authority (it checks them
// again, and only it has the list of common passwords): this only shows the
// error sooner, at the field, and spares a request that would fail.

import { get } from './api.js';
import { setFieldError } from './ui.js';

// The rules in words, the hint under every new-password field.
export const PASSWORD_HINT = 'At least 12 characters with three of: lower case, upper case, digits, symbols (or 16+ characters). Not the user name, not a common password.';

let policyPromise = null;

// The policy, fetched once per page load; null when the daemon has no such
// route (an older version): then only the server checks.
export function passwordPolicy() {
  if (!policyPromise) {
    policyPromise = get('/api/v1/password-policy').catch(() => {
      policyPromise = null;
      return null;
    });
  }
  return policyPromise;
}

// lower_ascii() of daemon/auth: only A-Z change.
const lowerAscii = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const encoder = new TextEncoder();

// The server's message (daemon/auth/password.cpp) for the first rule the
// password breaks, or null. Counted as the server counts: length in code
// points, classes and patterns over the UTF-8 bytes.
export function passwordProblem(policy, password, userName = '') {
  if (!policy) return null;
  const bytes = encoder.encode(password);
  if (bytes.length > policy.max_bytes) return `The password is too long (at most ${policy.max_bytes} bytes).`;
  const length = [...password].length;
  if (length < policy.min_length) return `The password must be at least ${policy.min_length} characters long.`;
  let lower = false; let upper = false; let digit = false; let other = false;
  for (const c of bytes) {
    if (c >= 0x61 && c <= 0x7a) lower = true;
    else if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (c >= 0x30 && c <= 0x39) digit = true;
    else other = true;
  }
  const classes = lower + upper + digit + other;
  if (classes < policy.min_character_classes && length < policy.any_classes_from_length) {
    return 'The password needs at least three of: lower case, upper case, digits, other characters ' +
      `(or at least ${policy.any_classes_from_length} characters).`;
  }
  const lowered = lowerAscii(password);
  const user = lowerAscii(userName || '');
  if (user && (lowered === user || (user.length >= policy.user_name_substring_from_length && lowered.includes(user)))) {
    return 'The password must not contain the user name.';
  }
  if (policy.rejects_repeated_pattern) {
    const b = encoder.encode(lowered);
    let repeated = true;
    for (let i = 2; i < b.length && repeated; i++) repeated = b[i] === b[i - 2];
    if (repeated) return 'The password must not be a repeated pattern.';
  }
  return null;
}

// Checks `control` against the policy as the user types (once the field
// was left or a submit was tried: not at the first keystroke) and on
// submit. `userName()` is the account the password is for. Returns
// check(): true when the password may be sent; otherwise the error is at
// the field and the field has the focus.
export function watchPassword(control, userName) {
  let policy = null;
  let armed = false;
  passwordPolicy().then((p) => { policy = p; if (armed) show(); });
  const show = () => {
    const why = passwordProblem(policy, control.value, userName());
    setFieldError(control, why);
    return why;
  };
  control.addEventListener('blur', () => { if (control.value) { armed = true; show(); } });
  control.addEventListener('input', () => { if (armed) show(); });
  return async function check() {
    armed = true;
    policy = await passwordPolicy();
    if (!show()) return true;
    control.focus();
    return false;
  };
}

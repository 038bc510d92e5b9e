// Wallet and issuance: initialize (mnemonic shown once, then confirmed),
// unlock with a countdown, derive public keys, issue a batch of credentials
// with progress, verify a credential.

import { get, post, api, listOf, ApiError } from '../api.js';
import {
  h, time, badge, table, pageHead, card, field, input, errorBox, alertBox, toast, busy, unavailable, duration, copyButton,
  formValues, clear,
} from '../ui.js';
import { walletState, pick } from '../domain.js';

const CHUNK = 1000; // results per issuance request (one Merkle batch each)

export default async function render(main, ctx) {
  main.append(pageHead('Wallet & issuance', 'The issuing keys come from an HD wallet sealed under the issuing password. Nothing is issued while it is locked.'));
  const statusArea = h('div', { id: 'wallet-status' });
  const workArea = h('div', { id: 'wallet-work' });
  main.append(statusArea, workArea);
  let timer = null;
  const stopTimer = () => { if (timer) clearInterval(timer); timer = null; };

  async function refresh() {
    stopTimer();
    let w;
    try {
      w = await get('/api/v1/wallet');
    } catch (e) {
      statusArea.replaceChildren(e instanceof ApiError && e.notAvailable ? unavailable('The wallet') : errorBox(e));
      clear(workArea);
      return;
    }
    const st = walletState(w);
    const left = h('span', { class: 'clock', id: 'wallet-countdown' });
    const deadline = Date.now() + (Number(w.seconds_left) || 0) * 1000;
    const tick = () => {
      const s = Math.max(0, (deadline - Date.now()) / 1000);
      left.textContent = duration(s);
      if (s <= 0 && st === 'unlocked') { stopTimer(); refresh(); }
    };
    const rows = [
      h('dt', null, 'State'), h('dd', { id: 'wallet-state' }, badge(st === 'uninitialized' ? 'not initialized' : st, st === 'unlocked' ? 'ok' : st === 'locked' ? 'warn' : 'neutral')),
    ];
    if (st === 'unlocked') {
      tick();
      timer = setInterval(tick, 1000);
      rows.push(h('dt', null, 'Locks in'), h('dd', null, left, ' (', time(w.unlocked_until), ')'),
        h('dt', null, 'Unlocked by'), h('dd', null, w.unlocked_by || ''));
    }
    if (w.master_fingerprint) rows.push(h('dt', null, 'Master fingerprint'), h('dd', { class: 'mono' }, w.master_fingerprint));
    if (w.created_at) rows.push(h('dt', null, 'Created'), h('dd', null, time(w.created_at)));
    if (w.kdf) rows.push(h('dt', null, 'Sealing'), h('dd', { class: 'small' }, `${w.kdf.algorithm}, ${Math.round(w.kdf.memory_kib / 1024)} MiB, t=${w.kdf.iterations}, p=${w.kdf.parallelism}`));
    const buttons = [];
    if (st === 'unlocked') {
      const extend = h('button', { type: 'button', id: 'wallet-extend' }, 'Extend');
      extend.addEventListener('click', () => busy(extend, async () => { try { await post('/api/v1/wallet/extend', {}); toast('Issuance window extended.', 'ok'); await refresh(); } catch (e) { toast(e.detail || e.message, 'error'); } }));
      const lock = h('button', { type: 'button', class: 'danger', id: 'wallet-lock' }, 'Lock now');
      lock.addEventListener('click', () => busy(lock, async () => { try { await post('/api/v1/wallet/lock', {}); toast('Wallet locked.', 'ok'); await refresh(); } catch (e) { toast(e.detail || e.message, 'error'); } }));
      buttons.push(extend, lock);
    }
    statusArea.replaceChildren(card('Wallet', h('dl', { class: 'kv' }, rows), buttons.length ? h('div', { class: 'row' }, buttons) : null));

    clear(workArea);
    if (st === 'uninitialized') { initFlow(workArea, ctx, refresh); return; }
    if (st === 'locked') workArea.append(unlockCard(refresh, w));
    // The batches card is re-read after each issuance, not only on reload.
    const batchesSlot = h('div', { id: 'wallet-batches' }, await batchesCard());
    const reloadBatches = async () => batchesSlot.replaceChildren(await batchesCard());
    if (ctx.can('wallet.issue')) workArea.append(await issueCard(st, refresh, reloadBatches));
    workArea.append(deriveCard(), verifyCard(), batchesSlot);
  }

  await refresh();
  return stopTimer;
}

// ---- init --------------------------------------------------------------------------

function initFlow(area, ctx, refresh) {
  if (!ctx.can('wallet.manage')) {
    area.append(alertBox('info', 'The wallet has not been initialized yet. An administrator does this once.'));
    return;
  }
  const pw = input({ type: 'password', name: 'password', autocomplete: 'new-password' });
  const pw2 = input({ type: 'password', name: 'password2', autocomplete: 'new-password' });
  const pass = input({ type: 'password', name: 'passphrase', autocomplete: 'off' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'wallet-init' }, 'Create the wallet');
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'form', novalidate: true, id: 'wallet-init-form' },
    field('Issuing password', pw, { hint: 'Same rules as account passwords. It is never stored: without it (or the mnemonic) nothing can be issued.' }),
    field('Repeat the issuing password', pw2),
    field('BIP39 passphrase (optional)', pass, { hint: 'An extra word that changes every key. Leave empty unless your policy requires one.' }),
    submit);
  const box = card('Initialize the wallet',
    h('p', null, 'A new 24-word recovery mnemonic is generated on the appliance and shown once. Have paper ready: write it down and keep it offline.'),
    h('p', { class: 'small muted' }, 'To restore a wallet from words you already have, run ', h('code', null, 'sudo privstackctl wallet init --import'), ' on the appliance instead.'),
    msg, form);
  area.append(box);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.replaceChildren();
    if (!pw.value) { msg.append(alertBox('error', 'Choose an issuing password.')); pw.focus(); return; }
    if (pw.value !== pw2.value) { msg.append(alertBox('error', 'The two passwords differ.')); pw2.focus(); return; }
    busy(submit, async () => {
      const body = { password: pw.value };
      if (pass.value) body.passphrase = pass.value;
      try {
        const started = await post('/api/v1/wallet/init', body);
        pw.value = ''; pw2.value = ''; pass.value = '';
        showMnemonic(box, started, refresh);
      } catch (err) {
        msg.append(errorBox(err));
        pw.focus();
      }
    });
  });
}

// Step two: the words once, then three of them typed back. Nothing is
// stored until the server has checked them.
function showMnemonic(box, started, refresh) {
  const words = String(started.mnemonic || '').split(/\s+/).filter(Boolean);
  started.mnemonic = '';
  const positions = (started.confirm_positions || []).map(Number);
  const inputs = positions.map((p) => input({ name: `word-${p}`, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', dataset: { position: String(p) } }));
  const submit = h('button', { type: 'submit', class: 'primary', id: 'wallet-confirm' }, 'Confirm and seal');
  const back = h('button', { type: 'button', id: 'mnemonic-show-again' }, 'Show the words again');
  const msg = h('div', { 'aria-live': 'polite', id: 'wallet-confirm-result' });
  const list = h('ol', { class: 'mnemonic', id: 'mnemonic', 'aria-label': 'Recovery mnemonic' }, words.map((w) => h('li', null, w)));
  const next = h('button', { type: 'button', class: 'primary', id: 'mnemonic-written' }, 'I have written it down');
  const shown = h('div', null,
    alertBox('warn', h('strong', null, 'Shown only now.'), ' Anyone with these words can issue credentials in your name. Write them on paper; do not photograph them or store them on this computer.'),
    list, h('div', { class: 'row' }, next));
  const confirmForm = h('form', { class: 'form', id: 'wallet-confirm-form', novalidate: true },
    h('p', null, `To make sure you wrote them down, enter words ${positions.join(', ')} (the list is hidden now):`),
    inputs.map((el, i) => field(`Word #${positions[i]}`, el)), h('div', { class: 'row' }, submit, back));
  box.replaceChildren(h('h2', null, 'Your recovery mnemonic'),
    h('p', { class: 'small muted' }, 'The wallet is created when you confirm; this page forgets the words then. Unconfirmed, it expires after 10 minutes.'),
    shown, msg);
  next.addEventListener('click', () => {
    shown.replaceWith(confirmForm);
    msg.replaceChildren();
    inputs[0]?.focus();
  });
  back.addEventListener('click', () => {
    confirmForm.replaceWith(shown);
    next.focus();
  });
  confirmForm.addEventListener('submit', (e) => {
    e.preventDefault();
    msg.replaceChildren();
    busy(submit, async () => {
      const typed = {};
      inputs.forEach((el, i) => { typed[String(positions[i])] = el.value.trim().toLowerCase(); });
      try {
        await post('/api/v1/wallet/init/confirm', { id: started.id, words: typed });
        words.length = 0;
        list.replaceChildren();
        toast('The wallet is initialized and sealed.', 'ok');
        await refresh();
      } catch (err) {
        msg.replaceChildren(errorBox(err));
        if (err instanceof ApiError && err.status === 409) {
          // Expired or replaced: nothing was stored, start over.
          const again = h('button', { type: 'button', class: 'primary', id: 'wallet-init-again' }, 'Start again');
          again.addEventListener('click', () => busy(again, refresh));
          msg.append(again);
        } else inputs[0]?.focus();
      }
    });
  });
}

// ---- unlock -------------------------------------------------------------------------

function unlockCard(refresh, w) {
  const pw = input({ type: 'password', name: 'password', autocomplete: 'off', id: 'issuing-password' });
  const minutes = input({ type: 'number', name: 'minutes', min: '1', max: '480', value: String(Math.round((w.window_seconds || 900) / 60)) });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'wallet-unlock' }, 'Unlock');
  const msg = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'inline', novalidate: true }, field('Issuing password', pw), field('Window (minutes)', minutes), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        await post('/api/v1/wallet/unlock', { password: pw.value, window_seconds: Math.round(Number(minutes.value || 15) * 60) });
        pw.value = '';
        toast('Wallet unlocked.', 'ok');
        await refresh();
      } catch (err) { pw.value = ''; msg.replaceChildren(errorBox(err)); pw.focus(); }
    });
  });
  return card('Unlock for issuance', h('p', null, 'Opens an issuance window; the wallet locks itself when it ends, when you sign out, or on restart.'), msg, form);
}

// ---- issue ----------------------------------------------------------------------------

async function issueCard(st, refresh, onIssued) {
  const box = card('Issue credentials');
  if (st !== 'unlocked') {
    box.append(h('p', { class: 'muted' }, 'Unlock the wallet to issue credentials.'));
    return box;
  }
  // Passed results without a credential.
  let candidates = [];
  try {
    let cursor = '';
    do {
      const doc = await get('/api/v1/results', { status: 'passed', limit: 1000, cursor });
      candidates.push(...listOf(doc).filter((r) => !r.credential_id));
      cursor = doc.next_cursor || '';
    } while (cursor && candidates.length < 20000);
  } catch (e) {
    box.append(errorBox(e, { prefix: 'Results' }));
    return box;
  }
  const profile = input({ type: 'number', name: 'profile', min: '0', value: '0' });
  const issuer = input({ name: 'issuer_name', placeholder: 'e.g. Example Academy' });
  const ids = h('textarea', { name: 'result_ids', id: 'issue-ids', rows: '2' });
  ids.value = candidates.map((r) => r.id).join(', ');
  const progress = h('progress', { max: '100', value: '0', id: 'issue-progress', hidden: true, 'aria-label': 'Issuance progress' });
  const progressText = h('p', { class: 'small', 'aria-live': 'polite', id: 'issue-progress-text' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'issue-batch' }, 'Issue');
  const out = h('div', { id: 'issue-result' });
  const form = h('form', { class: 'form', novalidate: true },
    h('p', null, `${candidates.length} passed result${candidates.length === 1 ? '' : 's'} without a credential.`),
    field('Result ids', ids, { hint: 'Comma-separated; prefilled with every passed result that has no credential yet.' }),
    field('Issuer profile', profile), field('Issuer name', issuer), submit, progress, progressText);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    out.replaceChildren();
    const list = ids.value.split(/[\s,]+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
    if (!list.length) { out.append(alertBox('error', 'Give at least one result id.')); return; }
    busy(submit, async () => {
      progress.hidden = false;
      progress.max = list.length;
      progress.value = 0;
      const batches = [];
      try {
        for (let i = 0; i < list.length; i += CHUNK) {
          const v = formValues(form);
          const body = { result_ids: list.slice(i, i + CHUNK), profile: Number(v.profile || 0) };
          if (v.issuer_name) body.issuer_name = v.issuer_name;
          progressText.textContent = `Issuing ${Math.min(i + CHUNK, list.length)} of ${list.length}…`;
          const doc = await post('/api/v1/credentials/issue', body);
          batches.push(doc);
          progress.value = Math.min(i + CHUNK, list.length);
        }
        const count = batches.reduce((n, b) => n + (b.count || 0), 0);
        progressText.textContent = `Issued ${count} credential${count === 1 ? '' : 's'}.`;
        out.append(alertBox('ok', h('strong', null, `Issued ${count} credential${count === 1 ? '' : 's'} in ${batches.length} batch${batches.length === 1 ? '' : 'es'}.`),
          batches.map((b) => h('p', { class: 'small mono' }, `batch ${b.batch_id}: Merkle root ${b.merkle_root}`)),
          batches[0] && batches[0].credentials && batches[0].credentials[0]
            ? h('p', null, h('a', { href: `/api/v1/credentials/${encodeURIComponent(batches[0].credentials[0].id || pick(batches[0].credentials[0], 'credential.id') || '')}`, download: 'credential.json' }, 'Download the first credential'))
            : null));
        toast(`Issued ${count} credentials.`, 'ok');
        if (onIssued) await onIssued();
      } catch (err) {
        progressText.textContent = `Stopped after ${progress.value} of ${list.length}.`;
        out.append(errorBox(err));
      }
    });
  });
  box.append(form, out);
  return box;
}

// ---- derive, verify, batches -----------------------------------------------------------

function deriveCard() {
  const path = input({ name: 'path', value: "m/44'/0'/0'/0/0", spellcheck: 'false' });
  const submit = h('button', { type: 'submit', id: 'wallet-derive' }, 'Derive');
  const out = h('div', { 'aria-live': 'polite', id: 'derive-result' });
  const form = h('form', { class: 'inline', novalidate: true }, field('Derivation path', path), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        const d = await get('/api/v1/wallet/derive', { path: path.value.trim() });
        out.replaceChildren(h('dl', { class: 'kv' },
          h('dt', null, 'Path'), h('dd', { class: 'mono' }, d.path),
          h('dt', null, 'Public key'), h('dd', null, h('div', { class: 'copy-row' }, h('code', { class: 'secret' }, d.public_key), copyButton(d.public_key))),
          h('dt', null, 'xpub'), h('dd', null, h('div', { class: 'copy-row' }, h('code', { class: 'secret' }, d.xpub), copyButton(d.xpub)))));
      } catch (err) { out.replaceChildren(errorBox(err)); }
    });
  });
  return card('Derive a public key', h('p', { class: 'small muted' }, 'Shows public keys only; private keys never leave the appliance.'), form, out);
}

function verifyCard() {
  const text = h('textarea', { name: 'credential', rows: '5', spellcheck: 'false', id: 'verify-text' });
  const file = h('input', { type: 'file', accept: '.json,application/json' });
  file.addEventListener('change', async () => { if (file.files[0]) text.value = await file.files[0].text(); });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'verify-credential' }, 'Verify');
  const out = h('div', { 'aria-live': 'polite', id: 'verify-result' });
  const form = h('form', { class: 'form', novalidate: true }, field('Credential file', file), field('…or paste the credential JSON', text), submit);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, async () => {
      try {
        const r = await api('POST', '/api/v1/credentials/verify', { body: text.value, contentType: 'application/json' });
        const status = r.status || (r.valid ? 'valid' : 'invalid');
        out.replaceChildren(alertBox(status === 'valid' ? 'ok' : 'error',
          h('strong', null, status === 'valid' ? 'The credential is valid.' : status === 'revoked' ? 'The credential was revoked.' : 'The credential is NOT valid.'),
          r.error || r.reason ? h('p', null, r.error || r.reason) : null,
          r.revocation_reason ? h('p', null, `Revoked ${r.revoked_at || ''}: ${r.revocation_reason}`) : null,
          h('p', { class: 'small' }, `Issued here: ${r.known ? 'yes' : 'no'}; issuer key matches: ${r.issuer_key_matches === null || r.issuer_key_matches === undefined ? 'unknown' : r.issuer_key_matches ? 'yes' : 'no'}`)));
      } catch (err) { out.replaceChildren(errorBox(err)); }
    });
  });
  return card('Verify a credential', form, out);
}

async function batchesCard() {
  try {
    const batches = listOf(await get('/api/v1/credentials/batches'), 'batches');
    return card('Issued batches', table({
      columns: [
        { label: 'Issued', render: (b) => time(b.issued_at) },
        { label: 'By', key: 'issued_by' },
        { label: 'Count', class: 'num', render: (b) => String(b.count) },
        { label: 'Profile', class: 'num', render: (b) => String(b.profile) },
        { label: 'Merkle root', render: (b) => h('span', { class: 'mono small' }, `${String(b.merkle_root).slice(0, 16)}…`) },
      ],
      rows: batches.slice(0, 20),
      empty: 'Nothing issued yet.',
    }));
  } catch (e) {
    return card('Issued batches', e instanceof ApiError && e.notAvailable ? unavailable('Batches') : errorBox(e));
  }
}

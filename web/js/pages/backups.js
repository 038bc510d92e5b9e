// Backups: every archive with where it is stored (the local directory, and
// the bucket as last listed) and what the next prune does to it, a run
// with a live progress bar, the keyless verification of every stored copy,
// and the restore procedure. All from GET /api/v1/backups (docs/api.md):
// `running` is the run in progress, `last_run` the latest result.

import { get, post } from '../api.js';
import { h, time, badge, table, pageHead, card, errorBox, toast, busy, bytes, copyButton } from '../ui.js';
import { backupRunsChart } from '../history-charts.js';

const RESTORE = `# On a fresh machine with privstack installed and the daemon stopped:
sudo systemctl stop privstackd
sudo privstackctl backup restore \\
    --archive s3://BUCKET/PREFIX/ARCHIVE \\
    --recovery-key /media/usb/recovery-key.pem \\
    --state-directory /var/lib/privstack
sudo systemctl start privstackd
# (or --archive /path/to/ARCHIVE.psbak for a local copy)`;

const PHASES = {
  snapshot: 'Writing the encrypted snapshot',
  'test restore': 'Test-restoring the new archive',
  uploading: 'Uploading to S3',
  'pruning remote': 'Applying retention in the bucket',
  pruning: 'Applying retention locally',
};

// How to make the recovery key pair, shown while backup.recovery_public_key
// is not set (the same procedure as docs/operations.md, "Backups").
const RECOVERY_KEYGEN = `# On a trusted machine, not on this appliance:
openssl genpkey -algorithm X25519 -out recovery-key.pem
openssl pkey -in recovery-key.pem -pubout`;
const RECOVERY_YAML = `# /etc/privstack/privstack.yaml: the PUBLIC key only
backup:
  recovery_public_key: |
    -----BEGIN PUBLIC KEY-----
    (the line that openssl pkey -pubout printed)
    -----END PUBLIC KEY-----`;

function recoverySetup(rk) {
  return h('section', { class: 'card', id: 'recovery-setup' }, h('h2', null, 'Set up the recovery key'),
    h('p', null, 'Every backup is encrypted for an offline recovery key: this appliance holds only its public half, ' +
      'so neither a stolen appliance nor a stolen bucket reveals any data. Without it no backup can run.'),
    h('ol', null,
      h('li', null, 'Make the key pair on a trusted machine:',
        h('div', { class: 'copy-row' }, h('pre', null, RECOVERY_KEYGEN), copyButton(RECOVERY_KEYGEN))),
      h('li', null, 'Keep ', h('code', null, 'recovery-key.pem'), ' offline, in two places (a safe and a password manager, say). ' +
        'It is the only way to read the backups, and it never goes on this appliance.'),
      h('li', null, 'Put the public key into the configuration:',
        h('div', { class: 'copy-row' }, h('pre', null, RECOVERY_YAML), copyButton(RECOVERY_YAML))),
      h('li', null, 'Reload the daemon: ', h('code', null, 'sudo systemctl reload privstackd'), '. This page then enables "Back up now".')),
    h('p', { class: 'small muted' }, `Now: ${rk.problem || 'not configured'}.`));
}

// `retention` is what a prune of today's archives does; `after` what the
// next run's prune does, once that run's archive is the newest. An archive
// kept now can go then (backup.retention.keep_last moves on, or the day's
// newest changes), and the page says so before it happens.
function retentionBadge(retention, after = retention) {
  if (retention === 'keep' && after === 'keep') return badge('kept', 'ok');
  if (retention === 'keep') {
    const b = badge('deleted at the next run', 'warn');
    b.title = 'Kept as things stand; the next run\'s backup takes its place and the run deletes it.';
    return b;
  }
  if (retention === 'delete') return badge('deleted at the next run', 'warn');
  return badge('ignored (unreadable)', 'bad');
}

// "the 3 newest, 5 daily, 4 weekly, 6 monthly": the counts above 0.
function policyText(p) {
  const parts = [];
  if (p.keep_last) parts.push(`the ${p.keep_last} newest`);
  for (const k of ['daily', 'weekly', 'monthly']) if (p[k]) parts.push(`${p[k]} ${k}`);
  return parts.length ? parts.join(', ') : 'every archive (no retention counts)';
}

// A copy's latest check (the upload's own, or the stored-copy verification).
// How it was checked is in the tooltip.
function checkLine(v) {
  if (!v) return null;
  return h('div', { class: 'small muted', title: `Checked by ${v.by}` },
    v.ok ? 'verified intact ' : h('span', null, badge('damaged', 'bad'), ' ', v.error || '', ' '), time(v.at));
}

function localCell(c) {
  const l = c.local;
  if (!l.present) return badge('not stored here', 'neutral');
  return h('div', null,
    l.good === false ? badge('unreadable', 'bad') : badge('stored', 'ok'), ' ',
    retentionBadge(l.retention, l.retention_after_next_run ?? l.retention),
    l.test_restored ? h('div', { class: 'small muted' }, 'test-restored at creation') : null,
    checkLine(l.verified));
}

function offSiteCell(c, off) {
  const o = c.off_site;
  if (!o) return badge('not configured', 'neutral');
  if (o.present === null && off.listable === false) {
    return o.shipped ? h('div', null, badge('shipped, cannot be listed', 'info'), checkLine(o.verified))
      : badge('unknown (cannot list)', 'neutral');
  }
  if (o.present === null) return badge('not listed yet', 'neutral');
  if (!o.present) return badge('not in the bucket', 'warn');
  return h('div', null, badge('in the bucket', 'ok'), ' ', h('span', { class: 'small' }, bytes(o.size)),
    checkLine(o.verified));
}

// What the off-site column rests on: when the bucket was listed, or why it
// cannot be.
function offSiteNote(off) {
  if (!off || !off.configured) return h('p', { class: 'small muted', id: 'off-site-state' }, 'Off-site copies: not configured (backup.s3).');
  if (off.listable === false) return h('p', { class: 'small', id: 'off-site-state' }, badge('bucket not listable', 'warn'), ' ', off.reason);
  return h('p', { class: 'small muted', id: 'off-site-state' },
    `Off-site: s3://${off.bucket}/${off.prefix || ''}, `,
    off.listed_at ? h('span', null, `${off.archives} archive${off.archives === 1 ? '' : 's'} as listed `, time(off.listed_at, { relative: true }),
      off.listed_by === 'backup run' ? ' by the last backup run.' : '.') : 'not listed yet.',
    off.error ? h('span', null, ' ', badge('listing failed', 'bad'), ' ', off.error) : null);
}

function lastRunLine(doc) {
  const r = doc.last_run;
  if (!r) return h('p', { class: 'muted' }, 'No backup has run since the daemon started.');
  if (r.state === 'failed') return h('p', null, badge('failed', 'bad'), ' ', r.error || '');
  const up = r.upload || {};
  const where = up.state === 'uploaded' ? ` and shipped to s3://${up.bucket}/${up.key}`
    : up.state === 'failed' ? '' : up.state === 'not configured' ? ' (no off-site copy configured)' : '';
  return h('p', null, badge(r.state === 'ok' ? 'ok' : r.state, r.state === 'ok' ? 'ok' : 'warn'), ' ',
    `${r.id}: ${bytes(r.archive_bytes)}, test-restored${where}.`,
    up.state === 'failed' ? h('span', null, ' ', badge('upload failed', 'bad'), ' ', up.error || '') : null);
}

export default async function render(main, ctx) {
  const manage = ctx.can('backup.manage');
  const runButton = manage ? h('button', { type: 'button', class: 'primary', id: 'run-backup' }, 'Back up now') : null;
  const verifyButton = manage ? h('button', { type: 'button', id: 'verify-backups' }, 'Verify stored copies') : null;
  main.append(pageHead('Backups', 'Encrypted snapshots kept locally and off-site, pruned by one retention plan (the newest few, daily, weekly, monthly).',
    ...[verifyButton, runButton].filter(Boolean)));
  const recoveryArea = h('div', { id: 'backup-recovery-key' });
  const progressArea = h('div', { id: 'backup-progress', 'aria-live': 'polite' });
  const summaryArea = h('div', { id: 'backup-summary' });
  const listArea = h('div', { id: 'backup-list' });
  const verifyArea = h('div', { id: 'backup-verify', 'aria-live': 'polite' });
  let poll = null;
  const stopPoll = () => { if (poll) clearTimeout(poll); poll = null; };

  const runsChart = backupRunsChart();
  main.append(recoveryArea, progressArea, card('Latest run', summaryArea), runsChart.el, card('Archives: local and off-site, with the retention preview', listArea), verifyArea,
    card('Restore', h('p', null, 'Restore runs offline, from the archive and the recovery key that you keep away from this appliance (it is not stored here).'),
      h('div', { class: 'copy-row' }, h('pre', { id: 'restore-instructions' }, RESTORE), copyButton(RESTORE)),
      h('p', { class: 'small muted' }, 'See the operations guide, "Restoring from a backup", for the full procedure and the checks that follow it.')));

  function showProgress(r) {
    if (!r) { progressArea.replaceChildren(); return; }
    // The size of the result is unknown until the end: the bar is indeterminate
    // and the bytes written so far are shown with the phase.
    const bar = h('progress', { id: 'backup-progress-bar', 'aria-label': 'Backup progress' });
    progressArea.replaceChildren(card('Backup running',
      h('p', null, badge(PHASES[r.phase] || r.phase || 'starting', 'info'), ' ', r.bytes ? `${bytes(r.bytes)} so far` : ''),
      bar));
  }

  // Without a usable recovery key a run can only fail: "Back up now" is
  // off, with the reason beside it and the setup steps below.
  let keyMissing = false;
  function showRecoveryKey(rk) {
    keyMissing = rk?.configured === false;
    if (runButton) {
      runButton.disabled = keyMissing;
      if (keyMissing) runButton.setAttribute('aria-describedby', 'run-backup-reason');
      else runButton.removeAttribute('aria-describedby');
    }
    if (!keyMissing) { recoveryArea.replaceChildren(); return; }
    recoveryArea.replaceChildren(
      h('div', { class: 'alert warn', id: 'run-backup-reason' },
        h('strong', null, 'Backups cannot run: '), 'no recovery key is configured (',
        h('code', null, 'backup.recovery_public_key'), '). Set it up as shown below.'),
      recoverySetup(rk));
  }

  function showList(doc) {
    const policy = doc.retention || {};
    summaryArea.replaceChildren(lastRunLine(doc),
      h('p', { class: 'small muted' }, `Schedule: ${doc.schedule}. Kept: ${policyText(policy)} ` +
        `(the newest archive of each day, week and month), locally in ${doc.directory}` +
        (doc.s3 ? ` and in s3://${doc.s3.bucket}/${doc.s3.prefix || ''}.` : '; no off-site copy configured.')));
    // One row per archive, wherever it is stored; rows counts come from the
    // local archive's header (an off-site-only copy cannot be read here).
    const local = new Map((doc.backups || []).map((b) => [b.id, b]));
    const rows = doc.copies || (doc.backups || []).map((b) => ({ id: b.id, created_at: b.created_at,
      local: { present: true, size: b.size, good: b.good, retention: b.retention,
        retention_after_next_run: b.retention_after_next_run }, off_site: null }));
    const off = doc.off_site || { configured: false };
    const relist = off.configured && off.listable
      ? h('button', { type: 'button', class: 'small', id: 'relist-bucket' }, 'List the bucket again') : null;
    relist?.addEventListener('click', () => busy(relist, () => refresh({ relist: true })));
    listArea.replaceChildren(
      h('div', { class: 'row' }, offSiteNote(off), relist),
      table({
        caption: 'Every archive with where it is stored: the local directory and the off-site bucket',
        columns: [
          { label: 'Created', render: (c) => time(c.created_at, { relative: true }) },
          { label: 'Archive', render: (c) => h('span', { class: 'mono small' }, c.id) },
          { label: 'Size', class: 'num', render: (c) => bytes(c.local.present ? c.local.size : c.off_site?.size) },
          { label: 'Rows', class: 'num', render: (c) => { const b = local.get(c.id); return b?.row_counts ? String(Object.values(b.row_counts).reduce((x, y) => x + y, 0)) : ''; } },
          { label: 'Local (next prune)', render: localCell },
          { label: 'Off-site', render: (c) => offSiteCell(c, off) },
        ],
        rows,
        rowAttrs: (c) => ({ 'data-archive': c.id }),
        empty: 'No backup yet.',
      }));
  }

  async function refresh({ relist = false } = {}) {
    let doc;
    try {
      doc = await get('/api/v1/backups', relist ? { refresh: 'true' } : undefined);
    } catch (e) {
      listArea.replaceChildren(errorBox(e));
      return null;
    }
    if (!ctx.isCurrent()) return null;
    showList(doc);
    showRecoveryKey(doc.recovery_key);
    showProgress(doc.running);
    if (!doc.running) await runsChart.update();  // a run in progress is charted when it ends
    return doc;
  }

  // While a run is in progress (started here, by the schedule or by
  // privstackctl), poll once a second.
  async function watch() {
    stopPoll();
    const doc = await refresh();
    if (doc?.running && ctx.isCurrent()) poll = setTimeout(watch, 1000);
  }

  runButton?.addEventListener('click', () => busy(runButton, async () => {
    if (keyMissing) return;
    // POST answers when the run ends (minutes for a large store); poll
    // alongside it for the progress bar.
    const done = post('/api/v1/backups', {});
    showProgress({ phase: 'snapshot' });
    setTimeout(watch, 300);
    try {
      const r = await done;
      toast(`Backup ${r.id} written${r.upload?.state === 'uploaded' ? ' and shipped' : ''}.`, 'ok');
    } catch (e) {
      toast(`${e.title}: ${e.detail || ''}`, 'error');
    }
    await watch();
  }));

  verifyButton?.addEventListener('click', () => busy(verifyButton, async () => {
    try {
      const r = await post('/api/v1/backups/verify', {});
      verifyArea.replaceChildren(card('Verification of the stored copies',
        h('p', null, r.damaged ? badge(`${r.damaged} damaged`, 'bad') : badge('all intact', 'ok'),
          ` ${r.checked} cop${r.checked === 1 ? 'y' : 'ies'} checked against the SHA-256 recorded at each test restore.`,
          r.s3 ? h('span', { class: 'muted' }, ` Bucket: ${r.s3}`) : null),
        table({
          columns: [
            { label: 'Archive', render: (a) => h('span', { class: 'mono small' }, a.id) },
            { label: 'Where', render: (a) => badge(a.place, 'info') },
            { label: 'Result', render: (a) => (a.ok ? badge('intact', 'ok') : h('span', null, badge('damaged', 'bad'), ' ', a.error || '')) },
          ],
          rows: r.archives || [],
          empty: 'No stored copy yet.',
        })));
      toast(r.damaged ? `${r.damaged} damaged cop${r.damaged === 1 ? 'y' : 'ies'}: an incident is open.` : 'Every stored copy is intact.',
        r.damaged ? 'error' : 'ok');
      await refresh();  // each copy's row shows its new check
    } catch (e) {
      verifyArea.replaceChildren(errorBox(e));
    }
  }));

  await watch();
  return stopPoll;
}

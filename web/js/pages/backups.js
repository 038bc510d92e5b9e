// Backups: the local archives with what the next prune does to each, a run
// with a live progress bar, the keyless verification of every stored copy,
// and the restore procedure. All from GET /api/v1/backups (docs/api.md):
// `running` is the run in progress, `last_run` the latest result.

import { get, post } from '../api.js';
import { h, time, badge, table, pageHead, card, errorBox, toast, busy, bytes, copyButton } from '../ui.js';

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

function retentionBadge(b) {
  if (b.retention === 'keep') return badge('kept', 'ok');
  if (b.retention === 'delete') return badge('deleted at the next run', 'warn');
  return badge('ignored (unreadable)', 'error');
}

function lastRunLine(doc) {
  const r = doc.last_run;
  if (!r) return h('p', { class: 'muted' }, 'No backup has run since the daemon started.');
  if (r.state === 'failed') return h('p', null, badge('failed', 'error'), ' ', r.error || '');
  const up = r.upload || {};
  const where = up.state === 'uploaded' ? ` and shipped to s3://${up.bucket}/${up.key}`
    : up.state === 'failed' ? '' : up.state === 'not configured' ? ' (no off-site copy configured)' : '';
  return h('p', null, badge(r.state === 'ok' ? 'ok' : r.state, r.state === 'ok' ? 'ok' : 'warn'), ' ',
    `${r.id}: ${bytes(r.archive_bytes)}, test-restored${where}.`,
    up.state === 'failed' ? h('span', null, ' ', badge('upload failed', 'error'), ' ', up.error || '') : null);
}

export default async function render(main, ctx) {
  const manage = ctx.can('backup.manage');
  const runButton = manage ? h('button', { type: 'button', class: 'primary', id: 'run-backup' }, 'Back up now') : null;
  const verifyButton = manage ? h('button', { type: 'button', id: 'verify-backups' }, 'Verify stored copies') : null;
  main.append(pageHead('Backups', 'Encrypted snapshots kept locally and off-site, pruned by one retention plan (daily, weekly, monthly).',
    ...[verifyButton, runButton].filter(Boolean)));
  const progressArea = h('div', { id: 'backup-progress', 'aria-live': 'polite' });
  const summaryArea = h('div', { id: 'backup-summary' });
  const listArea = h('div', { id: 'backup-list' });
  const verifyArea = h('div', { id: 'backup-verify', 'aria-live': 'polite' });
  let poll = null;
  const stopPoll = () => { if (poll) clearTimeout(poll); poll = null; };

  main.append(progressArea, card('Latest run', summaryArea), card('Archives and retention preview', listArea), verifyArea,
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

  function showList(doc) {
    const policy = doc.retention || {};
    summaryArea.replaceChildren(lastRunLine(doc),
      h('p', { class: 'small muted' }, `Schedule: ${doc.schedule}. Kept: the newest archive of each of the last ${policy.daily} days, ` +
        `${policy.weekly} weeks and ${policy.monthly} months, locally in ${doc.directory}` +
        (doc.s3 ? ` and in s3://${doc.s3.bucket}/${doc.s3.prefix || ''}.` : '; no off-site copy configured.')));
    listArea.replaceChildren(table({
      columns: [
        { label: 'Created', render: (b) => time(b.created_at, { relative: true }) },
        { label: 'Archive', render: (b) => h('span', { class: 'mono small' }, b.id) },
        { label: 'Size', class: 'num', render: (b) => bytes(b.size) },
        { label: 'Rows', class: 'num', render: (b) => (b.row_counts ? String(Object.values(b.row_counts).reduce((x, y) => x + y, 0)) : '') },
        { label: 'Next prune', render: retentionBadge },
      ],
      rows: doc.backups || [],
      empty: 'No backup yet.',
    }));
  }

  async function refresh() {
    let doc;
    try {
      doc = await get('/api/v1/backups');
    } catch (e) {
      listArea.replaceChildren(errorBox(e));
      return null;
    }
    if (!ctx.isCurrent()) return null;
    showList(doc);
    showProgress(doc.running);
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
        h('p', null, r.damaged ? badge(`${r.damaged} damaged`, 'error') : badge('all intact', 'ok'),
          ` ${r.checked} cop${r.checked === 1 ? 'y' : 'ies'} checked against the SHA-256 recorded at each test restore.`,
          r.s3 ? h('span', { class: 'muted' }, ` Bucket: ${r.s3}`) : null),
        table({
          columns: [
            { label: 'Archive', render: (a) => h('span', { class: 'mono small' }, a.id) },
            { label: 'Where', render: (a) => badge(a.place, 'info') },
            { label: 'Result', render: (a) => (a.ok ? badge('intact', 'ok') : h('span', null, badge('damaged', 'error'), ' ', a.error || '')) },
          ],
          rows: r.archives || [],
          empty: 'No stored copy yet.',
        })));
      toast(r.damaged ? `${r.damaged} damaged cop${r.damaged === 1 ? 'y' : 'ies'}: an incident is open.` : 'Every stored copy is intact.',
        r.damaged ? 'error' : 'ok');
    } catch (e) {
      verifyArea.replaceChildren(errorBox(e));
    }
  }));

  await watch();
  return stopPoll;
}

// Backups: local and remote copies, run now with live progress, verify,
// retention preview, restore instructions.

import { get, post, getFirst, listOf, ApiError } from '../api.js';
import { h, time, badge, table, pageHead, card, errorBox, alertBox, toast, busy, unavailable, bytes, copyButton } from '../ui.js';
import { backupTime, backupSize, backupId, backupPlaces, pick } from '../domain.js';

const PROGRESS_PATHS = ['/api/v1/backups/progress', '/api/v1/backups/status', '/api/v1/backups/current'];
const RETENTION_PATHS = ['/api/v1/backups/retention', '/api/v1/backups/retention/preview', '/api/v1/backups/prune-preview'];

const RESTORE = `# On a fresh machine with privstack installed and the daemon stopped:
sudo systemctl stop privstackd
sudo privstackctl backup restore \\
    --archive s3://BUCKET/PREFIX/ARCHIVE   # or --archive /path/to/archive
    --recovery-key /media/usb/recovery-key.pem \\
    --state-directory /var/lib/privstack
sudo systemctl start privstackd`;

function running(doc) {
  const r = pick(doc, 'running', 'progress', 'current', 'in_progress');
  if (r && typeof r === 'object') return r;
  if (doc && (doc.state === 'running' || doc.running === true || doc.phase)) return doc;
  return null;
}

export default async function render(main, ctx) {
  const manage = ctx.can('backup.manage');
  const runButton = manage ? h('button', { type: 'button', class: 'primary', id: 'run-backup' }, 'Back up now') : null;
  main.append(pageHead('Backups', 'Encrypted snapshots kept locally and off-site, pruned by one retention plan (daily, weekly, monthly).', ...(runButton ? [runButton] : [])));
  const progressArea = h('div', { id: 'backup-progress', 'aria-live': 'polite' });
  const listArea = h('div', { id: 'backup-list' });
  const retentionArea = h('div', { id: 'backup-retention' });
  let poll = null;
  const stopPoll = () => { if (poll) clearTimeout(poll); poll = null; };

  main.append(progressArea, card('Archives', listArea), card('Retention preview', retentionArea),
    card('Restore', h('p', null, 'Restore runs offline, from the archive and the recovery key that you keep away from this appliance (it is not stored here).'),
      h('div', { class: 'copy-row' }, h('pre', { id: 'restore-instructions' }, RESTORE), copyButton(RESTORE)),
      h('p', { class: 'small muted' }, 'See docs/operations.md, "Restore", for the full procedure and the checks that follow it.')));

  function showProgress(r) {
    if (!r) { progressArea.replaceChildren(); return; }
    const done = Number(pick(r, 'bytes', 'bytes_done', 'done_bytes', 'processed_bytes') || 0);
    const total = Number(pick(r, 'total_bytes', 'bytes_total', 'total', 'estimated_bytes') || 0);
    const pct = pick(r, 'percent', 'progress_percent');
    const bar = h('progress', { id: 'backup-progress-bar', 'aria-label': 'Backup progress', max: '100' });
    if (pct !== undefined) bar.value = Number(pct);
    else if (total > 0) bar.value = Math.min(100, (100 * done) / total);
    else bar.removeAttribute('value'); // indeterminate
    progressArea.replaceChildren(card('Backup running',
      h('p', null, 'Phase: ', badge(String(pick(r, 'phase', 'state', 'step') || 'running'), 'info'), ' ', `${bytes(done)}${total ? ` of ${bytes(total)}` : ''}`),
      bar));
  }

  async function watch() {
    stopPoll();
    let r = null;
    try {
      const doc = await getFirst(PROGRESS_PATHS);
      r = running(doc);
    } catch (e) {
      if (!(e instanceof ApiError && e.notAvailable)) { progressArea.replaceChildren(errorBox(e)); return; }
      try { r = running(await get('/api/v1/backups')); } catch { r = null; }
    }
    if (!ctx.isCurrent()) return;
    showProgress(r);
    if (r) poll = setTimeout(watch, 1000);
    else await load();
  }

  async function load() {
    let doc;
    try {
      doc = await get('/api/v1/backups');
    } catch (e) {
      listArea.replaceChildren(e instanceof ApiError && e.notAvailable ? unavailable('Backups') : errorBox(e));
      retentionArea.replaceChildren(e instanceof ApiError && e.notAvailable ? unavailable('Retention preview') : '');
      if (runButton && e instanceof ApiError && e.notAvailable) runButton.disabled = true;
      return false;
    }
    const list = listOf(doc, 'backups', 'archives').slice().sort((a, b) => String(backupTime(b)).localeCompare(String(backupTime(a))));
    listArea.replaceChildren(table({
      columns: [
        { label: 'Created', render: (b) => time(backupTime(b), { relative: true }) },
        { label: 'Archive', render: (b) => h('span', { class: 'mono small' }, String(backupId(b) ?? '')) },
        { label: 'Size', class: 'num', render: (b) => bytes(backupSize(b)) },
        { label: 'Where', render: (b) => h('span', null, backupPlaces(b).map((p) => [badge(p, 'info'), ' '])) },
        { label: 'Verified', render: (b) => { const v = pick(b, 'verified_at', 'last_verified_at'); const ok = pick(b, 'verified', 'verify_ok'); return v ? h('span', null, badge(ok === false ? 'failed' : 'ok'), ' ', time(v)) : h('span', { class: 'muted' }, 'not yet'); } },
        manage ? {
          label: 'Actions',
          render: (b) => {
            const v = h('button', { type: 'button', class: 'small', 'aria-label': `Verify ${backupId(b)}` }, 'Verify');
            v.addEventListener('click', () => busy(v, async () => {
              try {
                const r = await post(`/api/v1/backups/${encodeURIComponent(backupId(b))}/verify`, {});
                const ok = pick(r, 'ok', 'verified', 'valid');
                toast(ok === false ? `Verification FAILED: ${pick(r, 'problem', 'error', 'detail') || ''}` : 'Archive verified: every chunk authenticated, restore check passed.', ok === false ? 'error' : 'ok');
                await load();
              } catch (e) { toast(`${e.title}: ${e.detail}`, 'error'); }
            }));
            return v;
          },
        } : null,
      ].filter(Boolean),
      rows: list,
      empty: 'No backup yet.',
    }));
    try {
      const plan = await getFirst(RETENTION_PATHS);
      const places = Array.isArray(plan.locations) ? plan.locations : [{ location: plan.location || '', ...plan }];
      retentionArea.replaceChildren(...places.map((p) => {
        const keep = listOf(p.keep || p.kept || []);
        const prune = listOf(p.prune || p.delete || p.deleted || p.remove || []);
        const row = (x, what) => ({ x, what });
        return h('div', null,
          p.location ? h('h3', null, p.location) : null,
          h('p', null, badge(`${keep.length} kept`, 'ok'), ' ', badge(`${prune.length} pruned`, prune.length ? 'warn' : 'neutral'),
            plan.policy ? h('span', { class: 'small muted' }, ` policy: ${Object.entries(plan.policy).map(([k, v]) => `${v} ${k}`).join(', ')}`) : null),
          table({
            columns: [
              { label: 'Archive', render: (r) => h('span', { class: 'mono small' }, String(typeof r.x === 'object' ? backupId(r.x) : r.x)) },
              { label: 'Created', render: (r) => (typeof r.x === 'object' ? time(backupTime(r.x)) : '') },
              { label: 'Next prune', render: (r) => (r.what === 'keep' ? badge('kept', 'ok') : badge('deleted', 'warn')) },
              { label: 'Why', render: (r) => (typeof r.x === 'object' ? pick(r.x, 'reason', 'reasons', 'bucket') || '' : '') },
            ],
            rows: [...keep.map((x) => row(x, 'keep')), ...prune.map((x) => row(x, 'prune'))],
            empty: 'Nothing to plan yet.',
          }));
      }));
    } catch (e) {
      retentionArea.replaceChildren(e instanceof ApiError && e.notAvailable ? unavailable('Retention preview') : errorBox(e));
    }
    return running(doc);
  }

  runButton?.addEventListener('click', () => busy(runButton, async () => {
    try {
      await post('/api/v1/backups', {});
      toast('Backup started.', 'ok');
      showProgress({ phase: 'starting' });
      await watch();
    } catch (e) {
      progressArea.replaceChildren(e instanceof ApiError && e.notAvailable ? unavailable('Backups') : errorBox(e));
    }
  }));

  const active = await load();
  if (active) await watch();
  return stopPoll;
}

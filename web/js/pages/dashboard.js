// Dashboard: component health, last backup, open incidents with their
// 48-hour clocks, latest host-audit findings, wallet state, first-run hints.

import { get, listOf, ApiError } from '../api.js';
import { h, time, badge, pageHead, errorBox, unavailable, toDate, ago, bytes } from '../ui.js';
import {
  deadlineClock, startClocks, incidentState, incidentTitle, severityBadge, backupTime, backupSize, newestBackup,
  backupPlaces, walletState, walletUntil, pick,
} from '../domain.js';

const SEVERITY_ORDER = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

function section(title, id, link) {
  const body = h('div', { class: 'card-body' }, h('p', { class: 'muted small' }, 'Loading…'));
  const el = h('section', { class: 'card', id, 'aria-labelledby': `${id}-title` },
    h('div', { class: 'card-head' }, h('h2', { id: `${id}-title` }, title), link ? h('a', { href: link.href, class: 'small' }, link.label) : null),
    body);
  return { el, body };
}

function fill(target, ...nodes) { target.replaceChildren(...nodes.flat().filter(Boolean)); }

function failed(target, err, what) {
  if (err instanceof ApiError && err.notAvailable) fill(target, unavailable(what));
  else fill(target, errorBox(err));
}

export default async function render(main, ctx) {
  const role = ctx.role;
  main.append(pageHead('Dashboard', `Welcome, ${ctx.user}. This is the state of the appliance right now.`));
  const hints = h('div', { id: 'first-run' });
  const grid = h('div', { class: 'grid' });
  main.append(hints, grid);
  const jobs = [];
  const facts = {};

  // Health of each component with its reason (GET /api/v1/health: the
  // anonymous /healthz has the states only).
  const health = section('Health', 'card-health', { href: '#/settings', label: 'Settings' });
  grid.append(health.el);
  // A component that is not ok links to the page that fixes it, where the
  // role can open that page.
  const FIX = {
    backup: { href: '#/backups', label: 'Backups', perm: 'backup.read' },
    certificate: { href: '#/settings', label: 'Settings' },
    wallet: { href: '#/wallet', label: 'Wallet', perm: ['wallet.issue', 'wallet.manage'] },
  };
  const fixLink = (name, c) => {
    const fix = FIX[name];
    if (!fix || c.state === 'ok' || (fix.perm && !ctx.can(fix.perm))) return null;
    return h('a', { class: 'small health-fix', href: fix.href }, `Fix it: ${fix.label}`);
  };
  jobs.push(get('/api/v1/health').then((doc) => {
    fill(health.body,
      h('p', null, 'Overall: ', badge(doc.status || 'unknown')),
      h('ul', { class: 'health-list', id: 'health-components' }, Object.entries(doc.components || {}).map(([name, c]) =>
        h('li', { 'data-component': name }, h('strong', null, name), ' ', badge(c.state || 'unknown'),
          c.detail ? h('div', { class: 'small health-detail' }, c.detail) : null, fixLink(name, c)))));
  }).catch((e) => failed(health.body, e, 'Health')));

  // Open incidents with the notification clock.
  if (ctx.can('incidents.read')) {
    const s = section('Open incidents', 'card-incidents', { href: '#/incidents', label: 'All incidents' });
    grid.append(s.el);
    jobs.push(get('/api/v1/incidents', { state: 'open' }).then((doc) => {
      const open = listOf(doc, 'incidents').filter((i) => incidentState(i) !== 'resolved');
      facts.incidents = open.length;
      if (!open.length) { fill(s.body, h('p', null, badge('none open', 'ok'))); return; }
      fill(s.body,
        h('p', { class: 'big-number' }, String(open.length)),
        h('ul', { class: 'hint-list' }, open.slice(0, 5).map((i) => h('li', null,
          severityBadge(pick(i, 'severity')), ' ',
          h('a', { href: `#/incidents/${encodeURIComponent(pick(i, 'id'))}` }, incidentTitle(i)), ' ',
          deadlineClock(i, { compact: true })))));
    }).catch((e) => failed(s.body, e, 'Incidents')));
  }

  // Last backup and its age.
  if (ctx.can('backup.read')) {
    const s = section('Last backup', 'card-backup', { href: '#/backups', label: 'Backups' });
    grid.append(s.el);
    jobs.push(get('/api/v1/backups').then((doc) => {
      const list = listOf(doc, 'backups', 'archives');
      facts.backups = list.length;
      facts.recoveryKey = doc?.recovery_key?.configured !== false;
      const last = newestBackup(list) || (doc && doc.last_backup) || null;
      if (!facts.recoveryKey) {
        fill(s.body, h('p', null, badge(last ? 'backups stopped' : 'not set up', 'bad')),
          h('p', { class: 'small', id: 'backup-not-configured' }, 'No recovery key is configured, so no backup can run. ',
            h('a', { href: '#/backups' }, 'Set up the recovery key'), '.'));
        return;
      }
      if (!last) { fill(s.body, h('p', null, badge('no backup yet', 'warn')), h('p', { class: 'small muted' }, 'Run the first backup from the Backups page.')); return; }
      const t = toDate(backupTime(last));
      const old = t && Date.now() - t.getTime() > 36 * 3600 * 1000;
      fill(s.body,
        h('p', { class: 'big-number' }, t ? ago(t) : '—'),
        h('p', null, time(backupTime(last)), ' ', badge(old ? 'older than 36 h' : 'recent', old ? 'warn' : 'ok')),
        h('p', { class: 'small muted' }, `${bytes(backupSize(last))}; ${backupPlaces(last).join(' + ') || 'local'}`));
    }).catch((e) => failed(s.body, e, 'Backups')));
  }

  // Latest host-audit findings.
  if (ctx.can('hostaudit.read')) {
    const s = section('Host audit', 'card-hostaudit', { href: '#/hostaudit', label: 'Host audit' });
    grid.append(s.el);
    jobs.push(get('/api/v1/host-audit/findings').then((doc) => {
      facts.scanned = doc.scan_id !== null && doc.scan_id !== undefined;
      const findings = listOf(doc, 'findings').slice().sort((a, b) =>
        (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9));
      if (!facts.scanned) { fill(s.body, h('p', null, badge('never scanned', 'warn')), h('p', { class: 'small muted' }, 'Run a host audit to check listening ports and hardening.')); return; }
      fill(s.body,
        h('p', null, `Scan #${doc.scan_id}, `, time(doc.finished_us, { relative: true })),
        findings.length ? h('ul', { class: 'hint-list' }, findings.slice(0, 5).map((f) => h('li', null, severityBadge(f.severity), ' ', f.title)))
          : h('p', null, badge('no findings', 'ok')),
        findings.length > 5 ? h('p', { class: 'small muted' }, `and ${findings.length - 5} more`) : null);
    }).catch((e) => failed(s.body, e, 'Host audit')));
  }

  // Wallet locked/unlocked.
  if (ctx.can(['wallet.issue', 'wallet.manage'])) {
    const s = section('Issuing wallet', 'card-wallet', { href: '#/wallet', label: 'Wallet' });
    grid.append(s.el);
    jobs.push(get('/api/v1/wallet').then((doc) => {
      const st = walletState(doc);
      const until = walletUntil(doc);
      fill(s.body,
        h('p', null, badge(st, st === 'unlocked' ? 'ok' : st === 'locked' ? 'warn' : 'neutral')),
        st === 'unlocked' && until ? h('p', { class: 'small' }, 'Issuance window closes ', time(until)) : null,
        st === 'uninitialized' ? h('p', { class: 'small muted' }, 'The wallet has not been created yet.') : null);
    }).catch((e) => failed(s.body, e, 'Wallet')));
  }

  // Customer data at a glance.
  if (ctx.can('records.read') && role !== 'support') {
    const s = section('Customer data', 'card-records', { href: '#/records', label: 'Recipients & results' });
    grid.append(s.el);
    jobs.push(get('/api/v1/recipients', { limit: 1 }).then((doc) => {
      const any = listOf(doc).length > 0;
      fill(s.body, h('p', null, any ? 'Recipients are on file.' : 'No recipients yet. Import a CSV to get started.'));
    }).catch((e) => failed(s.body, e, 'Records')));
  }

  // Users (for the first-run hints).
  if (ctx.can('users.read')) {
    jobs.push(get('/api/v1/users').then((doc) => { facts.users = listOf(doc, 'users').length; }).catch(() => {}));
  }

  await Promise.all(jobs);

  // First-run hints for administrators.
  if (role === 'admin') {
    const todo = [];
    if (!ctx.session.user.totp_enabled) todo.push(h('li', null, h('a', { href: '#/account' }, 'Turn on two-factor authentication'), ' for your account.'));
    if (facts.users !== undefined && facts.users < 2) todo.push(h('li', null, h('a', { href: '#/users' }, 'Create accounts'), ' for your team, each with the least role it needs.'));
    if (facts.scanned === false) todo.push(h('li', null, h('a', { href: '#/hostaudit' }, 'Run the first host audit'), ' to check which ports this server exposes.'));
    if (facts.recoveryKey === false) {
      todo.push(h('li', { id: 'todo-recovery-key' }, h('a', { href: '#/backups' }, 'Create the backup recovery key'),
        ': backups cannot run until its public half is in backup.recovery_public_key.'));
    } else if (facts.backups === 0) todo.push(h('li', null, h('a', { href: '#/backups' }, 'Run a backup'), ' and keep the recovery key offline.'));
    if (todo.length) {
      hints.append(h('section', { class: 'alert info', 'aria-labelledby': 'first-run-title' },
        h('strong', { id: 'first-run-title' }, 'Getting started'), h('ul', null, todo)));
    }
  }
  return startClocks(main);
}

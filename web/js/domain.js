// Shared readers for backups, incidents and the wallet, used by the dashboard
// and by their own pages. They accept the field names of docs/openapi.yaml
// and tolerate alternatives, so a small API change degrades to a blank cell
// rather than a broken page.

import { h, toDate, duration, badge } from './ui.js';

export function pick(obj, ...keys) {
  if (!obj) return undefined;
  for (const k of keys) {
    const v = k.split('.').reduce((o, part) => (o == null ? undefined : o[part]), obj);
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}

// ---- incidents -----------------------------------------------------------------

export const incidentState = (i) => String(pick(i, 'state', 'status') || 'open').toLowerCase();
export const incidentTitle = (i) => pick(i, 'title', 'summary', 'rule', 'kind') || `Incident ${pick(i, 'id')}`;
export const incidentDetected = (i) => pick(i, 'detected_at', 'opened_at', 'created_at', 'first_seen_at', 'detected_us', 'created_us');
export function incidentDeadline(i) {
  const explicit = pick(i, 'notification_deadline', 'notify_by', 'deadline', 'notification_deadline_at', 'deadline_at',
    'notification.deadline', 'notification_deadline_us');
  if (explicit) return toDate(explicit);
  const breach = pick(i, 'personal_data_breach', 'possible_breach', 'breach');
  const detected = toDate(incidentDetected(i));
  return breach && detected ? new Date(detected.getTime() + 48 * 3600 * 1000) : null;
}

// A live "time left to notify" clock; update() is called every second.
export function deadlineClock(i, { compact = false } = {}) {
  const deadline = incidentDeadline(i);
  if (!deadline) return null;
  const state = incidentState(i);
  const el = h('span', { class: 'clock', title: `Notification deadline ${deadline.toISOString()}` });
  el.dataset.deadline = deadline.toISOString();
  const update = () => {
    const left = (deadline.getTime() - Date.now()) / 1000;
    if (state === 'resolved' || pick(i, 'notified_at')) {
      el.textContent = compact ? 'notified/closed' : 'closed';
      el.classList.remove('overdue');
      return;
    }
    el.textContent = left >= 0 ? `${duration(left)} left to notify` : `notification overdue by ${duration(-left)}`;
    el.classList.toggle('overdue', left < 0 || left < 6 * 3600);
  };
  update();
  el.update = update;
  return el;
}

export function startClocks(container) {
  const t = setInterval(() => {
    for (const c of container.querySelectorAll('.clock[data-deadline]')) c.update?.();
  }, 1000);
  return () => clearInterval(t);
}

export function severityBadge(s) {
  return badge(s || 'unknown');
}

// ---- backups ---------------------------------------------------------------------

export const backupTime = (b) => pick(b, 'created_at', 'time', 'started_at', 'finished_at', 'created_us', 'timestamp');
export const backupSize = (b) => pick(b, 'size', 'bytes', 'size_bytes', 'archive_size');
export const backupId = (b) => pick(b, 'id', 'name', 'key', 'archive');
export function backupPlaces(b) {
  const where = pick(b, 'location', 'where', 'place');
  if (Array.isArray(pick(b, 'locations'))) return pick(b, 'locations');
  const out = [];
  if (where) out.push(String(where));
  if (pick(b, 'local', 'local_path', 'locations.local') && !out.includes('local')) out.push('local');
  if (pick(b, 'remote', 'remote_key', 's3_key', 'shipped', 'locations.remote') && !out.includes('remote')) out.push('remote');
  return out;
}
export function newestBackup(list) {
  let best = null;
  for (const b of list) {
    const t = toDate(backupTime(b));
    if (t && (!best || t > best.t)) best = { b, t };
  }
  return best ? best.b : null;
}

// ---- wallet ------------------------------------------------------------------------

export function walletState(w) {
  if (!w) return 'unknown';
  const init = pick(w, 'initialized', 'initialised', 'exists');
  if (init === false || pick(w, 'state') === 'uninitialized') return 'uninitialized';
  const unlocked = pick(w, 'unlocked');
  if (unlocked === true || pick(w, 'state') === 'unlocked' || pick(w, 'locked') === false) return 'unlocked';
  return 'locked';
}
export const walletUntil = (w) => toDate(pick(w, 'unlocked_until', 'expires_at', 'window_ends_at', 'lock_at', 'until'));

// The history charts of the Backups, Host audit and Incidents pages, each a
// self-contained card (chart.js draws them): the page appends the card and
// calls update() with the API's data.

import { get, listOf } from './api.js';
import { h, card, errorBox, bytes, toDate } from './ui.js';
import { chart, dayLabel, timeLabel } from './chart.js';

const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];
// Seconds with the precision that short runs need (0.12, 3.4, 75).
const seconds = (s) => (s < 1 ? s.toFixed(2) : s < 10 ? s.toFixed(1) : String(Math.round(s)));
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// The API's answer, or null after its error is shown where the chart goes.
async function fetched(area, request) {
  try {
    return await request;
  } catch (e) {
    area.replaceChildren(errorBox(e));
    return null;
  }
}

function section(title, id) {
  const area = h('div', { id: `${id}-area` });
  const el = card(title, area);
  el.classList.add('chart-card');
  return { el, area };
}

// Backups: archive size (bars) and duration (line) per run, oldest first;
// failed runs (no archive) marked "failed", upload failures "upload failed".
export function backupRunsChart() {
  const { el, area } = section('Runs', 'backup-runs-chart');
  async function update() {
    const doc = await fetched(area, get('/api/v1/backups/runs'));
    if (!doc) return;
    const runs = listOf(doc, 'runs').slice(0, 30).reverse();
    const failed = runs.filter((r) => r.outcome !== 'ok').length;
    area.replaceChildren(chart({
      id: 'backup-runs-chart',
      title: 'Backup runs: archive size and duration',
      labels: runs.map((r) => timeLabel(toDate(r.started_at))),
      bars: [{ name: 'Archive size', cls: 's-size', values: runs.map((r) => r.archive_bytes) }],
      line: { name: 'Duration (s)', cls: 's-duration', values: runs.map((r) => r.duration_ms / 1000) },
      marks: runs.map((r) => (r.outcome === 'failed' ? 'failed' : r.outcome === 'upload_failed' ? 'upload failed' : null)),
      yLabel: 'size', y2Label: 'seconds', labelHeader: 'Run started',
      fmt: bytes, fmt2: seconds, yAxis: { base: 1024 },
      summary: `${plural(runs.length, 'run')}, ${plural(failed, 'failure')}.`,
    }));
  }
  return { el, update };
}

// Host audit: findings by severity per scan (stacked), oldest first.
export function findingsChart() {
  const { el, area } = section('Findings per scan', 'findings-chart');
  function update(scans) {
    const list = scans.slice(0, 30).reverse();
    area.replaceChildren(chart({
      id: 'findings-chart',
      title: 'Host audit findings by severity per scan',
      labels: list.map((s) => `#${s.id}`),
      bars: SEVERITIES.map((k) => ({ name: k, cls: `s-${k}`, values: list.map((s) => (s.by_severity || {})[k] || 0) })),
      yLabel: 'findings', labelHeader: 'Scan', yAxis: { integer: true },
      summary: list.length ? `${plural(list.length, 'scan')}; the latest has ${plural(list[list.length - 1].findings, 'finding')}.` : '',
    }));
  }
  return { el, update };
}

// Incidents: incidents opened per day over the last 30 days, by severity.
export function incidentsChart() {
  const { el, area } = section('Incidents opened per day (last 30 days)', 'incidents-chart');
  async function update() {
    const doc = await fetched(area, get('/api/v1/incidents', { state: 'all' }));
    if (!doc) return;
    const items = listOf(doc, 'incidents');
    const today = new Date();
    today.setHours(0, 0, 0, 0);
    const days = Array.from({ length: 30 }, (_, i) => new Date(today.getTime() - (29 - i) * 86400000));
    const sevs = SEVERITIES.filter((k) => k !== 'info');
    const counts = Object.fromEntries(sevs.map((k) => [k, days.map(() => 0)]));
    let total = 0;
    for (const i of items) {
      const d = toDate(i.detected_at);
      if (!d) continue;
      const day = new Date(d); day.setHours(0, 0, 0, 0);
      const idx = Math.round((day - days[0]) / 86400000);
      if (idx < 0 || idx >= 30 || !counts[i.severity]) continue;
      counts[i.severity][idx] += 1;
      total += 1;
    }
    area.replaceChildren(chart({
      id: 'incidents-chart',
      title: 'Incidents opened per day by severity, last 30 days',
      labels: days.map(dayLabel),
      bars: sevs.map((k) => ({ name: k, cls: `s-${k}`, values: counts[k] })),
      yLabel: 'incidents', labelHeader: 'Day', yAxis: { integer: true },
      summary: `${plural(total, 'incident')} opened in the last 30 days.`,
    }));
  }
  return { el, update };
}

// Host audit: findings first (grouped by severity, filterable, each with its
// remediation and an "accept as a known risk"), then the listening ports
// with the not-exposed ones folded away, then the scan history.
// Auditors read; operators and admins (hostaudit.run) scan and accept.

import { get, post, del, listOf } from '../api.js';
import { h, time, badge, table, pageHead, card, errorBox, alertBox, busy, copyButton, toast, dialog, field, input, select, markFieldErrors } from '../ui.js';
import { findingsChart } from '../history-charts.js';

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
const SEVERITY_ORDER = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));
const DAY_MS = 86400000;

function portVerdict(s) {
  if (s.verdict === 'exposed' && !s.allowed) return badge('violation', 'bad');
  if (s.verdict === 'undetermined' && !s.allowed) return badge('check', 'warn');
  return badge(s.allowed ? 'allowed' : 'ok', 'ok');
}

// Not exposed and not in question: folded away under "N ports not exposed".
const quiet = (s) => s.verdict !== 'exposed' && s.verdict !== 'undetermined';

function processes(s) {
  const list = s.processes || [];
  if (!list.length) return h('span', { class: 'muted' }, 'unknown');
  return h('span', null, list.map((p, i) => [i ? ', ' : '', h('strong', null, p.name), ` (pid ${p.pid}${p.unit ? `, ${p.unit}` : ''})`]));
}

function findingFor(s, findings) {
  const subject = `${s.proto}/${s.port}`;
  const f = findings.find((x) => x.subject === subject || (x.subject || '').startsWith(`${subject}@`));
  return f ? h('span', null, badge(f.severity), ' ', f.title) : '';
}

const dateOnly = (d) => d.toISOString().slice(0, 10);

function acceptedLine(a) {
  return h('p', { class: 'accepted-note', dataset: { accepted: 'true' } },
    badge('accepted', 'neutral'), ' ',
    'accepted until ', time(a.expires_at), ` by ${(a.accepted_by || '').replace(/^user:/, '')}: `, h('q', null, a.reason));
}

// The accept dialog: a reason (required, 1000 characters) and an expiry
// (default 90 days, at most 365); the daemon checks both again.
function acceptDialog(f) {
  return dialog(`Accept as a known risk: ${f.title}`, ({ body, actions, close }) => {
    const today = new Date();
    const form = h('form', { id: 'accept-form', novalidate: true });
    const reason = h('textarea', { name: 'reason', required: true, maxlength: 1000, rows: 3 });
    const until = input({ type: 'date', name: 'expires_at', required: true,
      value: dateOnly(new Date(today.getTime() + 90 * DAY_MS)),
      min: dateOnly(today), max: dateOnly(new Date(today.getTime() + 364 * DAY_MS)) });
    const where = h('div', { 'aria-live': 'polite' });
    form.append(
      h('p', { class: 'small mono' }, f.id),
      field('Reason', reason, { hint: 'Why this risk is accepted (required, shown with the finding and kept in the audit log).' }),
      field('Accepted until', until, { hint: 'Through this day (UTC); at most one year. Afterwards it is an open finding again.' }),
      where);
    const submit = h('button', { type: 'submit', class: 'primary', form: 'accept-form' }, 'Accept risk');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(submit, async () => {
        try {
          close(await post('/api/v1/host-audit/acceptances', { finding_id: f.id, reason: reason.value, expires_at: until.value }));
        } catch (err) { markFieldErrors(form, err); where.replaceChildren(errorBox(err)); }
      });
    });
    body.append(form);
    actions.append(h('button', { type: 'button', onclick: () => close(null) }, 'Cancel'), submit);
  });
}

function findingArticle(f, ctx, refresh) {
  const fix = f.command || f.remediation || '';
  const actions = [];
  if (ctx.can('hostaudit.run')) {
    actions.push(f.accepted
      ? h('button', { type: 'button', class: 'small', 'aria-label': `Revoke acceptance of ${f.id}`, onclick: async (e) => {
        await busy(e.currentTarget, async () => {
          try { await del(`/api/v1/host-audit/acceptances?finding_id=${encodeURIComponent(f.id)}`); toast('Acceptance revoked.', 'ok'); await refresh(); } catch (err) { toast(err.detail || err.message, 'error'); }
        });
      } }, 'Revoke acceptance')
      : h('button', { type: 'button', class: 'small', 'aria-label': `Accept ${f.id} as a known risk`, dataset: { accept: f.id }, onclick: async () => {
        if (await acceptDialog(f)) { toast('Finding accepted as a known risk.', 'ok'); await refresh(); }
      } }, 'Accept risk…'));
  }
  return h('article', { class: `finding${f.accepted ? ' is-accepted' : ''}`, dataset: { finding: f.id, severity: f.severity } },
    h('div', { class: 'card-head' },
      h('h4', null, badge(f.severity), ' ', f.title),
      h('span', { class: 'row' }, h('span', { class: 'small muted mono' }, f.id), actions)),
    f.accepted ? acceptedLine(f.accepted) : null,
    f.detail ? h('p', null, f.detail) : null,
    h('div', { class: 'copy-row' },
      h('pre', { class: 'remediation' }, f.command ? `${f.remediation}\n\n${f.command}` : f.remediation),
      copyButton(fix, 'Copy')));
}

// Findings grouped by severity, with a severity and a text filter.
function findingsCard(findings, ctx, refresh) {
  if (!findings.length) return card('Findings', h('p', { id: 'findings' }, badge('no findings', 'ok'), ' Nothing to fix.'));
  const present = SEVERITIES.filter((s) => findings.some((f) => f.severity === s));
  const sev = select([['', 'All severities'], ...present.map((s) => [s, s])], { name: 'severity', 'aria-label': 'Severity' });
  const text = input({ type: 'search', name: 'q', placeholder: 'Filter findings', 'aria-label': 'Filter findings by text' });
  const list = h('div', { id: 'findings' });
  const draw = () => {
    const q = text.value.trim().toLowerCase();
    const shown = findings.filter((f) => (!sev.value || f.severity === sev.value) &&
      (!q || [f.id, f.title, f.detail, f.remediation].some((v) => (v || '').toLowerCase().includes(q))));
    list.replaceChildren(...present.map((s) => {
      const group = shown.filter((f) => f.severity === s);
      if (!group.length) return null;
      return h('section', { class: 'finding-group', dataset: { severity: s } },
        h('h3', null, `${s[0].toUpperCase()}${s.slice(1)} (${group.length})`), group.map((f) => findingArticle(f, ctx, refresh)));
    }).filter(Boolean));
    if (!shown.length) list.append(h('p', { class: 'muted' }, 'No finding matches the filter.'));
  };
  sev.addEventListener('change', draw);
  text.addEventListener('input', draw);
  draw();
  const accepted = findings.filter((f) => f.accepted).length;
  return h('section', { class: 'card' },
    h('div', { class: 'card-head' },
      h('h2', null, `Findings (${findings.length - accepted} open${accepted ? `, ${accepted} accepted` : ''})`),
      h('div', { class: 'row', id: 'finding-filters' }, sev, text)),
    list);
}

function portsTable(rows, findings, caption) {
  return table({
    caption,
    columns: [
      { label: 'Port', render: (s) => h('strong', { class: 'mono' }, `${s.port}/${s.proto}`) },
      { label: 'Address', render: (s) => h('span', { class: 'mono small' }, s.address || s.endpoint) },
      { label: 'Process', render: processes },
      { label: 'Exposure', render: (s) => h('span', null, badge(s.verdict), s.reason ? h('div', { class: 'small muted' }, s.reason) : null) },
      { label: 'Verdict', render: portVerdict },
      { label: 'Finding', render: (s) => findingFor(s, findings) },
    ],
    rows,
    empty: 'No exposed or undetermined sockets.',
  });
}

function renderReport(target, report, ctx, refresh) {
  const findings = (report.findings || []).slice().sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9));
  const sockets = (report.sockets || []).slice().sort((a, b) => a.port - b.port || String(a.proto).localeCompare(b.proto));
  const sum = report.summary || {};
  const fw = report.firewall || {};
  const folded = sockets.filter(quiet);
  const visible = sockets.filter((s) => !quiet(s));
  target.replaceChildren(
    h('p', { class: 'scan-summary' },
      h('strong', null, `Scan #${report.id ?? ''}`), ', ', time(report.finished_us, { relative: true }), ` (${report.trigger || ''}) · `,
      fw.read ? badge(`nftables, ${fw.rules ?? 0} rules`, 'ok') : badge(fw.nft_installed === false ? 'nft missing' : 'firewall not readable', 'bad'), ' ',
      badge(`${sum.sockets ?? sockets.length} sockets`, 'neutral'), ' ',
      badge(`${sum.exposed ?? 0} exposed`, (sum.exposed ?? 0) ? 'warn' : 'ok'), ' ',
      badge(`${sum.undetermined ?? 0} undetermined`, (sum.undetermined ?? 0) ? 'warn' : 'ok')),
    findingsCard(findings, ctx, refresh),
    h('section', { class: 'card', id: 'ports' }, h('h2', null, 'Listening ports'),
      portsTable(visible, findings, 'Sockets reachable from outside, or whose exposure could not be determined, against host_audit.allowed_ports.'),
      folded.length ? h('details', { id: 'ports-folded' },
        h('summary', null, `${folded.length} port${folded.length === 1 ? '' : 's'} not exposed`),
        portsTable(folded, findings)) : null));
}

export default async function render(main, ctx) {
  const runButton = ctx.can('hostaudit.run') ? h('button', { type: 'button', class: 'primary', id: 'run-scan' }, 'Run scan now') : null;
  main.append(pageHead('Host audit', 'Open ports, firewall and host hardening, checked against the policy.', ...(runButton ? [runButton] : [])));
  const status = h('div', { 'aria-live': 'polite', id: 'scan-status' });
  const reportArea = h('div', { id: 'scan-report' });
  const historyArea = h('div', { id: 'scan-history' });
  const chart = findingsChart();  // findings by severity per scan (history-charts.js)
  main.append(status, reportArea, chart.el, card('Scan history', historyArea));
  let shownId = null;

  async function loadHistory() {
    const scans = listOf(await get('/api/v1/host-audit/scans'), 'scans');
    chart.update(scans);
    historyArea.replaceChildren(table({
      columns: [
        { label: '#', class: 'num', render: (s) => String(s.id) },
        { label: 'Started', render: (s) => time(s.started_us) },
        { label: 'Trigger', key: 'trigger' },
        { label: 'By', render: (s) => h('span', { class: 'mono small' }, s.actor) },
        { label: 'Findings', class: 'num', render: (s) => String(s.findings) },
        { label: '', render: (s) => h('button', { type: 'button', class: 'small', 'aria-label': `Show scan ${s.id}`, onclick: () => show(s.id) }, 'Show') },
      ],
      rows: scans.slice(0, 10),
      empty: 'No scan yet.',
    }));
    return scans;
  }

  // A stored report with today's acceptances (they live apart from the
  // scans, keyed by the finding's id, and are judged against the clock now).
  async function withAcceptances(report) {
    const current = listOf(await get('/api/v1/host-audit/findings'), 'findings');
    const byId = new Map(current.filter((f) => f.accepted).map((f) => [f.id, f.accepted]));
    for (const f of report.findings || []) {
      if (byId.has(f.id)) f.accepted = byId.get(f.id); else delete f.accepted;
    }
    return report;
  }

  async function show(id) {
    shownId = id;
    try { renderReport(reportArea, await withAcceptances(await get(`/api/v1/host-audit/scans/${id}`)), ctx, () => show(id)); } catch (e) { reportArea.replaceChildren(errorBox(e)); }
  }

  runButton?.addEventListener('click', () => busy(runButton, async () => {
    status.replaceChildren(alertBox('info', 'Scanning listening sockets, the firewall and the host… this takes a few seconds.'));
    try {
      const report = await post('/api/v1/host-audit/scans', {});
      status.replaceChildren(alertBox('ok', `Scan #${report.id} finished: ${(report.findings || []).length} finding(s).`));
      shownId = report.id;
      renderReport(reportArea, report, ctx, () => show(report.id));
      await loadHistory();
      toast('Host audit finished.', 'ok');
    } catch (e) { status.replaceChildren(errorBox(e)); }
  }));

  try {
    const scans = await loadHistory();
    if (scans.length) await show(shownId ?? scans[0].id);
    else reportArea.replaceChildren(alertBox('info', 'No host audit has run yet.', runButton ? ' Run the first scan now.' : ''));
  } catch (e) { reportArea.replaceChildren(errorBox(e)); }
}

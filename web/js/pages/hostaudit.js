// Host audit: listening ports against the firewall and the allow-list,
// hardening checks, findings with remediation; run a scan now.

import { get, post, listOf } from '../api.js';
import { h, time, badge, kindOf, table, pageHead, card, errorBox, alertBox, busy, copyButton, toast } from '../ui.js';
import { findingsChart } from '../history-charts.js';

const SEVERITY_ORDER = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

function portVerdict(s) {
  if (s.verdict === 'exposed' && !s.allowed) return badge('violation', 'bad');
  if (s.verdict === 'undetermined' && !s.allowed) return badge('check', 'warn');
  return badge(s.allowed ? 'allowed' : 'ok', 'ok');
}

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

function renderReport(target, report) {
  const findings = (report.findings || []).slice().sort((a, b) => (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9));
  const sockets = (report.sockets || []).slice().sort((a, b) => a.port - b.port || String(a.proto).localeCompare(b.proto));
  const sum = report.summary || {};
  const fw = report.firewall || {};
  const bySev = sum.findings || {};
  target.replaceChildren(
    h('div', { class: 'grid' },
      h('section', { class: 'card' }, h('h2', null, `Scan #${report.id ?? ''}`),
        h('dl', { class: 'kv' },
          h('dt', null, 'Finished'), h('dd', null, time(report.finished_us, { relative: true })),
          h('dt', null, 'Trigger'), h('dd', null, report.trigger || ''),
          h('dt', null, 'Firewall'), h('dd', null, fw.read ? badge(`nftables, ${fw.rules ?? 0} rules`, 'ok') : badge(fw.nft_installed === false ? 'nft missing' : 'not readable', 'bad')))),
      h('section', { class: 'card' }, h('h2', null, 'Sockets'),
        h('p', { class: 'big-number' }, String(sum.sockets ?? sockets.length)),
        h('p', null, badge(`${sum.exposed ?? 0} exposed`, (sum.exposed ?? 0) ? 'warn' : 'ok'), ' ', badge(`${sum.undetermined ?? 0} undetermined`, (sum.undetermined ?? 0) ? 'warn' : 'ok'))),
      h('section', { class: 'card' }, h('h2', null, 'Findings'),
        h('p', { class: 'big-number' }, String(findings.length)),
        h('p', null, ['critical', 'high', 'medium', 'low', 'info'].filter((k) => bySev[k]).map((k) => [badge(`${bySev[k]} ${k}`, kindOf(k)), ' '])))),
    card('Listening ports', table({
      caption: 'Each listening socket, whether the firewall lets it be reached from outside, and whether host_audit.allowed_ports permits it.',
      columns: [
        { label: 'Port', render: (s) => h('strong', { class: 'mono' }, `${s.port}/${s.proto}`) },
        { label: 'Address', render: (s) => h('span', { class: 'mono small' }, s.address || s.endpoint) },
        { label: 'Process', render: processes },
        { label: 'Exposure', render: (s) => h('span', null, badge(s.verdict), s.reason ? h('div', { class: 'small muted' }, s.reason) : null) },
        { label: 'Verdict', render: portVerdict },
        { label: 'Finding', render: (s) => findingFor(s, findings) },
      ],
      rows: sockets,
      empty: 'No listening sockets.',
    })),
    card('Findings', findings.length ? h('div', { class: 'stack', id: 'findings' }, findings.map((f) => {
      const fix = f.command || f.remediation || '';
      return h('article', { class: 'card', dataset: { finding: f.id } },
        h('div', { class: 'card-head' }, h('h3', null, badge(f.severity), ' ', f.title), h('span', { class: 'small muted mono' }, f.check)),
        f.detail ? h('p', null, f.detail) : null,
        h('p', { class: 'label' }, 'Remediation'),
        h('div', { class: 'copy-row' },
          h('pre', { class: 'remediation' }, f.command ? `${f.remediation}\n\n${f.command}` : f.remediation),
          copyButton(fix, 'Copy')));
    })) : h('p', null, badge('no findings', 'ok'), ' Nothing to fix.')));
}

export default async function render(main, ctx) {
  const runButton = ctx.can('hostaudit.run') ? h('button', { type: 'button', class: 'primary', id: 'run-scan' }, 'Run scan now') : null;
  main.append(pageHead('Host audit', 'Open ports, firewall and host hardening, checked against the policy.', ...(runButton ? [runButton] : [])));
  const status = h('div', { 'aria-live': 'polite', id: 'scan-status' });
  const reportArea = h('div', { id: 'scan-report' });
  const historyArea = h('div', { id: 'scan-history' });
  const chart = findingsChart();  // findings by severity per scan (history-charts.js)
  main.append(status, chart.el, reportArea, card('Scan history', historyArea));

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
      rows: scans.slice(0, 20),
      empty: 'No scan yet.',
    }));
    return scans;
  }

  async function show(id) {
    try { renderReport(reportArea, await get(`/api/v1/host-audit/scans/${id}`)); } catch (e) { reportArea.replaceChildren(errorBox(e)); }
  }

  runButton?.addEventListener('click', () => busy(runButton, async () => {
    status.replaceChildren(alertBox('info', 'Scanning listening sockets, the firewall and the host… this takes a few seconds.'));
    try {
      const report = await post('/api/v1/host-audit/scans', {});
      status.replaceChildren(alertBox('ok', `Scan #${report.id} finished: ${(report.findings || []).length} finding(s).`));
      renderReport(reportArea, report);
      await loadHistory();
      toast('Host audit finished.', 'ok');
    } catch (e) { status.replaceChildren(errorBox(e)); }
  }));

  try {
    const scans = await loadHistory();
    if (scans.length) await show(scans[0].id);
    else reportArea.replaceChildren(alertBox('info', 'No host audit has run yet.', runButton ? ' Run the first scan now.' : ''));
  } catch (e) { reportArea.replaceChildren(errorBox(e)); }
}

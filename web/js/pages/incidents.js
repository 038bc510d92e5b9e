// Incidents: the register fed by security events; the 48-hour notification
// clock of possible personal-data breaches; acknowledge, resolve, assign,
// comment.

import { get, post, listOf, ApiError } from '../api.js';
import { h, time, badge, table, pageHead, card, field, input, select, errorBox, alertBox, toast, busy, unavailable } from '../ui.js';
import { deadlineClock, startClocks, incidentState, incidentTitle, incidentDetected, severityBadge, pick } from '../domain.js';
import { incidentsChart } from '../history-charts.js';

const FILTERS = [['unresolved', 'Open and acknowledged'], ['open', 'Open'], ['acknowledged', 'Acknowledged'], ['resolved', 'Resolved'], ['all', 'All']];

export default async function render(main, ctx) {
  const stop = startClocks(main);
  if (ctx.params[0]) await detail(main, ctx, ctx.params[0]);
  else await list(main, ctx);
  return stop;
}

async function list(main, ctx) {
  main.append(pageHead('Incidents', 'Security and operational incidents. Possible personal-data breaches must be notified within 48 hours of detection.'));
  const filter = select(FILTERS, { name: 'state', value: ctx.query.state || 'unresolved' });
  filter.addEventListener('change', () => ctx.navigate('incidents', { state: filter.value }));
  const listArea = h('div', { id: 'incidents-list' });
  main.append(card(null, h('div', { class: 'inline' }, field('Show', filter)), listArea));
  const chart = incidentsChart();
  main.append(chart.el);
  await chart.update();
  try {
    const items = listOf(await get('/api/v1/incidents', { state: filter.value }), 'incidents');
    listArea.replaceChildren(table({
      columns: [
        { label: '#', class: 'num', render: (i) => String(i.id) },
        { label: 'Severity', render: (i) => severityBadge(i.severity) },
        { label: 'Incident', render: (i) => h('a', { href: `#/incidents/${encodeURIComponent(i.id)}` }, incidentTitle(i)) },
        { label: 'State', render: (i) => badge(incidentState(i)) },
        { label: 'Owner', render: (i) => i.owner || '' },
        { label: 'Detected', render: (i) => time(incidentDetected(i), { relative: true }) },
        { label: 'Notification', render: (i) => deadlineClock(i) || h('span', { class: 'muted small' }, 'not a breach') },
      ],
      rows: items,
      empty: 'No incidents.',
    }));
  } catch (e) {
    listArea.replaceChildren(e instanceof ApiError && e.notAvailable ? unavailable('Incidents') : errorBox(e));
  }
}

async function detail(main, ctx, id) {
  let inc;
  try {
    inc = await get(`/api/v1/incidents/${encodeURIComponent(id)}`);
  } catch (e) {
    main.append(pageHead('Incident'), e instanceof ApiError && e.notAvailable ? unavailable('Incidents') : errorBox(e));
    return;
  }
  const manage = ctx.can('incidents.manage');
  const state = incidentState(inc);
  const msg = h('div', { 'aria-live': 'polite', id: 'incident-message' });
  const act = (action, body, label) => async (e) => busy(e.currentTarget, async () => {
    try {
      await post(`/api/v1/incidents/${encodeURIComponent(id)}/${action}`, body ? body() : {});
      toast(label, 'ok');
      // The menu's count of unresolved incidents follows (app.js).
      window.dispatchEvent(new Event('privstack:incidents-changed'));
      main.replaceChildren();
      await detail(main, ctx, id);
    } catch (err) { msg.replaceChildren(errorBox(err)); }
  });
  const actions = [];
  if (manage && state === 'open') actions.push(h('button', { type: 'button', class: 'primary', id: 'incident-ack', onclick: act('acknowledge', null, 'Incident acknowledged.') }, 'Acknowledge'));
  if (manage && state !== 'resolved') actions.push(h('button', { type: 'button', class: state === 'open' ? '' : 'primary', id: 'incident-resolve', onclick: act('resolve', () => ({ comment: note.value.trim() || undefined }), 'Incident resolved.') }, 'Resolve'));
  const note = h('textarea', { name: 'comment', maxlength: '4000' });

  main.append(
    h('p', null, h('a', { href: '#/incidents' }, '← All incidents')),
    pageHead(`#${inc.id} ${incidentTitle(inc)}`, null, ...actions),
    msg);
  const clock = deadlineClock(inc);
  main.append(h('div', { class: 'grid' },
    card('Summary', h('dl', { class: 'kv' },
      h('dt', null, 'State'), h('dd', { id: 'incident-state' }, badge(state)),
      h('dt', null, 'Severity'), h('dd', null, severityBadge(inc.severity)),
      h('dt', null, 'Rule'), h('dd', { class: 'mono small' }, inc.rule || ''),
      h('dt', null, 'Owner'), h('dd', null, inc.owner || h('span', { class: 'muted' }, 'nobody yet')),
      h('dt', null, 'Detected'), h('dd', null, time(incidentDetected(inc), { relative: true })),
      h('dt', null, 'Updated'), h('dd', null, time(inc.updated_at)),
      h('dt', null, 'Resolved'), h('dd', null, time(inc.resolved_at)),
      h('dt', null, 'Events'), h('dd', null, String(inc.event_count ?? '')))),
    card('Breach notification',
      pick(inc, 'personal_data_breach')
        ? h('div', null, h('p', null, badge('possible personal-data breach', 'bad')),
          h('p', null, 'Notify the supervisory authority and the affected customers by ', time(inc.notification_deadline), '.'),
          clock ? h('p', { class: 'big-number' }, clock) : null)
        : h('p', null, 'Not marked as a possible personal-data breach.'),
      manage ? h('button', {
        type: 'button', class: 'small',
        onclick: act('breach', () => ({ personal_data_breach: !pick(inc, 'personal_data_breach') }), 'Breach flag changed.'),
      }, pick(inc, 'personal_data_breach') ? 'Not a breach' : 'Mark as possible breach') : null)));

  if (manage) {
    const owner = input({ name: 'owner', value: inc.owner || ctx.user });
    const assign = h('button', { type: 'button', onclick: act('assign', () => ({ owner: owner.value.trim() }), 'Owner set.') }, 'Assign');
    const comment = h('button', { type: 'button', onclick: act('comments', () => ({ text: note.value.trim() }), 'Comment added.') }, 'Add comment');
    main.append(card('Work on it',
      h('div', { class: 'inline' }, field('Owner', owner), assign),
      field('Comment', note, { hint: 'Added to the timeline; also sent with Resolve.' }),
      h('div', { class: 'row' }, comment)));
  }

  const timeline = listOf(inc, 'timeline');
  main.append(card('Timeline', timeline.length ? h('ol', { class: 'timeline', id: 'incident-timeline' }, timeline.map((t) => h('li', null,
    h('div', { class: 'small muted' }, time(t.at_us || t.at), ' · ', t.kind, t.actor ? ` · ${t.actor}` : ''),
    h('div', null, t.message || t.event || '')))) : h('p', { class: 'muted' }, 'No events.')));

  const deliveries = listOf(inc, 'deliveries');
  if (deliveries.length) {
    main.append(card('Notifications sent', table({
      columns: [
        { label: 'When', render: (d) => time(d.at) },
        { label: 'Kind', key: 'kind' },
        { label: 'Target', render: (d) => h('span', { class: 'mono small' }, d.target) },
        { label: 'Attempt', class: 'num', render: (d) => String(d.attempt) },
        { label: 'Status', render: (d) => (d.status >= 200 && d.status < 300 ? badge(String(d.status), 'ok') : badge(String(d.status || 'error'), 'bad')) },
        { label: 'Error', key: 'error' },
      ],
      rows: deliveries,
    })));
  }
}

// Settings: a read-only view of this appliance's state and of the session.
// Configuration itself lives in /etc/privstack/privstack.yaml (changed on
// the server and reloaded with SIGHUP), not in the browser.

import { get, api, ApiError } from '../api.js';
import { h, time, badge, pageHead, card, errorBox, table } from '../ui.js';
import { ROLE_DESCRIPTIONS } from '../perms.js';

function metricValue(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line || '';
}

export default async function render(main, ctx) {
  main.append(pageHead('Settings', 'What this appliance runs with. Configuration is changed on the server, not here.'));
  const s = ctx.session;
  main.append(h('div', { class: 'grid' },
    card('Your session', h('dl', { class: 'kv' },
      h('dt', null, 'User'), h('dd', null, s.user.name),
      h('dt', null, 'Role'), h('dd', null, badge(s.user.role, 'info'), h('div', { class: 'small muted' }, ROLE_DESCRIPTIONS[s.user.role] || '')),
      h('dt', null, 'Two-factor'), h('dd', null, s.user.totp_enabled ? badge('enabled', 'ok') : badge('off', 'neutral')),
      h('dt', null, 'Idle timeout'), h('dd', null, `${Math.round((s.idle_timeout_seconds || 0) / 60)} minutes`),
      h('dt', null, 'Session ends'), h('dd', null, time(s.expires_at)))),
    card('Configuration', h('p', null, 'Edit ', h('code', null, '/etc/privstack/privstack.yaml'), ', check it and reload:'),
      h('pre', null, 'sudo privstackd --config /etc/privstack/privstack.yaml --check-config\nsudo systemctl reload privstackd'),
      h('p', { class: 'small muted' }, 'Secrets (store key, S3 secret, webhook secret) are read from files or systemd credentials, never from the YAML.'))));

  const healthArea = h('div', { id: 'settings-health' });
  main.append(card('Components', healthArea));
  try {
    // The authenticated document: each component's reason (the certificate's
    // expiry, ...), which the anonymous /healthz leaves out.
    const doc = await get('/api/v1/health');
    healthArea.replaceChildren(table({
      columns: [
        { label: 'Component', render: ([name]) => h('strong', null, name) },
        { label: 'State', render: ([, c]) => badge(c.state || 'unknown') },
        { label: 'Reason', class: 'health-detail', render: ([, c]) => c.detail || '' },
      ],
      rows: Object.entries(doc.components || {}),
      rowAttrs: ([name]) => ({ 'data-component': name }),
    }));
  } catch (e) { healthArea.replaceChildren(errorBox(e)); }

  if (ctx.can('metrics.read')) {
    const area = h('div', { id: 'settings-build' });
    main.append(card('Build and monitoring', area));
    try {
      const res = await api('GET', '/metrics', { raw: true, headers: { Accept: 'text/plain' } });
      const text = await res.text();
      const build = metricValue(text, 'privstack_build_info');
      area.replaceChildren(
        build ? h('pre', null, build) : null,
        h('p', null, 'Prometheus metrics are served at ', h('a', { href: '/metrics' }, '/metrics'), ' (loopback, a session of a role with metrics access, or a bearer token).'));
    } catch (e) {
      area.replaceChildren(e instanceof ApiError && e.notAvailable ? h('p', { class: 'muted' }, 'Metrics are not available in this version.') : errorBox(e));
    }
  }
}

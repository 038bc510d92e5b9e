// The console's shell: session, role-aware navigation, hash routing, the idle
// timeout warning. Pages are ES modules loaded on first use.

import { api, ApiError, get, on, setCsrf } from './api.js';
import { can } from './perms.js';
import { h, svg, clear, dialog, duration, toast, errorBox } from './ui.js';

performance.mark('app-start');

const ICONS = {
  dashboard: 'M3 13h8V3H3zm0 8h8v-6H3zm10 0h8V11h-8zm0-18v6h8V3z',
  users: 'M16 11a4 4 0 1 0-4-4 4 4 0 0 0 4 4zm-8 0a3 3 0 1 0-3-3 3 3 0 0 0 3 3zm0 2c-2.7 0-8 1.3-8 4v3h7v-3c0-1 .4-2.1 1.6-3.1A12 12 0 0 0 8 13zm8 0c-2.7 0-8 1.3-8 4v3h16v-3c0-2.7-5.3-4-8-4z',
  account: 'M12 12a5 5 0 1 0-5-5 5 5 0 0 0 5 5zm0 2c-3.3 0-10 1.7-10 5v3h20v-3c0-3.3-6.7-5-10-5z',
  tokens: 'M7 14a2 2 0 1 1 2-2 2 2 0 0 1-2 2zm5.6-4A6 6 0 1 0 12.6 14H17v4h4v-4h2v-4z',
  records: 'M4 4h16v4H4zm0 6h16v4H4zm0 6h16v4H4z',
  audit: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zm-1 7V3.5L18.5 9zM8 13h8v2H8zm0 4h8v2H8z',
  hostaudit: 'M12 1 3 5v6c0 5.6 3.8 10.7 9 12 5.2-1.3 9-6.4 9-12V5zm-1 15-4-4 1.4-1.4L11 13.2l5.6-5.6L18 9z',
  backups: 'M19.4 10A7.5 7.5 0 0 0 5.3 8 6 6 0 0 0 6 20h13a5 5 0 0 0 .4-10zM14 13v4h-4v-4H7l5-5 5 5z',
  wallet: 'M21 7h-1V5a2 2 0 0 0-2-2H5a3 3 0 0 0-3 3v12a3 3 0 0 0 3 3h16a1 1 0 0 0 1-1V8a1 1 0 0 0-1-1zm-3 8a1.5 1.5 0 1 1 1.5-1.5A1.5 1.5 0 0 1 18 15zM5 7a1 1 0 0 1 0-2h13v2z',
  incidents: 'M1 21h22L12 2zm12-3h-2v-2h2zm0-4h-2v-4h2z',
  settings: 'M19.4 13a7.7 7.7 0 0 0 0-2l2.1-1.6-2-3.5-2.5 1a7.3 7.3 0 0 0-1.7-1L15 3h-4l-.4 2.9a7.3 7.3 0 0 0-1.7 1l-2.5-1-2 3.5L6.6 11a7.7 7.7 0 0 0 0 2l-2.1 1.6 2 3.5 2.5-1a7.3 7.3 0 0 0 1.7 1L11 21h4l.4-2.9a7.3 7.3 0 0 0 1.7-1l2.5 1 2-3.5zM13 15.5a3.5 3.5 0 1 1 3.5-3.5 3.5 3.5 0 0 1-3.5 3.5z',
};

// The pages, in navigation order. `perm`: any of these permissions shows it.
export const ROUTES = [
  { path: 'dashboard', title: 'Dashboard', section: 'Overview', load: () => import('./pages/dashboard.js') },
  { path: 'incidents', title: 'Incidents', perm: ['incidents.read'], load: () => import('./pages/incidents.js') },
  { path: 'records', title: 'Recipients & results', section: 'Data', perm: ['records.read'], load: () => import('./pages/records.js') },
  { path: 'wallet', title: 'Wallet & issuance', perm: ['wallet.issue', 'wallet.manage'], load: () => import('./pages/wallet.js') },
  { path: 'hostaudit', title: 'Host audit', section: 'Operations', perm: ['hostaudit.read'], load: () => import('./pages/hostaudit.js') },
  { path: 'backups', title: 'Backups', perm: ['backup.read'], load: () => import('./pages/backups.js') },
  { path: 'audit', title: 'Audit log', perm: ['audit.read'], load: () => import('./pages/audit.js') },
  { path: 'users', title: 'Users & roles', section: 'Access', perm: ['users.read'], load: () => import('./pages/users.js') },
  { path: 'tokens', title: 'API tokens', load: () => import('./pages/tokens.js') },
  { path: 'account', title: 'My account', load: () => import('./pages/account.js') },
  { path: 'settings', title: 'Settings', load: () => import('./pages/settings.js') },
];

const root = document.getElementById('app');
let session = null;            // GET /api/v1/session answer
let cleanup = null;            // the current page's teardown
let renderToken = 0;
let shell = null;
let routed = false;            // a page was shown before (focus management)

// ---- session ---------------------------------------------------------------

// A hint (not a secret: the session cookie is HttpOnly) that this browser
// signed in before, so a fresh visit goes straight to the sign-in form
// instead of asking the server first.
const HINT = 'privstack.signed-in';
const hint = {
  get: () => { try { return localStorage.getItem(HINT) === '1'; } catch { return true; } },
  set: (on) => { try { if (on) localStorage.setItem(HINT, '1'); else localStorage.removeItem(HINT); } catch { /* private mode */ } },
};

function adopt(doc) {
  hint.set(true);
  session = doc;
  setCsrf(doc.csrf_token);
  idle.start(Number(doc.idle_timeout_seconds) || 1800);
}

export function currentSession() { return session; }

async function loadSession() {
  try {
    adopt(await api('GET', '/api/v1/session', { quiet401: true }));
    return true;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) { hint.set(false); return false; }
    throw e;
  }
}

async function signOut(message, kind = 'info') {
  idle.stop();
  // The next user starts on the dashboard, not on this user's last page.
  history.replaceState(null, '', location.pathname);
  try { await api('DELETE', '/api/v1/session', { quiet401: true }); } catch { /* already gone */ }
  // The cookie is shared by every tab: they all lose the session now.
  sessionChannel?.postMessage({ type: 'signed-out', idle: kind === 'warn', message });
  endSession(message, kind);
}

// The tabs of this console share one session (one cookie): a sign-out in
// one ends it in all of them at once (not through the 401s of their next
// requests), and activity in one keeps the others from timing it out.
const sessionChannel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('privstack-session') : null;
let lastShared = 0;
sessionChannel?.addEventListener('message', (e) => {
  const m = e.data || {};
  if (m.type === 'activity' && session) idle.touch();
  if (m.type === 'signed-out' && session) {
    history.replaceState(null, '', location.pathname);
    if (m.idle) endSession(String(m.message), 'warn');
    else endSession('You were signed out in another tab or window.', 'info');
  }
});

function endSession(message, kind = 'info') {
  idle.stop();
  hint.set(false);
  session = null;
  setCsrf(null);
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  shell = null;
  routed = false;
  for (const d of document.querySelectorAll('dialog')) d.close();
  showSignIn(message, kind);
}

on('unauthorized', () => {
  if (session) endSession('Your session has ended. Sign in again to continue.', 'warn');
});

// ---- idle timeout ------------------------------------------------------------
// The server ends a session after idle_timeout_seconds without a request.
// The console warns shortly before, offers to stay signed in (one request
// resets the server's clock) and signs out when the time is up.

const idle = {
  seconds: 1800, deadline: 0, timer: null, warning: null,
  start(seconds) {
    this.seconds = seconds;
    this.touch();
    if (!this.timer) this.timer = setInterval(() => this.tick(), 1000);
  },
  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.warning) { this.warning.close(); this.warning = null; }
  },
  touch() { this.deadline = Date.now() + this.seconds * 1000; },
  warnWindow() { return Math.min(120, Math.max(10, Math.floor(this.seconds / 4))); },
  tick() {
    if (!session) return;
    const left = (this.deadline - Date.now()) / 1000;
    if (left <= 0) {
      signOut(`You were signed out after ${Math.round(this.seconds / 60)} minutes without activity.`, 'warn');
      return;
    }
    if (left <= this.warnWindow()) {
      if (!this.warning) this.warn();
      this.warning?.update(left);
    } else if (this.warning) {
      this.warning.close();
      this.warning = null;
    }
  },
  warn() {
    const state = {};
    this.warning = state;
    dialog('Are you still there?', ({ body, actions, close }) => {
      const clock = h('span', { class: 'clock', id: 'idle-countdown' }, '');
      body.append(h('p', { role: 'status' }, 'For your security you will be signed out in ', clock,
        ' because there was no activity.'));
      const stay = h('button', { type: 'button', class: 'primary', id: 'idle-stay' }, 'Stay signed in');
      actions.append(h('button', { type: 'button', onclick: () => close('out') }, 'Sign out now'), stay);
      stay.addEventListener('click', () => close('stay'));
      state.update = (left) => { clock.textContent = duration(left); };
      state.close = () => close(null);
      state.update((this.deadline - Date.now()) / 1000);
    }).then(async (choice) => {
      if (this.warning === state) this.warning = null;
      if (choice === 'stay') {
        try { await api('GET', '/api/v1/session'); toast('You are still signed in.', 'ok'); } catch { /* 401 handled */ }
      } else if (choice === 'out') {
        signOut('You signed out.');
      }
    });
  },
};
on('activity', () => {
  if (!session) return;
  idle.touch();
  const now = Date.now();
  if (now - lastShared > 5000) { lastShared = now; sessionChannel?.postMessage({ type: 'activity' }); }
});

// ---- sign-in -----------------------------------------------------------------

async function showSignIn(message, kind) {
  const token = ++renderToken;
  document.title = 'Sign in · privstack';
  const mod = await import('./pages/login.js');
  if (token !== renderToken) return;
  clear(root);
  root.removeAttribute('aria-busy');
  mod.default(root, {
    message, kind,
    onSignedIn: async (doc) => {
      adopt(doc);
      try { await loadSession(); } catch { /* keep the login answer */ }
      let target = location.hash;
      if (doc.totp_enrollment_required) target = '#/account';
      else if (!target || target === '#/' || target === '#') target = '#/dashboard';
      if (location.hash !== target) location.hash = target; // hashchange renders it
      else route();
    },
  });
}

// ---- shell -------------------------------------------------------------------

function allowed(r) {
  if (!session) return false;
  if (session.totp_enrollment_required) return r.path === 'account';
  return can(session.user.role, r.perm);
}

function icon(name) {
  return svg('svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' },
    svg('path', { d: ICONS[name] || ICONS.dashboard, fill: 'currentColor' }));
}

function buildShell() {
  clear(root);
  root.removeAttribute('aria-busy');
  const nav = h('nav', { class: 'sidebar', id: 'sidebar', 'aria-label': 'Main' });
  const list = h('ul');
  for (const r of ROUTES) {
    if (!allowed(r)) continue;
    if (r.section) list.append(h('li', { class: 'nav-section', 'aria-hidden': 'true' }, r.section));
    const count = r.path === 'incidents'
      ? h('span', { class: 'nav-count', id: 'open-incidents', hidden: true }) : null;
    list.append(h('li', null, h('a', { href: `#/${r.path}`, dataset: { route: r.path } }, icon(r.path), r.title, count)));
  }
  nav.append(list);
  const toggle = h('button', { type: 'button', class: 'menu-toggle small', 'aria-controls': 'sidebar', 'aria-expanded': 'false' }, 'Menu');
  toggle.addEventListener('click', () => {
    const open = nav.classList.toggle('open');
    toggle.setAttribute('aria-expanded', String(open));
  });
  nav.addEventListener('click', (e) => {
    if (e.target.closest('a')) { nav.classList.remove('open'); toggle.setAttribute('aria-expanded', 'false'); }
  });
  const main = h('main', { class: 'main', id: 'main', tabindex: '-1' });
  const skip = h('a', { class: 'skip-link', href: '#main' }, 'Skip to content');
  // Not tabbable; focused after each navigation so that screen readers name
  // the new page and the next Tab lands on the skip link (the first stop).
  const announcer = h('p', { class: 'visually-hidden', id: 'route-announcer', tabindex: '-1' });
  skip.addEventListener('click', (e) => { e.preventDefault(); main.focus(); });
  const user = session.user;
  const signOutButton = h('button', { type: 'button', class: 'small', id: 'sign-out' }, 'Sign out');
  signOutButton.addEventListener('click', () => signOut('You signed out.'));
  const top = h('header', { class: 'topbar' },
    toggle,
    h('a', { class: 'brand', href: '#/dashboard' }, h('img', { src: 'img/icon.svg', alt: '' }), 'privstack'),
    h('span', { class: 'spacer' }),
    h('span', { class: 'whoami', id: 'whoami', dataset: { role: user.role } },
      h('span', null, 'Signed in as ', h('strong', null, user.name)),
      h('span', { class: 'badge info plain role-label' }, user.role)),
    signOutButton);
  shell = { main, nav, announcer };
  root.append(announcer, skip, h('div', { class: 'shell' }, top, nav, main));
}

// The menu's count of unresolved incidents, refreshed on each navigation
// and when a page changes an incident (never on a timer: an idle console
// makes no requests, so the idle timeout means something).
let countToken = 0;
async function refreshIncidentCount() {
  const el = document.getElementById('open-incidents');
  if (!el || !session || !can(session.user.role, ['incidents.read'])) return;
  const token = ++countToken;
  try {
    // limit 0: the count only, no incident documents.
    const doc = await get('/api/v1/incidents', { state: 'unresolved', limit: 0 });
    if (token !== countToken) return;
    const n = doc.count ?? 0;
    el.textContent = String(n);
    el.hidden = n === 0;
    el.setAttribute('aria-label', `${n} unresolved`);
  } catch { /* the page itself shows API errors */ }
}
window.addEventListener('privstack:incidents-changed', () => { refreshIncidentCount(); });

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [pathPart, queryPart] = raw.split('?');
  const segments = pathPart.split('/').filter(Boolean).map(decodeURIComponent);
  return { segments, query: Object.fromEntries(new URLSearchParams(queryPart || '')) };
}

export function navigate(path, query) {
  const qs = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== '' && v != null)).toString() : '';
  location.hash = `#/${path}${qs ? `?${qs}` : ''}`;
}

async function route() {
  if (!session) return;
  if (!shell) buildShell();
  const { segments, query } = parseHash();
  let name = segments[0] || 'dashboard';
  if (session.totp_enrollment_required) name = 'account';
  const r = ROUTES.find((x) => x.path === name);
  for (const a of shell.nav.querySelectorAll('a')) {
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (cleanup) { try { cleanup(); } catch { /* ignore */ } cleanup = null; }
  refreshIncidentCount();
  const token = ++renderToken;
  const main = shell.main;
  clear(main);
  main.setAttribute('aria-busy', 'true');
  if (!r) {
    main.append(h('h1', { tabindex: '-1' }, 'Page not found'), h('p', null, 'There is no such page. ', h('a', { href: '#/dashboard' }, 'Go to the dashboard.')));
    main.removeAttribute('aria-busy');
    document.body.dataset.page = name;  // rendered (as "not found"): tests and scripts wait for this
    return;
  }
  document.title = `${r.title} · privstack`;
  if (!allowed(r)) {
    main.append(h('h1', { tabindex: '-1' }, r.title), h('div', { class: 'alert warn' },
      `Your role (${session.user.role}) cannot use this page.`));
    main.removeAttribute('aria-busy');
    document.body.dataset.page = name;  // rendered (as refused)
    return;
  }
  try {
    const mod = await r.load();
    if (token !== renderToken) return;
    const ctx = {
      session, role: session.user.role, user: session.user.name,
      can: (perm) => can(session.user.role, perm),
      params: segments.slice(1), query, navigate,
      isCurrent: () => token === renderToken && session !== null,
      refreshSession: loadSession,
      // After a change to the session itself (TOTP enrolled): new navigation.
      restart: async (path = 'dashboard') => {
        await loadSession();
        shell = null;
        if (location.hash !== `#/${path}`) location.hash = `#/${path}`;
        else route();
      },
    };
    const result = await mod.default(main, ctx);
    if (token !== renderToken) { if (typeof result === 'function') result(); return; }
    cleanup = typeof result === 'function' ? result : null;
  } catch (e) {
    if (token !== renderToken) return;
    if (e instanceof ApiError && e.status === 401) return;
    console.warn('page failed', e);
    main.append(errorBox(e, { prefix: 'This page could not be loaded' }));
  } finally {
    if (token === renderToken) {
      main.removeAttribute('aria-busy');
      // After navigating (not on the first load, where focus is already at
      // the top), move focus to the top of the page unless the page put it
      // in its content: the next Tab reaches the skip link first. A focused
      // heading inside main would send Tab past the skip link and the nav.
      if (routed && !main.contains(document.activeElement)) {
        shell.announcer.textContent = `${document.title}`;
        shell.announcer.focus({ preventScroll: true });
      }
      routed = true;
      document.body.dataset.page = name;
      performance.mark(`page-ready:${name}`);
    }
  }
}

window.addEventListener('hashchange', route);

// ---- boot ----------------------------------------------------------------------

(async () => {
  try {
    if (hint.get() && await loadSession()) {
      if (!location.hash) location.hash = session.totp_enrollment_required ? '#/account' : '#/dashboard';
      await route();
    } else {
      await showSignIn();
    }
  } catch (e) {
    clear(root);
    root.removeAttribute('aria-busy');
    root.append(h('div', { class: 'signin' }, h('div', { class: 'signin-card' }, errorBox(e, { prefix: 'The console could not start' }))));
  }
})();

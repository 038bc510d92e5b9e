// Helpers of the console's end-to-end tests: the real privstackd of the build
// under test (PRIVSTACK_BUILD_DIR) with a fresh state directory, privstackctl,
// oathtool, and Debian's Chromium driven by playwright-core.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, openSync, rmSync, existsSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const SOURCE_DIR = resolve(process.env.PRIVSTACK_SOURCE_DIR || join(here, '..', '..'));
export const BUILD_DIR = resolve(process.env.PRIVSTACK_BUILD_DIR || join(SOURCE_DIR, 'build', 'test'));
export const PRIVSTACKD = join(BUILD_DIR, 'daemon', 'privstackd');
export const PRIVSTACKCTL = join(BUILD_DIR, 'daemon', 'privstackctl');
export const CHROMIUM = process.env.PRIVSTACK_CHROMIUM || '/usr/bin/chromium';
export const OUT_DIR = resolve(process.env.PRIVSTACK_E2E_OUT || join(BUILD_DIR, 'e2e-screenshots'));

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// A request over TLS without verification (the daemon's self-signed
// certificate), outside the browser: no cookies, no session. `json` is sent
// as the body.
export function httpsRequest(port, method, path, json) {
  const body = json === undefined ? null : JSON.stringify(json);
  const headers = body === null ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
  return new Promise((res, rej) => {
    const req = https.request({ host: '127.0.0.1', port, path, method, headers, rejectUnauthorized: false, timeout: 15000 }, (r) => {
      let text = '';
      r.on('data', (c) => { text += c; });
      r.on('end', () => res({ status: r.statusCode, body: text }));
    });
    req.on('error', rej);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end(body === null ? undefined : body);
  });
}

export const httpsGet = (port, path) => httpsRequest(port, 'GET', path);

export class Daemon {
  constructor(name = 'main', extraConfig = '') {
    this.dir = mkdtempSync(join(tmpdir(), `privstack-e2e-${name}-`));
    this.state = join(this.dir, 'state');
    mkdirSync(this.state, { mode: 0o750 });
    this.socket = join(this.dir, 'control.sock');
    this.config = join(this.dir, 'privstack.yaml');
    this.logPath = join(this.dir, 'daemon.log');
    this.extraConfig = extraConfig;
    this.proc = null;
  }

  async start() {
    for (const f of [PRIVSTACKD, PRIVSTACKCTL]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: build the daemon first (PRIVSTACK_BUILD_DIR=${BUILD_DIR})`);
    }
    this.port = await freePort();
    // An offline recovery key pair, made the way docs/operations.md tells the
    // operator to (X25519 with openssl); the daemon gets the public half only.
    this.recoveryKey = join(this.dir, 'recovery.pem');
    this.recoveryPub = join(this.dir, 'recovery.pub');
    if (!existsSync(this.recoveryKey)) {
      execFileSync('openssl', ['genpkey', '-algorithm', 'X25519', '-out', this.recoveryKey], { stdio: 'pipe' });
      execFileSync('openssl', ['pkey', '-in', this.recoveryKey, '-pubout', '-out', this.recoveryPub], { stdio: 'pipe' });
    }
    const recoveryPub = readFileSync(this.recoveryPub, 'utf8').trim().split('\n').map((l) => `    ${l}`).join('\n');
    writeFileSync(this.config, `listen:
  address: 127.0.0.1
  port: ${this.port}
  requests_per_second: 0
control:
  socket: ${this.socket}
state_directory: ${this.state}
console:
  web_root: ${join(SOURCE_DIR, 'web')}
backup:
  schedule: "off"
  local_directory: ${join(this.state, 'backups')}
  recovery_public_key: |
${recoveryPub}
${this.extraConfig}`);
    const help = spawnSync(PRIVSTACKCTL, ['--help'], { encoding: 'utf8' }).stdout || '';
    if (help.includes('store init-key') && !existsSync(join(this.state, 'store.key'))) {
      execFileSync(PRIVSTACKCTL, ['store', 'init-key', '--config', this.config], { stdio: 'pipe' });
    }
    const log = openSync(this.logPath, 'a');
    this.proc = spawn(PRIVSTACKD, ['--config', this.config, '--log-target', 'stderr'], { stdio: ['ignore', log, log] });
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`privstackd exited (${this.proc.exitCode}); log:\n${this.log()}`);
      try {
        const r = await httpsGet(this.port, '/healthz');
        if (r.status === 200 || r.status === 503) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`privstackd did not answer /healthz; log:\n${this.log()}`);
      await sleep(150);
    }
    return this;
  }

  get url() { return `https://127.0.0.1:${this.port}`; }
  log() { try { return readFileSync(this.logPath, 'utf8'); } catch { return ''; } }

  ctl(args, input) {
    const r = spawnSync(PRIVSTACKCTL, ['--socket', this.socket, ...args], { input, encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`privstackctl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.proc ? this.proc.exitCode : null;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    const { code } = await this.exited;
    clearTimeout(t);
    return code;
  }

  cleanup() { rmSync(this.dir, { recursive: true, force: true }); }
}

// A TOTP code from oathtool (RFC 6238), for the 30 s step that contains
// now + offsetSeconds.
export function totp(secret, offsetSeconds = 0) {
  const when = new Date(Date.now() + offsetSeconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  return execFileSync('oathtool', ['--totp', '-b', '-N', when, secret], { encoding: 'utf8' }).trim();
}

// The next code that the server has not seen yet: the server accepts one
// step of skew and never the same step twice, so after using step s, wait
// until s is the current step and use s+1.
export async function freshTotp(secret, lastStep) {
  for (;;) {
    const step = Math.floor(Date.now() / 30000);
    const use = lastStep === undefined ? step : Math.max(step, lastStep + 1);
    // Not in the last 2 s of a step at the edge of the window.
    const safe = use < step + 1 || (Date.now() % 30000) < 28000;
    if (use <= step + 1 && safe) return { code: totp(secret, (use - step) * 30), step: use };
    await sleep(500);
  }
}

export async function launchBrowser(chromium) {
  const profile = mkdtempSync(join(tmpdir(), 'privstack-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 860 },
    acceptDownloads: true,
    locale: 'en-GB',
    timezoneId: 'Europe/Berlin',
  });
  context.profileDir = profile;
  return context;
}

export function ensureDir(p) { mkdirSync(p, { recursive: true }); chmodSync(p, 0o755); return p; }

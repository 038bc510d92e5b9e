// Copies the console's vendored npm dependencies into web/vendor/ (run by
// scripts/setup after `npm ci`; the copies are kept in the source tree so
// the console ships without npm). The e2e test checks they are identical
// to the locked packages.
//   node vendor-web.mjs          copy when different
//   node vendor-web.mjs --check  exit 1 when a copy differs
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const web = join(here, '..', '..', 'web', 'vendor');

// qrcode-generator (MIT, Kazuhiko Arase): the QR code of TOTP enrollment.
export const VENDORED = [
  { from: join(here, 'node_modules', 'qrcode-generator', 'dist', 'qrcode.mjs'), to: join(web, 'qrcode.mjs') },
];

const check = process.argv.includes('--check');
let differs = 0;
for (const { from, to } of VENDORED) {
  const src = readFileSync(from);
  const same = existsSync(to) && Buffer.compare(src, readFileSync(to)) === 0;
  if (same) continue;
  differs++;
  if (check) console.error(`${to} differs from ${from}: run node tests/e2e/vendor-web.mjs`);
  else { writeFileSync(to, src); console.error(`vendored ${to}`); }
}
process.exit(check && differs ? 1 : 0);

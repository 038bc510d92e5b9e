// jsonld.js's RDFC-1.0 canonical N-Quads of JSON-LD documents, with the
// daemon's bundled contexts (daemon/credentials/contexts/contexts.txt) served
// by a static document loader: any other URL is an error, nothing is fetched.
//   node canonize.mjs FILE...   prints a JSON object {FILE: canonical N-Quads}
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import jsonld from 'jsonld';

const here = path.dirname(fileURLToPath(import.meta.url));
const contextsDir = path.join(here, '..', '..', 'daemon', 'credentials', 'contexts');
const contexts = new Map();
for (const line of fs.readFileSync(path.join(contextsDir, 'contexts.txt'), 'utf8').split('\n')) {
  if (!line.trim() || line.startsWith('#')) continue;
  const [url, file] = line.trim().split(/\s+/);
  contexts.set(url, JSON.parse(fs.readFileSync(path.join(contextsDir, file), 'utf8')));
}

const documentLoader = async url => {
  if (!contexts.has(url)) throw new Error(`unknown context ${url}`);
  return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
};

const out = {};
for (const file of process.argv.slice(2)) {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  out[file] = await jsonld.canonize(doc, {
    algorithm: 'RDFC-1.0', format: 'application/n-quads', documentLoader, safe: false,
  });
}
process.stdout.write(JSON.stringify(out));

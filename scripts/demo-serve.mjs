// `npm run demo`: builds the demo (scripts/demo-build.mjs) and serves it on http://localhost:8080
// (PORT overrides; port 0 picks a free one; `npm run demo -- --teacher FILE` serves a family
// teacher for the family mode too). Also used by the browser test, which serves the
// repository too so that the cross-runtime check can import dist/ unchanged.
import { createServer } from 'node:http';
import { copyFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { buildDemo } from './demo-build.mjs';

/**
 * Cross-origin isolation: with these two headers the page and its workers get SharedArrayBuffer,
 * which the wasm backend's thread pool needs (without them it runs on one thread). Every
 * resource here is same-origin, so require-corp blocks nothing. A static host must send the
 * same headers (scripts/demo-build.mjs writes them as a _headers file; see demo/README.md).
 */
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.map': 'application/json', '.safetensors': 'application/octet-stream', '.wasm': 'application/wasm' };

/** Serve `root` (and `/repo/` as the repository itself when `repo` is given) on `port`. */
export function serve(root, port = 8080, repo = null) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const [base, rel] = repo && path.startsWith('/repo/') ? [repo, path.slice(6)] : [root, path === '/' ? 'index.html' : path.slice(1)];
    const file = normalize(join(base, rel));
    if (!file.startsWith(base)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store', ...ISOLATION_HEADERS }).end(body);
    } catch {
      res.writeHead(404, ISOLATION_HEADERS).end('not found');
    }
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // --teacher FILE: a torchvision-family checkpoint served beside the demo as
  // family-teacher.safetensors, for the family mode's ?teacher= (scripts/demo-family-teacher.sh
  // makes one). The page can also take one picked or dropped by the user.
  const at = process.argv.indexOf('--teacher');
  const teacher = at > 0 ? process.argv[at + 1] : undefined;
  if (at > 0 && !teacher) throw new Error('demo-serve: --teacher needs a file');
  const root = await buildDemo();
  if (teacher) copyFileSync(teacher, join(root, 'family-teacher.safetensors'));
  const server = await serve(root, Number(process.env.PORT ?? 8080));
  const url = `http://localhost:${server.address().port}/`;
  console.log(`kdet demo: ${url}  (Ctrl-C stops)`);
  if (teacher) console.log(`family mode with ${teacher}: ${url}?mode=family&teacher=family-teacher.safetensors`);
}

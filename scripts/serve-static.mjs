// `npm run example:browser`: serves the repository's folder as static files on
// http://127.0.0.1:8080 (PORT overrides; 0 picks a free one), so that examples/browser/ reaches
// ../../dist/ and ../../models/ as they are. A folder's URL serves its index.html; `/` redirects
// to the page named on the command line. Same headers as the demo's server (scripts/demo-serve.mjs).
//   node scripts/serve-static.mjs [start page, default examples/browser/]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Cross-origin isolation, as scripts/demo-serve.mjs sends it (SharedArrayBuffer for wasm threads in workers). */
const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
  '.map': 'application/json', '.md': 'text/plain; charset=utf-8', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml', '.wasm': 'application/wasm', '.safetensors': 'application/octet-stream',
};

/** Serves `root` on `port` (127.0.0.1); `/` redirects to `start`. Resolves to the listening server. */
export function serveStatic(root, port = 8080, start = '/examples/browser/') {
  const base = resolve(root);
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (path === '/') return void res.writeHead(302, { location: start }).end();
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) return void res.writeHead(403, ISOLATION_HEADERS).end('forbidden');
    try {
      if ((await stat(file)).isDirectory()) {
        if (!path.endsWith('/')) return void res.writeHead(301, { location: `${path}/` }).end();
        file = join(file, 'index.html');
      }
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream', 'cache-control': 'no-store', ...ISOLATION_HEADERS }).end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain', ...ISOLATION_HEADERS }).end('not found');
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const start = `/${(process.argv[2] ?? 'examples/browser/').replace(/^\/+/, '')}`;
  const root = resolve(fileURLToPath(import.meta.url), '..', '..');
  try {
    const server = await serveStatic(root, Number(process.env.PORT ?? 8080), start);
    console.log(`kdet: serving ${root} at http://127.0.0.1:${server.address().port}${start}  (Ctrl-C stops)`);
  } catch (e) {
    console.error(`kdet: cannot serve on port ${process.env.PORT ?? 8080}: ${e.message} (set PORT=… to use another)`);
    process.exit(1);
  }
}

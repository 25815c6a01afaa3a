#!/usr/bin/env node
// The web app's server: plain Node, no dependencies. Binds 127.0.0.1 only.
//
//   node web/server.mjs [--port N] [--default-model DIR] [--models-dir [NAME=]DIR]... [--verbose]
//
// Serves:
//   /                 the app (files of web/, except the engine's C sources and this file)
//   /models/default/  the built-in model: a diffusers folder (assets/shapes-sd15/ when
//                     present, or --default-model DIR / $WSD_DEFAULT_MODEL)
//   /models/NAME/     extra model folders for tests (--models-dir, NAME defaults to the
//                     folder's name), e.g. --models-dir /work/shared/reference/tiny-sd15
// Every response carries COOP/COEP (cross-origin isolation: SharedArrayBuffer,
// wasm threads) and a Content-Security-Policy without 'unsafe-eval' (wasm is
// allowed by 'wasm-unsafe-eval'). Only GET and HEAD; single byte ranges are
// supported (206) so the worker can read model files piecewise.
// --port 0 picks a free port; the URL is printed either way.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');

export const MIME = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json; charset=utf-8', '.wasm': 'application/wasm',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.md': 'text/plain; charset=utf-8',
  '.wgsl': 'text/plain; charset=utf-8', '.webmanifest': 'application/manifest+json',
  '.safetensors': 'application/octet-stream',
};

export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  // models may be loaded from a URL the person types (https), or from this server
  "connect-src 'self' https: blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

// Parts of web/ that are not the app.
const APP_DENY = [/^engine(\/|$)/, /^server\.mjs$/, /(^|\/)\./];

// Maps a URL path to a file inside `root`, or null when it would leave it.
export function safeJoin(root, rel) {
  if (rel.includes('\0')) return null;
  const full = path.resolve(root, '.' + path.posix.normalize('/' + rel));
  if (full !== root && !full.startsWith(root + path.sep)) return null;
  return full;
}

export function createServer({ webRoot = HERE, defaultModel = null, modelsDirs = {}, verbose = false } = {}) {
  const mounts = []; // [urlPrefix, dir (real path), denyList]
  const realDir = (d) => { try { return fs.realpathSync(path.resolve(d)); } catch { return path.resolve(d); } };
  for (const [name, dir] of Object.entries(modelsDirs)) mounts.push([`/models/${name}/`, realDir(dir), [/(^|\/)\./]]);
  if (defaultModel) mounts.push(['/models/default/', realDir(defaultModel), [/(^|\/)\./]]);
  mounts.push(['/', realDir(webRoot), APP_DENY]);

  return http.createServer((req, res) => {
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      if (verbose) console.log(`${status} ${req.method} ${req.url}`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n', { Allow: 'GET, HEAD' });
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname);
    } catch {
      return send(400, 'bad request\n');
    }
    if (pathname.includes('\0') || pathname.includes('\\')) return send(400, 'bad request\n');
    const mount = mounts.find(([prefix]) => pathname.startsWith(prefix) || pathname + '/' === prefix);
    if (!mount) return send(404, 'not found\n');
    const [prefix, dir, deny] = mount;
    let rel = pathname.slice(prefix.length);
    if (rel === '' && prefix === '/') rel = 'index.html';
    const normRel = path.posix.normalize('/' + rel).slice(1);
    if (normRel.startsWith('..') || deny.some((re) => re.test(normRel))) return send(404, 'not found\n');
    const file = safeJoin(dir, normRel);
    if (!file) return send(404, 'not found\n');
    fs.realpath(file, (err, real) => {
      // symlinks must not lead out of the mount either, nor into a denied part of it
      if (err || (real !== dir && !real.startsWith(dir + path.sep))) {
        return send(404, 'not found\n');
      }
      const realRel = path.relative(dir, real).split(path.sep).join('/');
      if (deny.some((re) => re.test(realRel))) return send(404, 'not found\n');
      fs.stat(real, (err2, st) => {
        if (err2) return send(404, 'not found\n');
        if (!st.isFile()) return send(404, 'not found\n'); // no directory listings
        const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
        const headers = {
          ...SECURITY_HEADERS,
          'Content-Type': MIME[path.extname(real).toLowerCase()] || 'application/octet-stream',
          'Cache-Control': 'no-cache',
          'Accept-Ranges': 'bytes',
          ETag: etag,
        };
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, headers);
          res.end();
          return;
        }
        let start = 0, end = st.size - 1, status = 200;
        const range = req.headers.range;
        if (range) {
          const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
          if (!m || (m[1] === '' && m[2] === '')) return send(416, 'bad range\n', { 'Content-Range': `bytes */${st.size}` });
          if (m[1] === '') { start = Math.max(0, st.size - Number(m[2])); } else {
            start = Number(m[1]);
            if (m[2] !== '') end = Math.min(end, Number(m[2]));
          }
          if (start > end || start >= st.size) return send(416, 'range not satisfiable\n', { 'Content-Range': `bytes */${st.size}` });
          status = 206;
          headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
        }
        headers['Content-Length'] = String(st.size === 0 ? 0 : end - start + 1);
        res.writeHead(status, headers);
        if (verbose) console.log(`${status} ${req.method} ${req.url}`);
        if (req.method === 'HEAD' || st.size === 0) return res.end();
        fs.createReadStream(real, { start, end }).on('error', () => res.destroy()).pipe(res);
      });
    });
  });
}

// Starts the server on 127.0.0.1; resolves to {server, url, port}.
export function startServer({ port = 8080, ...opts } = {}) {
  const server = createServer(opts);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const p = server.address().port;
      resolve({ server, port: p, url: `http://127.0.0.1:${p}/` });
    });
  });
}

export function defaultModelDir() {
  const candidates = [process.env.WSD_DEFAULT_MODEL, path.join(REPO, 'assets/shapes-sd15/model'), path.join(REPO, 'assets/shapes-sd15')];
  return candidates.find((d) => d && fs.existsSync(path.join(d, 'model_index.json'))) || null;
}

function parseArgs(argv) {
  const o = { port: Number(process.env.PORT || 8080), modelsDirs: {}, defaultModel: undefined, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--default-model') o.defaultModel = next();
    else if (a === '--models-dir') {
      const v = next(), eq = v.indexOf('=');
      const [name, dir] = eq > 0 ? [v.slice(0, eq), v.slice(eq + 1)] : [path.basename(path.resolve(v)), v];
      if (!/^[A-Za-z0-9._-]+$/.test(name) || name === 'default') throw new Error(`bad model name ${name}`);
      o.modelsDirs[name] = dir;
    } else if (a === '--verbose' || a === '-v') o.verbose = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: node web/server.mjs [--port N] [--default-model DIR] [--models-dir [NAME=]DIR]... [--verbose]');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('bad --port');
  return o;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let o;
  try { o = parseArgs(process.argv.slice(2)); } catch (e) {
    console.error(`server: ${e.message}`);
    process.exit(2);
  }
  const defaultModel = o.defaultModel ?? defaultModelDir();
  for (const [name, dir] of Object.entries({ ...o.modelsDirs, ...(defaultModel ? { default: defaultModel } : {}) })) {
    if (!fs.existsSync(dir)) { console.error(`server: model folder ${dir} (${name}) does not exist`); process.exit(2); }
  }
  if (!fs.existsSync(path.join(HERE, 'dist/wsd.wasm'))) console.warn('server: web/dist/wsd.wasm is missing: run scripts/build_wasm.sh (make serve does)');
  if (!defaultModel) console.warn('server: no default model (assets/shapes-sd15 missing; use --default-model DIR)');
  const { url } = await startServer({ port: o.port, defaultModel, modelsDirs: o.modelsDirs, verbose: o.verbose }).catch((e) => {
    console.error(`server: cannot listen on 127.0.0.1:${o.port}: ${e.message}`);
    process.exit(1);
  });
  if (defaultModel) console.log(`wsd: default model from ${defaultModel}`);
  for (const [name, dir] of Object.entries(o.modelsDirs)) console.log(`wsd: ${url}models/${name}/ -> ${dir}`);
  console.log(`wsd: open ${url}  (Ctrl+C stops)`);
  const stop = () => process.exit(0);
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

// Security of what `make run` serves (web/server.mjs), without a browser:
//  1. the server started the way `make run` starts it listens on 127.0.0.1
//     only (its socket in /proc/net/tcp{,6}; a connection to another address
//     of this machine is refused);
//  2. it serves the app's files and nothing else: raw requests with every
//     spelling of "..", encoded slashes and dots, backslashes, NUL bytes,
//     absolute-form targets, denied parts of web/ (engine sources, the server
//     itself, dotfiles), symlinks out of a served folder, and directories all
//     get 4xx and never another file's bytes; the server stays up;
//  3. every response (200, 206, 304, 400, 404, 405, 416) carries a
//     Content-Security-Policy without 'unsafe-eval' or 'unsafe-inline' for
//     scripts, plus COOP/COEP and nosniff;
//  4. the page never evaluates strings as code: no eval, new Function,
//     string timers, inline scripts or inline event handlers in web/ (the CSP
//     above would also block them in the browser).
// Prints one line per check; exits 1 if any fails.
//   node tests/web/server_security.mjs [--root REPO]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const argRoot = process.argv.indexOf('--root');
const ROOT = argRoot > 0 ? path.resolve(process.argv[argRoot + 1]) : path.resolve(HERE, '../..');
const { createServer, CSP } = await import(path.join(ROOT, 'web/server.mjs'));

let failed = 0, passed = 0;
function check(name, ok, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${!ok && detail ? `: ${detail}` : ''}`);
}

// One raw HTTP/1.1 exchange: the request target goes out byte for byte.
function raw(port, target, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const chunks = [];
    sock.setTimeout(10000, () => { sock.destroy(); reject(new Error(`timeout on ${target}`)); });
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', reject);
    sock.on('end', () => {
      const buf = Buffer.concat(chunks);
      const sep = buf.indexOf('\r\n\r\n');
      const head = buf.subarray(0, sep < 0 ? buf.length : sep).toString('latin1').split('\r\n');
      const status = Number((head[0] || '').split(' ')[1]);
      const h = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status, headers: h, body: sep < 0 ? Buffer.alloc(0) : buf.subarray(sep + 4) });
    });
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    sock.write(Buffer.from(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${extra}Connection: close\r\n\r\n`, 'latin1'));
  });
}

function headersOk(name, r) {
  const csp = r.headers['content-security-policy'] || '';
  const script = (csp.split(';').map((s) => s.trim()).find((s) => s.startsWith('script-src')) || '');
  const problems = [];
  if (!csp) problems.push('no Content-Security-Policy');
  if (/'unsafe-eval'/.test(csp)) problems.push("'unsafe-eval'");
  if (/'unsafe-inline'/.test(script)) problems.push("script-src 'unsafe-inline'");
  if (!/object-src 'none'/.test(csp)) problems.push("no object-src 'none'");
  if (!/frame-ancestors 'none'/.test(csp)) problems.push("no frame-ancestors 'none'");
  if (r.headers['cross-origin-opener-policy'] !== 'same-origin') problems.push('COOP');
  if (r.headers['cross-origin-embedder-policy'] !== 'require-corp') problems.push('COEP');
  if (r.headers['x-content-type-options'] !== 'nosniff') problems.push('nosniff');
  check(`headers on ${name} (${r.status})`, problems.length === 0, problems.join(', '));
}

// ---- 1. the server as `make run` starts it ------------------------------------------

function listeners(port) {
  const out = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = fs.readFileSync(f, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const p = line.trim().split(/\s+/);
      if (p.length < 4 || p[3] !== '0A') continue; // LISTEN
      const [addr, hexPort] = p[1].split(':');
      if (parseInt(hexPort, 16) === port) out.push(`${f.endsWith('6') ? 'tcp6' : 'tcp'} ${addr}`);
    }
  }
  return out;
}

async function startCli() {
  const child = spawn(process.execPath, [path.join(ROOT, 'web/server.mjs'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server did not print its URL: ${out}`)), 20000);
    const on = (c) => {
      out += c;
      const m = /open (http:\/\/[^\s]+)/.exec(out);
      if (m) { clearTimeout(t); resolve(m[1]); }
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url };
}

const { child, url } = await startCli();
const port = Number(new URL(url).port);
check('make run\'s server prints a 127.0.0.1 URL', new URL(url).hostname === '127.0.0.1', url);
const ls = listeners(port);
check(`listening socket is 127.0.0.1 only (${ls.join('; ') || 'none found'})`, ls.length === 1 && ls[0] === 'tcp 0100007F', ls.join('; '));
const other = Object.values(os.networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
if (other) {
  const refused = await new Promise((resolve) => {
    const s = net.connect(port, other.address);
    s.setTimeout(3000, () => { s.destroy(); resolve('timeout'); });
    s.on('connect', () => { s.destroy(); resolve('connected'); });
    s.on('error', (e) => resolve(e.code));
  });
  check(`a connection to ${other.address}:${port} is refused`, refused === 'ECONNREFUSED' || refused === 'timeout', refused);
} else {
  console.log('skip no non-loopback IPv4 address on this machine');
}

// ---- 2. only the app's files ------------------------------------------------------------

const passwd = fs.existsSync('/etc/passwd') ? fs.readFileSync('/etc/passwd') : Buffer.from('root:');
const secrets = [
  passwd.subarray(0, 32),
  fs.readFileSync(path.join(ROOT, 'web/server.mjs')).subarray(0, 64),
  fs.readFileSync(path.join(ROOT, 'package.json')).subarray(0, 64),
];
const engineDir = path.join(ROOT, 'web/engine');
if (fs.existsSync(engineDir)) {
  const f = fs.readdirSync(engineDir).find((n) => fs.statSync(path.join(engineDir, n)).isFile());
  if (f) secrets.push(fs.readFileSync(path.join(engineDir, f)).subarray(0, 64));
}
const leaks = (body) => secrets.some((s) => s.length && body.includes(s));

const attacks = [
  '/../../../../../../etc/passwd', '/..%2f..%2f..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
  '/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/.%2e/.%2e/.%2e/etc/passwd', '/..%252f..%252fetc%252fpasswd',
  '/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd', '/..\\..\\..\\etc\\passwd', '/..%5c..%5c..%5cetc%5cpasswd',
  '//etc/passwd', '/%2fetc%2fpasswd', '/index.html%00.png', '/%00', '/models/default/../../../../etc/passwd',
  '/models/default/..%2f..%2f..%2f..%2fetc/passwd', '/models/nope/..%2f..%2fpackage.json', '/../package.json',
  '/%2e%2e/package.json', '/server.mjs', '/./server.mjs', '/engine/', '/engine/embedded.c', '/ENGINE/../server.mjs',
  '/.git/config', '/%2egit/config', '/.gitignore', '/dist/../server.mjs', '/dist/', '/dist', '/models/',
  'http://127.0.0.1/../../etc/passwd', '/' + 'a/'.repeat(2000) + '../'.repeat(2100) + 'etc/passwd', '/%', '/%zz',
  '*',
];
for (const t of attacks) {
  let r;
  try { r = await raw(port, t); } catch (e) { check(`GET ${t.slice(0, 60)}`, false, e.message); continue; }
  const ok = r.status >= 400 && r.status < 500 && !leaks(r.body);
  check(`GET ${t.length > 60 ? `${t.slice(0, 57)}...` : t} -> ${r.status}`, ok, leaks(r.body) ? 'served a file it must not' : `status ${r.status}`);
}
for (const m of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']) {
  const r = await raw(port, m === 'CONNECT' ? '127.0.0.1:22' : '/index.html', { method: m });
  // node closes a CONNECT it has no handler for without a response: no tunnel either way
  const closed = m === 'CONNECT' && Number.isNaN(r.status) && r.body.length === 0;
  check(`${m} -> ${closed ? 'connection closed' : r.status}`, r.status === 405 || r.status === 400 || closed, `status ${r.status}`);
  if (m === 'POST') headersOk('405', r);
}

// what must be served
const index = await raw(port, '/');
check('GET / -> 200 (the app)', index.status === 200 && index.body.includes('<html'), `status ${index.status}`);
headersOk('200 /', index);
const js = await raw(port, '/app.js');
check('GET /app.js -> 200 text/javascript', js.status === 200 && /javascript/.test(js.headers['content-type'] || ''), `status ${js.status}`);
const r404 = await raw(port, '/nope.html');
headersOk('404', r404);
const r400 = await raw(port, '/%');
headersOk('400', r400);
const range = await raw(port, '/app.js', { headers: { Range: 'bytes=0-9' } });
check('Range bytes=0-9 -> 206 with 10 bytes', range.status === 206 && range.body.length === 10, `status ${range.status}, ${range.body.length} bytes`);
headersOk('206', range);
for (const bad of ['bytes=99999999999-', 'bytes=5-1', 'bytes=-', 'bytes=0-1,3-4', 'pages=0-1', 'bytes=-99999999999999999999']) {
  const r = await raw(port, '/app.js', { headers: { Range: bad } });
  check(`Range ${bad} -> ${r.status}`, [200, 206, 416].includes(r.status) && r.body.length <= js.body.length, `status ${r.status}`);
  if (r.status === 416) headersOk('416', r);
}
const etag = js.headers.etag;
if (etag) {
  const r304 = await raw(port, '/app.js', { headers: { 'If-None-Match': etag } });
  check('If-None-Match -> 304', r304.status === 304, `status ${r304.status}`);
  headersOk('304', r304);
}
const again = await raw(port, '/index.html');
check('the server is still up after all of it', again.status === 200, `status ${again.status}`);
child.kill('SIGTERM');

// symlinks out of a served folder, and into a denied part
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-server-'));
try {
  const webRoot = path.join(tmp, 'web'), models = path.join(tmp, 'models');
  fs.mkdirSync(webRoot);
  fs.mkdirSync(path.join(webRoot, 'engine'));
  fs.mkdirSync(models);
  fs.writeFileSync(path.join(webRoot, 'index.html'), '<html>ok</html>');
  fs.writeFileSync(path.join(webRoot, 'engine', 'secret.c'), 'int secret;');
  fs.writeFileSync(path.join(tmp, 'outside.txt'), 'outside the root');
  fs.symlinkSync(path.join(tmp, 'outside.txt'), path.join(webRoot, 'link.txt'));
  fs.symlinkSync('/etc', path.join(webRoot, 'etc'));
  fs.symlinkSync(path.join(webRoot, 'engine'), path.join(webRoot, 'alias'));
  fs.symlinkSync(path.join(tmp, 'outside.txt'), path.join(models, 'config.json'));
  const srv = createServer({ webRoot, modelsDirs: { m: models } });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const p2 = srv.address().port;
  for (const [t, why] of [['/link.txt', 'symlink to a file outside'], ['/etc/passwd', 'symlink to /etc'], ['/engine/secret.c', 'denied folder'],
    ['/models/m/config.json', 'model folder symlink outside']]) {
    const r = await raw(p2, t);
    check(`${why}: GET ${t} -> ${r.status}`, r.status === 404 && !r.body.includes('outside the root') && !r.body.includes('root:'), `status ${r.status}`);
  }
  // a symlink that stays inside the root but reaches a denied part: allowed only if the real path is not denied
  const alias = await raw(p2, '/alias/secret.c');
  check(`symlink into a denied folder: GET /alias/secret.c -> ${alias.status}`, alias.status === 404, 'served engine/ through a symlink');
  srv.close();
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

// ---- 3. the CSP itself ----------------------------------------------------------------------

check(`CSP has no 'unsafe-eval' (${CSP})`, !/'unsafe-eval'/.test(CSP));
check("CSP script-src is 'self' + 'wasm-unsafe-eval' only", /script-src 'self' 'wasm-unsafe-eval'(;|$)/.test(CSP));
check("CSP default-src 'self'", /default-src 'self'/.test(CSP));

// ---- 4. no strings evaluated as code ---------------------------------------------------------

const webFiles = fs.readdirSync(path.join(ROOT, 'web')).filter((n) => /\.(m?js|html)$/.test(n) && n !== 'server.mjs');
const patterns = [
  [/\beval\s*\(/, 'eval('], [/\bnew\s+Function\s*\(/, 'new Function('], [/(^|[^.\w])Function\s*\(\s*['"`]/, 'Function("...")'],
  [/\bset(Timeout|Interval)\s*\(\s*['"`]/, 'string timer'], [/\bdocument\.write(ln)?\s*\(/, 'document.write'],
  [/\bimport\s*\(\s*[^'"`\s)]/, 'import() of a computed specifier'], [/javascript:/i, 'javascript: URL'],
];
for (const f of webFiles) {
  const text = fs.readFileSync(path.join(ROOT, 'web', f), 'utf8');
  const hits = patterns.filter(([re]) => re.test(text)).map(([, n]) => n);
  if (f.endsWith('.html')) {
    if (/<script(?![^>]*\bsrc=)[^>]*>/i.test(text)) hits.push('inline <script>');
    if (/\son[a-z]+\s*=/i.test(text)) hits.push('inline event handler');
  }
  check(`web/${f}: no string evaluated as code`, hits.length === 0, hits.join(', '));
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

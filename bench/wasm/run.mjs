// Runs bench/wasm/page.html in headless Chromium (playwright-core) and prints
// its results: the wasm SIMD128 build of the fast CPU kernels on one thread.
//   node bench/wasm/run.mjs DIR   (DIR holds page.html and the modules; run.sh makes them)
// env: ISAS, SHAPES, MODULES: the page's ?isas= ?shapes= ?modules= (see page.html)
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const dir = path.resolve(process.argv[2] || '.');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const types = { '.html': 'text/html', '.wasm': 'application/wasm', '.js': 'text/javascript' };
const server = http.createServer((req, res) => {
  const name = path.basename(new URL(req.url, 'http://x').pathname) || 'page.html';
  const file = path.join(dir, name);
  if (!fs.existsSync(file)) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'content-type': types[path.extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const browser = await chromium.launch({
  executablePath: CHROMIUM, headless: true,
  args: ['--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-pings'],
});
let code = 0;
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log('  page:', m.text()));
  const params = new URLSearchParams();
  for (const [env, key] of [['ISAS', 'isas'], ['SHAPES', 'shapes'], ['MODULES', 'modules']]) if (process.env[env]) params.set(key, process.env[env]);
  const query = params.toString() ? `?${params}` : '';
  await page.goto(`http://127.0.0.1:${port}/page.html${query}`);
  await page.waitForFunction(() => window.__result, null, { timeout: 600000, polling: 500 });
  const res = await page.evaluate(() => window.__result);
  if (res.error) { console.log('error:', res.error); code = 1; }
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify(res, null, 2));
  console.log(JSON.stringify(res));
} finally {
  await browser.close();
  server.close();
}
process.exit(code);

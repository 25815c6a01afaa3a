// Browser end-to-end test of the web app: Debian's Chromium, headless, WebGPU
// on SwiftShader, driven by playwright-core. Run by tests/web_e2e.sh.
//
//   node tests/web/e2e.mjs [--out DIR] [--chromium PATH] [--default-model DIR] [--models-dir DIR] [--only NAME]
//
// Every request the page makes must go to the test server on 127.0.0.1; any
// other request fails the run. Prints one line per check and a final
// "N passed, N failed" line; exits non-zero on a failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { startServer, defaultModelDir } from '../../web/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const OUT = path.resolve(opt('--out', path.join(REPO, 'build-web/e2e')));
const CHROMIUM = opt('--chromium', process.env.CHROMIUM || '/usr/bin/chromium');
const DEFAULT_MODEL = opt('--default-model', defaultModelDir() || '');
const MODELS_DIR = opt('--models-dir', '');
const ONLY = opt('--only', '');
const VERBOSE = !!process.env.VERBOSE;
fs.mkdirSync(OUT, { recursive: true });

// Flags: WebGPU on SwiftShader (the CPU Vulkan inside Debian's chromium), and
// no background traffic (no updates, no sync, no QUIC probes, no pings).
const QUIET = ['--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-default-apps', '--no-pings', '--disable-domain-reliability', '--no-default-browser-check',
  '--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,InterestFeedContentSuggestions'];
const WEBGPU = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader'];

let passed = 0, failed = 0, skipped = 0;
const results = [];
function check(name, ok, detail = '') {
  if (ok) passed++; else failed++;
  results.push({ name, ok, detail });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}
function skip(name, why) {
  skipped++;
  console.log(`SKIPPED ${name} — ${why}  <<<<<<<<<<<<<<<<<<<<<<<< SKIPPED`);
}

if (!fs.existsSync(CHROMIUM)) {
  console.log(`FAIL chromium: ${CHROMIUM} not found. Install Debian's chromium (scripts/deps.sh does: apt-get install chromium).`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const { server, url: BASE, port } = await startServer({
  port: 0, webRoot: path.join(REPO, 'web'), defaultModel: DEFAULT_MODEL || null,
  modelsDirs: MODELS_DIR ? { [path.basename(MODELS_DIR)]: MODELS_DIR } : {},
});
const served = []; // every request the server saw
server.on('request', (req) => served.push(req.url));
console.log(`server ${BASE} (default model: ${DEFAULT_MODEL || 'none'})`);

// One browser session with a fresh profile; collects console errors and foreign requests.
async function session(name, flags, fn, { initScript = null } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsd-e2e-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: [...QUIET, ...flags], timeout: 120000,
    viewport: { width: 1280, height: 900 },
  });
  const s = { ctx, consoleErrors: [], foreign: [], requests: [] };
  await ctx.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || u.protocol === 'blob:') return route.continue();
    if (u.hostname === '127.0.0.1' && u.port === String(port)) {
      s.requests.push(u.pathname);
      return route.continue();
    }
    s.foreign.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  // Requests made outside the page's routing (workers, browser itself) show up here too.
  ctx.on('request', (req) => {
    const u = new URL(req.url());
    if (!['data:', 'blob:'].includes(u.protocol) && !(u.hostname === '127.0.0.1' && u.port === String(port))) {
      if (!s.foreign.includes(req.url())) s.foreign.push(req.url());
    }
  });
  if (initScript) await ctx.addInitScript(initScript);
  const page = ctx.pages()[0] || await ctx.newPage();
  // SwiftShader's WebGPU on a loaded 2-core CI machine can keep the page busy
  // for longer than Playwright's 30 s default before a click lands.
  page.setDefaultTimeout(120000);
  s.page = page;
  page.on('console', (m) => {
    if (VERBOSE) console.log(`  [${name} console.${m.type()}] ${m.text()}`);
    if (m.type() === 'error') s.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => s.consoleErrors.push(`pageerror: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => {
    if (VERBOSE) console.log(`  [${name} worker ${m.type()}] ${m.text()}`);
    if (m.type() === 'error') s.consoleErrors.push(`worker: ${m.text()}`);
  }));
  try {
    await fn(s);
  } catch (e) {
    check(`${name}: ran to the end`, false, e.message.split('\n')[0]);
  } finally {
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  check(`${name}: no request left 127.0.0.1`, s.foreign.length === 0, s.foreign.slice(0, 5).join(' '));
  return s;
}

const want = (name) => !ONLY || ONLY.split(',').includes(name);

// ---- helpers -------------------------------------------------------------------------------

// Minimal PNG reader (8-bit RGB/RGBA, any filter): {width, height, rgb, text}.
function decodePNG(buf) {
  const b = Buffer.from(buf);
  const chunks = [];
  for (let o = 8; o + 12 <= b.length;) {
    const len = b.readUInt32BE(o), type = b.toString('latin1', o + 4, o + 8);
    chunks.push({ type, data: b.subarray(o + 8, o + 8 + len), crc: b.readUInt32BE(o + 8 + len), raw: b.subarray(o + 4, o + 8 + len) });
    o += 12 + len;
  }
  const ih = chunks.find((c) => c.type === 'IHDR').data;
  const width = ih.readUInt32BE(0), height = ih.readUInt32BE(4), bpp = ih[9] === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const stride = width * bpp, rgb = new Uint8Array(width * height * 3);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], row = new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp] : 0, up = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
      const p = a + up - c, pa = Math.abs(p - a), pb = Math.abs(p - up), pc = Math.abs(p - c);
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? up : f === 3 ? (a + up) >> 1 : (pa <= pb && pa <= pc ? a : pb <= pc ? up : c);
      row[i] = (raw[y * (stride + 1) + 1 + i] + pred) & 255;
    }
    for (let x = 0; x < width; x++) for (let k = 0; k < 3; k++) rgb[3 * (y * width + x) + k] = row[x * bpp + k];
    prev = row;
  }
  const text = {};
  for (const c of chunks) if (c.type === 'tEXt') { const z = c.data.indexOf(0); text[c.data.toString('latin1', 0, z)] = c.data.toString('latin1', z + 1); }
  return { width, height, rgb, text, chunks };
}

// Fills the form, presses Generate, waits for the end. Returns what happened,
// with the PNG behind the download button.
async function generateIn(page, { prompt, negative = '', seed, steps, sampler = 'dpmpp_2m', guidance = 7.5, width, height }, timeout = 600000) {
  await page.fill('#prompt', prompt);
  await page.fill('#negative', negative);
  await page.fill('#seed', String(seed));
  await page.fill('#steps', String(steps));
  await page.fill('#guidance', String(guidance));
  await page.selectOption('#sampler', sampler);
  if (width) await page.fill('#width', String(width));
  if (height) await page.fill('#height', String(height));
  await page.evaluate(() => {
    window.__steps = [];
    window.__obs?.disconnect();
    window.__obs = new MutationObserver(() => window.__steps.push(document.getElementById('progress-text').textContent));
    window.__obs.observe(document.getElementById('progress-text'), { childList: true, characterData: true, subtree: true });
  });
  const previews0 = await page.evaluate(() => window.__wsd.state.previews || 0);
  await page.click('#generate');
  const done = await page.waitForFunction(() => /^(Done|Failed|Cancelled)/.test(document.getElementById('progress-text').textContent), null, { timeout })
    .then(() => true, () => false);
  const text = await page.textContent('#progress-text');
  const r = { done, ok: done && text.startsWith('Done'), text, notice: await page.evaluate(() => (document.getElementById('notice').hidden ? '' : document.getElementById('notice-text').textContent)) };
  r.steps = await page.evaluate(() => window.__steps.filter((t) => t.startsWith('Step')));
  r.previews = (await page.evaluate(() => window.__wsd.state.previews || 0)) - previews0;
  if (r.ok) {
    r.png = Buffer.from(await page.evaluate(async () => Array.from(new Uint8Array(await (await fetch(document.getElementById('download-png').href)).arrayBuffer()))));
    r.filename = await page.getAttribute('#download-png', 'download');
    r.history = await page.$$eval('#history li', (l) => l.length);
  }
  return r;
}

const GOLDEN_DIR = opt('--goldens', '');
// Compares an image with a golden PNG: {maxAbs, meanAbs}.
function compareWithGolden(rgb, file) {
  const g = decodePNG(fs.readFileSync(file));
  let max = 0, sum = 0;
  for (let i = 0; i < g.rgb.length; i++) { const d = Math.abs(g.rgb[i] - rgb[i]); max = Math.max(max, d); sum += d; }
  return { maxAbs: max, meanAbs: sum / g.rgb.length, size: `${g.width}x${g.height}` };
}

// Generates golden prompt 0 (DPM++ 2M, 20 steps, CFG 7.5, seed 2024, 64x64) and checks it.
async function goldenRun(page, label) {
  const r = await generateIn(page, { prompt: 'a red circle on a blue background', seed: 2024, steps: 20, sampler: 'dpmpp_2m', width: 64, height: 64 });
  check(`${label}: generate finishes`, r.ok, `${r.text} ${r.notice}`.trim().slice(0, 400));
  if (!r.ok) return r;
  check(`${label}: progress reported every step with it/s`, r.steps.some((t) => /^Step 20\/20 · [0-9.]+ it\/s/.test(t)) && r.steps.length >= 10,
    `${r.steps.length} updates, last "${r.steps[r.steps.length - 1]}"`);
  check(`${label}: live previews drawn while it runs`, r.previews >= 1, `${r.previews} previews drawn`);
  const img = decodePNG(r.png);
  check(`${label}: the PNG is 64x64`, img.width === 64 && img.height === 64, `${img.width}x${img.height}`);
  const params = img.text.parameters || '';
  check(`${label}: the PNG carries the parameters (tEXt, A1111 form)`,
    /^a red circle on a blue background\nSteps: 20, Sampler: DPM\+\+ 2M, CFG scale: 7\.5, Seed: 2024, Size: 64x64, Model: /.test(params), JSON.stringify(params));
  check(`${label}: download name and history`, r.filename === 'wsd-2024.png' && r.history >= 1, `${r.filename}, ${r.history} in history`);
  const golden = GOLDEN_DIR && path.join(GOLDEN_DIR, 'p0_dpmpp2m.png');
  if (golden && fs.existsSync(golden)) {
    const c = compareWithGolden(img.rgb, golden);
    check(`${label}: matches the golden image p0_dpmpp2m.png (mean |d| <= 1.5, max <= 24)`, c.meanAbs <= 1.5 && c.maxAbs <= 24,
      `mean ${c.meanAbs.toFixed(2)}, max ${c.maxAbs}`);
  } else {
    skip(`${label}: golden comparison`, 'no --goldens folder with p0_dpmpp2m.png');
  }
  return r;
}

// Tensors of a safetensors file (float32 ones as Float32Array): {name: {shape, data}}.
function readSafetensors(file) {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.toString('utf8', 8, 8 + n));
  const out = {};
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || t.dtype !== 'F32') continue;
    const [begin, end] = t.data_offsets;
    const bytes = b.subarray(8 + n + begin, 8 + n + end);
    out[name] = { shape: t.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
  }
  return out;
}

function relL2(a, ref) {
  let d = 0, r = 0;
  for (let i = 0; i < ref.length; i++) { d += (a[i] - ref[i]) ** 2; r += ref[i] ** 2; }
  return Math.sqrt(d / r);
}

function maxAbs(a, ref) {
  let m = 0;
  for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(a[i] - ref[i]));
  return m;
}

// Bytes of the weight files of a diffusers folder.
function weightBytes(dir) {
  let n = 0;
  for (const sub of ['text_encoder', 'unet', 'vae']) {
    for (const f of fs.readdirSync(path.join(dir, sub))) if (f.endsWith('.safetensors')) n += fs.statSync(path.join(dir, sub, f)).size;
  }
  return n;
}

// tiny-sd15 from the local server on the WebGPU path, float32 weights, against
// the diffusers golden ../shared/reference/golden/pipeline_dpmpp2m_cfg.safetensors
// (DPM++ 2M, 4 steps, CFG 7.5, 128x128, its initial latents), within the
// reference README's float32 bounds (final latents rel L2 <= 1e-4, image max
// abs <= 1e-3). The same run checks that the engine streams the weights: its
// wasm memory grows by far less than the weights it loads.
const PIPELINE_GOLDEN = opt('--pipeline-golden', '');
async function tinyGoldenOnWebGPU(s) {
  const label = 'tiny-sd15 on WebGPU';
  if (!MODELS_DIR || !PIPELINE_GOLDEN || !fs.existsSync(PIPELINE_GOLDEN)) {
    skip(`${label}: golden pipeline_dpmpp2m_cfg`, 'no --models-dir / --pipeline-golden');
    return;
  }
  const gold = readSafetensors(PIPELINE_GOLDEN);
  const weights = weightBytes(MODELS_DIR);
  const t0 = Date.now();
  const r = await s.page.evaluate(async ({ url, latents }) => {
    const { createPipeline } = await import('./wsd.js');
    const sd = await createPipeline({ backend: 'webgpu', gpuWeights: 'f32', model: null });
    try {
      const before = sd.info.wasmMemoryBytes, t0 = performance.now();
      await sd.loadModel(url);
      const loaded = sd.info.wasmMemoryBytes, t1 = performance.now(), steps = [];
      const img = await sd.generate({ prompt: 'a photograph of an astronaut riding a horse', negativePrompt: 'blurry',
        steps: 4, guidance: 7.5, sampler: 'dpmpp_2m', width: 128, height: 128, previewEvery: 0,
        initialLatents: new Float32Array(latents), returnLatents: true, returnFloatImage: true,
        onProgress: () => steps.push(Math.round((performance.now() - t1) / 1000)) });
      const times = `load ${Math.round((t1 - t0) / 1000)} s, steps done at ${steps.join(' ')} s, image at ${Math.round((performance.now() - t1) / 1000)} s`;
      return { before, loaded, after: sd.info.wasmMemoryBytes, latents: Array.from(img.latents), image: Array.from(img.imageF32), times };
    } catch (e) {
      return { error: `${e.code}: ${e.message}` };
    } finally {
      sd.dispose();
    }
  }, { url: `${BASE}models/${path.basename(MODELS_DIR)}/`, latents: Array.from(gold.latents_init.data) });
  check(`${label}: load and generate (4 steps, 128x128, f32 weights)`, !r.error, r.error || `${((Date.now() - t0) / 1000).toFixed(1)} s: ${r.times}`);
  if (r.error) return;
  const lat = relL2(r.latents, gold.latents_final.data), img = maxAbs(r.image, gold.image.data);
  check(`${label}: final latents match pipeline_dpmpp2m_cfg (rel L2 <= 1e-4)`, lat <= 1e-4, `rel L2 ${lat.toExponential(2)}`);
  check(`${label}: image matches pipeline_dpmpp2m_cfg (max abs <= 1e-3)`, img <= 1e-3, `max abs ${img.toExponential(2)}`);
  const MB = (x) => (x / 1048576).toFixed(1);
  const grew = r.after - r.before;
  check(`${label}: weights streamed, never whole in wasm memory (growth < 1/4 of the weights)`, grew < weights / 4,
    `wasm memory ${MB(r.before)} -> ${MB(r.loaded)} (loaded) -> ${MB(r.after)} MiB (generated): +${MB(grew)} MiB for ${MB(weights)} MiB of weights`);
}

// ---- 1. the page with WebGPU (SwiftShader) ----------------------------------------------
if (want('webgpu')) {
  await session('webgpu', WEBGPU, async (s) => {
    const { page } = s;
    const resp = await page.goto(BASE);
    check('page: served with COOP/COEP', resp.headers()['cross-origin-embedder-policy'] === 'require-corp' &&
      resp.headers()['cross-origin-opener-policy'] === 'same-origin');
    await page.waitForFunction(() => document.documentElement.dataset.state !== 'starting', null, { timeout: 120000 });
    const st = await page.evaluate(() => document.documentElement.dataset.state);
    check('page: crossOriginIsolated', await page.evaluate(() => self.crossOriginIsolated === true));
    // the controls
    const ids = ['prompt', 'token-count', 'negative', 'steps', 'guidance', 'seed', 'dice', 'sampler', 'width', 'height',
      'generate', 'cancel', 'progress', 'progress-text', 'canvas', 'download-png', 'history', 'init-drop', 'strength',
      'model-url', 'open-file', 'open-folder', 'cache-list', 'download-bar'];
    const missing = await page.evaluate((l) => l.filter((id) => !document.getElementById(id)), ids);
    check('page: every control is there', missing.length === 0, missing.join(', '));
    const samplers = await page.$$eval('#sampler option', (o) => o.map((x) => x.value));
    check('page: samplers listed', samplers.includes('dpmpp_2m') && samplers.includes('euler_a') && samplers.length === 9, samplers.join(','));
    // dice gives a new seed
    await page.click('#dice');
    const seed = Number(await page.inputValue('#seed'));
    check('page: dice picks a seed', Number.isInteger(seed) && seed >= 0, String(seed));
    // adapter
    const adapter = await page.evaluate(async () => {
      const a = await navigator.gpu?.requestAdapter();
      return a ? { vendor: a.info.vendor, architecture: a.info.architecture, fallback: a.info.isFallbackAdapter, f16: a.features.has('shader-f16') } : null;
    });
    check('webgpu: navigator.gpu gives an adapter', !!adapter, JSON.stringify(adapter));
    check('webgpu: the adapter is SwiftShader', adapter && /swiftshader/i.test(adapter.architecture), adapter?.architecture);
    check('page: WebGPU path chosen (no CPU offer)', st !== 'no-webgpu', `state ${st}`);
    // token count through the wasm tokenizer
    const hasTokenizer = await page.evaluate(async () => {
      const m = new WebAssembly.Module(await (await fetch('dist/wsd.wasm')).arrayBuffer());
      return !WebAssembly.Module.imports(m).some((i) => i.module === 'env' && i.name === 'tok_load_dir');
    });
    if (!hasTokenizer) {
      skip('tokenizer: "a photo of a cat" is 5/75', 'the engine has no tokenizer (tok_load_dir) yet');
    } else {
      await page.fill('#prompt', 'a photo of a cat');
      const ok = await page.waitForFunction(() => document.getElementById('token-count').textContent === '5/75', null, { timeout: 60000 })
        .then(() => true, () => false);
      check('tokenizer: "a photo of a cat" is 5/75', ok, await page.textContent('#token-count'));
      await page.fill('#prompt', Array(80).fill('cat').join(' '));
      const over = await page.waitForFunction(() => document.getElementById('token-count').textContent === '80/75', null, { timeout: 30000 })
        .then(() => true, () => false);
      check('tokenizer: 80 tokens show 80/75, marked over', over && (await page.getAttribute('#token-count', 'data-state')) === 'over',
        await page.textContent('#token-count'));
      await page.fill('#prompt', 'a red circle on a blue background');
      await page.waitForFunction(() => document.getElementById('token-count').textContent === '7/75', null, { timeout: 30000 }).catch(() => {});
    }
    // the engine's state
    const info = await page.evaluate(() => window.__wsd.state.pipeline?.info || null);
    if (VERBOSE) console.log('  engine info', JSON.stringify(info));
    check('engine: the wasm engine started in a worker', !!info && typeof info.version === 'string', info ? `wsd ${info.version}, missing: ${info.missing.join(' ') || 'none'}` : 'no pipeline');
    const canGenerate = info && !info.missing.includes('wsd_generate') && info.context;
    if (!canGenerate) {
      skip('webgpu: generate with the default model', 'the engine has no wsd_generate / WebGPU context yet');
    } else {
      const g = await goldenRun(page, 'webgpu');
      if (g.ok) await page.screenshot({ path: path.join(OUT, 'screenshot.png') });
      // the GPU lost in the middle of a run: the page says so, and "Try again" works
      await page.fill('#steps', '2');
      await page.click('#generate');
      await page.waitForFunction(() => document.getElementById('progress-text').textContent === 'Starting…', null, { timeout: 10000 }).catch(() => {});
      await page.waitForTimeout(1500);
      await page.evaluate(() => window.__wsd.state.pipeline.engine.post({ type: 'debug-lose-device' }));
      const failed = await page.waitForFunction(() => /^(Failed|Done)/.test(document.getElementById('progress-text').textContent), null, { timeout: 300000 })
        .then(() => true, () => false);
      const msg = await page.textContent('#notice-text');
      const buttons = await page.$$eval('#notice-actions button', (b) => b.map((x) => x.textContent));
      check('device lost: the page explains and offers to try again', failed && /GPU was lost/.test(msg) && buttons.includes('Try again'),
        `${await page.textContent('#progress-text')}: ${msg.slice(0, 160)} [${buttons.join(', ')}]`);
      if (buttons.includes('Try again')) {
        await page.fill('#steps', '1');
        await page.click('#notice-actions button:text("Try again")');
        const ok = await page.waitForFunction(() => /^(Failed|Done|Cancelled)/.test(document.getElementById('progress-text').textContent) &&
          document.getElementById('progress-text').textContent !== 'Failed' || !document.getElementById('notice').hidden, null, { timeout: 300000 })
          .then(() => true, () => false);
        const t = await page.textContent('#progress-text');
        check('device lost: the engine restarts and generates again', ok && t.startsWith('Done'), `${t} ${await page.textContent('#notice-text')}`.slice(0, 200));
      }
    }
    // in this session, not one of its own: a second browser and page would cost CI time
    if (canGenerate && want('tinygolden')) await tinyGoldenOnWebGPU(s);
    if (!canGenerate) await page.screenshot({ path: path.join(OUT, 'screenshot.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    check('page: fits a phone screen (no sideways scrolling at 390 px)', !overflow);
    await page.screenshot({ path: path.join(OUT, 'screenshot-phone.png'), fullPage: true });
    check('page: no console errors', s.consoleErrors.length === 0, s.consoleErrors.slice(0, 3).join(' | '));
  });
}

// ---- 1a. tiny-sd15 against its diffusers golden on WebGPU, weights streamed ----------------
// (part of the webgpu session; on its own with --only tinygolden)
if (ONLY && want('tinygolden') && !want('webgpu')) {
  await session('webgpu-tiny', WEBGPU, async (s) => {
    await s.page.goto(BASE);
    await s.page.waitForFunction(() => document.documentElement.dataset.state !== 'starting', null, { timeout: 120000 });
    await tinyGoldenOnWebGPU(s);
    check('webgpu-tiny: no console errors', s.consoleErrors.length === 0, s.consoleErrors.slice(0, 3).join(' | '));
  });
}

// ---- 1b. the JS half of gpu.h, driven from C (tests/web/gpu_smoke.c) ---------------------
const SMOKE = opt('--gpu-smoke', path.join(REPO, 'build-web/gpu_smoke.wasm'));
if (want('gpusmoke')) {
  if (!fs.existsSync(SMOKE)) {
    skip('gpu.js: C smoke test through gpu.h', `${SMOKE} not built (tests/web_e2e.sh builds it)`);
  } else {
    await session('gpu-smoke', WEBGPU, async (s) => {
      const { page } = s;
      await page.goto(BASE);
      const bytes = Array.from(fs.readFileSync(SMOKE));
      const r = await page.evaluate(async (b) => {
        const { GpuBridge } = await import('./gpu.js');
        const { Wasi } = await import('./wasi.js');
        const module = await WebAssembly.compile(new Uint8Array(b));
        let exports = null;
        const wasi = new Wasi({ log: (t) => console.log(t) });
        const bridge = new GpuBridge({ getExports: () => exports });
        const instance = await WebAssembly.instantiate(module, wasi.imports(module, { env: bridge.imports() }));
        exports = instance.exports;
        wasi.start(instance);
        const code = await WebAssembly.promising(exports.smoke)();
        const u8 = new Uint8Array(exports.memory.buffer);
        let p = exports.message(), e = p;
        while (u8[e]) e++;
        return { code, message: new TextDecoder().decode(u8.subarray(p, e)) };
      }, bytes);
      check('gpu.js: C smoke test through gpu.h (buffers, WGSL pipeline, bind group, clear/dispatch/copy, read, errors)',
        r.code === 0, r.code === 0 ? r.message : `failed at gpu_smoke.c:${r.code}: ${r.message}`);
      check('gpu-smoke: no console errors', s.consoleErrors.length === 0, s.consoleErrors.slice(0, 3).join(' | '));
    });
  }
}

// The product flows on the CPU path (it needs no GPU, so it runs anywhere):
// generate vs the golden, cancel, models from a URL and from local files,
// errors a person can act on, and a reload that fetches no model bytes.
async function cpuFlows(s) {
  const { page } = s;
  await goldenRun(page, 'cpu');
  // cancel: a long run, stopped after a few steps; the next run still works
  await page.fill('#steps', '150');
  await page.click('#generate');
  const started = await page.waitForFunction(() => /^Step ([3-9]|\d\d)/.test(document.getElementById('progress-text').textContent), null, { timeout: 120000 })
    .then(() => true, () => false);
  const t0 = Date.now();
  await page.click('#cancel');
  const cancelled = await page.waitForFunction(() => document.getElementById('progress-text').textContent === 'Cancelled', null, { timeout: 30000 })
    .then(() => true, () => false);
  check('cancel: a running generation stops', started && cancelled, `${await page.textContent('#progress-text')} after ${Date.now() - t0} ms`);
  const again = await generateIn(page, { prompt: 'a yellow square on a black background', seed: 7, steps: 3 });
  check('cancel: the next generation works', again.ok, `${again.text} ${again.notice}`.slice(0, 200));

  // img2img: a start image chosen with the picker
  const startImage = GOLDEN_DIR && path.join(GOLDEN_DIR, 'p1_dpmpp2m.png');
  if (startImage && fs.existsSync(startImage)) {
    await page.setInputFiles('#init-file', startImage);
    await page.fill('#strength', '0.5');
    await page.dispatchEvent('#strength', 'input');
    const i2i = await generateIn(page, { prompt: 'a red circle on a blue background', seed: 11, steps: 10 });
    const params = i2i.ok ? decodePNG(i2i.png).text.parameters || '' : '';
    check('img2img: a start image is used', i2i.ok && /Denoising strength: 0\.5/.test(params) && i2i.steps.some((t) => /^Step 5\/5/.test(t)),
      `${i2i.text} ${i2i.notice} ${JSON.stringify(params)} last step: ${i2i.steps[i2i.steps.length - 1]}`.slice(0, 300));
    await page.click('#init-clear');
    // a dropped image becomes the start image
    const dropped = await page.evaluate(async (bytes) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(bytes)], 'start.png', { type: 'image/png' }));
      window.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt }));
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, cancelable: true }));
      await new Promise((r) => setTimeout(r, 300));
      return { shown: !document.getElementById('init-img').hidden, overlay: !document.getElementById('drop-overlay').hidden };
    }, Array.from(fs.readFileSync(startImage)));
    check('img2img: a dropped image becomes the start image', dropped.shown && !dropped.overlay, JSON.stringify(dropped));
    await page.click('#init-clear');
  } else {
    skip('img2img', 'no golden image to start from');
  }

  // a model from a URL (this server), downloaded into OPFS with progress
  const tinyUrl = MODELS_DIR ? `${BASE}models/${path.basename(MODELS_DIR)}/` : '';
  if (!tinyUrl) {
    skip('models: load from a URL', 'no --models-dir');
  } else {
    await page.fill('#model-url', tinyUrl);
    await page.evaluate(() => {
      window.__dl = [];
      new MutationObserver(() => window.__dl.push(document.getElementById('download-text').textContent))
        .observe(document.getElementById('download-text'), { childList: true, characterData: true, subtree: true });
    });
    await page.click('#url-load');
    const loaded = await page.waitForFunction(() => !/…$/.test(document.getElementById('model-name').textContent), null, { timeout: 120000 })
      .then(() => true, () => false);
    const name = await page.textContent('#model-name');
    const dl = await page.evaluate(() => window.__dl);
    check('models: load from a URL', loaded && /tiny-sd15/.test(name), `${name} ${await page.textContent('#notice-text')}`.slice(0, 200));
    check('models: download progress shows bytes and MB/s', dl.some((t) => /MB of [0-9.]+ MB · [0-9.]+ MB\/s/.test(t)), dl.slice(-2).join(' | '));
    const cached = await page.$$eval('#cache-list li .name', (l) => l.map((x) => x.textContent));
    check('models: stored models list both', cached.length >= 2, cached.join(', '));
    check('models: size follows the model (tiny-sd15: 128)', (await page.inputValue('#width')) === '128');
    const t = await generateIn(page, { prompt: 'a photo of a cat', seed: 1, steps: 2, sampler: 'euler', width: 128, height: 128 });
    check('models: the URL model generates', t.ok && decodePNG(t.png).width === 128, `${t.text} ${t.notice}`.slice(0, 200));
    // delete it again from the list (after switching back to the built-in model)
    await page.click('#use-default');
    await page.waitForFunction(() => /shapes/.test(document.getElementById('model-name').textContent), null, { timeout: 60000 }).catch(() => {});
    const del = page.locator('#cache-list li', { hasText: 'tiny-sd15' }).getByRole('button', { name: /Delete/ });
    const deleted = await del.click({ timeout: 20000 })
      .then(() => page.waitForFunction(() => ![...document.querySelectorAll('#cache-list li')].some((l) => /tiny-sd15/.test(l.textContent)), null, { timeout: 20000 }))
      .then(() => true, () => false);
    const left = await page.$$eval('#cache-list li .name', (l) => l.map((x) => x.textContent));
    check('models: a stored model can be deleted', deleted && left.length === 1, left.join(', '));

    // the same model as a local folder (picker)
    await page.setInputFiles('#folder-input', MODELS_DIR);
    const local = await page.waitForFunction(() => /tiny-sd15/.test(document.getElementById('model-name').textContent) &&
      !/…$/.test(document.getElementById('model-name').textContent), null, { timeout: 120000 }).then(() => true, () => false);
    check('models: load a local model folder', local, `${await page.textContent('#model-name')} ${await page.textContent('#notice-text')}`.slice(0, 200));
    if (local) {
      // the same parameters as the URL run: the same model from both places must give the same image
      const l = await generateIn(page, { prompt: 'a photo of a cat', seed: 1, steps: 2, sampler: 'euler', width: 128, height: 128 });
      check('models: the local folder model generates', l.ok, `${l.text} ${l.notice}`.slice(0, 200));
      if (l.ok && t.ok) {
        const a = decodePNG(t.png).rgb, b = decodePNG(l.png).rgb;
        const diff = a.length === b.length ? maxAbs(a, b) : Infinity;
        check('models: the URL and the local folder give the same image', diff === 0, `max |d| ${diff}`);
      }
    }
  }
  // a wrong file: the message says what is wrong
  const wrong = path.join(OUT, 'not-a-model.safetensors');
  fs.writeFileSync(wrong, 'this is not a model');
  await page.setInputFiles('#file-input', wrong);
  const wrongMsg = await page.waitForFunction(() => !document.getElementById('notice').hidden && document.getElementById('notice-text').textContent, null, { timeout: 30000 })
    .then((h) => h.jsonValue(), () => '');
  check('errors: a wrong file is named as such', /not-a-model\.safetensors is not a \.safetensors file/.test(wrongMsg), wrongMsg.slice(0, 160));
  // a URL that is not a model (a 404 for model_index.json is expected here)
  const errorsBefore = s.consoleErrors.length;
  await page.click('#notice-close');
  await page.fill('#model-url', `${BASE}no-model-here/`);
  await page.click('#url-load');
  const notModel = await page.waitForFunction(() => !document.getElementById('notice').hidden && document.getElementById('notice-text').textContent, null, { timeout: 30000 })
    .then((h) => h.jsonValue(), () => '');
  check('errors: a URL that is not a model', /not a Stable Diffusion diffusers folder/.test(notModel), notModel.slice(0, 160));
  s.consoleErrors.splice(errorsBefore).filter((e) => !/404/.test(e)).forEach((e) => s.consoleErrors.push(e));
  await page.click('#notice-close');
  await page.waitForFunction(() => /shapes/.test(document.getElementById('model-name').textContent), null, { timeout: 60000 }).catch(() => {});

  // reload: the built-in model comes from OPFS, no model request reaches the server
  s.requests.length = 0;
  await page.reload();
  await page.waitForFunction(() => document.documentElement.dataset.state !== 'starting', null, { timeout: 120000 });
  await page.waitForFunction(() => !/…$/.test(document.getElementById('model-name').textContent), null, { timeout: 60000 }).catch(() => {});
  await page.waitForFunction(() => /^\d+\/75$/.test(document.getElementById('token-count').textContent), null, { timeout: 60000 }).catch(() => {});
  const modelRequests = s.requests.filter((p) => p.startsWith('/models/'));
  check('reload: no network request for the model', modelRequests.length === 0 && s.requests.length > 0,
    modelRequests.length ? modelRequests.slice(0, 4).join(' ') : `${s.requests.length} app requests, none for the model`);
}

// ---- 2. WebGPU unavailable: the page explains and offers the CPU path ----------------------
// (a) Chromium without the WebGPU flags: navigator.gpu exists but gives no adapter
//     (what a blocklisted GPU looks like); the CPU engine must then start and count tokens.
// (b) a browser without navigator.gpu at all: the message says so.
if (want('nowebgpu')) {
  await session('no-webgpu', ['--disable-features=WebGPU'], async (s) => {
    const { page } = s;
    await page.goto(BASE);
    await page.waitForFunction(() => document.documentElement.dataset.state !== 'starting', null, { timeout: 120000 });
    const st = await page.evaluate(() => document.documentElement.dataset.state);
    check('no-webgpu: page says so', st === 'no-webgpu', `state ${st}`);
    const text = await page.textContent('#notice-text');
    check('no-webgpu: the message explains', /WebGPU/.test(text) && /CPU/.test(text), text.slice(0, 140).replace(/\n/g, ' '));
    const buttons = await page.$$eval('#notice-actions button', (b) => b.map((x) => x.textContent));
    check('no-webgpu: offers the CPU path', buttons.some((b) => /CPU/.test(b)), buttons.join(', '));
    if (buttons.some((b) => /CPU/.test(b))) {
      await page.click('#notice-actions button');
      await page.waitForFunction(() => ['ready', 'error'].includes(document.documentElement.dataset.state), null, { timeout: 120000 });
      const info = await page.evaluate(() => window.__wsd.state.pipeline?.info || null);
      check('no-webgpu: the CPU engine starts', info?.backend === 'cpu', info ? `backend ${info.backend}` : await page.textContent('#notice-text'));
      const chip = await page.textContent('#backend-chip');
      check('no-webgpu: the page shows the CPU backend', /^CPU \(WebAssembly/.test(chip), chip);
      if (info?.backend === 'cpu') await cpuFlows(s);
      await page.screenshot({ path: path.join(OUT, 'screenshot-cpu.png') });
    }
    check('no-webgpu: no console errors', s.consoleErrors.length === 0, s.consoleErrors.slice(0, 3).join(' | '));
  });
  await session('no-navigator-gpu', [], async (s) => {
    const { page } = s;
    await page.goto(BASE);
    await page.waitForFunction(() => document.documentElement.dataset.state !== 'starting', null, { timeout: 120000 });
    const text = await page.textContent('#notice-text');
    check('no-navigator-gpu: explains and offers the CPU', /navigator\.gpu is missing/.test(text) &&
      (await page.$$eval('#notice-actions button', (b) => b.some((x) => /CPU/.test(x.textContent)))), text.slice(0, 100));
    check('no-navigator-gpu: no console errors', s.consoleErrors.length === 0, s.consoleErrors.slice(0, 3).join(' | '));
  }, { initScript: () => { Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }); } });
}

// ---- 3. modules in the page: PNG writer, model checks -------------------------------------
if (want('units')) {
  await session('units', WEBGPU, async (s) => {
    const { page } = s;
    await page.goto(BASE);
    const r = await page.evaluate(async () => {
      const { encodePNG, a1111Parameters } = await import('./png.js');
      const { parseModelUrl, sniffSafetensors, classifyKeys } = await import('./models.js');
      const w = 16, h = 8, px = new Uint8ClampedArray(w * h * 4);
      for (let i = 0; i < px.length; i++) px[i] = (i * 29 + 7) & 255;
      const text = a1111Parameters({ prompt: 'a photo of a cat', negativePrompt: 'blurry', steps: 20, sampler: 'dpmpp_2m',
        guidance: 7.5, seed: 42, width: w, height: h, model: 'shapes' });
      const png = await encodePNG(px, w, h, { parameters: text });
      const urls = {};
      for (const u of ['https://huggingface.co/org/repo', 'https://huggingface.co/org/repo/blob/main/x.safetensors',
        'https://example.com/m/model.safetensors', 'https://example.com/folder']) urls[u] = parseModelUrl(u);
      let ckptErr = '';
      try { parseModelUrl('https://example.com/a.ckpt'); } catch (e) { ckptErr = e.code; }
      let htmlErr = '';
      try { sniffSafetensors(new TextEncoder().encode('<!doctype html><html>...'), 'x'); } catch (e) { htmlErr = e.code; }
      return { png: Array.from(png), text, px: Array.from(px), urls, ckptErr, htmlErr,
        kinds: [classifyKeys(['model.diffusion_model.input_blocks.0.0.weight']), classifyKeys(['text_model.embeddings.x']), classifyKeys(['foo'])] };
    });
    // decode the PNG in Node and compare
    const png = Buffer.from(r.png);
    const chunks = [];
    for (let o = 8; o < png.length;) {
      const len = png.readUInt32BE(o), type = png.toString('latin1', o + 4, o + 8);
      chunks.push({ type, data: png.subarray(o + 8, o + 8 + len), crc: png.readUInt32BE(o + 8 + len), raw: png.subarray(o + 4, o + 8 + len) });
      o += 12 + len;
    }
    const crcOk = chunks.every((c) => zlib.crc32 ? zlib.crc32(c.raw) === c.crc : true);
    check('png: chunks IHDR, tEXt, IDAT, IEND with good CRCs', chunks.map((c) => c.type).join(',') === 'IHDR,tEXt,IDAT,IEND' && crcOk,
      chunks.map((c) => c.type).join(','));
    const t = chunks.find((c) => c.type === 'tEXt');
    const [kw, val] = t ? t.data.toString('latin1').split('\0') : [];
    check('png: tEXt "parameters" in A1111 form', kw === 'parameters' && val === r.text &&
      /^a photo of a cat\nNegative prompt: blurry\nSteps: 20, Sampler: DPM\+\+ 2M, CFG scale: 7.5, Seed: 42, Size: 16x8, Model: shapes$/.test(val), JSON.stringify(val));
    const raw = zlib.inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
    const w = 16, h = 8, stride = w * 3, prev = new Uint8Array(stride);
    let same = raw.length === h * (stride + 1);
    for (let y = 0; y < h && same; y++) {
      const f = raw[y * (stride + 1)], row = new Uint8Array(stride);
      for (let i = 0; i < stride; i++) {
        const a = i >= 3 ? row[i - 3] : 0, b = prev[i], c = i >= 3 ? prev[i - 3] : 0;
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        row[i] = (raw[y * (stride + 1) + 1 + i] + pred) & 255;
        if (row[i] !== r.px[4 * (y * w + Math.floor(i / 3)) + (i % 3)]) same = false;
      }
      prev.set(row);
    }
    check('png: pixels decode back exactly', same);
    const u = r.urls;
    check('models: URL forms understood',
      u['https://huggingface.co/org/repo'].base === 'https://huggingface.co/org/repo/resolve/main/' &&
      u['https://huggingface.co/org/repo/blob/main/x.safetensors'].url === 'https://huggingface.co/org/repo/resolve/main/x.safetensors' &&
      u['https://example.com/m/model.safetensors'].kind === 'single' && u['https://example.com/folder'].base === 'https://example.com/folder/',
      JSON.stringify(u).slice(0, 200));
    check('models: .ckpt refused, HTML is not a model', r.ckptErr === 'not-a-model' && r.htmlErr === 'wrong-file', `${r.ckptErr} ${r.htmlErr}`);
    check('models: tensor names classified', r.kinds.join(',') === 'checkpoint,text_encoder,', r.kinds.join(','));
    check('units: no console errors', s.consoleErrors.length === 0, s.consoleErrors.slice(0, 3).join(' | '));
  });
}

server.close();
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify({ passed, failed, skipped, results }, null, 1));
process.exit(failed ? 1 : 0);

// The engine's Web Worker: loads wsd.wasm, mounts model files into the WASI
// file system, and runs tokenize / load / generate so the page never freezes.
// Spoken to only by wsd.js; the protocol (all messages carry `id` except
// `cancel`):
//   -> {type:'init', wasmUrl, backend:'webgpu'|'cpu', defaultLimits, gpuWeights:'f16'|'f32'|undefined, cancelBuffer}
//   <- {type:'ready', info}                        info: backend, version, missing[], adapter, wasmMemoryBytes
//   -> {type:'load', model:{name, entry, files:{relpath: source}}, defaultModel}   (defaultModel: the
//      built-in model's descriptor, mounted at /models/default: see web/engine/embedded.c)
//   <- {type:'loaded', info}                       info: name, wasmMemoryBytes (the engine's memory after loading)
//   -> {type:'load-tokenizer', model}   <- {type:'loaded'}   (only the tokenizer/ files are read)
//   -> {type:'tokenize', text}          <- {type:'tokens', count, ids} (count null + reason when unavailable)
//   -> {type:'generate', params}        <- {type:'progress', step, total, preview}, then {type:'image', ...}
//      (params.initialLatents: Float32Array [1,4,h/8,w/8] used instead of the seed's noise; params.returnLatents /
//      returnFloatImage add `latents` / `imageF32` ([h,w,3] in [0,1]) to the reply: exact tests)
//   -> {type:'cancel'}                  (also: Atomics on cancelBuffer, read between steps)
//   -> {type:'debug-lose-device'}       testing: destroys the GPU device (as a driver reset would)
//   <- {type:'error', code, message}    for any request that fails
// A file source is {kind:'bytes', data} | {kind:'blob', blob} | {kind:'opfs', path:[...]} | {kind:'url', url, size}.
import { Wasi, VFS, bytesSource, blobSource, urlSource, EngineMissing, WasiExit } from './wasi.js';
import { GpuBridge, GPU_FUNCTIONS } from './gpu.js';

const STATUS_CODES = { 1: 'invalid-argument', 2: 'io', 3: 'wrong-file', 4: 'unsupported', 5: 'out-of-memory',
  6: 'device', 7: 'cancelled', 8: 'numeric', 9: 'internal' };
const SAMPLERS = ['default', 'pndm', 'ddim', 'euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'lms', 'lcm'];

class WorkerError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

let E = null;          // the engine: {exports, wasi, vfs, ctx, model, gpu, bridge, backend, missing}
let cancelFlag = null; // Int32Array on a SharedArrayBuffer (when cross-origin isolated)
let cancelAsked = false;
let current = null;    // id of the running generate
let previewEvery = 1;
let stepTimes = [];

const post = (m, transfer) => self.postMessage(m, transfer || []);
const log = (text, fd) => post({ type: 'log', level: fd === 2 ? 'warn' : 'info', text });

function cstr(s) {
  const b = new TextEncoder().encode(s);
  const p = E.exports.alloc(b.length + 1);
  const u8 = new Uint8Array(E.exports.memory.buffer);
  u8.set(b, p);
  u8[p + b.length] = 0;
  return p;
}
function readCstr(p) {
  if (!p) return '';
  const u8 = new Uint8Array(E.exports.memory.buffer);
  let end = p;
  while (u8[end]) end++;
  return new TextDecoder().decode(u8.subarray(p, end));
}

// Calls an export; with JSPI, through WebAssembly.promising so GPU waits can suspend.
async function call(name, ...args) {
  const f = E.exports[name];
  if (!f) throw new WorkerError('engine-missing', `wsd.wasm has no export ${name}`);
  if (E.jspi) return await E.promising(name)(...args);
  return f(...args);
}

function engineError(status, fallback) {
  let message = '';
  try { message = E.ctx ? readCstr(E.exports.last_error(E.ctx)) : readCstr(E.exports.last_message()); } catch { /* no message */ }
  let code = STATUS_CODES[status] || 'internal';
  if (code === 'device' && gpuLost()) code = 'device-lost';
  return new WorkerError(code, message || fallback || `engine error ${status}`);
}

// Relaxed SIMD feature test: f32x4.relaxed_madd (0xfd 0x85 0x02) of three
// v128.const zeros. Where it validates, the engine built with relaxed SIMD
// (dist/wsd-relaxed.wasm beside wsd.wasm: its CPU micro-kernel uses the
// multiply-add; scripts/build_wasm.sh) is loaded, else (or if that file is
// missing) the plain SIMD128 one.
const V128_ZERO = [0xfd, 0x0c, ...new Array(16).fill(0)];
const RELAXED_SIMD = WebAssembly.validate(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b,
  3, 2, 1, 0, 10, 0x3d, 1, 0x3b, 0, ...V128_ZERO, ...V128_ZERO, ...V128_ZERO, 0xfd, 0x85, 0x02, 0x0b]));

async function compileEngine(url) {
  if (RELAXED_SIMD && /\.wasm$/.test(url)) {
    const r = await fetch(url.replace(/\.wasm$/, '-relaxed.wasm')).catch(() => null);
    if (r && r.ok) return WebAssembly.compileStreaming(r);
  }
  return WebAssembly.compileStreaming(fetch(url));
}

async function init(msg) {
  cancelFlag = msg.cancelBuffer ? new Int32Array(msg.cancelBuffer) : null;
  const module = await compileEngine(msg.wasmUrl);
  const vfs = new VFS();
  // gpuWeights 'f32' keeps float32 weights on the GPU (default f16): the float32 goldens' path
  const env = msg.gpuWeights ? { WSD_GPU_WEIGHTS: String(msg.gpuWeights) } : {};
  const wasi = new Wasi({ vfs, log, env });
  const jspi = typeof WebAssembly.Suspending === 'function' && typeof WebAssembly.promising === 'function';
  // engine functions this build lacks (gpu_* are ours: web/gpu.js implements gpu.h)
  const missing = Wasi.missing(module).filter((n) => !GPU_FUNCTIONS.includes(n));
  E = { module, wasi, vfs, jspi, ctx: 0, model: 0, backend: msg.backend, missing, wrapped: new Map() };
  E.promising = (name) => {
    if (!E.wrapped.has(name)) E.wrapped.set(name, WebAssembly.promising(E.exports[name]));
    return E.wrapped.get(name);
  };
  if (msg.backend === 'webgpu' && !jspi) {
    throw new WorkerError('no-jspi', 'This browser lacks JavaScript Promise Integration (JSPI), which the GPU path needs.');
  }
  // The C WebGPU backend's gpu_* functions (src/backends/webgpu/gpu.h) are env imports.
  const bridge = new GpuBridge({ getExports: () => E.exports, log,
    onLost: (info) => post({ type: 'device-lost', reason: info.reason, message: info.message }) });
  const imports = wasi.imports(module, { wsd: { progress: onProgress }, env: bridge.imports() });
  const instance = await WebAssembly.instantiate(module, imports);
  wasi.start(instance);
  Object.assign(E, { instance, exports: instance.exports, bridge });
  const info = { backend: msg.backend, version: readCstr(E.exports.version()), missing: E.missing,
    jspi, crossOriginIsolated: self.crossOriginIsolated === true, adapter: null, context: false };
  // The context needs the engine's wsd_context_create; an early build may lack it.
  if (!E.missing.includes('wsd_context_create')) {
    const ctx = await call('context_create', msg.backend === 'webgpu' ? 1 : 0, 1, msg.defaultLimits ? 1 : 0);
    if (!ctx) throw engineError(E.exports.last_status() || 6, 'could not create the engine context');
    E.ctx = ctx;
    info.context = true;
    info.adapter = E.bridge.devices.find(Boolean)?.gpu.info || null;
  }
  info.wasmMemoryBytes = E.exports.memory.buffer.byteLength;
  return info;
}

function gpuLost() {
  return !!E?.bridge?.devices.some((d) => d && d.gpu.state.lost);
}

function readFd(fd, offset, dst) {
  const f = E.wasi.fds.get(fd);
  if (!f || f.kind !== 'file') throw new Error(`bad fd ${fd}`);
  return f.node.source.read(offset, dst);
}

async function source(s) {
  switch (s.kind) {
    case 'bytes': return bytesSource(new Uint8Array(s.data));
    case 'blob': return blobSource(s.blob);
    case 'url': return urlSource(s.url, s.size);
    case 'opfs': {
      // Read through a File snapshot, not a sync access handle: those are
      // exclusive, and the tokenizer worker, the engine worker and other tabs
      // must all be able to read the same cached model.
      let dir = await navigator.storage.getDirectory();
      for (const part of s.path.slice(0, -1)) dir = await dir.getDirectoryHandle(part);
      const fh = await dir.getFileHandle(s.path[s.path.length - 1]);
      return blobSource(await fh.getFile());
    }
    default: throw new WorkerError('internal', `unknown file source ${s.kind}`);
  }
}

// The built-in model, mounted at /models/default: web/engine/embedded.c reads
// it for wsd_model_load(ctx, "") and for the CLIP tokenizer that single-file
// checkpoints borrow (files are read only when the engine asks for them).
async function mountDefault(model) {
  if (!model || E.defaultMounted) return;
  const entries = {};
  for (const [rel, s] of Object.entries(model.files)) entries[rel] = await source(s);
  E.vfs.mount('/models/default', entries);
  E.defaultMounted = true;
}

async function loadModel(model, defaultModel) {
  if (E.missing.includes('wsd_model_load')) {
    throw new WorkerError('engine-missing', 'This build of the engine cannot load models yet (wsd_model_load is not implemented).');
  }
  await mountDefault(defaultModel);
  if (E.model) { E.exports.model_free(E.model); E.model = 0; }
  E.vfs.unmount('/models/current');
  const entries = {};
  for (const [rel, s] of Object.entries(model.files)) entries[rel] = await source(s);
  E.vfs.mount('/models/current', entries);
  const path = cstr(model.entry ? `/models/current/${model.entry}` : '/models/current');
  try {
    const m = await call('model_load', E.ctx, path);
    if (!m) throw engineError(E.exports.last_status(), 'the model could not be loaded');
    E.model = m;
  } finally {
    E.exports.release(path);
  }
  // Weights are not read here: the engine keeps only the files' headers and
  // reads each weight when a backend needs it (src/models/model.c).
  return { name: model.name, wasmMemoryBytes: E.exports.memory.buffer.byteLength };
}

// A tokenizer of its own (tokenizer_load on the model's tokenizer/ files): no
// weights needed, so the page's token counter works before and while a model loads.
async function loadTokenizer(model) {
  if (E.tok) { E.exports.tokenizer_free(E.tok); E.tok = 0; }
  E.vfs.unmount('/models/tok');
  const entries = {};
  for (const [rel, s] of Object.entries(model.files)) if (rel.startsWith('tokenizer/')) entries[rel] = await source(s);
  E.vfs.mount('/models/tok', entries);
  const p = cstr('/models/tok');
  try {
    E.tok = E.exports.tokenizer_load(p);
    if (!E.tok) throw new WorkerError('wrong-file', readCstr(E.exports.last_message()) || 'the tokenizer could not be loaded');
  } finally {
    E.exports.release(p);
  }
  return { name: model.name };
}

function tokenize(text) {
  const b = new TextEncoder().encode(text);
  const p = E.exports.alloc(b.length + 1);
  new Uint8Array(E.exports.memory.buffer).set(b, p);
  new Uint8Array(E.exports.memory.buffer)[p + b.length] = 0;
  try {
    let n;
    if (E.tok) n = E.exports.tokenizer_encode(E.tok, p, b.length);
    else if (E.model && !E.missing.includes('wsd_tokenize')) n = E.exports.tokenize(E.ctx, E.model, p);
    else return { count: null, ids: null, reason: E.missing.includes('tok_load_dir') ? 'the engine has no tokenizer yet' : 'no tokenizer loaded' };
    if (n < 0) return { count: null, ids: null, reason: readCstr(E.exports.last_message()) };
    const ids = Array.from(new Int32Array(E.exports.memory.buffer, E.exports.token_ids(), 77));
    return { count: n, ids };
  } finally {
    E.exports.release(p);
  }
}

function onProgress(step, total, previewPtr, pw, ph) {
  const now = performance.now();
  stepTimes.push(now);
  if (stepTimes.length > 6) stepTimes.shift();
  const itPerSec = stepTimes.length > 1 ? (stepTimes.length - 1) / ((now - stepTimes[0]) / 1000) : 0;
  let preview = null;
  if (previewPtr && pw > 0 && ph > 0) {
    const rgb = new Uint8Array(E.exports.memory.buffer, previewPtr, pw * ph * 3);
    const rgba = new Uint8ClampedArray(pw * ph * 4);
    for (let i = 0, j = 0; i < pw * ph; i++, j += 3) {
      rgba[4 * i] = rgb[j]; rgba[4 * i + 1] = rgb[j + 1]; rgba[4 * i + 2] = rgb[j + 2]; rgba[4 * i + 3] = 255;
    }
    preview = { width: pw, height: ph, data: rgba };
  }
  post({ type: 'progress', id: current, step, total, itPerSec, preview }, preview ? [preview.data.buffer] : []);
  return (cancelAsked || (cancelFlag && Atomics.load(cancelFlag, 0) !== 0)) ? 1 : 0;
}

async function generate(params) {
  if (E.missing.includes('wsd_generate')) {
    throw new WorkerError('engine-missing', 'This build of the engine cannot generate images yet (wsd_generate is not implemented).');
  }
  if (!E.model) throw new WorkerError('no-model', 'No model is loaded.');
  const sampler = Math.max(0, SAMPLERS.indexOf(params.sampler || 'default'));
  const allocs = [];
  const s = (x) => { const p = cstr(x || ''); allocs.push(p); return p; };
  let init = 0;
  if (params.initImage) { // {width, height, rgb: Uint8Array}
    init = E.exports.alloc(params.initImage.rgb.length);
    allocs.push(init);
    new Uint8Array(E.exports.memory.buffer).set(params.initImage.rgb, init);
  }
  let latents = 0;
  if (params.initialLatents) { // exact tests: the golden's initial noise instead of the seed's
    const w = params.width | 0, h = params.height | 0, want = 4 * (h >> 3) * (w >> 3);
    const l = params.initialLatents;
    if (!(l instanceof Float32Array) || !w || !h || l.length !== want) {
      throw new WorkerError('invalid-argument', `initialLatents must be a Float32Array of 4 x ${h >> 3} x ${w >> 3} = ${want} values ` +
        `for ${w}x${h} (got ${l?.length ?? 'none'}; width and height must be given)`);
    }
    latents = E.exports.alloc(l.byteLength);
    allocs.push(latents);
    new Float32Array(E.exports.memory.buffer, latents, l.length).set(l);
  }
  cancelAsked = false;
  if (cancelFlag) Atomics.store(cancelFlag, 0, 0);
  stepTimes = [];
  previewEvery = params.previewEvery ?? 1;
  const t0 = performance.now();
  try {
    const st = await call('generate', E.ctx, E.model, s(params.prompt), s(params.negativePrompt),
      params.width | 0, params.height | 0, params.steps | 0, +params.guidance, params.seed ?? -1, sampler,
      init, +(params.strength ?? 0.75), previewEvery, latents);
    if (st !== 0) throw engineError(st);
    const w = E.exports.image_width(), h = E.exports.image_height();
    const rgb = new Uint8Array(E.exports.memory.buffer, E.exports.image_rgb(), w * h * 3);
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let i = 0, j = 0; i < w * h; i++, j += 3) {
      rgba[4 * i] = rgb[j]; rgba[4 * i + 1] = rgb[j + 1]; rgba[4 * i + 2] = rgb[j + 2]; rgba[4 * i + 3] = 255;
    }
    const seed = E.exports.image_seed();
    const out = { width: w, height: h, data: rgba, seed, ms: performance.now() - t0 };
    const floats = (p, n) => (p ? new Float32Array(E.exports.memory.buffer, p, n).slice() : null);
    if (params.returnLatents) out.latents = floats(E.exports.image_latents(), 4 * (h >> 3) * (w >> 3));
    if (params.returnFloatImage) out.imageF32 = floats(E.exports.image_f32(), w * h * 3);
    E.exports.image_free();
    out.wasmMemoryBytes = E.exports.memory.buffer.byteLength;
    return out;
  } finally {
    for (const p of allocs) E.exports.release(p);
  }
}

// Requests run one at a time, in order; `cancel` is handled at once.
let queue = Promise.resolve();
self.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === 'cancel') { cancelAsked = true; return; }
  // Testing hook: lose the GPU device now, as a driver reset would.
  if (msg.type === 'debug-lose-device') { E?.bridge?.devices.forEach((d) => d?.device.destroy()); return; }
  queue = queue.then(() => handle(msg));
};

async function handle(msg) {
  const { id } = msg;
  try {
    switch (msg.type) {
      case 'init': post({ type: 'ready', id, info: await init(msg) }); break;
      case 'load': post({ type: 'loaded', id, info: await loadModel(msg.model, msg.defaultModel) }); break;
      case 'load-tokenizer': post({ type: 'loaded', id, info: await loadTokenizer(msg.model) }); break;
      case 'tokenize': post({ type: 'tokens', id, ...tokenize(msg.text) }); break;
      case 'generate': {
        current = id;
        const img = await generate(msg.params);
        post({ type: 'image', id, ...img }, [img.data.buffer, ...[img.latents, img.imageF32].filter(Boolean).map((a) => a.buffer)]);
        break;
      }
      default: throw new WorkerError('internal', `unknown request ${msg.type}`);
    }
  } catch (e) {
    let code = e.code || 'internal';
    if (e instanceof EngineMissing) code = 'engine-missing';
    if (e instanceof WasiExit) code = 'internal';
    if (e instanceof WebAssembly.RuntimeError || e instanceof RangeError) code = /out of memory|allocat|grow/i.test(e.message) ? 'out-of-memory' : 'crash';
    if (E?.bridge && gpuLost() && code !== 'cancelled') code = 'device-lost';
    post({ type: 'error', id, code, message: e.message || String(e) });
  } finally {
    if (msg.type === 'generate') current = null;
    E?.wasi?.flush();
  }
}

// wsd.js: Stable Diffusion on your own GPU, in the browser. No dependencies,
// no build step; the engine (the C library compiled to wsd.wasm) runs in a
// Web Worker, so the page stays responsive.
//
// Quick start:
//
//   import { createPipeline } from './wsd.js';
//   const sd = await createPipeline({ model: 'default' });        // WebGPU; see `backend`
//   const img = await sd.generate({ prompt: 'a red circle on a blue background',
//     steps: 20, guidance: 7.5, seed: 42, sampler: 'dpmpp_2m',
//     onProgress: ({ step, total, itPerSec, preview }) => { ... } });
//   canvas.getContext('2d').putImageData(img.toImageData(), 0, 0);
//   const png = await img.toPNG();                                // Blob with a "parameters" tEXt chunk
//
// createPipeline(options) -> Promise<Pipeline>
//   model:    'default' (the built-in model, served with the app) | a URL (diffusers folder,
//             Hugging Face repo or single .safetensors; downloaded once into OPFS) |
//             File / File[] / [{file, path}] (local files, not copied) | a descriptor from models.js
//   backend:  'auto' (default: WebGPU) | 'webgpu' | 'cpu' (the engine's CPU backend in wasm SIMD)
//   defaultLimits: true to run WebGPU with the spec-default limits only (testing)
//   gpuWeights: 'f16' (default: half the GPU memory) | 'f32' (float32 weights on the GPU, as the
//             float32 goldens are checked)
//   onProgress: download / load progress: {phase:'download', loaded, total, bytesPerSec, etaSec, file}
//               and {phase:'load'}
//   signal:   AbortSignal for the download / load
//   Fails with a WsdError whose `code` says what a person can do about it:
//   'no-webgpu', 'no-adapter', 'limits' (err.cpuFallback is true: retry with backend 'cpu'),
//   'not-a-model', 'wrong-file', 'unsupported', 'network', 'out-of-storage', 'out-of-memory',
//   'device-lost', 'engine-missing' (this wasm build lacks that engine function yet).
//
// Pipeline
//   .info                  {backend, version, adapter, model, missing, crossOriginIsolated,
//                           wasmMemoryBytes: the engine's wasm memory after the last load / generate}
//   .generate(params)      -> Promise<GeneratedImage>; params:
//       prompt, negativePrompt, steps (20), guidance (7.5), seed (random when absent or < 0),
//       sampler ('default'|'pndm'|'ddim'|'euler'|'euler_a'|'dpmpp_2m'|'dpmpp_2m_karras'|'lms'|'lcm'),
//       width, height (0 = model default; multiples of 8),
//       initImage (ImageData | ImageBitmap | HTMLImageElement | HTMLCanvasElement | Blob) + strength (0.75),
//       signal (AbortSignal: cancels), previewEvery (1), onProgress({step, total, itPerSec, preview: ImageData|null}),
//       exact tests: initialLatents (Float32Array [1,4,height/8,width/8]: used instead of the seed's noise;
//       width and height required), returnLatents, returnFloatImage (adds .latents / .imageF32 below)
//   .tokenize(text)        -> Promise<{count, max: 75, ids}>; count is null (with `reason`) when the
//                             engine has no tokenizer
//   .cancel()              stops the running generate (it rejects with code 'cancelled')
//   .loadModel(model, {onProgress, signal})   switches models
//   .dispose()
// GeneratedImage: {width, height, data (RGBA Uint8ClampedArray), seed, timeMs, params,
//                  toImageData(), toPNG() -> Promise<Blob>, parameters (A1111 text),
//                  latents (Float32Array [1,4,h/8,w/8]) and imageF32 (Float32Array [h,w,3] in [0,1]) when asked}
//
// createTokenizer({model}) -> Tokenizer with .count(text) (same result as Pipeline.tokenize), .dispose()
// prepareModel(model, {onProgress, signal}) -> descriptor: download/check once, pass to both.
// Also exported: probeWebGPU, encodePNG, a1111Parameters, listCached, deleteCached, parseModelUrl,
// WsdError, SAMPLERS, MAX_TOKENS, DEFAULT_MODEL_URL.

import { probeWebGPU } from './gpu.js';
import { encodePNG, a1111Parameters } from './png.js';
import { ModelError, downloadModel, findCached, localModel, parseModelUrl, listCached, deleteCached, opfsAvailable } from './models.js';

export { probeWebGPU, encodePNG, a1111Parameters, listCached, deleteCached, parseModelUrl };
export const SAMPLERS = ['default', 'pndm', 'ddim', 'euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'lms', 'lcm'];
export const MAX_TOKENS = 75;
export const DEFAULT_MODEL_URL = new URL('./models/default/', import.meta.url).href;
export const DEFAULT_MODEL_NAME = 'shapes-sd15 (built in)';

export class WsdError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'WsdError';
    this.code = code;
    Object.assign(this, extra);
  }
}

const wrap = (e) => (e instanceof WsdError ? e
  : e?.name === 'AbortError' ? new WsdError('cancelled', 'Cancelled.')
    : new WsdError(e?.code || 'internal', e?.message || String(e)));

// One engine worker and its request/response bookkeeping.
class EngineWorker {
  constructor({ workerUrl, onEvent }) {
    this.worker = new Worker(workerUrl, { type: 'module', name: 'wsd-engine' });
    this.pending = new Map();
    this.nextId = 1;
    this.onEvent = onEvent;
    this.dead = null;
    this.worker.onmessage = (ev) => this.receive(ev.data);
    this.worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.die(new WsdError('crash', `The engine worker failed: ${ev.message || 'unknown error'}`));
    };
  }
  receive(m) {
    if (m.type === 'log') { (m.level === 'warn' ? console.warn : console.log)(`[wsd] ${m.text}`); return; }
    if (m.type === 'device-lost') { this.onEvent?.(m); return; }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.type === 'progress') { p.onProgress?.(m); return; }
    this.pending.delete(m.id);
    if (m.type === 'error') p.reject(new WsdError(m.code, m.message));
    else p.resolve(m);
  }
  request(msg, { onProgress, transfer } = {}) {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ ...msg, id }, transfer || []);
    });
  }
  post(msg) { if (!this.dead) this.worker.postMessage(msg); }
  die(err) {
    if (!this.dead) this.dead = err;
    this.worker.terminate();
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

// Resolves a model option to a worker descriptor (downloading into OPFS if needed).
async function resolveModel(model, { onProgress, signal } = {}) {
  try {
    if (model == null || model === 'default') {
      return await resolveUrl(DEFAULT_MODEL_URL, DEFAULT_MODEL_NAME, onProgress, signal);
    }
    if (typeof model === 'string') return await resolveUrl(model, undefined, onProgress, signal);
    if (model instanceof URL) return await resolveUrl(model.href, undefined, onProgress, signal);
    if (typeof File !== 'undefined' && model instanceof File) return await localModel([{ file: model, path: model.name }]);
    if (Array.isArray(model)) {
      return await localModel(model.map((x) => (x instanceof File ? { file: x, path: x.webkitRelativePath || x.name } : x)));
    }
    if (model.files) return model; // a descriptor
  } catch (e) {
    throw wrap(e);
  }
  throw new WsdError('invalid-argument', 'model must be "default", a URL, File(s) or a model descriptor.');
}

async function resolveUrl(url, name, onProgress, signal) {
  if (!opfsAvailable()) {
    // No OPFS: read the files straight from the server, range by range (same-origin only).
    const spec = parseModelUrl(url);
    if (spec.kind === 'single') return { name: name || spec.name, kind: 'single', entry: 'model.safetensors', files: { 'model.safetensors': { kind: 'url', url: spec.url } } };
    const { DIFFUSERS_FILES } = await import('./models.js');
    const files = {};
    for (const [rel, cands, required] of DIFFUSERS_FILES) if (required) files[rel] = { kind: 'url', url: spec.base + cands[cands.length - 1] };
    return { name: name || spec.name, kind: 'diffusers', entry: '', files };
  }
  const hit = await findCached(url);
  if (hit) return hit;
  return downloadModel(url, { onProgress, signal, name });
}

async function toRGB(img, width, height) {
  let bitmap = img;
  if (typeof Blob !== 'undefined' && img instanceof Blob) bitmap = await createImageBitmap(img);
  let data;
  if (typeof ImageData !== 'undefined' && img instanceof ImageData && img.width === width && img.height === height) {
    data = img.data;
  } else {
    const c = new OffscreenCanvas(width, height);
    const g = c.getContext('2d');
    if (typeof ImageData !== 'undefined' && bitmap instanceof ImageData) bitmap = await createImageBitmap(bitmap);
    // cover: scale to fill, centre-crop
    const sw = bitmap.width, sh = bitmap.height, s = Math.max(width / sw, height / sh);
    g.drawImage(bitmap, (width - sw * s) / 2, (height - sh * s) / 2, sw * s, sh * s);
    data = g.getImageData(0, 0, width, height).data;
  }
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[3 * i] = data[4 * i]; rgb[3 * i + 1] = data[4 * i + 1]; rgb[3 * i + 2] = data[4 * i + 2];
  }
  return { width, height, rgb };
}

function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

class GeneratedImage {
  constructor(m, params) {
    this.width = m.width;
    this.height = m.height;
    this.data = m.data;
    this.seed = m.seed;
    this.timeMs = m.ms;
    this.params = { ...params, seed: m.seed, width: m.width, height: m.height };
    this.parameters = a1111Parameters(this.params);
    if (m.latents) this.latents = m.latents;
    if (m.imageF32) this.imageF32 = m.imageF32;
  }
  toImageData() { return new ImageData(this.data, this.width, this.height); }
  async toPNG() {
    return new Blob([await encodePNG(this.data, this.width, this.height, { parameters: this.parameters })], { type: 'image/png' });
  }
}

export class Pipeline {
  constructor(opts) {
    this.opts = opts;
    this.info = null;
    this.model = null;
    this.engine = null;
    this.tok = null;
    this.running = null;
    this.lost = null;
  }

  async start() {
    const o = this.opts;
    let backend = o.backend || 'auto';
    let adapterCheck = null;
    if (backend === 'auto' || backend === 'webgpu') {
      adapterCheck = await probeWebGPU();
      if (!adapterCheck.ok) {
        throw new WsdError(adapterCheck.code, adapterCheck.message, { cpuFallback: true, adapter: adapterCheck.adapter });
      }
      backend = 'webgpu';
    }
    this.backend = backend;
    this.engine = await this.spawn(backend);
    return this;
  }

  async spawn(backend) {
    const o = this.opts;
    const engine = new EngineWorker({ workerUrl: o.workerUrl, onEvent: (m) => {
      if (m.type === 'device-lost') this.lost = m;
    } });
    this.cancelBuffer = typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated ? new SharedArrayBuffer(4) : null;
    this.cancelFlag = this.cancelBuffer ? new Int32Array(this.cancelBuffer) : null;
    try {
      const r = await engine.request({ type: 'init', wasmUrl: o.wasmUrl, backend, defaultLimits: !!o.defaultLimits,
        gpuWeights: o.gpuWeights, cancelBuffer: this.cancelBuffer });
      this.info = { ...r.info, model: this.model?.name ?? null };
    } catch (e) {
      engine.die(e);
      if (backend === 'webgpu' && ['device', 'device-lost', 'no-jspi', 'unsupported', 'out-of-memory'].includes(e.code)) e.cpuFallback = true;
      throw e;
    }
    this.lost = null;
    return engine;
  }

  // Restarts the engine after a device loss or a hard cancel, reloading the model.
  async revive() {
    if (this.engine && !this.engine.dead && !this.lost) return;
    this.engine?.die(new WsdError('cancelled', 'engine restarted'));
    this.engine = await this.spawn(this.backend);
    if (this.model) await this.engine.request({ type: 'load', model: this.model, defaultModel: await this.defaultModel() });
  }

  // The built-in model's descriptor (from the OPFS cache after the first
  // visit): the engine borrows its CLIP tokenizer for single-file checkpoints.
  async defaultModel() {
    if (!this.defaultDesc) this.defaultDesc = resolveModel('default').catch(() => null);
    return this.defaultDesc;
  }

  async loadModel(model, { onProgress, signal } = {}) {
    const desc = await resolveModel(model, { onProgress, signal });
    onProgress?.({ phase: 'load', name: desc.name });
    this.model = desc;
    if (this.info) this.info.model = desc.name;
    if (this.tokReady) { this.tokReady.then((t) => t.dispose(), () => {}); this.tok = null; this.tokReady = null; }
    try {
      await this.revive();
      const r = await this.engine.request({ type: 'load', model: desc, defaultModel: await this.defaultModel() });
      if (r.info?.wasmMemoryBytes) this.info.wasmMemoryBytes = r.info.wasmMemoryBytes;
    } catch (e) {
      if (e.code !== 'engine-missing') throw wrap(e);
      this.info.modelLoadError = e.message; // engine not ready for models yet: keep the descriptor
    }
    return desc;
  }

  // Token count for the prompt box. A separate small CPU worker does it (see
  // Tokenizer), so counting never waits behind a running generation.
  async tokenize(text) {
    if (!this.tokReady) {
      const model = this.model;
      this.tokReady = Tokenizer.create({ model, workerUrl: this.opts.workerUrl, wasmUrl: this.opts.wasmUrl })
        .then((t) => { this.tok = t; return t; });
    }
    try {
      return await (await this.tokReady).count(text);
    } catch (e) {
      return { count: null, max: MAX_TOKENS, ids: null, reason: e.message };
    }
  }

  async generate(params = {}) {
    if (this.running) throw new WsdError('busy', 'A generation is already running.');
    const p = {
      prompt: String(params.prompt ?? ''), negativePrompt: String(params.negativePrompt ?? ''),
      steps: params.steps ?? 20, guidance: params.guidance ?? 7.5,
      seed: params.seed == null || params.seed < 0 ? randomSeed() : Math.floor(params.seed),
      sampler: params.sampler || 'default', width: params.width || 0, height: params.height || 0,
      strength: params.strength ?? 0.75, previewEvery: params.previewEvery ?? 1,
      model: this.model?.name || 'unknown',
    };
    if (!SAMPLERS.includes(p.sampler)) throw new WsdError('invalid-argument', `unknown sampler ${p.sampler}`);
    if (p.width % 8 || p.height % 8) throw new WsdError('invalid-argument', 'width and height must be multiples of 8');
    const { signal, onProgress } = params;
    if (signal?.aborted) throw new WsdError('cancelled', 'Cancelled.');
    await this.revive();
    let init = null;
    if (params.initImage) {
      if (!p.width || !p.height) throw new WsdError('invalid-argument', 'img2img needs width and height');
      init = await toRGB(params.initImage, p.width, p.height);
      p.initImage = true;
    }
    if (this.cancelFlag) Atomics.store(this.cancelFlag, 0, 0);
    const onAbort = () => this.cancel();
    signal?.addEventListener('abort', onAbort);
    const engine = this.engine;
    this.stepMs = 0;
    let lastStepAt = performance.now();
    const exact = {};
    for (const k of ['initialLatents', 'returnLatents', 'returnFloatImage']) if (params[k]) exact[k] = params[k];
    const job = engine.request({ type: 'generate', params: { ...p, ...exact, initImage: init } }, {
      onProgress: (m) => {
        const now = performance.now();
        this.stepMs = now - lastStepAt;
        lastStepAt = now;
        onProgress?.({ phase: 'denoise', step: m.step, total: m.total, itPerSec: m.itPerSec,
          preview: m.preview ? new ImageData(m.preview.data, m.preview.width, m.preview.height) : null });
      },
      transfer: init ? [init.rgb.buffer] : [],
    });
    this.running = { job, engine };
    try {
      const m = await job;
      if (m.wasmMemoryBytes && this.info) this.info.wasmMemoryBytes = m.wasmMemoryBytes;
      return new GeneratedImage(m, p);
    } catch (e) {
      const err = wrap(e);
      if (this.lost && err.code !== 'cancelled') {
        throw new WsdError('device-lost', `The GPU was lost during the run (${this.lost.reason || 'unknown'}${this.lost.message ? ': ' + this.lost.message : ''}). ` +
          'Press Generate to try again; the engine restarts and reloads the model.');
      }
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.running = null;
    }
  }

  // Cancels the running generation: a flag the engine reads after every step.
  // If the engine has not stopped after 3 s or two step times (whichever is
  // longer), its worker is ended, and restarted (model reloaded) on the next call.
  cancel() {
    const run = this.running;
    if (!run) return;
    if (this.cancelFlag) Atomics.store(this.cancelFlag, 0, 1);
    run.engine.post({ type: 'cancel' });
    setTimeout(() => {
      if (this.running === run) run.engine.die(new WsdError('cancelled', 'Cancelled.'));
    }, Math.max(3000, 2 * (this.stepMs || 0)));
  }

  dispose() {
    this.engine?.die(new WsdError('cancelled', 'disposed'));
    this.tok?.dispose();
    this.engine = this.tok = null;
  }
}

// The prompt tokenizer alone (the engine's CLIP BPE in its own worker, reading
// only the model's tokenizer/ files): for a live "n/75" count, also before a
// pipeline exists (e.g. while the page offers the CPU path).
export class Tokenizer {
  static async create({ model = 'default', workerUrl, wasmUrl, onProgress, signal } = {}) {
    const t = new Tokenizer();
    const desc = await resolveModel(model, { onProgress, signal });
    t.worker = new EngineWorker({ workerUrl: workerUrl || defaultUrls().workerUrl });
    try {
      await t.worker.request({ type: 'init', wasmUrl: wasmUrl || defaultUrls().wasmUrl, backend: 'cpu' });
      const pick = (d) => {
        const files = {};
        for (const [rel, src] of Object.entries(d?.files || {})) if (rel.startsWith('tokenizer/')) files[rel] = src;
        return Object.keys(files).length ? { ...d, files } : null;
      };
      // single-file checkpoints have no tokenizer/: SD 1.x uses the CLIP
      // vocabulary the built-in model ships (as the engine does)
      const tok = pick(desc) || pick(await resolveModel('default').catch(() => null));
      if (!tok) throw new WsdError('unsupported', 'This model has no tokenizer files, and the built-in model (whose CLIP tokenizer would do) is not available.');
      await t.worker.request({ type: 'load-tokenizer', model: tok });
    } catch (e) {
      t.worker.die(wrap(e));
      throw wrap(e);
    }
    return t;
  }
  // -> {count, max: 75, ids (77 ints: BOS, tokens, EOS, padding)}; count null + reason when unavailable
  async count(text) {
    const r = await this.worker.request({ type: 'tokenize', text: String(text ?? '') });
    return { count: r.count, max: MAX_TOKENS, ids: r.ids, reason: r.reason };
  }
  dispose() { this.worker?.die(new WsdError('cancelled', 'disposed')); }
}

export async function createTokenizer(options = {}) { return Tokenizer.create(options); }

// Resolves a model option ('default', URL, File(s)) to a descriptor, downloading
// into the OPFS cache when needed; pass the result as `model` to createPipeline
// and createTokenizer to share one download.
export async function prepareModel(model = 'default', { onProgress, signal } = {}) {
  return resolveModel(model, { onProgress, signal });
}

function defaultUrls() {
  return { workerUrl: new URL('./worker.js', import.meta.url), wasmUrl: new URL('./dist/wsd.wasm', import.meta.url).href };
}

export async function createPipeline(options = {}) {
  const opts = { ...defaultUrls(), ...options };
  const p = new Pipeline(opts);
  try {
    await p.start();
    if (opts.model !== null) await p.loadModel(opts.model ?? 'default', { onProgress: opts.onProgress, signal: opts.signal });
  } catch (e) {
    p.dispose();
    throw wrap(e);
  }
  return p;
}

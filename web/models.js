// Models for the web app: where they come from, checking that they are
// models, downloading them into the Origin Private File System (OPFS) with
// progress, and the list of what is cached.
//
// A "model descriptor" is what the engine worker mounts:
//   {name, kind: 'diffusers'|'single', entry: '' | 'model.safetensors',
//    files: {relpath: source}}   source: {kind:'opfs', path:[...]} | {kind:'blob', blob} | {kind:'url', url, size}
// Relative paths follow the diffusers layout (unet/diffusion_pytorch_model.safetensors ...);
// an fp16 variant file is stored under the plain name, so the engine sees one layout.

export class ModelError extends Error {
  constructor(code, message) { super(message); this.name = 'ModelError'; this.code = code; }
}

const CACHE_DIR = 'wsd-models';

// The files of an SD 1.x diffusers folder. Each entry: [stored name, candidates
// to fetch in order, required]. Plain names first (a generic server can only
// be probed, and every miss is a logged 404); for Hugging Face repositories the
// file list is asked for first and fp16 variants are preferred (half the
// download; the engine widens F16 to F32 anyway).
export const DIFFUSERS_FILES = [
  ['model_index.json', ['model_index.json'], true],
  ['scheduler/scheduler_config.json', ['scheduler/scheduler_config.json'], true],
  ['tokenizer/vocab.json', ['tokenizer/vocab.json'], true],
  ['tokenizer/merges.txt', ['tokenizer/merges.txt'], true],
  ['tokenizer/tokenizer_config.json', ['tokenizer/tokenizer_config.json'], false],
  ['tokenizer/special_tokens_map.json', ['tokenizer/special_tokens_map.json'], false],
  ['text_encoder/config.json', ['text_encoder/config.json'], true],
  ['text_encoder/model.safetensors', ['text_encoder/model.safetensors', 'text_encoder/model.fp16.safetensors'], true],
  ['unet/config.json', ['unet/config.json'], true],
  ['unet/diffusion_pytorch_model.safetensors', ['unet/diffusion_pytorch_model.safetensors', 'unet/diffusion_pytorch_model.fp16.safetensors'], true],
  ['vae/config.json', ['vae/config.json'], true],
  ['vae/diffusion_pytorch_model.safetensors', ['vae/diffusion_pytorch_model.safetensors', 'vae/diffusion_pytorch_model.fp16.safetensors'], true],
];

// ---- URLs -------------------------------------------------------------------------

// Turns what a person pastes into {kind, base|url, name}:
//   https://huggingface.co/org/model                 -> diffusers folder at .../resolve/main/
//   https://huggingface.co/org/model/tree/rev         -> .../resolve/rev/
//   https://huggingface.co/org/model/blob/rev/x.safetensors -> .../resolve/rev/x.safetensors
//   any URL ending in .safetensors                    -> single file
//   any other URL                                     -> diffusers folder (model_index.json inside)
export function parseModelUrl(text, base = globalThis.location?.href) {
  let u;
  try { u = new URL(String(text).trim(), base); } catch {
    throw new ModelError('not-a-model', `"${text}" is not a URL.`);
  }
  if (!/^https?:$/.test(u.protocol)) throw new ModelError('not-a-model', `Only http(s) URLs can be loaded, not ${u.protocol}`);
  u.hash = '';
  const p = u.pathname;
  if (/\.(ckpt|pt|pth|bin)$/i.test(p)) {
    throw new ModelError('not-a-model', 'Only .safetensors weights are supported: pickle files (.ckpt/.pt/.bin) can run code when loaded, so they are refused.');
  }
  if (u.hostname === 'huggingface.co') {
    const m = p.match(/^\/([^/]+)\/([^/]+)(?:\/(tree|blob|resolve)\/([^/]+)(\/.*)?)?\/?$/);
    if (m && !['datasets', 'spaces'].includes(m[1])) {
      const [, org, repo, , rev = 'main', rest = ''] = m;
      const path = rest.replace(/^\//, '');
      const baseUrl = `https://huggingface.co/${org}/${repo}/resolve/${rev}/`;
      if (path.endsWith('.safetensors')) return { kind: 'single', url: baseUrl + path, name: `${org}/${repo}/${path.split('/').pop()}` };
      return { kind: 'diffusers', base: baseUrl + (path ? path.replace(/\/?$/, '/') : ''), name: `${org}/${repo}${path ? '/' + path : ''}` };
    }
  }
  if (/\.safetensors$/i.test(p)) return { kind: 'single', url: u.href, name: decodeURIComponent(p.split('/').pop()) };
  if (/\/model_index\.json$/.test(p)) u.pathname = p.replace(/model_index\.json$/, '');
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  const parts = u.pathname.split('/').filter(Boolean);
  return { kind: 'diffusers', base: u.href, name: parts.length ? decodeURIComponent(parts.slice(-2).join('/')) : u.host };
}

// ---- checking files -----------------------------------------------------------------

// Parses a safetensors header from the first bytes of a file. Returns
// {headerLen, keys, need} where `need` > 0 asks for more bytes; throws
// ModelError('wrong-file') for anything that is not safetensors.
export function sniffSafetensors(bytes, what, totalSize) {
  if (bytes.length < 8) return { need: 8 };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (bytes[0] === 0x3c || bytes[8] === 0x3c) throw new ModelError('wrong-file', `${what} is a web page, not a .safetensors file (the server answered with HTML).`);
  if (n < 2 || n > 100 * 1024 * 1024 || (totalSize && n + 8 > totalSize)) {
    throw new ModelError('wrong-file', `${what} is not a .safetensors file (its first 8 bytes do not give a valid header length).`);
  }
  if (bytes.length < 8 + n) return { need: 8 + n };
  let header;
  try { header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n))); } catch {
    throw new ModelError('wrong-file', `${what} is not a .safetensors file (its header is not JSON).`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new ModelError('wrong-file', `${what}: malformed safetensors header.`);
  const keys = Object.keys(header).filter((k) => k !== '__metadata__');
  return { headerLen: n, keys, need: 0 };
}

// What a set of tensor names is: 'checkpoint' (single-file SD 1.x), 'unet',
// 'vae', 'text_encoder', or null.
export function classifyKeys(keys) {
  const has = (re) => keys.some((k) => re.test(k));
  if (has(/^model\.diffusion_model\./)) return 'checkpoint';
  if (has(/^text_model\./) || has(/^embeddings\.token_embedding/)) return 'text_encoder';
  if (has(/^down_blocks\.\d+\.attentions\./) || has(/^time_embedding\./)) return 'unet';
  if (has(/^encoder\.down_blocks\./) || has(/^decoder\.up_blocks\./)) return 'vae';
  return null;
}

function checkTensorFile(rel, keys, what) {
  const kind = classifyKeys(keys);
  const want = rel === 'model.safetensors' ? 'checkpoint' : rel.split('/')[0];
  if (kind !== want) {
    const found = keys.slice(0, 3).join(', ') || 'no tensors';
    const msg = want === 'checkpoint'
      ? `${what} is a .safetensors file but not a Stable Diffusion 1.x checkpoint (it has no model.diffusion_model.* weights; first tensors: ${found}).`
      : `${what} does not hold ${want} weights (first tensors: ${found}).`;
    throw new ModelError('wrong-file', msg);
  }
}

function checkModelIndex(text, what) {
  let j;
  try { j = JSON.parse(text); } catch {
    throw new ModelError('not-a-model', `${what} is not JSON: this does not look like a diffusers model folder.`);
  }
  const cls = String(j?._class_name || '');
  if (!j || !j.unet || !j.vae || !j.text_encoder) {
    throw new ModelError('not-a-model', `${what} describes ${cls || 'something'} without unet, vae and text_encoder: not a Stable Diffusion pipeline.`);
  }
  if (cls && !/StableDiffusion/.test(cls)) {
    throw new ModelError('unsupported', `${what} is a ${cls}; only Stable Diffusion 1.x pipelines are supported.`);
  }
  if (/XL|Cascade|3/.test(cls)) throw new ModelError('unsupported', `${cls} is not supported; only Stable Diffusion 1.x.`);
  return j;
}

// ---- OPFS cache ----------------------------------------------------------------------

export function opfsAvailable() {
  return typeof navigator !== 'undefined' && !!navigator.storage?.getDirectory;
}

async function cacheRoot(create = true) {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle(CACHE_DIR, { create });
}

async function dirFor(root, parts, create) {
  let d = root;
  for (const p of parts) d = await d.getDirectoryHandle(p, { create });
  return d;
}

export async function cacheKey(url) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(url)));
  return 'm' + Array.from(h.subarray(0, 10), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function readMeta(dir) {
  try {
    const f = await (await dir.getFileHandle('meta.json')).getFile();
    return JSON.parse(await f.text());
  } catch { return null; }
}

async function dirSize(dir) {
  let n = 0;
  for await (const [, h] of dir.entries()) n += h.kind === 'file' ? (await h.getFile()).size : await dirSize(h);
  return n;
}

// [{key, name, url, kind, bytes, complete, savedAt}] of every cached model (incomplete ones too).
export async function listCached() {
  if (!opfsAvailable()) return [];
  let root;
  try { root = await cacheRoot(false); } catch { return []; }
  const out = [];
  for await (const [key, h] of root.entries()) {
    if (h.kind !== 'directory') continue;
    const meta = await readMeta(h);
    out.push(meta ? { ...meta, key, bytes: meta.bytes ?? await dirSize(h) }
      : { key, name: '(incomplete download)', url: '', complete: false, bytes: await dirSize(h) });
  }
  return out.sort((a, b) => (b.savedAt || 0) - (a.savedAt || 0));
}

export async function deleteCached(key) {
  const root = await cacheRoot(false);
  await root.removeEntry(key, { recursive: true });
}

export async function cachedDescriptor(key) {
  const root = await cacheRoot(false);
  const meta = await readMeta(await root.getDirectoryHandle(key));
  if (!meta || !meta.complete) return null;
  const files = {};
  for (const f of meta.files) files[f.path] = { kind: 'opfs', path: [CACHE_DIR, key, ...f.path.split('/')] };
  return { name: meta.name, kind: meta.kind, entry: meta.entry, files, key, url: meta.url };
}

// Finds a complete cached copy of a URL's model, or null. No network.
export async function findCached(url) {
  if (!opfsAvailable()) return null;
  try {
    const spec = parseModelUrl(url);
    return await cachedDescriptor(await cacheKey(spec.kind === 'single' ? spec.url : spec.base));
  } catch { return null; }
}

// ---- downloading ----------------------------------------------------------------------

class Meter {
  constructor(onProgress) { this.onProgress = onProgress; this.loaded = 0; this.total = 0; this.t0 = performance.now(); this.last = 0; this.rate = 0; this.samples = []; }
  add(n, info) {
    this.loaded += n;
    const now = performance.now();
    this.samples.push([now, this.loaded]);
    while (this.samples.length > 2 && now - this.samples[0][0] > 3000) this.samples.shift();
    if (now - this.last < 100 && this.loaded < this.total) return;
    this.last = now;
    const [t0, b0] = this.samples[0];
    this.rate = now > t0 ? (this.loaded - b0) / ((now - t0) / 1000) : 0;
    this.emit(info);
  }
  emit(info = {}) {
    const remaining = Math.max(0, this.total - this.loaded);
    this.onProgress?.({ phase: 'download', loaded: this.loaded, total: this.total, bytesPerSec: this.rate,
      etaSec: this.rate > 0 && this.total ? remaining / this.rate : null, ...info });
  }
}

async function fetchFirst(base, candidates, signal, required, what) {
  let lastStatus = 0;
  for (const c of candidates) {
    let r;
    try { r = await fetch(base + c, { signal, credentials: 'omit', cache: 'no-store' }); } catch (e) {
      if (signal?.aborted) throw e;
      throw new ModelError('network', `Could not reach ${base + c}: ${e.message}. Check the URL and your connection (the server must allow cross-origin requests).`);
    }
    if (r.ok) return { response: r, name: c };
    lastStatus = r.status;
    r.body?.cancel();
    if (r.status !== 404 && r.status !== 403 && r.status !== 401) {
      throw new ModelError('network', `${base + c}: HTTP ${r.status}`);
    }
  }
  if (!required) return null;
  if (lastStatus === 401 || lastStatus === 403) {
    throw new ModelError('not-a-model', `${base}${candidates[0]}: access denied (HTTP ${lastStatus}). The model may be gated or private.`);
  }
  throw new ModelError('not-a-model', `${what}: ${candidates.join(' or ')} not found at ${base} — not a Stable Diffusion diffusers folder.`);
}

// The file names of a Hugging Face repository folder (relative to `base`), or
// null for other servers or when the listing is unavailable.
async function hfListing(base, signal) {
  const m = /^https:\/\/huggingface\.co\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.*)$/.exec(base);
  if (!m) return null;
  const [, org, repo, rev, sub] = m;
  try {
    const r = await fetch(`https://huggingface.co/api/models/${org}/${repo}/revision/${rev}`, { signal, credentials: 'omit' });
    if (!r.ok) return null;
    const j = await r.json();
    const names = new Set();
    for (const f of j.siblings || []) if (f.rfilename?.startsWith(sub)) names.add(f.rfilename.slice(sub.length));
    return names.size ? names : null;
  } catch (e) {
    if (signal?.aborted) throw e;
    return null;
  }
}

// Streams a response into an OPFS file; validates .safetensors headers on the way.
async function saveResponse(response, dir, rel, meter, signal, info) {
  const parts = rel.split('/');
  const d = await dirFor(dir, parts.slice(0, -1), true);
  const fh = await d.getFileHandle(parts[parts.length - 1], { create: true });
  const writable = await fh.createWritable();
  const isTensor = rel.endsWith('.safetensors');
  const size = Number(response.headers.get('Content-Length')) || 0;
  const ct = response.headers.get('Content-Type') || '';
  if (/text\/html/.test(ct)) {
    await writable.abort();
    throw new ModelError(rel === 'model.safetensors' ? 'not-a-model' : 'wrong-file', `${response.url} is a web page, not a model file.`);
  }
  let head = new Uint8Array(0), checked = !isTensor, written = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (signal?.aborted) throw new DOMException('download cancelled', 'AbortError');
      if (!checked) {
        const h = new Uint8Array(head.length + value.length);
        h.set(head); h.set(value, head.length);
        head = h;
        const s = sniffSafetensors(head, response.url, size);
        if (!s.need) { checkTensorFile(rel, s.keys, response.url); checked = true; head = null; }
      }
      await writable.write(value);
      written += value.length;
      meter.add(value.length, info);
    }
    if (!checked) sniffSafetensors(head, response.url, size); // throws for a too-short file
    await writable.close();
  } catch (e) {
    reader.cancel().catch(() => {});
    await writable.abort().catch(() => {});
    throw e;
  }
  return written;
}

// Downloads a model URL into the cache; returns its descriptor. If a complete
// copy is cached already, returns it without touching the network.
// onProgress({phase:'download', loaded, total, bytesPerSec, etaSec, file, fileIndex, fileCount})
// Fails early when the browser will not give the site room for `bytes` more,
// and asks for persistent storage so a big model is not evicted later.
async function checkRoom(bytes) {
  try { await navigator.storage.persist?.(); } catch { /* best effort */ }
  const est = await navigator.storage.estimate?.().catch(() => null);
  if (est && est.quota && bytes && est.usage + bytes > est.quota) {
    const mb = (n) => `${Math.round(n / 1048576)} MB`;
    throw new ModelError('out-of-storage', `The model needs ${mb(bytes)}, but this browser allows the site only ${mb(est.quota - est.usage)} more. ` +
      'Delete stored models or free disk space.');
  }
}

const inFlight = new Map(); // cache key -> promise of the running download

export async function downloadModel(url, { onProgress, signal, name } = {}) {
  const spec = parseModelUrl(url);
  const key = await cacheKey(spec.kind === 'single' ? spec.url : spec.base);
  // A second request for a model being downloaded waits for that download.
  if (inFlight.has(key)) return inFlight.get(key);
  const job = downloadInto(key, spec, { onProgress, signal, name });
  inFlight.set(key, job);
  try {
    return await job;
  } finally {
    inFlight.delete(key);
  }
}

async function downloadInto(key, spec, { onProgress, signal, name }) {
  const source = spec.kind === 'single' ? spec.url : spec.base;
  if (!opfsAvailable()) throw new ModelError('no-storage', 'This browser has no Origin Private File System: models cannot be cached.');
  const hit = await cachedDescriptor(key).catch(() => null);
  if (hit) return hit;
  const root = await cacheRoot(true);
  try { await root.removeEntry(key, { recursive: true }); } catch { /* nothing half-written */ }
  const dir = await root.getDirectoryHandle(key, { create: true });
  const meter = new Meter(onProgress);
  const files = [];
  const what = name || spec.name;
  try {
    if (spec.kind === 'single') {
      const { response } = await fetchFirst('', [spec.url], signal, true, what);
      meter.total = Number(response.headers.get('Content-Length')) || 0;
      await checkRoom(meter.total);
      const n = await saveResponse(response, dir, 'model.safetensors', meter, signal, { file: 'model.safetensors', fileIndex: 1, fileCount: 1 });
      files.push({ path: 'model.safetensors', size: n });
    } else {
      // model_index.json first: it says whether this is a model at all.
      const idx = await fetchFirst(spec.base, ['model_index.json'], signal, true, what);
      const text = await idx.response.text();
      checkModelIndex(text, `${spec.base}model_index.json`);
      let plan = DIFFUSERS_FILES.filter(([rel]) => rel !== 'model_index.json');
      const listing = await hfListing(spec.base, signal);
      if (listing) {
        // only names that exist, fp16 variants first
        plan = plan.map(([rel, cands, required]) => {
          const have = [...cands].sort((a, b) => b.includes('.fp16.') - a.includes('.fp16.')).filter((c) => listing.has(c));
          return [rel, have.length ? have : cands, required];
        }).filter(([, cands, required]) => required || cands.some((c) => listing.has(c)));
      }
      const writeText = async (rel, t) => {
        const parts = rel.split('/');
        const d = await dirFor(dir, parts.slice(0, -1), true);
        const w = await (await d.getFileHandle(parts[parts.length - 1], { create: true })).createWritable();
        await w.write(t); await w.close();
      };
      await writeText('model_index.json', text);
      files.push({ path: 'model_index.json', size: new TextEncoder().encode(text).length });
      // Sizes up front (HEAD) for a whole-download ETA; unknown sizes count as they arrive.
      const sizes = await Promise.all(plan.map(async ([, cands]) => {
        if (!cands[0].endsWith('.safetensors')) return 0;
        for (const c of cands) {
          try {
            const r = await fetch(spec.base + c, { method: 'HEAD', signal, credentials: 'omit' });
            if (r.ok) return Number(r.headers.get('Content-Length')) || 0;
          } catch { /* the GET will report it */ }
        }
        return 0;
      }));
      meter.total = sizes.reduce((a, b) => a + b, 0);
      await checkRoom(meter.total);
      let i = 0;
      for (const [rel, cands, required] of plan) {
        i++;
        const got = await fetchFirst(spec.base, cands, signal, required, what);
        if (!got) continue;
        if (!sizes[i - 1]) meter.total += Number(got.response.headers.get('Content-Length')) || 0;
        const n = await saveResponse(got.response, dir, rel, meter, signal, { file: got.name, fileIndex: i, fileCount: plan.length });
        files.push({ path: rel, size: n });
      }
    }
    const meta = { name: what, url: source, kind: spec.kind, entry: spec.kind === 'single' ? 'model.safetensors' : '',
      files, bytes: files.reduce((a, f) => a + f.size, 0), complete: true, savedAt: Date.now() };
    const w = await (await dir.getFileHandle('meta.json', { create: true })).createWritable();
    await w.write(JSON.stringify(meta)); await w.close();
    meter.total = meter.loaded; meter.emit({ done: true });
    return cachedDescriptor(key);
  } catch (e) {
    await root.removeEntry(key, { recursive: true }).catch(() => {});
    if (e.name === 'QuotaExceededError') {
      throw new ModelError('out-of-storage', 'The browser refused to store more data (storage quota exceeded). Delete cached models or free disk space.');
    }
    throw e;
  }
}

// ---- local files ------------------------------------------------------------------------

async function sniffBlob(blob, what) {
  let s = sniffSafetensors(new Uint8Array(await blob.slice(0, 8).arrayBuffer()), what, blob.size);
  if (s.need) s = sniffSafetensors(new Uint8Array(await blob.slice(0, s.need).arrayBuffer()), what, blob.size);
  return s;
}

// Builds a descriptor from picked or dropped files: one .safetensors
// checkpoint, or the files of a diffusers folder (each with a relative path,
// e.g. from webkitRelativePath or a dropped directory). files: [{file, path}].
export async function localModel(files) {
  if (!files.length) throw new ModelError('wrong-file', 'No files were given.');
  const byPath = new Map(files.map(({ file, path }) => [path.replace(/^\/+/, ''), file]));
  const index = [...byPath.keys()].filter((p) => p.split('/').pop() === 'model_index.json').sort((a, b) => a.length - b.length)[0];
  if (!index) {
    const tensors = files.filter(({ file }) => /\.safetensors$/i.test(file.name));
    if (tensors.length === 1 && files.length === 1) {
      const f = tensors[0].file;
      const s = await sniffBlob(f, f.name);
      checkTensorFile('model.safetensors', s.keys, f.name);
      return { name: f.name, kind: 'single', entry: 'model.safetensors', files: { 'model.safetensors': { kind: 'blob', blob: f } } };
    }
    const names = files.slice(0, 3).map(({ file }) => file.name).join(', ');
    if (files.length === 1) {
      throw new ModelError('wrong-file', `${names} is not a model: choose a Stable Diffusion 1.x .safetensors file or a diffusers model folder (with model_index.json).`);
    }
    throw new ModelError('wrong-file', `These files (${names}${files.length > 3 ? ', ...' : ''}) are not a model: choose one .safetensors checkpoint or a whole diffusers folder (with model_index.json).`);
  }
  const rootDir = index.slice(0, -'model_index.json'.length);
  checkModelIndex(await byPath.get(index).text(), index);
  const out = {};
  for (const [rel, cands, required] of DIFFUSERS_FILES) {
    const hit = cands.map((c) => rootDir + c).find((p) => byPath.has(p));
    if (!hit) {
      if (required) throw new ModelError('not-a-model', `The folder has no ${cands.join(' or ')}: an incomplete diffusers model.`);
      continue;
    }
    const blob = byPath.get(hit);
    if (rel.endsWith('.safetensors')) checkTensorFile(rel, (await sniffBlob(blob, hit)).keys, hit);
    out[rel] = { kind: 'blob', blob };
  }
  const name = rootDir.replace(/\/$/, '').split('/').pop() || 'local model';
  return { name, kind: 'diffusers', entry: '', files: out };
}

// Collects [{file, path}] from a drop (folders included, via webkitGetAsEntry).
export async function filesFromDataTransfer(dt) {
  const out = [];
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...dt.files].map((file) => ({ file, path: file.name }));
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((ok, bad) => entry.file(ok, bad));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((ok, bad) => reader.readEntries(ok, bad));
        if (!batch.length) break;
        for (const e of batch) await walk(e, prefix + entry.name + '/');
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

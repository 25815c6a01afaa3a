// The page: wires the controls in index.html to wsd.js. No framework.
import {
  createPipeline, createTokenizer, prepareModel, probeWebGPU, listCached, deleteCached,
  SAMPLERS, MAX_TOKENS, WsdError,
} from './wsd.js';
import { samplerLabel } from './png.js';
import { localModel, filesFromDataTransfer, cachedDescriptor, opfsAvailable } from './models.js';

const $ = (id) => document.getElementById(id);
const ui = {
  chip: $('backend-chip'), notice: $('notice'), noticeText: $('notice-text'), noticeActions: $('notice-actions'),
  form: $('gen-form'), prompt: $('prompt'), negative: $('negative'), count: $('token-count'),
  steps: $('steps'), guidance: $('guidance'), seed: $('seed'), dice: $('dice'), sampler: $('sampler'),
  width: $('width'), height: $('height'), strength: $('strength'), strengthOut: $('strength-out'),
  initDrop: $('init-drop'), initFile: $('init-file'), initImg: $('init-img'), initEmpty: $('init-empty'), initClear: $('init-clear'),
  generate: $('generate'), cancel: $('cancel'),
  modelName: $('model-name'), urlForm: $('url-form'), url: $('model-url'), openFile: $('open-file'), openFolder: $('open-folder'),
  fileInput: $('file-input'), folderInput: $('folder-input'), useDefault: $('use-default'),
  download: $('download'), downloadBar: $('download-bar'), downloadText: $('download-text'), downloadCancel: $('download-cancel'),
  cacheList: $('cache-list'), storage: $('storage-usage'),
  canvas: $('canvas'), placeholder: $('placeholder'), progress: $('progress'), progressText: $('progress-text'),
  png: $('download-png'), resultInfo: $('result-info'), history: $('history'), deviceInfo: $('device-info'),
  overlay: $('drop-overlay'),
};

const state = {
  probe: null, backend: null, pipeline: null, tokenizer: null, model: null, initImage: null,
  running: false, downloadAbort: null, history: [], current: null, startingBackend: null,
};
// For tests and the console.
window.__wsd = { state, ui };

// ---- small helpers --------------------------------------------------------------------

const MB = 1024 * 1024;
const fmtBytes = (n) => (n >= 1024 * MB ? `${(n / 1024 / MB).toFixed(2)} GB` : `${(n / MB).toFixed(n < 10 * MB ? 1 : 0)} MB`);
const fmtTime = (s) => (s == null || !isFinite(s) ? '…' : s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

function setState(s) { document.documentElement.dataset.state = s; }

function notice(text, { level = 'warn', actions = [] } = {}) {
  ui.noticeText.textContent = text;
  ui.notice.dataset.level = level;
  ui.noticeActions.replaceChildren(...actions.map(({ label, run }) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.addEventListener('click', () => { hideNotice(); run(); });
    return b;
  }));
  ui.notice.hidden = false;
}
function hideNotice() { ui.notice.hidden = true; }
$('notice-close').addEventListener('click', hideNotice);

function setChip(text, kind, title = '') {
  ui.chip.textContent = text;
  ui.chip.dataset.kind = kind;
  ui.chip.title = title || text;
}

function adapterName(a) {
  if (!a) return '';
  const parts = [a.vendor, a.architecture, a.device].filter(Boolean);
  return parts.join(' ') || a.description || 'GPU';
}

// What a person can do about each error.
function explain(e) {
  const m = e?.message || String(e);
  switch (e?.code) {
    case 'no-webgpu':
    case 'no-adapter':
    case 'no-jspi':
      return `${m}\nYou can still generate on the CPU with WebAssembly: the same engine, much slower.`;
    case 'limits':
      return `${m}\nThe CPU path has no such limits (slower).`;
    case 'device-lost':
      return m;
    case 'out-of-memory':
      return `${m}\nOut of memory: try a smaller width and height, close other GPU-heavy tabs, or use a smaller model.`;
    case 'not-a-model':
    case 'wrong-file':
    case 'unsupported':
      return m;
    case 'network':
      return `${m}`;
    case 'out-of-storage':
      return `${m}`;
    case 'engine-missing':
      return `Not available yet in this build of the engine: ${m}`;
    default:
      return m;
  }
}

// ---- controls -----------------------------------------------------------------------

for (const s of SAMPLERS) {
  const o = document.createElement('option');
  o.value = s;
  o.textContent = s === 'default' ? "Model's default" : samplerLabel(s);
  ui.sampler.append(o);
}
ui.sampler.value = 'dpmpp_2m';

ui.dice.addEventListener('click', () => {
  ui.seed.value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
});
ui.strength.addEventListener('input', () => { ui.strengthOut.value = Number(ui.strength.value).toFixed(2); });
ui.prompt.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); ui.form.requestSubmit(); }
});

function readParams() {
  const int = (el, lo, hi, name) => {
    const v = Number(el.value);
    if (!Number.isInteger(v) || v < lo || v > hi) throw new WsdError('invalid-argument', `${name} must be a whole number from ${lo} to ${hi}.`);
    return v;
  };
  const steps = int(ui.steps, 1, 150, 'Steps');
  const guidance = Number(ui.guidance.value);
  if (!isFinite(guidance) || guidance < 0 || guidance > 30) throw new WsdError('invalid-argument', 'Guidance must be between 0 and 30.');
  const seedText = ui.seed.value.trim();
  const seed = seedText === '' ? -1 : int(ui.seed, -1, 4294967295, 'Seed');
  const width = int(ui.width, 8, 4096, 'Width'), height = int(ui.height, 8, 4096, 'Height');
  if (width % 8 || height % 8) throw new WsdError('invalid-argument', 'Width and height must be multiples of 8.');
  return {
    prompt: ui.prompt.value, negativePrompt: ui.negative.value, steps, guidance, seed,
    sampler: ui.sampler.value, width, height,
    initImage: state.initImage?.blob || null, strength: Number(ui.strength.value),
  };
}

function updateButtons() {
  ui.generate.disabled = state.running || !state.pipeline;
  ui.cancel.disabled = !state.running;
}

// ---- token count ------------------------------------------------------------------------

let tokenTimer = 0, tokenSeq = 0;
async function updateCount() {
  const seq = ++tokenSeq;
  if (!state.tokenizer) return;
  const r = await state.tokenizer.count(ui.prompt.value).catch((e) => ({ count: null, reason: e.message }));
  if (seq !== tokenSeq) return; // a newer keystroke is on its way
  if (r.count == null) {
    ui.count.textContent = `–/${MAX_TOKENS}`;
    ui.count.dataset.state = 'unavailable';
    ui.count.title = `Token count unavailable: ${r.reason || 'no tokenizer'}`;
  } else {
    ui.count.textContent = `${r.count}/${MAX_TOKENS}`;
    ui.count.dataset.state = r.count > MAX_TOKENS ? 'over' : 'ok';
    ui.count.title = r.count > MAX_TOKENS ? `Only the first ${MAX_TOKENS} tokens are used; the rest of the prompt is cut off.` : 'Prompt tokens (CLIP reads at most 75)';
  }
}
ui.prompt.addEventListener('input', () => { clearTimeout(tokenTimer); tokenTimer = setTimeout(updateCount, 60); });

async function startTokenizer(model) {
  state.tokenizer?.dispose();
  state.tokenizer = null;
  ui.count.dataset.state = 'loading';
  try {
    state.tokenizer = await createTokenizer({ model });
  } catch (e) {
    ui.count.textContent = `–/${MAX_TOKENS}`;
    ui.count.dataset.state = 'unavailable';
    ui.count.title = `Token count unavailable: ${e.message}`;
    return;
  }
  await updateCount();
}

// ---- img2img start image --------------------------------------------------------------------

function setInitImage(file) {
  if (state.initImage) URL.revokeObjectURL(state.initImage.url);
  if (!file) {
    state.initImage = null;
    ui.initImg.hidden = true;
    ui.initImg.removeAttribute('src');
    ui.initEmpty.hidden = false;
    ui.initClear.hidden = true;
    return;
  }
  const url = URL.createObjectURL(file);
  state.initImage = { blob: file, url };
  ui.initImg.src = url;
  ui.initImg.hidden = false;
  ui.initEmpty.hidden = true;
  ui.initClear.hidden = false;
}
ui.initDrop.addEventListener('click', () => ui.initFile.click());
ui.initDrop.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); ui.initFile.click(); } });
ui.initFile.addEventListener('change', () => { if (ui.initFile.files[0]) setInitImage(ui.initFile.files[0]); ui.initFile.value = ''; });
ui.initClear.addEventListener('click', () => setInitImage(null));

// ---- drawing ------------------------------------------------------------------------------

function drawImageData(img) {
  const c = ui.canvas;
  if (c.width !== img.width || c.height !== img.height) { c.width = img.width; c.height = img.height; }
  c.toggleAttribute('data-small', img.width <= 256);
  c.getContext('2d').putImageData(img, 0, 0);
  ui.placeholder.hidden = true;
}

// A preview is smaller than the image (latent size): scale it up to the canvas.
async function drawPreview(img, width, height) {
  state.previews = (state.previews || 0) + 1;
  const c = ui.canvas;
  if (c.width !== width || c.height !== height) { c.width = width; c.height = height; }
  const bmp = await createImageBitmap(img);
  const g = c.getContext('2d');
  g.imageSmoothingEnabled = true;
  g.drawImage(bmp, 0, 0, width, height);
  bmp.close();
  ui.placeholder.hidden = true;
}

// ---- generation ----------------------------------------------------------------------------

let lastProgress = 0;
ui.form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (state.running || !state.pipeline) return;
  let params;
  try { params = readParams(); } catch (e) { notice(explain(e)); return; }
  hideNotice();
  state.running = true;
  updateButtons();
  ui.progress.value = 0;
  ui.progressText.textContent = 'Starting…';
  // on a phone the image is below the controls: bring it into view
  if (matchMedia('(max-width: 820px)').matches) ui.canvas.closest('.output').scrollIntoView({ behavior: 'smooth', block: 'start' });
  const t0 = performance.now();
  try {
    const img = await state.pipeline.generate({
      ...params,
      onProgress: ({ step, total, itPerSec, preview }) => {
        ui.progress.value = total ? step / total : 0;
        ui.progressText.textContent = `Step ${step}/${total}${itPerSec ? ` · ${itPerSec.toFixed(2)} it/s` : ''}`;
        const now = performance.now();
        if (preview && now - lastProgress > 50) { lastProgress = now; drawPreview(preview, params.width, params.height); }
      },
    });
    drawImageData(img.toImageData());
    ui.progress.value = 1;
    ui.progressText.textContent = `Done in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    await addResult(img);
  } catch (e) {
    ui.progress.value = 0;
    if (e.code === 'cancelled') {
      ui.progressText.textContent = 'Cancelled';
    } else {
      ui.progressText.textContent = 'Failed';
      const actions = [];
      if (e.code === 'device-lost') actions.push({ label: 'Try again', run: () => ui.form.requestSubmit() });
      if (e.code === 'out-of-memory' && state.backend === 'webgpu') actions.push({ label: 'Use the CPU instead', run: () => startBackend('cpu') });
      notice(explain(e), { level: 'error', actions });
    }
  } finally {
    state.running = false;
    updateButtons();
  }
});

ui.cancel.addEventListener('click', () => {
  state.pipeline?.cancel();
  ui.progressText.textContent = 'Cancelling…';
});

async function addResult(img) {
  const blob = await img.toPNG();
  const url = URL.createObjectURL(blob);
  const entry = { url, params: img.params, parameters: img.parameters, seed: img.seed, timeMs: img.timeMs };
  state.history.unshift(entry);
  while (state.history.length > 24) URL.revokeObjectURL(state.history.pop().url);
  showResult(entry);
  renderHistory();
}

function showResult(entry) {
  state.current = entry;
  ui.png.href = entry.url;
  ui.png.download = `wsd-${entry.seed}.png`;
  ui.png.hidden = false;
  const p = entry.params;
  ui.resultInfo.textContent = `Seed ${entry.seed} · ${p.steps} steps · ${samplerLabel(p.sampler)} · ${p.width}×${p.height}`;
  ui.resultInfo.title = entry.parameters;
}

function renderHistory() {
  ui.history.replaceChildren(...state.history.map((entry) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.title = `${entry.parameters}\n(click: show and reuse these settings)`;
    b.setAttribute('aria-label', `Result with seed ${entry.seed}: show it and reuse its settings`);
    const im = document.createElement('img');
    im.src = entry.url;
    im.alt = entry.params.prompt || 'result';
    b.append(im);
    b.addEventListener('click', async () => {
      const bmp = await createImageBitmap(await (await fetch(entry.url)).blob());
      const c = ui.canvas;
      c.width = bmp.width; c.height = bmp.height;
      c.toggleAttribute('data-small', bmp.width <= 256);
      c.getContext('2d').drawImage(bmp, 0, 0);
      ui.placeholder.hidden = true;
      const p = entry.params;
      ui.prompt.value = p.prompt; ui.negative.value = p.negativePrompt; ui.steps.value = p.steps;
      ui.guidance.value = p.guidance; ui.seed.value = p.seed; ui.sampler.value = p.sampler;
      ui.width.value = p.width; ui.height.value = p.height;
      showResult(entry);
      updateCount();
    });
    li.append(b);
    return li;
  }));
}

// ---- models ------------------------------------------------------------------------------

async function readModelText(desc, rel) {
  const s = desc.files[rel];
  if (!s) return null;
  if (s.kind === 'blob') return s.blob.text();
  if (s.kind === 'url') return (await fetch(s.url)).text();
  if (s.kind === 'opfs') {
    let d = await navigator.storage.getDirectory();
    for (const p of s.path.slice(0, -1)) d = await d.getDirectoryHandle(p);
    return (await (await d.getFileHandle(s.path[s.path.length - 1])).getFile()).text();
  }
  return null;
}

// The model's own image size: unet sample_size x the VAE's downscale factor.
async function applyModelDefaults(desc) {
  try {
    const unet = JSON.parse(await readModelText(desc, 'unet/config.json'));
    const vae = JSON.parse(await readModelText(desc, 'vae/config.json') || '{}');
    const factor = 2 ** (((vae.block_out_channels || [0, 0, 0, 0]).length) - 1);
    const size = (unet.sample_size || 64) * factor;
    if (size >= 8 && size <= 4096) { ui.width.value = size; ui.height.value = size; }
  } catch { /* single-file checkpoints: SD 1.x is 512 */
    if (desc.kind === 'single') { ui.width.value = 512; ui.height.value = 512; }
  }
}

function showDownload(p) {
  ui.download.hidden = false;
  if (p.total) ui.downloadBar.value = Math.min(1, p.loaded / p.total); else ui.downloadBar.removeAttribute('value');
  const parts = [`${fmtBytes(p.loaded)}${p.total ? ` of ${fmtBytes(p.total)}` : ''}`];
  if (p.bytesPerSec) parts.push(`${(p.bytesPerSec / MB).toFixed(1)} MB/s`);
  if (p.total && !p.done) parts.push(`${fmtTime(p.etaSec)} left`);
  if (p.file && !p.done) parts.push(`${p.file} (${p.fileIndex}/${p.fileCount})`);
  ui.downloadText.textContent = parts.join(' · ');
}

async function useModel(source, label) {
  if (state.running) { notice('Wait for the running generation to finish (or cancel it) before switching models.'); return; }
  state.downloadAbort?.abort();
  const abort = new AbortController();
  state.downloadAbort = abort;
  hideNotice();
  ui.modelName.textContent = `${label}…`;
  ui.progressText.textContent = 'Loading the model…';
  let desc;
  try {
    desc = await prepareModel(source, { signal: abort.signal, onProgress: (p) => { if (p.phase === 'download') showDownload(p); } });
  } catch (e) {
    ui.download.hidden = true;
    ui.modelName.textContent = state.model?.name || 'none';
    ui.progressText.textContent = state.pipeline ? 'Ready' : 'No model';
    if (e.code !== 'cancelled') notice(explain(e), { level: 'error' });
    return false;
  } finally {
    if (state.downloadAbort === abort) state.downloadAbort = null;
  }
  ui.download.hidden = true;
  state.model = desc;
  await applyModelDefaults(desc);
  startTokenizer(desc);
  if (state.pipeline) {
    try {
      await state.pipeline.loadModel(desc);
      ui.progressText.textContent = 'Ready';
    } catch (e) {
      notice(explain(e), { level: 'error' });
    }
  }
  await refreshCache();
  ui.modelName.textContent = desc.name; // last: the model is ready to use
  return true;
}

ui.downloadCancel.addEventListener('click', () => state.downloadAbort?.abort());
ui.urlForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const url = ui.url.value.trim();
  if (url) useModel(url, url);
});
ui.useDefault.addEventListener('click', () => useModel('default', 'built-in model'));
ui.openFile.addEventListener('click', () => ui.fileInput.click());
ui.openFolder.addEventListener('click', () => ui.folderInput.click());
ui.fileInput.addEventListener('change', () => {
  const f = ui.fileInput.files[0];
  ui.fileInput.value = '';
  if (f) useLocal([{ file: f, path: f.name }]);
});
ui.folderInput.addEventListener('change', () => {
  const files = [...ui.folderInput.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
  ui.folderInput.value = '';
  if (files.length) useLocal(files);
});

async function useLocal(files) {
  let desc;
  try { desc = await localModel(files); } catch (e) { notice(explain(e), { level: 'error' }); return; }
  await useModel(desc, desc.name);
}

async function refreshCache() {
  if (!opfsAvailable()) {
    ui.cacheList.replaceChildren(Object.assign(document.createElement('li'), { className: 'muted', textContent: 'This browser cannot store models (no OPFS).' }));
    return;
  }
  const items = await listCached().catch(() => []);
  if (!items.length) {
    ui.cacheList.replaceChildren(Object.assign(document.createElement('li'), { className: 'muted', textContent: 'none yet' }));
  } else {
    ui.cacheList.replaceChildren(...items.map((m) => {
      const li = document.createElement('li');
      li.dataset.key = m.key;
      const name = Object.assign(document.createElement('span'), { className: 'name', textContent: m.name, title: m.url || '' });
      const size = Object.assign(document.createElement('span'), { className: 'muted', textContent: fmtBytes(m.bytes || 0) });
      const inUse = state.model?.key === m.key;
      const use = Object.assign(document.createElement('button'), { type: 'button', textContent: inUse ? 'In use' : 'Use', disabled: inUse || !m.complete });
      use.addEventListener('click', async () => {
        const d = await cachedDescriptor(m.key).catch(() => null);
        if (d) useModel(d, d.name);
      });
      const del = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Delete', disabled: inUse, title: inUse ? 'Switch to another model first' : 'Remove from this browser' });
      del.setAttribute('aria-label', `Delete ${m.name}`);
      del.addEventListener('click', async () => {
        try { await deleteCached(m.key); } catch (e) { notice(`Could not delete ${m.name}: ${e.message}`, { level: 'error' }); }
        refreshCache();
      });
      li.append(name, size, use, del);
      if (!m.complete) li.append(Object.assign(document.createElement('span'), { className: 'muted', textContent: '(incomplete)' }));
      return li;
    }));
  }
  if (navigator.storage?.estimate) {
    const est = await navigator.storage.estimate().catch(() => null);
    if (est) ui.storage.textContent = `This site uses ${fmtBytes(est.usage || 0)} of ${fmtBytes(est.quota || 0)} available.`;
  }
}

// ---- drag and drop anywhere --------------------------------------------------------------------

let dragDepth = 0;
window.addEventListener('dragenter', (ev) => {
  if (![...(ev.dataTransfer?.types || [])].includes('Files')) return;
  dragDepth++;
  ui.overlay.hidden = false;
});
window.addEventListener('dragleave', () => { if (--dragDepth <= 0) { dragDepth = 0; ui.overlay.hidden = true; } });
window.addEventListener('dragover', (ev) => { if ([...(ev.dataTransfer?.types || [])].includes('Files')) ev.preventDefault(); });
window.addEventListener('drop', async (ev) => {
  if (!ev.dataTransfer?.files?.length && !ev.dataTransfer?.items?.length) return;
  ev.preventDefault();
  dragDepth = 0;
  ui.overlay.hidden = true;
  const files = await filesFromDataTransfer(ev.dataTransfer);
  if (files.length === 1 && files[0].file.type.startsWith('image/')) { setInitImage(files[0].file); return; }
  if (files.length) useLocal(files);
});

// ---- start-up --------------------------------------------------------------------------------

function describeDevice() {
  const lines = [];
  const p = state.probe;
  if (p?.adapter) {
    const a = p.adapter;
    lines.push(`Adapter: ${adapterName(a)}${a.description ? ` (${a.description})` : ''}${a.isFallbackAdapter ? ' — software fallback' : ''}`);
    lines.push(`Features: ${a.features.join(', ') || 'none'}`);
    lines.push(`shader-f16: ${a.features.includes('shader-f16') ? 'yes' : 'no'}`);
    const L = a.limits;
    lines.push(`maxBufferSize ${fmtBytes(L.maxBufferSize)}, maxStorageBufferBindingSize ${fmtBytes(L.maxStorageBufferBindingSize)}, ` +
      `workgroup storage ${L.maxComputeWorkgroupStorageSize} B, invocations ${L.maxComputeInvocationsPerWorkgroup}`);
  } else if (p) {
    lines.push(`WebGPU: ${p.message}`);
  }
  const info = state.pipeline?.info;
  if (info) {
    lines.push(`Engine: wsd ${info.version}, backend ${info.backend}, JSPI ${info.jspi ? 'yes' : 'no'}, cross-origin isolated ${info.crossOriginIsolated ? 'yes' : 'no'}`);
    if (info.missing?.length) lines.push(`Not in this engine build yet: ${info.missing.join(', ')}`);
  }
  lines.push(`Page cross-origin isolated: ${self.crossOriginIsolated ? 'yes' : 'no'}`);
  ui.deviceInfo.textContent = lines.join('\n');
}

async function startBackend(backend) {
  if (state.startingBackend) return;
  state.startingBackend = backend;
  state.pipeline?.dispose();
  state.pipeline = null;
  updateButtons();
  setChip(backend === 'cpu' ? 'starting the CPU engine…' : 'starting WebGPU…', backend === 'cpu' ? 'cpu' : 'gpu');
  ui.progressText.textContent = 'Starting the engine…';
  try {
    await state.modelReady; // the model being prepared (downloaded) at start-up
    state.pipeline = await createPipeline({ backend, model: state.model ?? 'default' });
    state.backend = backend;
    if (backend === 'cpu') setChip('CPU (WebAssembly SIMD)', 'cpu', 'The slower CPU path');
    else setChip(`WebGPU · ${adapterName(state.probe?.adapter) || 'GPU'}`, 'gpu', state.probe?.adapter?.description || '');
    const info = state.pipeline.info;
    if (info.missing?.includes('wsd_generate')) {
      ui.progressText.textContent = 'Engine not complete: generation is not in this build yet';
    } else {
      ui.progressText.textContent = 'Ready';
    }
    setState('ready');
  } catch (e) {
    setChip(backend === 'cpu' ? 'CPU engine failed' : 'WebGPU failed', 'none');
    ui.progressText.textContent = 'Engine not started';
    const actions = backend !== 'cpu' && e.cpuFallback ? [{ label: 'Use the CPU (slower)', run: () => startBackend('cpu') }] : [];
    notice(explain(e), { level: 'error', actions });
    setState('error');
  } finally {
    state.startingBackend = null;
    updateButtons();
    describeDevice();
  }
}

async function main() {
  updateButtons();
  state.probe = await probeWebGPU();
  describeDevice();
  // The built-in model: from this browser's storage after the first visit.
  const modelReady = useModel('default', 'built-in model');
  state.modelReady = modelReady;
  if (!state.probe.ok) {
    setChip(state.probe.code === 'limits' ? 'GPU too small' : 'no WebGPU', 'none', state.probe.message);
    notice(explain(state.probe), { actions: [{ label: 'Use the CPU (slower)', run: () => startBackend('cpu') }] });
    setState('no-webgpu');
    ui.progressText.textContent = 'WebGPU unavailable';
    await modelReady;
    return;
  }
  setChip(`WebGPU · ${adapterName(state.probe.adapter)}`, 'gpu', state.probe.adapter.description);
  if (await modelReady) await startBackend('webgpu');
  else setState('error');
}

main().catch((e) => {
  notice(explain(e), { level: 'error' });
  setState('error');
});

// The browser side of the engine's GPU interface, over navigator.gpu.
//
// Two parts:
//  1. probeWebGPU() / openDevice(): find an adapter, request a device with the
//     adapter's real limits (not the spec defaults) and the optional features
//     the engine can use (shader-f16 when present), watch for device loss and
//     out-of-memory errors, and report all of it in a form the page can show.
//  2. GpuBridge: the gpu_* functions the C WebGPU backend imports. GPU
//     objects live in JS tables; C holds integer handles (0 = none). Calls
//     that must wait for the GPU (opening the device, compiling a pipeline,
//     reading a buffer back, waiting for submitted work) are async and reach
//     C through JSPI (WebAssembly.Suspending); everything else is synchronous.
//     Errors the GPU reports later (validation, out of memory, device lost)
//     are caught with error scopes and become "sticky": the next gpu_submit /
//     gpu_wait / gpu_buffer_read returns WSD_ERR_DEVICE with the GPU's message.
//
// The C declaration of these imports is src/backends/webgpu/gpu.h (module
// "env", the same names; the native implementation is gpu_dawn.c): this file
// must follow that header's structs, offsets and error conventions.

export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'];

// What the engine needs at the least (SD 1.5 at 512x512 binds a few buffers
// above the 128 MiB default; smaller models need less). The page checks these
// before loading a model and explains when the adapter falls short.
export const MIN_LIMITS = {
  maxStorageBufferBindingSize: 128 << 20,
  maxBufferSize: 128 << 20,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 8,
};

export function hasWebGPU() {
  return typeof navigator !== 'undefined' && !!navigator.gpu;
}

function limitsObject(limits) {
  const out = {};
  for (const k in limits) if (typeof limits[k] === 'number') out[k] = limits[k];
  return out;
}

function adapterSummary(adapter) {
  const info = adapter.info || {};
  return {
    vendor: info.vendor || '', architecture: info.architecture || '', device: info.device || '',
    description: info.description || '', isFallbackAdapter: !!(info.isFallbackAdapter ?? adapter.isFallbackAdapter),
    features: [...adapter.features].sort(), limits: limitsObject(adapter.limits),
  };
}

// Returns {ok: true, adapter: summary} or {ok: false, code, message} without
// creating a device. code: 'no-webgpu' | 'no-adapter' | 'limits'.
export async function probeWebGPU() {
  if (!hasWebGPU()) {
    return { ok: false, code: 'no-webgpu',
      message: 'This browser does not offer WebGPU (navigator.gpu is missing). It needs a recent Chrome, Edge or ' +
        'Safari, on a page served over https or from localhost.' };
  }
  let adapter = null;
  try { adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }); } catch { /* treated as none */ }
  if (!adapter) {
    return { ok: false, code: 'no-adapter',
      message: 'WebGPU is present but no GPU adapter is available (the GPU may be blocklisted or disabled).' };
  }
  const summary = adapterSummary(adapter);
  const short = Object.entries(MIN_LIMITS).filter(([k, v]) => (summary.limits[k] ?? 0) < v);
  if (short.length) {
    return { ok: false, code: 'limits', adapter: summary,
      message: 'This GPU\'s WebGPU limits are too small for the engine: ' +
        short.map(([k, v]) => `${k} is ${summary.limits[k]}, needs ${v}`).join('; ') + '.' };
  }
  return { ok: true, adapter: summary };
}

// Opens a device with the adapter's own limits and the optional features it has.
// defaultLimits: behave like a minimal adapter (the spec defaults), for testing.
export async function openDevice({ defaultLimits = false, noF16 = false, onLost = null } = {}) {
  const probe = await probeWebGPU();
  if (!probe.ok) throw Object.assign(new Error(probe.message), { code: probe.code });
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !(noF16 && f === 'shader-f16'));
  const requiredLimits = defaultLimits ? {} : limitsObject(adapter.limits);
  let device;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'wsd' });
  } catch (e) {
    throw Object.assign(new Error(`Could not open the GPU device: ${e.message}`), { code: 'device' });
  }
  const state = { lost: null, errors: [] };
  device.lost.then((info) => {
    state.lost = { reason: info.reason, message: info.message };
    if (onLost) onLost(state.lost);
  });
  device.addEventListener('uncapturederror', (ev) => {
    const e = ev.error;
    state.errors.push({ type: e.constructor?.name === 'GPUOutOfMemoryError' ? 'out-of-memory' : 'validation', message: e.message });
  });
  return { adapter, device, state, info: { ...probe.adapter, requestedFeatures: requiredFeatures,
    deviceLimits: limitsObject(device.limits), f16: device.features.has('shader-f16') } };
}

// ---- the gpu_* imports of the C WebGPU backend (src/backends/webgpu/gpu.h) ----------

const ST = { OK: 0, INVALID_ARGUMENT: 1, UNSUPPORTED: 4, OUT_OF_MEMORY: 5, DEVICE: 6, INTERNAL: 9 };
const WHOLE = 0xffffffffffffffffn;
const CAPS_SIZE = 336;

class Device {
  constructor(gpu, capsPtr) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.capsPtr = capsPtr;
    this.bufs = [null];
    this.pipes = [null];
    this.binds = [null];
    this.bytes = 0n;
    this.peak = 0n;
    this.sticky = '';
    this.nErrors = 0;
    this.scopes = []; // pending popErrorScope promises
  }
  static slot(table, obj) {
    for (let i = 1; i < table.length; i++) if (!table[i]) { table[i] = obj; return i; }
    table.push(obj);
    return table.length - 1;
  }
  // Runs f inside validation + out-of-memory error scopes; the result is
  // checked later (at the next submit/wait/read), as the native side does.
  scoped(what, f) {
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('out-of-memory');
    let r;
    try { r = f(); } finally {
      const oom = this.device.popErrorScope(), val = this.device.popErrorScope();
      const where = what === 'GPU' ? '' : `${what}: `;
      this.scopes.push(Promise.all([oom, val]).then(([o, v]) => {
        if (o) this.record(`${where}out of GPU memory: ${o.message}`);
        if (v) this.record(`${where}${v.message}`);
      }, () => { /* device lost: reported through gpu.state.lost */ }));
    }
    return r;
  }
  record(msg) { this.nErrors++; if (!this.sticky) this.sticky = msg; }
  // Collects what the error scopes have found so far (without waiting) or all of them (wait).
  async settle() { const s = this.scopes; this.scopes = []; await Promise.all(s); }
  check(what) {
    // errors that reached the device outside any scope
    for (const e of this.gpu.state.errors.splice(0)) this.record(e.type === 'out-of-memory' ? `out of GPU memory: ${e.message}` : e.message);
    const lost = this.gpu.state.lost;
    if (this.sticky || lost) {
      const m = this.sticky || `GPU device lost (${lost.reason})${lost.message ? ': ' + lost.message : ''}`;
      return `${what}: ${m}${this.nErrors > 1 ? ' (and later errors)' : ''}`;
    }
    return '';
  }
}

export class GpuBridge {
  // getExports: () => the instance's exports (memory, alloc); onLost(info) is
  // called when a device is lost; log(text) for verbose output.
  constructor({ getExports, onLost = null, log = console.log }) {
    this.getExports = getExports;
    this.onLost = onLost;
    this.log = log;
    this.devices = [null];
    this.enc = new TextEncoder();
  }
  mem() { return this.getExports().memory.buffer; }
  dv() { return new DataView(this.mem()); }
  cstr(ptr) {
    if (!ptr) return '';
    const u8 = new Uint8Array(this.mem());
    let e = ptr;
    while (u8[e]) e++;
    return new TextDecoder().decode(u8.subarray(ptr, e));
  }
  // wsd_err: int32 code at 0, char msg[1024] at 4.
  fail(errPtr, code, msg) {
    if (errPtr) {
      const dv = this.dv();
      dv.setInt32(errPtr, code, true);
      const b = this.enc.encode(msg).subarray(0, 1023);
      const u8 = new Uint8Array(this.mem());
      u8.set(b, errPtr + 4);
      u8[errPtr + 4 + b.length] = 0;
    }
    return code;
  }
  dev(h) { return this.devices[h] || null; }

  writeCaps(d, opts) {
    const dv = this.dv(), p = d.capsPtr, L = d.device.limits, info = d.gpu.info;
    new Uint8Array(this.mem(), p, CAPS_SIZE).fill(0);
    dv.setBigUint64(p + 0, BigInt(L.maxStorageBufferBindingSize), true);
    dv.setBigUint64(p + 8, BigInt(L.maxBufferSize), true);
    const u32 = [L.maxComputeWorkgroupStorageSize, L.maxComputeInvocationsPerWorkgroup, L.maxComputeWorkgroupSizeX,
      L.maxComputeWorkgroupSizeY, L.maxComputeWorkgroupSizeZ, L.maxComputeWorkgroupsPerDimension,
      L.maxStorageBuffersPerShaderStage, L.minStorageBufferOffsetAlignment, L.minUniformBufferOffsetAlignment,
      Math.min(L.maxUniformBufferBindingSize, 0xffffffff)];
    u32.forEach((v, i) => dv.setUint32(p + 16 + 4 * i, v >>> 0, true));
    dv.setInt32(p + 56, d.hasF16 ? 1 : 0, true);
    dv.setInt32(p + 60, d.device.features.has('subgroups') ? 1 : 0, true);
    const ai = d.gpu.adapter.info || {};
    dv.setUint32(p + 64, (ai.subgroupMinSize || 0) >>> 0, true);
    dv.setUint32(p + 68, (ai.subgroupMaxSize || 0) >>> 0, true);
    dv.setInt32(p + 72, opts.defaultLimits ? 1 : 0, true);
    dv.setInt32(p + 76, info.isFallbackAdapter || /swiftshader/i.test(info.architecture + info.device) ? 1 : 0, true);
    const put = (off, cap, s) => {
      const b = this.enc.encode(s).subarray(0, cap - 1);
      new Uint8Array(this.mem()).set(b, p + off);
    };
    put(88, 16, 'browser');
    put(104, 232, `${info.vendor}/${info.architecture}/${info.device}${info.description ? ` (${info.description})` : ''}`);
  }

  // ---- the functions of gpu.h, as wasm imports ----

  // wsd_status gpu_open(const gpu_open_options *opt, gpu_device **out, wsd_err *err)   [async]
  async gpu_open(optPtr, outPtr, errPtr) {
    this.dv().setUint32(outPtr, 0, true);
    const dv = this.dv();
    const opts = optPtr ? { defaultLimits: dv.getInt32(optPtr, true) !== 0, noF16: dv.getInt32(optPtr + 4, true) !== 0,
      verbose: dv.getInt32(optPtr + 8, true) !== 0 } : { defaultLimits: false, noF16: false, verbose: false };
    let gpu;
    try {
      gpu = await openDevice({ ...opts, onLost: (info) => this.onLost?.(info) });
    } catch (e) {
      return this.fail(errPtr, ST.DEVICE, `WebGPU unavailable: ${e.message}`);
    }
    const capsPtr = this.getExports().alloc(CAPS_SIZE);
    if (!capsPtr) { gpu.device.destroy(); return this.fail(errPtr, ST.OUT_OF_MEMORY, 'gpu_open: out of memory'); }
    const d = new Device(gpu, capsPtr);
    d.hasF16 = gpu.device.features.has('shader-f16');
    if (d.hasF16) { // make sure "enable f16;" really compiles
      const m = gpu.device.createShaderModule({ code: 'enable f16;\n@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n' +
        '@compute @workgroup_size(1) fn main() { let h: f16 = f16(o[0]); o[0] = f32(h * 2.0h); }\n' });
      const ci = await m.getCompilationInfo();
      if (ci.messages.some((x) => x.type === 'error')) d.hasF16 = false;
    }
    this.writeCaps(d, opts);
    if (opts.verbose) this.log(`webgpu: adapter ${JSON.stringify(gpu.info)}`);
    const h = Device.slot(this.devices, d);
    this.dv().setUint32(outPtr, h, true);
    return ST.OK;
  }

  // void gpu_close(gpu_device *dev)
  gpu_close(h) {
    const d = this.dev(h);
    if (!d) return;
    for (const b of d.bufs) b?.buf.destroy();
    d.device.destroy();
    this.getExports().release?.(d.capsPtr);
    this.devices[h] = null;
  }

  // const gpu_caps *gpu_get_caps(const gpu_device *dev)
  gpu_get_caps(h) { return this.dev(h)?.capsPtr || 0; }

  // gpu_buf gpu_buffer_create(gpu_device *dev, uint64_t size, uint32_t usage, const char *label, wsd_err *err)
  gpu_buffer_create(h, size, usage, labelPtr, errPtr) {
    const d = this.dev(h);
    const label = this.cstr(labelPtr);
    if (!d) { this.fail(errPtr, ST.INVALID_ARGUMENT, 'gpu_buffer_create: no device'); return 0; }
    if (size === 0n || (size & 3n)) {
      this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_buffer_create ${label}: size ${size} is not a positive multiple of 4`);
      return 0;
    }
    if (size > BigInt(d.device.limits.maxBufferSize)) {
      this.fail(errPtr, ST.UNSUPPORTED, `gpu_buffer_create ${label}: ${size} bytes exceed the device's maxBufferSize ${d.device.limits.maxBufferSize}`);
      return 0;
    }
    let usageBits = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    if (usage & 1) usageBits |= GPUBufferUsage.STORAGE;
    if (usage & 2) usageBits |= GPUBufferUsage.UNIFORM;
    let buf;
    try {
      buf = d.scoped(`gpu_buffer_create ${label} (${size} bytes)`, () => d.device.createBuffer({ size: Number(size), usage: usageBits, label }));
    } catch (e) {
      this.fail(errPtr, ST.OUT_OF_MEMORY, `gpu_buffer_create ${label} (${size} bytes): ${e.message}`);
      return 0;
    }
    d.bytes += size;
    if (d.bytes > d.peak) d.peak = d.bytes;
    return Device.slot(d.bufs, { buf, size });
  }

  // void gpu_buffer_destroy(gpu_device *dev, gpu_buf buf)
  gpu_buffer_destroy(h, b) {
    const d = this.dev(h), s = d?.bufs[b];
    if (!s) return;
    s.buf.destroy();
    d.bytes -= s.size;
    d.bufs[b] = null;
  }

  // wsd_status gpu_buffer_write(gpu_device *dev, gpu_buf buf, uint64_t offset, const void *data, uint64_t size, wsd_err *err)
  gpu_buffer_write(h, b, offset, dataPtr, size, errPtr) {
    const d = this.dev(h), s = d?.bufs[b];
    if (!s) return this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_buffer_write: invalid buffer ${b}`);
    if ((offset & 3n) || (size & 3n) || offset + size > s.size) {
      return this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_buffer_write: range ${offset}+${size} is unaligned or outside the buffer (${s.size} bytes)`);
    }
    d.scoped('gpu_buffer_write', () => d.device.queue.writeBuffer(s.buf, Number(offset), this.mem(), dataPtr >>> 0, Number(size)));
    const m = d.check('gpu_buffer_write');
    return m ? this.fail(errPtr, ST.DEVICE, m) : ST.OK;
  }

  // wsd_status gpu_buffer_read(gpu_device *dev, gpu_buf buf, uint64_t offset, void *dst, uint64_t size, wsd_err *err)   [async]
  async gpu_buffer_read(h, b, offset, dstPtr, size, errPtr) {
    const d = this.dev(h), s = d?.bufs[b];
    if (!s) return this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_buffer_read: invalid buffer ${b}`);
    if ((offset & 3n) || (size & 3n) || offset + size > s.size) {
      return this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_buffer_read: range ${offset}+${size} is unaligned or outside the buffer (${s.size} bytes)`);
    }
    const n = Number(size);
    if (n === 0) return ST.OK;
    const chunk = Math.min(n, 64 << 20);
    const staging = d.device.createBuffer({ size: chunk, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
    try {
      for (let done = 0; done < n;) {
        const k = Math.min(chunk, n - done);
        d.scoped('gpu_buffer_read', () => {
          const enc = d.device.createCommandEncoder();
          enc.copyBufferToBuffer(s.buf, Number(offset) + done, staging, 0, k);
          d.device.queue.submit([enc.finish()]);
        });
        try {
          await staging.mapAsync(GPUMapMode.READ, 0, k);
        } catch (e) {
          // a lost device fails the mapping first and resolves device.lost just
          // after: give it a moment, so the error names the real cause
          await Promise.race([d.device.lost, new Promise((r) => setTimeout(r, 250))]);
          await d.settle();
          return this.fail(errPtr, ST.DEVICE, d.check('gpu_buffer_read') || `gpu_buffer_read: mapping failed: ${e.message}`);
        }
        new Uint8Array(this.mem()).set(new Uint8Array(staging.getMappedRange(0, k)), (dstPtr >>> 0) + done);
        staging.unmap();
        done += k;
      }
    } finally {
      staging.destroy();
    }
    await d.settle();
    const m = d.check('gpu_buffer_read');
    return m ? this.fail(errPtr, ST.DEVICE, m) : ST.OK;
  }

  // gpu_pipe gpu_pipeline_create(gpu_device *dev, const char *wgsl, const char *label, wsd_err *err)   [async]
  async gpu_pipeline_create(h, wgslPtr, labelPtr, errPtr) {
    const d = this.dev(h);
    if (!d) { this.fail(errPtr, ST.INVALID_ARGUMENT, 'gpu_pipeline_create: no device'); return 0; }
    const code = this.cstr(wgslPtr), label = this.cstr(labelPtr) || '?';
    // compile errors are reported through getCompilationInfo; the scope keeps
    // the same error from also reaching the device's uncaptured-error path
    d.device.pushErrorScope('validation');
    const module = d.device.createShaderModule({ code, label });
    d.device.popErrorScope().catch(() => {});
    const info = await module.getCompilationInfo();
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      this.fail(errPtr, ST.DEVICE, `compiling WGSL kernel ${label}: ` +
        errors.map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`).join('; '));
      return 0;
    }
    try {
      const pipeline = await d.device.createComputePipelineAsync({ label, layout: 'auto', compute: { module, entryPoint: 'main' } });
      return Device.slot(d.pipes, { pipeline, layout: pipeline.getBindGroupLayout(0) });
    } catch (e) {
      this.fail(errPtr, ST.DEVICE, `compiling WGSL kernel ${label}: ${e.message}`);
      return 0;
    }
  }

  // void gpu_pipeline_destroy(gpu_device *dev, gpu_pipe pipe)
  gpu_pipeline_destroy(h, p) { const d = this.dev(h); if (d && d.pipes[p]) d.pipes[p] = null; }

  // gpu_bind gpu_bindgroup_create(gpu_device *dev, gpu_pipe pipe, uint32_t n, const gpu_binding *entries, wsd_err *err)
  // gpu_binding: u32 binding @0, u32 buffer @4, u64 offset @8, u64 size @16 (24 bytes); size UINT64_MAX = to the end
  gpu_bindgroup_create(h, p, n, entPtr, errPtr) {
    const d = this.dev(h), pipe = d?.pipes[p];
    if (!pipe) { this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_bindgroup_create: invalid pipeline ${p}`); return 0; }
    if (n > 16) { this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_bindgroup_create: ${n} bindings (at most 16)`); return 0; }
    const dv = this.dv(), entries = [];
    for (let i = 0; i < n; i++) {
      const o = entPtr + 24 * i;
      const binding = dv.getUint32(o, true), bh = dv.getUint32(o + 4, true);
      const s = d.bufs[bh];
      if (!s) { this.fail(errPtr, ST.INVALID_ARGUMENT, `gpu_bindgroup_create: binding ${binding} has invalid buffer ${bh}`); return 0; }
      const offset = dv.getBigUint64(o + 8, true), size = dv.getBigUint64(o + 16, true);
      entries.push({ binding, resource: size === WHOLE ? { buffer: s.buf, offset: Number(offset) }
        : { buffer: s.buf, offset: Number(offset), size: Number(size) } });
    }
    let group;
    try {
      group = d.scoped('gpu_bindgroup_create', () => d.device.createBindGroup({ layout: pipe.layout, entries }));
    } catch (e) {
      this.fail(errPtr, ST.DEVICE, `gpu_bindgroup_create: ${e.message}`);
      return 0;
    }
    return Device.slot(d.binds, group);
  }

  // void gpu_bindgroup_destroy(gpu_device *dev, gpu_bind bind)
  gpu_bindgroup_destroy(h, b) { const d = this.dev(h); if (d && d.binds[b]) d.binds[b] = null; }

  // wsd_status gpu_submit(gpu_device *dev, const gpu_cmd *cmds, uint32_t n, wsd_err *err)
  // gpu_cmd (48 bytes): u32 kind @0, a @4, b @8, x @12, y @16, z @20, u64 src_off @24, dst_off @32, size @40
  gpu_submit(h, cmdPtr, n, errPtr) {
    const d = this.dev(h);
    if (!d) return this.fail(errPtr, ST.INVALID_ARGUMENT, 'gpu_submit: no device');
    let m = d.check('GPU');
    if (m) return this.fail(errPtr, ST.DEVICE, m);
    const dv = this.dv();
    let bad = null;
    d.scoped('GPU', () => {
      const enc = d.device.createCommandEncoder();
      let pass = null;
      for (let i = 0; i < (n >>> 0) && !bad; i++) {
        const o = cmdPtr + 48 * i;
        const kind = dv.getUint32(o, true), a = dv.getUint32(o + 4, true), b = dv.getUint32(o + 8, true);
        if (kind === 0) {
          const pipe = d.pipes[a], group = d.binds[b];
          if (!pipe || !group) { bad = `gpu_submit: command ${i} has an invalid pipeline/bind group`; break; }
          if (!pass) pass = enc.beginComputePass();
          pass.setPipeline(pipe.pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(dv.getUint32(o + 12, true), dv.getUint32(o + 16, true), dv.getUint32(o + 20, true));
        } else {
          if (pass) { pass.end(); pass = null; }
          const srcOff = Number(dv.getBigUint64(o + 24, true)), dstOff = Number(dv.getBigUint64(o + 32, true));
          const size = Number(dv.getBigUint64(o + 40, true));
          if (kind === 1) {
            if (!d.bufs[a] || !d.bufs[b]) { bad = `gpu_submit: copy ${i} has an invalid buffer`; break; }
            enc.copyBufferToBuffer(d.bufs[a].buf, srcOff, d.bufs[b].buf, dstOff, size);
          } else if (kind === 2) {
            if (!d.bufs[a]) { bad = `gpu_submit: clear ${i} has an invalid buffer`; break; }
            enc.clearBuffer(d.bufs[a].buf, dstOff, size);
          } else {
            bad = `gpu_submit: unknown command kind ${kind}`;
          }
        }
      }
      if (pass) pass.end();
      const cb = enc.finish();
      if (!bad) d.device.queue.submit([cb]);
    });
    if (bad) return this.fail(errPtr, ST.INVALID_ARGUMENT, bad);
    m = d.check('GPU');
    return m ? this.fail(errPtr, ST.DEVICE, m) : ST.OK;
  }

  // wsd_status gpu_wait(gpu_device *dev, wsd_err *err)   [async]
  async gpu_wait(h, errPtr) {
    const d = this.dev(h);
    if (!d) return this.fail(errPtr, ST.INVALID_ARGUMENT, 'gpu_wait: no device');
    let m = d.check('GPU');
    if (m) return this.fail(errPtr, ST.DEVICE, m);
    await Promise.race([d.device.queue.onSubmittedWorkDone(), d.device.lost]);
    await d.settle();
    m = d.check('GPU');
    return m ? this.fail(errPtr, ST.DEVICE, m) : ST.OK;
  }

  // uint32_t gpu_mark(gpu_device *dev): a promise for the work submitted so far
  gpu_mark(h) {
    const d = this.dev(h);
    if (!d) return 0;
    d.marks ??= new Map();
    d.markIssued = ((d.markIssued ?? 0) + 1) >>> 0 || 1;
    d.marks.set(d.markIssued, Promise.race([d.device.queue.onSubmittedWorkDone(), d.device.lost]).catch(() => {})); // errors: d.check
    if (d.marks.size > 16) d.marks.delete(d.marks.keys().next().value); // never waited for: drop the oldest
    return d.markIssued;
  }

  // wsd_status gpu_wait_mark(gpu_device *dev, uint32_t mark, wsd_err *err)   [async]
  async gpu_wait_mark(h, mark, errPtr) {
    const d = this.dev(h);
    if (!d) return this.fail(errPtr, ST.INVALID_ARGUMENT, 'gpu_wait_mark: no device');
    let m = d.check('GPU');
    if (m) return this.fail(errPtr, ST.DEVICE, m);
    const p = d.marks?.get(mark >>> 0);
    if (p) {
      await p;
      for (const k of [...d.marks.keys()]) { d.marks.delete(k); if (k === (mark >>> 0)) break; } // it and the older ones
    }
    await d.settle();
    m = d.check('GPU');
    return m ? this.fail(errPtr, ST.DEVICE, m) : ST.OK;
  }

  // uint64_t gpu_bytes_allocated(const gpu_device *dev), gpu_bytes_peak(...)
  gpu_bytes_allocated(h) { return this.dev(h)?.bytes ?? 0n; }
  gpu_bytes_peak(h) { return this.dev(h)?.peak ?? 0n; }

  // The import object entries (module "env"). Async ones go through JSPI;
  // without JSPI gpu_open fails cleanly, so the engine reports WebGPU as
  // unavailable instead of trapping.
  imports() {
    const jspi = typeof WebAssembly.Suspending === 'function';
    const o = {};
    for (const name of GPU_FUNCTIONS) {
      const f = this[name].bind(this);
      if (!ASYNC_FUNCTIONS.has(name)) o[name] = f;
      else if (jspi) o[name] = new WebAssembly.Suspending(f);
      else if (name === 'gpu_open') o[name] = (opt, out, err) => this.fail(err, ST.UNSUPPORTED, 'WebGPU in wasm needs JSPI (WebAssembly.Suspending), which this browser lacks');
      else o[name] = () => { throw new Error(`${name} needs JSPI`); };
    }
    return o;
  }
}

export const GPU_FUNCTIONS = ['gpu_open', 'gpu_close', 'gpu_get_caps', 'gpu_buffer_create', 'gpu_buffer_destroy',
  'gpu_buffer_write', 'gpu_buffer_read', 'gpu_pipeline_create', 'gpu_pipeline_destroy', 'gpu_bindgroup_create',
  'gpu_bindgroup_destroy', 'gpu_submit', 'gpu_wait', 'gpu_mark', 'gpu_wait_mark', 'gpu_bytes_allocated', 'gpu_bytes_peak'];
const ASYNC_FUNCTIONS = new Set(['gpu_open', 'gpu_buffer_read', 'gpu_pipeline_create', 'gpu_wait', 'gpu_wait_mark']);

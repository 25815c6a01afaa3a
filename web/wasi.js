// A small WASI (preview 1) for the engine, with a read-mostly virtual file
// system whose files are read lazily from wherever the model lives:
//   - bytes already in JS memory (small files: configs, vocabulary),
//   - a File/Blob picked by the user (read with FileReaderSync, worker only),
//   - an OPFS file through a FileSystemSyncAccessHandle (worker only),
//   - a same-origin URL read with synchronous range requests (worker only).
// The C side sees ordinary fopen/fread/fseek/stat on paths like
// /models/<slot>/unet/diffusion_pytorch_model.safetensors, and a big weight
// file is never copied whole into wasm memory by this layer: each fread
// reads just the bytes asked for (through a small read-ahead cache).
//
// Also: stdout/stderr go to a log callback, clocks, random_get, and stubs for
// everything else (ENOSYS). Imports of module "env" (engine functions not
// built yet) become functions that throw EngineMissing.

const E = { SUCCESS: 0, ACCES: 2, BADF: 8, EXIST: 20, INVAL: 28, IO: 29, ISDIR: 31, NOENT: 44,
  NOSYS: 52, NOTDIR: 54, NOTSUP: 58, ROFS: 69, SPIPE: 70 };
const FT = { UNKNOWN: 0, CHAR: 2, DIR: 3, FILE: 4 };

export class WasiExit extends Error {
  constructor(code) { super(`wasm called exit(${code})`); this.code = code; }
}
export class EngineMissing extends Error {
  constructor(name) {
    super(`the engine function ${name} is not in this build of wsd.wasm yet`);
    this.name = 'EngineMissing';
    this.code = 'engine-missing';
    this.symbol = name;
  }
}

// ---- file sources -------------------------------------------------------------

// Every source has `size` and read(offset, dst: Uint8Array) -> bytes read.
export function bytesSource(u8) {
  const b = u8 instanceof Uint8Array ? u8 : new Uint8Array(u8);
  return { size: b.length, read(off, dst) {
    const n = Math.max(0, Math.min(dst.length, b.length - off));
    dst.set(b.subarray(off, off + n));
    return n;
  } };
}

// Wraps a slow source with a read-ahead block cache (a few blocks, LRU).
function cached(src, block = 1 << 20, blocks = 4) {
  const cache = new Map();
  const get = (i) => {
    let b = cache.get(i);
    if (b) { cache.delete(i); cache.set(i, b); return b; }
    const start = i * block;
    b = src.fetch(start, Math.min(block, src.size - start));
    cache.set(i, b);
    if (cache.size > blocks) cache.delete(cache.keys().next().value);
    return b;
  };
  return { size: src.size, close: src.close, read(off, dst) {
    const end = Math.min(src.size, off + dst.length);
    if (end - off >= block) { // big read: no caching, straight through
      const b = src.fetch(off, end - off);
      dst.set(b);
      return b.length;
    }
    let done = 0;
    while (off + done < end) {
      const p = off + done, i = Math.floor(p / block), b = get(i);
      const s = p - i * block, n = Math.min(b.length - s, end - p);
      if (n <= 0) break;
      dst.set(b.subarray(s, s + n), done);
      done += n;
    }
    return done;
  } };
}

export function blobSource(blob) {
  const reader = new FileReaderSync();
  return cached({ size: blob.size,
    fetch: (off, n) => new Uint8Array(reader.readAsArrayBuffer(blob.slice(off, off + n))) });
}

export function syncHandleSource(handle) {
  const size = handle.getSize();
  return { size, close: () => handle.close(), read(off, dst) { return handle.read(dst, { at: off }); } };
}

export function urlSource(url, size) {
  if (size === undefined) {
    const x = new XMLHttpRequest();
    x.open('HEAD', url, false);
    x.send();
    if (x.status !== 200) throw new Error(`${url}: HTTP ${x.status}`);
    size = Number(x.getResponseHeader('Content-Length'));
  }
  return cached({ size, fetch(off, n) {
    if (n <= 0) return new Uint8Array(0);
    const x = new XMLHttpRequest();
    x.open('GET', url, false);
    x.responseType = 'arraybuffer';
    x.setRequestHeader('Range', `bytes=${off}-${off + n - 1}`);
    x.send();
    if (x.status !== 206 && x.status !== 200) throw new Error(`${url}: HTTP ${x.status}`);
    const b = new Uint8Array(x.response);
    return x.status === 200 ? b.subarray(off, off + n) : b;
  } });
}

// ---- virtual file system --------------------------------------------------------

export function normPath(p) {
  const out = [];
  for (const part of String(p).split('/')) {
    if (!part || part === '.') continue;
    if (part === '..') out.pop(); else out.push(part);
  }
  return '/' + out.join('/');
}

export class VFS {
  constructor() { this.files = new Map(); this.dirs = new Map([['/', new Set()]]); }
  addFile(path, source) {
    path = normPath(path);
    this.files.set(path, { source, data: null });
    let child = path;
    for (let d = parentOf(path); ; d = parentOf(d)) {
      if (!this.dirs.has(d)) this.dirs.set(d, new Set());
      this.dirs.get(d).add(baseOf(child));
      child = d;
      if (d === '/') break;
    }
  }
  // mount('/models/a', {'unet/x.safetensors': source, ...})
  mount(prefix, entries) {
    for (const [rel, src] of Object.entries(entries)) this.addFile(prefix + '/' + rel, src);
  }
  unmount(prefix) {
    prefix = normPath(prefix);
    for (const [p, f] of this.files) if (p === prefix || p.startsWith(prefix + '/')) {
      try { f.source.close?.(); } catch { /* already closed */ }
      this.files.delete(p);
    }
    for (const d of [...this.dirs.keys()]) if (d === prefix || d.startsWith(prefix + '/')) this.dirs.delete(d);
    const parent = this.dirs.get(parentOf(prefix));
    if (parent) parent.delete(baseOf(prefix));
  }
  stat(path) {
    path = normPath(path);
    const f = this.files.get(path);
    if (f) return { type: FT.FILE, size: f.source ? f.source.size : f.data.length };
    if (this.dirs.has(path)) return { type: FT.DIR, size: 0 };
    return null;
  }
}
function parentOf(p) { const i = p.lastIndexOf('/'); return i <= 0 ? '/' : p.slice(0, i); }
function baseOf(p) { return p.slice(p.lastIndexOf('/') + 1); }

// ---- WASI -------------------------------------------------------------------

export class Wasi {
  constructor({ vfs = new VFS(), log = console.log, args = ['wsd'], env = {} } = {}) {
    this.vfs = vfs;
    this.log = log;
    this.args = args;
    this.env = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    this.memory = null;
    // fd 0-2: stdio; fd 3: the preopened root "/"
    this.fds = new Map([[0, { kind: 'stdin' }], [1, { kind: 'out', buf: '' }], [2, { kind: 'out', buf: '' }],
      [3, { kind: 'dir', path: '/', preopen: '/' }]]);
    this.nextFd = 4;
    this.enc = new TextEncoder();
    this.dec = new TextDecoder();
  }

  // Builds the import object for `module`: our WASI, `extra` modules, and
  // EngineMissing stubs for "env" functions the build does not define.
  imports(module, extra = {}) {
    const wasi = this.functions();
    const obj = { wasi_snapshot_preview1: {}, ...extra };
    for (const imp of WebAssembly.Module.imports(module)) {
      if (imp.kind !== 'function') continue;
      if (imp.module === 'wasi_snapshot_preview1') {
        obj.wasi_snapshot_preview1[imp.name] = wasi[imp.name] || (() => E.NOSYS);
      } else if (!(obj[imp.module] && imp.name in obj[imp.module])) {
        obj[imp.module] = obj[imp.module] || {};
        const name = imp.name;
        obj[imp.module][name] = () => { throw new EngineMissing(name); };
      }
    }
    return obj;
  }

  // Engine functions (env imports) that this build lacks.
  static missing(module) {
    return WebAssembly.Module.imports(module).filter((i) => i.module === 'env' && i.kind === 'function').map((i) => i.name);
  }

  start(instance) {
    this.memory = instance.exports.memory;
    if (instance.exports._initialize) instance.exports._initialize();
  }

  get u8() { return new Uint8Array(this.memory.buffer); }
  get dv() { return new DataView(this.memory.buffer); }
  str(ptr, len) { return this.dec.decode(this.u8.subarray(ptr, ptr + len)); }

  flush() {
    for (const fd of [1, 2]) {
      const f = this.fds.get(fd);
      if (f.buf) { this.log(f.buf, fd); f.buf = ''; }
    }
  }

  resolve(dirfd, ptr, len) {
    const d = this.fds.get(dirfd);
    if (!d || d.kind !== 'dir') return null;
    return normPath(d.path + '/' + this.str(ptr, len));
  }

  iovs(iovs, n) {
    const dv = this.dv, out = [];
    for (let i = 0; i < n; i++) out.push([dv.getUint32(iovs + 8 * i, true), dv.getUint32(iovs + 8 * i + 4, true)]);
    return out;
  }

  readInto(f, iovs, n, pos) {
    const src = f.node.source;
    let total = 0;
    for (const [p, len] of this.iovs(iovs, n)) {
      if (pos + total >= src.size) break;
      const got = src.read(pos + total, new Uint8Array(this.memory.buffer, p, Math.min(len, src.size - pos - total)));
      total += got;
      if (got < len) break;
    }
    return total;
  }

  functions() {
    const self = this;
    const fstat = (ptr, type, size) => {
      const dv = self.dv;
      for (let i = 0; i < 64; i += 8) dv.setBigUint64(ptr + i, 0n, true);
      dv.setBigUint64(ptr + 8, BigInt(type === FT.DIR ? 1 : 2), true);
      dv.setUint8(ptr + 16, type);
      dv.setBigUint64(ptr + 24, 1n, true);
      dv.setBigUint64(ptr + 32, BigInt(size), true);
    };
    return {
      args_sizes_get(argc, bufsize) {
        self.dv.setUint32(argc, self.args.length, true);
        self.dv.setUint32(bufsize, self.args.reduce((a, s) => a + self.enc.encode(s).length + 1, 0), true);
        return E.SUCCESS;
      },
      args_get(argv, buf) { return writeStrings(self, self.args, argv, buf); },
      environ_sizes_get(n, bufsize) {
        self.dv.setUint32(n, self.env.length, true);
        self.dv.setUint32(bufsize, self.env.reduce((a, s) => a + self.enc.encode(s).length + 1, 0), true);
        return E.SUCCESS;
      },
      environ_get(envp, buf) { return writeStrings(self, self.env, envp, buf); },
      clock_res_get(id, out) { self.dv.setBigUint64(out, 1000n, true); return E.SUCCESS; },
      clock_time_get(id, precision, out) {
        const ns = id === 0 ? BigInt(Date.now()) * 1000000n
          : BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
        self.dv.setBigUint64(out, ns, true);
        return E.SUCCESS;
      },
      random_get(ptr, len) {
        for (let off = 0; off < len; off += 65536) {
          crypto.getRandomValues(new Uint8Array(self.memory.buffer, ptr + off, Math.min(65536, len - off)));
        }
        return E.SUCCESS;
      },
      proc_exit(code) { self.flush(); throw new WasiExit(code); },
      sched_yield() { return E.SUCCESS; },
      fd_prestat_get(fd, out) {
        const f = self.fds.get(fd);
        if (!f || !f.preopen) return E.BADF;
        self.dv.setUint8(out, 0);
        self.dv.setUint32(out + 4, self.enc.encode(f.preopen).length, true);
        return E.SUCCESS;
      },
      fd_prestat_dir_name(fd, ptr, len) {
        const f = self.fds.get(fd);
        if (!f || !f.preopen) return E.BADF;
        self.u8.set(self.enc.encode(f.preopen).subarray(0, len), ptr);
        return E.SUCCESS;
      },
      fd_fdstat_get(fd, out) {
        const f = self.fds.get(fd);
        if (!f) return E.BADF;
        const type = f.kind === 'dir' ? FT.DIR : f.kind === 'file' ? FT.FILE : FT.CHAR;
        const dv = self.dv;
        dv.setUint8(out, type);
        dv.setUint16(out + 2, 0, true);
        dv.setBigUint64(out + 8, 0xffffffffn, true); // all rights; the VFS itself refuses what it cannot do
        dv.setBigUint64(out + 16, 0xffffffffn, true);
        return E.SUCCESS;
      },
      fd_fdstat_set_flags() { return E.SUCCESS; },
      fd_filestat_get(fd, out) {
        const f = self.fds.get(fd);
        if (!f) return E.BADF;
        if (f.kind === 'file') fstat(out, FT.FILE, f.node.source.size);
        else if (f.kind === 'dir') fstat(out, FT.DIR, 0);
        else fstat(out, FT.CHAR, 0);
        return E.SUCCESS;
      },
      path_filestat_get(dirfd, flags, ptr, len, out) {
        const p = self.resolve(dirfd, ptr, len);
        if (!p) return E.BADF;
        const st = self.vfs.stat(p);
        if (!st) return E.NOENT;
        fstat(out, st.type, st.size);
        return E.SUCCESS;
      },
      path_open(dirfd, dirflags, ptr, len, oflags, rightsBase, rightsInh, fdflags, fdOut) {
        const p = self.resolve(dirfd, ptr, len);
        if (!p) return E.BADF;
        const st = self.vfs.stat(p);
        if (oflags & 1 /* CREAT */ || oflags & 8 /* TRUNC */) return st && st.type === FT.DIR ? E.ISDIR : E.ROFS;
        if (!st) return E.NOENT;
        if (oflags & 2 /* DIRECTORY */ && st.type !== FT.DIR) return E.NOTDIR;
        const fd = self.nextFd++;
        self.fds.set(fd, st.type === FT.DIR ? { kind: 'dir', path: p }
          : { kind: 'file', path: p, node: self.vfs.files.get(p), pos: 0 });
        self.dv.setUint32(fdOut, fd, true);
        return E.SUCCESS;
      },
      fd_close(fd) {
        if (!self.fds.has(fd) || fd < 3) return fd < 3 ? E.SUCCESS : E.BADF;
        self.fds.delete(fd);
        return E.SUCCESS;
      },
      fd_read(fd, iovs, n, nread) {
        const f = self.fds.get(fd);
        if (!f) return E.BADF;
        if (f.kind === 'stdin') { self.dv.setUint32(nread, 0, true); return E.SUCCESS; }
        if (f.kind !== 'file') return E.ISDIR;
        try {
          const got = self.readInto(f, iovs, n, f.pos);
          f.pos += got;
          self.dv.setUint32(nread, got, true);
          return E.SUCCESS;
        } catch (e) { self.log(`read ${f.path}: ${e.message}`, 2); return E.IO; }
      },
      fd_pread(fd, iovs, n, offset, nread) {
        const f = self.fds.get(fd);
        if (!f) return E.BADF;
        if (f.kind !== 'file') return E.ISDIR;
        try {
          self.dv.setUint32(nread, self.readInto(f, iovs, n, Number(offset)), true);
          return E.SUCCESS;
        } catch (e) { self.log(`read ${f.path}: ${e.message}`, 2); return E.IO; }
      },
      fd_seek(fd, offset, whence, out) {
        const f = self.fds.get(fd);
        if (!f) return E.BADF;
        if (f.kind !== 'file') return E.SPIPE;
        const base = whence === 0 ? 0 : whence === 1 ? f.pos : f.node.source.size;
        const pos = base + Number(offset);
        if (pos < 0) return E.INVAL;
        f.pos = pos;
        self.dv.setBigUint64(out, BigInt(pos), true);
        return E.SUCCESS;
      },
      fd_tell(fd, out) {
        const f = self.fds.get(fd);
        if (!f || f.kind !== 'file') return E.BADF;
        self.dv.setBigUint64(out, BigInt(f.pos), true);
        return E.SUCCESS;
      },
      fd_write(fd, iovs, n, nwritten) {
        const f = self.fds.get(fd);
        if (!f) return E.BADF;
        if (f.kind !== 'out') return E.ROFS;
        let total = 0;
        for (const [p, len] of self.iovs(iovs, n)) { f.buf += self.str(p, len); total += len; }
        let i;
        while ((i = f.buf.indexOf('\n')) >= 0) { self.log(f.buf.slice(0, i), fd); f.buf = f.buf.slice(i + 1); }
        self.dv.setUint32(nwritten, total, true);
        return E.SUCCESS;
      },
      fd_readdir(fd, buf, bufLen, cookie, used) {
        const f = self.fds.get(fd);
        if (!f) return E.BADF;
        if (f.kind !== 'dir') return E.NOTDIR;
        const names = [...(self.vfs.dirs.get(f.path) || [])].sort();
        let off = 0;
        const u8 = self.u8, dv = self.dv;
        for (let i = Number(cookie); i < names.length; i++) {
          const name = self.enc.encode(names[i]);
          const st = self.vfs.stat(f.path + '/' + names[i]);
          const ent = new Uint8Array(24 + name.length);
          const edv = new DataView(ent.buffer);
          edv.setBigUint64(0, BigInt(i + 1), true);
          edv.setBigUint64(8, BigInt(i + 1), true);
          edv.setUint32(16, name.length, true);
          edv.setUint8(20, st ? st.type : FT.UNKNOWN);
          ent.set(name, 24);
          const n = Math.min(ent.length, bufLen - off);
          u8.set(ent.subarray(0, n), buf + off);
          off += n;
          if (off >= bufLen) break;
        }
        dv.setUint32(used, off, true);
        return E.SUCCESS;
      },
      path_create_directory() { return E.ROFS; },
      path_unlink_file() { return E.ROFS; },
      path_remove_directory() { return E.ROFS; },
      path_rename() { return E.ROFS; },
      path_readlink() { return E.INVAL; },
      poll_oneoff() { return E.NOTSUP; },
    };
  }
}

function writeStrings(self, list, ptrs, buf) {
  const dv = self.dv, u8 = self.u8;
  for (const s of list) {
    dv.setUint32(ptrs, buf, true);
    ptrs += 4;
    const b = self.enc.encode(s);
    u8.set(b, buf);
    u8[buf + b.length] = 0;
    buf += b.length + 1;
  }
  return E.SUCCESS;
}

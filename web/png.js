// PNG writing with text metadata, in plain JS (works in browsers and Node 18+).
//
// encodePNG(rgba, width, height, text) -> Promise<Uint8Array>
//   rgba: Uint8Array/Uint8ClampedArray of width*height*4 (alpha dropped: RGB PNG)
//   text: {keyword: value}; a value that fits Latin-1 goes in a tEXt chunk,
//         otherwise in an uncompressed iTXt chunk (UTF-8), as image tools expect.
// The image data is deflated with CompressionStream('deflate') (zlib format,
// exactly what IDAT holds); without it, stored (uncompressed) deflate blocks.
// Rows use the Paeth filter. CRC-32 and Adler-32 are computed here.
//
// a1111Parameters(p): the "parameters" text of the A1111 web UI convention:
//   <prompt>
//   Negative prompt: <negative>
//   Steps: N, Sampler: X, CFG scale: G, Seed: S, Size: WxH, Model: name

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(bytes, crc = 0) {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function adler32(bytes) {
  let a = 1, b = 0;
  for (let i = 0; i < bytes.length;) {
    const end = Math.min(bytes.length, i + 5552);
    for (; i < end; i++) { a += bytes[i]; b += a; }
    a %= 65521; b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

function chunk(type, data) {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const latin1 = (s) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));
const isLatin1 = (s) => !/[^\x01-\xff]/.test(s);

function textChunk(keyword, value) {
  const kw = String(keyword).replace(/[^\x20-\x7e]/g, '').slice(0, 79) || 'Comment';
  if (isLatin1(value)) {
    const k = latin1(kw), v = latin1(value);
    const data = new Uint8Array(k.length + 1 + v.length);
    data.set(k); data.set(v, k.length + 1);
    return chunk('tEXt', data);
  }
  // iTXt: keyword \0 compression-flag(0) method(0) language-tag \0 translated-keyword \0 text(UTF-8)
  const k = latin1(kw), v = new TextEncoder().encode(value);
  const data = new Uint8Array(k.length + 5 + v.length);
  data.set(k);
  data.set(v, k.length + 5);
  return chunk('iTXt', data);
}

function paeth(a, b, c) {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

function filteredRows(rgba, w, h) {
  const stride = w * 3, out = new Uint8Array(h * (stride + 1));
  const row = new Uint8Array(stride), prev = new Uint8Array(stride);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = 4 * (y * w + x);
      row[3 * x] = rgba[s]; row[3 * x + 1] = rgba[s + 1]; row[3 * x + 2] = rgba[s + 2];
    }
    const o = y * (stride + 1);
    out[o] = 4; // Paeth
    for (let i = 0; i < stride; i++) {
      const a = i >= 3 ? row[i - 3] : 0, c = i >= 3 ? prev[i - 3] : 0;
      out[o + 1 + i] = (row[i] - paeth(a, prev[i], c)) & 0xff;
    }
    prev.set(row);
  }
  return out;
}

function storedZlib(raw) {
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + raw.length + 5 * blocks + 4);
  out[0] = 0x78; out[1] = 0x01;
  let o = 2;
  for (let i = 0; i < blocks; i++) {
    const start = i * 65535, len = Math.min(65535, raw.length - start);
    out[o++] = i === blocks - 1 ? 1 : 0;
    out[o++] = len & 0xff; out[o++] = len >>> 8;
    out[o++] = ~len & 0xff; out[o++] = (~len >>> 8) & 0xff;
    out.set(raw.subarray(start, start + len), o);
    o += len;
  }
  new DataView(out.buffer).setUint32(o, adler32(raw));
  return out;
}

async function zlib(raw) {
  if (typeof CompressionStream !== 'function') return storedZlib(raw);
  const stream = new Blob([raw]).stream().pipeThrough(new CompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function encodePNG(rgba, width, height, text = {}) {
  if (rgba.length < width * height * 4) throw new Error('encodePNG: pixel buffer too small');
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width); dv.setUint32(4, height);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunk('IHDR', ihdr)];
  for (const [k, v] of Object.entries(text)) parts.push(textChunk(k, String(v)));
  parts.push(chunk('IDAT', await zlib(filteredRows(rgba, width, height))));
  parts.push(chunk('IEND', new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

// Reads the text chunks of a PNG (tEXt and uncompressed iTXt): {keyword: value}.
export function readPNGText(bytes) {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const out = {};
  for (let o = 8; o + 12 <= u8.length;) {
    const len = dv.getUint32(o), type = String.fromCharCode(...u8.subarray(o + 4, o + 8));
    const data = u8.subarray(o + 8, o + 8 + len);
    const z = data.indexOf(0);
    if (type === 'tEXt' && z > 0) out[String.fromCharCode(...data.subarray(0, z))] = Array.from(data.subarray(z + 1), (b) => String.fromCharCode(b)).join('');
    if (type === 'iTXt' && z > 0 && data[z + 1] === 0) {
      let p = data.indexOf(0, z + 3); p = data.indexOf(0, p + 1);
      out[String.fromCharCode(...data.subarray(0, z))] = new TextDecoder().decode(data.subarray(p + 1));
    }
    o += 12 + len;
  }
  return out;
}

const SAMPLER_NAMES = { default: 'Default', pndm: 'PNDM', ddim: 'DDIM', euler: 'Euler', euler_a: 'Euler a',
  dpmpp_2m: 'DPM++ 2M', dpmpp_2m_karras: 'DPM++ 2M Karras', lms: 'LMS', lcm: 'LCM' };

export function samplerLabel(s) { return SAMPLER_NAMES[s] || String(s); }

export function a1111Parameters(p) {
  const lines = [p.prompt || ''];
  if (p.negativePrompt) lines.push(`Negative prompt: ${p.negativePrompt}`);
  const fields = [`Steps: ${p.steps}`, `Sampler: ${samplerLabel(p.sampler)}`, `CFG scale: ${p.guidance}`,
    `Seed: ${p.seed}`, `Size: ${p.width}x${p.height}`, `Model: ${p.model || 'unknown'}`];
  if (p.initImage) fields.push(`Denoising strength: ${p.strength}`);
  lines.push(fields.join(', '));
  return lines.join('\n');
}

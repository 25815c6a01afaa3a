// Rewrites clang 14's relaxed-SIMD multiply-add to the final opcode.
//
//   node scripts/wasm_relaxed_fixup.mjs IN.wasm OUT.wasm
//
// clang 14 (Debian's) compiles __builtin_wasm_fma_f32x4 (with -mrelaxed-simd)
// to the relaxed-SIMD proposal's prototype encoding, 0xfd 0xaf 0x01
// ("f32x4.fma"). The proposal as standardised and shipped (Chromium 114+,
// Firefox 120+) numbers it 0x105, "f32x4.relaxed_madd" (0xfd 0x85 0x02), with
// the same operands and result (a * b + c, fused or not); engines reject the
// old number. Both encodings are three bytes, so the rewrite changes no sizes
// or offsets. It is done on decoded instructions, never on a byte search: the
// code section is walked function by function, instruction by instruction
// (every immediate skipped by its opcode's format), and only real opcodes are
// changed; an opcode this walker does not know stops the build instead of
// guessing. Clang 16+ emits the final opcode itself (the C code then uses
// __builtin_wasm_relaxed_madd_f32x4): nothing to rewrite, the file is copied.
// f32x4.fms (0xb0, "nmadd") and the f64x2 forms are rewritten the same way.
// The result is then validated where this Node has relaxed SIMD (Node 20 with
// its experimental flag, set here), so any other prototype opcode clang might
// have emitted fails the build instead of the browser's fallback hiding it.
import fs from 'node:fs';
import v8 from 'node:v8';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const OLD_TO_NEW = new Map([[0xaf, 0x105], [0xb0, 0x106], [0xcf, 0x107], [0xd0, 0x108]]);

export function fixRelaxed(buf) {
  const b = Uint8Array.from(buf);
  let pos = 8;
  const u32 = () => { let r = 0, s = 0, x; do { x = b[pos++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r >>> 0; };
  const sleb = () => { let x; do { x = b[pos++]; } while (x & 0x80); };
  const fail = (msg) => { throw new Error(`wasm_relaxed_fixup: ${msg} at byte ${pos}`); };
  if (b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) fail('not a wasm module');
  let rewritten = 0;
  while (pos < b.length) {
    const id = b[pos++], size = u32(), end = pos + size;
    if (id !== 10) { pos = end; continue; }
    const nfun = u32();
    for (let f = 0; f < nfun; f++) {
      const fsize = u32(), fend = pos + fsize;
      const ngroups = u32();
      for (let g = 0; g < ngroups; g++) { u32(); pos++; }
      while (pos < fend) {
        const op = b[pos++];
        if (op === 0x02 || op === 0x03 || op === 0x04) sleb();                  // block type
        else if (op === 0x0c || op === 0x0d) u32();                             // br, br_if
        else if (op === 0x0e) { const n = u32(); for (let i = 0; i <= n; i++) u32(); } // br_table
        else if (op === 0x10 || op === 0x12 || op === 0xd2) u32();              // call, return_call, ref.func
        else if (op === 0x11 || op === 0x13) { u32(); u32(); }                  // call_indirect
        else if (op === 0x1c) { const n = u32(); pos += n; }                    // select t*
        else if (op >= 0x20 && op <= 0x26) u32();                               // locals, globals, table.get/set
        else if (op >= 0x28 && op <= 0x3e) { u32(); u32(); }                    // memarg
        else if (op === 0x3f || op === 0x40) u32();                             // memory.size/grow
        else if (op === 0x41 || op === 0x42) sleb();                            // i32/i64.const
        else if (op === 0x43) pos += 4;
        else if (op === 0x44) pos += 8;
        else if (op === 0xd0) pos += 1;                                         // ref.null t
        else if (op === 0xfc) {
          const sub = u32();
          if (sub <= 7) { /* saturating truncations */ }
          else if (sub === 8 || sub === 10 || sub === 12 || sub === 14) { u32(); u32(); }
          else if (sub <= 17) u32();
          else fail(`unknown 0xfc opcode ${sub}`);
        } else if (op === 0xfd) {
          const at = pos, sub = u32();
          if (sub <= 11 || sub === 92 || sub === 93) { u32(); u32(); }          // v128 loads/stores
          else if (sub === 12 || sub === 13) pos += 16;                         // v128.const, i8x16.shuffle
          else if (sub >= 21 && sub <= 34) pos += 1;                            // lane extract/replace
          else if (sub >= 84 && sub <= 91) { u32(); u32(); pos += 1; }          // load/store lane
          else if (OLD_TO_NEW.has(sub)) {
            if (pos - at !== 2) fail(`unexpected encoding of 0xfd ${sub}`);
            const n = OLD_TO_NEW.get(sub);
            b[at] = (n & 0x7f) | 0x80;
            b[at + 1] = n >> 7;
            rewritten++;
          } else if (sub > 0x113) fail(`unknown 0xfd opcode ${sub}`);
        } else if (op === 0xfe) {
          const sub = u32();
          if (sub === 3) pos += 1; else { u32(); u32(); }                       // atomic.fence; memarg
        } else if (!(op <= 0x01 || op === 0x05 || op === 0x0b || op === 0x0f || op === 0x1a || op === 0x1b ||
                     (op >= 0x45 && op <= 0xc4) || op === 0xd1)) fail(`unknown opcode 0x${op.toString(16)}`);
        // (the rest: control without immediates, numeric operators)
      }
      if (pos !== fend) fail(`function ${f} decoded past its end`);
    }
    if (pos !== end) fail('code section size mismatch');
  }
  return { bytes: b, rewritten };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [inp, out] = process.argv.slice(2);
  if (!inp || !out) { console.error('usage: wasm_relaxed_fixup.mjs IN.wasm OUT.wasm'); process.exit(2); }
  const { bytes, rewritten } = fixRelaxed(fs.readFileSync(inp));
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  const zero = [0xfd, 0x0c, ...new Array(16).fill(0)];
  const probe = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0,
    10, 0x3d, 1, 0x3b, 0, ...zero, ...zero, ...zero, 0xfd, 0x85, 0x02, 0x0b]);
  let note = ' (not validated: this Node has no relaxed SIMD)';
  if (WebAssembly.validate(probe)) {
    try { new WebAssembly.Module(bytes); } catch (e) { console.error(`wasm_relaxed_fixup: ${inp}: the rewritten module does not validate: ${e.message}`); process.exit(1); }
    note = ', validated';
  }
  fs.writeFileSync(out, bytes);
  console.log(`wasm_relaxed_fixup: ${out}: ${rewritten} relaxed multiply-add opcode(s) rewritten${note}`);
}

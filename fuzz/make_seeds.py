#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/NAME/) that are
generated rather than hand-written: small safetensors files, PNGs of every
colour type / bit depth / interlace with text chunks, configs (from
shared/reference/tiny-sd15 and assets/shapes-sd15), CLI argument lists,
A1111 parameter texts, and the tensor-table headers of the tiny model as
single-file checkpoints. Deterministic; standard library only.

    python3 fuzz/make_seeds.py [SHARED_DIR]
"""
import json
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, '..', 'shared')
TINY = os.path.join(SHARED, 'reference', 'tiny-sd15')
SHAPES = os.path.join(ROOT, 'assets', 'shapes-sd15')


def out(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


# ---- safetensors ------------------------------------------------------------

def st(tensors, meta=None, pad=True):
    """tensors: [(name, dtype, shape, bytes)] -> safetensors bytes."""
    header, blob = {}, b''
    if meta is not None:
        header['__metadata__'] = meta
    for name, dt, shape, data in tensors:
        header[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header, separators=(',', ':')).encode()
    if pad:
        h += b' ' * (-len(h) % 8)
    return struct.pack('<Q', len(h)) + h + blob


def f32(*v):
    return struct.pack('<%df' % len(v), *v)


out('safetensors', 'empty_header', st([]))
out('safetensors', 'one_f32', st([('w', 'F32', [2, 2], f32(1, 2, 3, 4))]))
out('safetensors', 'mixed', st([
    ('a.weight', 'F16', [3], struct.pack('<3e', 1.0, -2.0, 0.5)),
    ('b.bias', 'BF16', [2], b'\x80\x3f\x00\x40'),
    ('c', 'I64', [1, 2], struct.pack('<2q', 7, -7)),
    ('d', 'I32', [], struct.pack('<i', 3)),
    ('e', 'U8', [4], b'\x00\x01\x02\xff'),
    ('zero', 'F32', [0, 4], b''),
], meta={'format': 'pt', 'note': 'seed'}))
out('safetensors', 'metadata_configs', st([('x', 'F32', [1], f32(0.5))],
                                          meta={'unet_config': '{"block_out_channels": [32]}', 'format': 'pt'}))
out('safetensors', 'nan_inf', st([('x', 'F32', [3], f32(float('nan'), float('inf'), -float('inf')))]))
out('safetensors', 'unpadded', st([('x', 'F32', [1], f32(1))], pad=False))
gap = json.dumps({'a': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]},
                  'b': {'dtype': 'F32', 'shape': [1], 'data_offsets': [8, 12]}}, separators=(',', ':')).encode()
out('safetensors', 'gap_between', struct.pack('<Q', len(gap)) + gap + bytes(12))
# regression: a second __metadata__ was written past the first one's arrays
two = b'{"__metadata__":{"a":"1","b":"2"},"__metadata__":{"c":"3"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
out('safetensors', 'regression_two_metadata', struct.pack('<Q', len(two)) + two + f32(1))

# ---- JSON readers (2 knob bytes, then the text) ------------------------------

configs = []
for base in (TINY, SHAPES):
    for rel in ('model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/config.json', 'unet/config.json',
                'vae/config.json', 'tokenizer/tokenizer_config.json', 'tokenizer/special_tokens_map.json'):
        p = os.path.join(base, rel)
        if os.path.exists(p):
            configs.append((os.path.basename(base) + '_' + rel.replace('/', '_'), open(p, 'rb').read()))
sched_variants = {
    'euler_a': {'_class_name': 'EulerAncestralDiscreteScheduler', 'beta_schedule': 'scaled_linear', 'beta_start': 0.00085,
                'beta_end': 0.012, 'num_train_timesteps': 1000, 'timestep_spacing': 'trailing', 'steps_offset': 1},
    'dpm_karras': {'_class_name': 'DPMSolverMultistepScheduler', 'use_karras_sigmas': True, 'solver_order': 3,
                   'prediction_type': 'v_prediction', 'beta_schedule': 'linear'},
    'ddim_v': {'_class_name': 'DDIMScheduler', 'prediction_type': 'v_prediction', 'rescale_betas_zero_snr': True,
               'timestep_spacing': 'leading', 'clip_sample': True, 'set_alpha_to_one': True},
    'lcm': {'_class_name': 'LCMScheduler', 'original_inference_steps': 50, 'num_train_timesteps': 1000},
    'lms_trained': {'_class_name': 'LMSDiscreteScheduler', 'trained_betas': [0.0001 * (i + 1) for i in range(10)],
                    'num_train_timesteps': 10},
    'pndm_prk': {'_class_name': 'PNDMScheduler', 'skip_prk_steps': False, 'num_train_timesteps': 100},
    'infinity': {'_class_name': 'EulerDiscreteScheduler', 'beta_end': float('inf'), 'sigma_min': -1e308},
}
for i, (name, text) in enumerate(configs):
    out('json', name, bytes([i % 9, i * 16 % 256]) + text)
for i, (name, cfg) in enumerate(sched_variants.items()):
    out('json', 'sched_' + name, bytes([i % 9, (i * 37) % 256 | 8]) + json.dumps(cfg).encode())
out('json', 'sd2_unet', b'\x00\x00' + json.dumps({
    'block_out_channels': [320, 640, 1280, 1280], 'cross_attention_dim': 1024, 'attention_head_dim': [5, 10, 20, 20],
    'use_linear_projection': True, 'down_block_types': ['CrossAttnDownBlock2D'] * 3 + ['DownBlock2D'],
    'up_block_types': ['UpBlock2D'] + ['CrossAttnUpBlock2D'] * 3, 'sample_size': 96}).encode())
out('json', 'escapes', b'\x01\x02{"a\\u0000b": "\\ud83d\\ude00\\n", "a": [1, -0, 1e308, 1e-320, NaN, -Infinity, true, false, null], "a": {}}')
out('json', 'deep', b'\x00\x00' + b'[' * 200 + b']' * 200)

# ---- model folder (byte 0 picks the file) ------------------------------------

rels = ['model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/config.json', 'unet/config.json',
        'vae/config.json', 'tokenizer/tokenizer_config.json']
for i, rel in enumerate(rels):
    p = os.path.join(TINY, rel)
    if os.path.exists(p):
        out('model', 'file%d_%s' % (i, os.path.basename(rel)), bytes([i]) + open(p, 'rb').read())


def header_of(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return f.read(n)


for k, rel in ((6, 'unet/diffusion_pytorch_model.safetensors'), (7, 'text_encoder/model.safetensors')):
    p = os.path.join(TINY, rel)
    if os.path.exists(p):
        out('model', 'header%d_%s' % (k, rel.split('/')[0]), bytes([k]) + header_of(p))

# ---- PNG ---------------------------------------------------------------------


def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)


def png(w, h, ctype, depth, rows, interlace=0, extra=b'', plte=None, trns=None, texts=()):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    s = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, ctype, 0, 0, interlace))
    if plte:
        s += chunk(b'PLTE', plte)
    if trns:
        s += chunk(b'tRNS', trns)
    for kind, key, value in texts:
        if kind == b'tEXt':
            s += chunk(kind, key + b'\0' + value)
        elif kind == b'zTXt':
            s += chunk(kind, key + b'\0\0' + zlib.compress(value))
        else:
            s += chunk(kind, key + b'\0\0\0en\0' + key + b'\0' + value)
    s += extra
    if interlace:
        raw = b''
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        for x0, y0, dx, dy in passes:
            pw, ph = (w - x0 + dx - 1) // dx, (h - y0 + dy - 1) // dy
            if pw <= 0 or ph <= 0:
                continue
            bpr = (pw * channels * depth + 7) // 8
            for _ in range(ph):
                raw += b'\0' + bytes((i * 37) & 0xff for i in range(bpr))
    else:
        raw = b''.join(b'\0' + r for r in rows)
    s += chunk(b'IDAT', zlib.compress(raw))
    return s + chunk(b'IEND', b'')


def rows_for(w, h, channels, depth):
    bpr = (w * channels * depth + 7) // 8
    return [bytes(((x + y * 7) * 29) & 0xff for x in range(bpr)) for y in range(h)]


out('png', 'rgb8', png(4, 3, 2, 8, rows_for(4, 3, 3, 8), texts=[(b'tEXt', b'parameters', b'a cat\nSteps: 20, Seed: 1')]))
out('png', 'rgba16', png(3, 2, 6, 16, rows_for(3, 2, 4, 16)))
out('png', 'gray1', png(9, 2, 0, 1, rows_for(9, 2, 1, 1)))
out('png', 'gray_alpha8', png(2, 2, 4, 8, rows_for(2, 2, 2, 8), texts=[(b'iTXt', b'parameters', 'caf\u00e9 \u732b'.encode())]))
out('png', 'palette4_trns', png(5, 2, 3, 4, rows_for(5, 2, 1, 4), plte=bytes(range(48)), trns=b'\x00\x80'))
out('png', 'interlaced_rgb', png(9, 9, 2, 8, None, interlace=1, texts=[(b'zTXt', b'Comment', b'zipped text ' * 4)]))
out('png', 'gray16_interlaced', png(3, 5, 0, 16, None, interlace=1))

# ---- CLI arguments (NUL-separated) -------------------------------------------

cli = {
    'basic': ['-p', 'a white triangle on a green background', '--sampler', 'dpmpp_2m', '-o', 'out.png'],
    'full': ['-m', 'model', '-p', 'astronaut', '-n', 'blurry', '--steps', '4', '--cfg-scale', '7.5', '-s', '42',
             '-W', '128', '-H', '64', '-i', 'init.png', '--strength', '0.75', '--backend', 'webgpu', '-t', '2', '-q',
             '--latents', 'l.safetensors', '--noise', 'n.safetensors', '--save-raw', 'r.safetensors'],
    'bad_numbers': ['-p', 'x', '--steps', '1e3', '--guidance', 'nan', '-W', '4104', '--seed', '18446744073709551616'],
    'help': ['--help'],
    'missing_value': ['-p'],
}
for name, args in cli.items():
    out('cli_args', name, b'\0'.join(a.encode() for a in args))

# ---- A1111 parameters text -----------------------------------------------------

out('infotext', 'full', 'a photo of a cat, "quoted", (emphasis:1.2)\nNegative prompt: blurry\n'
    'Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7.5, Seed: 42, Size: 512x768, Model hash: abc, '
    'Model: sd15, Denoising strength: 0.75, Clip skip: 2, Version: wsd 0.1.0')
out('infotext', 'json_values', 'prompt\nSteps: 4, Sampler: Euler a, CFG scale: 1.0, Seed: -1, Size: 64x64, '
    'Lora hashes: "a: 1, b: 2", Model: "x, y"')
out('infotext', 'prompt_only', 'just a prompt\nwith two lines')

# ---- single-file checkpoints (headers of tiny-sd15 in CompVis layout) ----------
# fuzz/corpus/checkpoint/ holds headers written by tests/test_single_file.c
# (see fuzz/README.md); nothing is generated here.

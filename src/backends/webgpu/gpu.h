/* gpu.h: the thin GPU interface the WebGPU backend is written against.
 *
 * Two implementations:
 *   - native: gpu_dawn.c, webgpu.h calls into Dawn (libwebgpu_wrapper.so from
 *     the npm package bun-webgpu-linux-x64@0.1.7), loaded with dlopen;
 *   - browser: web/gpu.js, the same functions as wasm imports over
 *     navigator.gpu (module "env", names exactly as below).
 *
 * It is deliberately small: 14 functions, integer handles, plain structs.
 * Everything the engine needs from WebGPU is: buffers, compute pipelines
 * made from WGSL text with the automatic layout, bind groups of buffer
 * ranges, and an ordered list of dispatches/copies submitted at once.
 *
 * ---- Conventions (both implementations) ----------------------------------
 *  - Handles (gpu_buf, gpu_pipe, gpu_bind) are uint32; 0 is "none". They are
 *    indices into tables the implementation keeps; the JS side can use
 *    arrays. Handles are per device and never reused while alive.
 *  - Functions returning wsd_status fill `err` (wsd_err: int code + char
 *    msg[1024] at offset 4; JS writes the message as UTF-8, NUL-terminated)
 *    and return its code. Creation functions return 0 on failure and fill err.
 *  - Errors the GPU reports later (validation, out of memory, device lost)
 *    are remembered by the device and returned by the next gpu_submit /
 *    gpu_wait / gpu_buffer_read / gpu_buffer_write as WSD_ERR_DEVICE with
 *    the GPU's own message: once for validation and out-of-memory errors,
 *    on every later call for a lost device. Nothing aborts.
 *  - All sizes and offsets are in bytes. Buffer sizes, write/read offsets
 *    and lengths must be multiples of 4; binding offsets multiples of
 *    caps.min_storage_offset_alignment (256 is always safe).
 *  - Struct layouts are fixed (wasm32 and x86-64 agree): only uint32_t,
 *    int32_t and uint64_t fields, uint64 fields 8-byte aligned, explicit
 *    padding. Offsets are given in comments for the JS side.
 *
 * ---- Lifetime --------------------------------------------------------------
 *   gpu_open -> (buffers, pipelines, bind groups) -> gpu_submit* ->
 *   gpu_wait / gpu_buffer_read -> ... -> destroy objects -> gpu_close.
 * In the browser, adapter and device are requested by JS (asynchronously)
 * before the engine starts; gpu_open then only hands that device over and
 * applies the options. gpu_wait and gpu_buffer_read block (JSPI there). */
#ifndef WSD_WEBGPU_GPU_H
#define WSD_WEBGPU_GPU_H

#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

typedef uint32_t gpu_buf;
typedef uint32_t gpu_pipe;
typedef uint32_t gpu_bind;

typedef struct gpu_device gpu_device; /* opaque; in wasm an integer handle */

/* What the device offers: the limits actually granted to the device (so
 * with default_limits they are the spec defaults), and optional features. */
typedef struct gpu_caps {
    uint64_t max_storage_binding;       /* off 0:  maxStorageBufferBindingSize */
    uint64_t max_buffer;                /* off 8:  maxBufferSize */
    uint32_t max_workgroup_storage;     /* off 16: maxComputeWorkgroupStorageSize */
    uint32_t max_invocations;           /* off 20: maxComputeInvocationsPerWorkgroup */
    uint32_t max_workgroup_size_x;      /* off 24 */
    uint32_t max_workgroup_size_y;      /* off 28 */
    uint32_t max_workgroup_size_z;      /* off 32 */
    uint32_t max_workgroups_per_dim;    /* off 36: maxComputeWorkgroupsPerDimension */
    uint32_t max_storage_buffers;       /* off 40: maxStorageBuffersPerShaderStage */
    uint32_t min_storage_align;         /* off 44: minStorageBufferOffsetAlignment */
    uint32_t min_uniform_align;         /* off 48: minUniformBufferOffsetAlignment */
    uint32_t max_uniform_binding;       /* off 52: maxUniformBufferBindingSize (clamped to 4 GiB-1) */
    int32_t has_f16;                    /* off 56: shader-f16 enabled on the device ("enable f16;" works) */
    int32_t has_subgroups;              /* off 60: subgroups enabled on the device */
    uint32_t subgroup_min, subgroup_max;/* off 64, 68: 0 when unknown */
    int32_t default_limits;             /* off 72: the device was created with spec-default limits */
    int32_t is_cpu;                     /* off 76: software adapter (SwiftShader, fallback) */
    uint32_t vendor_id, device_id;      /* off 80, 84 */
    char backend[16];                   /* off 88: "vulkan", "metal", "d3d12", "browser", ... */
    char adapter[232];                  /* off 104: "vendor/architecture/device (description)" */
} gpu_caps;                             /* 336 bytes */

typedef struct gpu_open_options {
    int32_t default_limits; /* request no limits: the device gets the WebGPU spec defaults */
    int32_t no_f16;         /* do not enable shader-f16 even if the adapter has it */
    int32_t verbose;        /* print adapter, limits and features to stderr */
    int32_t reserved_;
} gpu_open_options;

/* Opens the default (high-performance) adapter and a device with the
 * adapter's limits (or the spec defaults with default_limits), enabling
 * shader-f16 and subgroups when present. Checks that the native library
 * matches the header it was declared with. *out owned by the caller. */
wsd_status gpu_open(const gpu_open_options *opt, gpu_device **out, wsd_err *err);
void gpu_close(gpu_device *dev);
/* The device's capabilities; valid until gpu_close. */
const gpu_caps *gpu_get_caps(const gpu_device *dev);

/* Buffer usage: every buffer can be a copy source and destination. */
enum {
    GPU_BUF_STORAGE = 1, /* bound as var<storage> */
    GPU_BUF_UNIFORM = 2  /* bound as var<uniform> */
};
/* Creates a zero-filled buffer of `size` bytes (multiple of 4). Returns 0 and
 * fills err on failure (size above the device's limits, out of memory). */
gpu_buf gpu_buffer_create(gpu_device *dev, uint64_t size, uint32_t usage, const char *label, wsd_err *err);
void gpu_buffer_destroy(gpu_device *dev, gpu_buf buf);
/* Queues a host-to-buffer copy (ordered before later submits); `data` may be
 * reused as soon as the call returns. */
wsd_status gpu_buffer_write(gpu_device *dev, gpu_buf buf, uint64_t offset, const void *data, uint64_t size,
                            wsd_err *err);
/* Waits for all submitted work, then copies `size` bytes at `offset` to host. */
wsd_status gpu_buffer_read(gpu_device *dev, gpu_buf buf, uint64_t offset, void *dst, uint64_t size, wsd_err *err);

/* Compiles WGSL (NUL-terminated) with entry point "main" and the automatic
 * bind group layout (group 0 only; every declared binding must be used by
 * main). Compile errors come back in err with the compiler's message. */
gpu_pipe gpu_pipeline_create(gpu_device *dev, const char *wgsl, const char *label, wsd_err *err);
void gpu_pipeline_destroy(gpu_device *dev, gpu_pipe pipe);

/* One buffer range bound at @group(0) @binding(binding). */
typedef struct gpu_binding {
    uint32_t binding; /* off 0 */
    gpu_buf buffer;   /* off 4 */
    uint64_t offset;  /* off 8 */
    uint64_t size;    /* off 16 */
} gpu_binding;        /* 24 bytes */
gpu_bind gpu_bindgroup_create(gpu_device *dev, gpu_pipe pipe, uint32_t n, const gpu_binding *entries, wsd_err *err);
void gpu_bindgroup_destroy(gpu_device *dev, gpu_bind bind);

/* A recorded command. Consecutive dispatches are encoded into one compute
 * pass (WebGPU makes each dispatch's writes visible to the next); a copy or
 * clear ends the pass. */
enum {
    GPU_CMD_DISPATCH = 0, /* a = pipeline, b = bind group, x/y/z = workgroup counts */
    GPU_CMD_COPY = 1,     /* a = source buffer, b = destination buffer (a different one:
                             WebGPU forbids copies within one buffer), src_off/dst_off/size */
    GPU_CMD_CLEAR = 2     /* a = buffer, dst_off/size: zero-fill */
};
typedef struct gpu_cmd {
    uint32_t kind;     /* off 0 */
    uint32_t a, b;     /* off 4, 8 */
    uint32_t x, y, z;  /* off 12, 16, 20 */
    uint64_t src_off;  /* off 24 */
    uint64_t dst_off;  /* off 32 */
    uint64_t size;     /* off 40 */
} gpu_cmd;             /* 48 bytes */
/* Encodes `n` commands into one command buffer and submits it. Returns at
 * once (the GPU runs asynchronously); reports sticky errors from before. */
wsd_status gpu_submit(gpu_device *dev, const gpu_cmd *cmds, uint32_t n, wsd_err *err);
/* Blocks until all submitted work has finished; reports GPU errors. */
wsd_status gpu_wait(gpu_device *dev, wsd_err *err);
/* Marks the work submitted so far (0 if the device is gone); gpu_wait_mark
 * blocks until that work has finished, so work submitted after the mark
 * can keep the GPU busy meanwhile (a denoising loop waits for step i while
 * step i + 1 runs). Marks finish in order; waiting for an old one returns
 * at once. Reports GPU errors as gpu_wait does. */
uint32_t gpu_mark(gpu_device *dev);
wsd_status gpu_wait_mark(gpu_device *dev, uint32_t mark, wsd_err *err);

/* Bytes currently held in buffers created through this device (for
 * memory reports; the implementation counts what it created). */
uint64_t gpu_bytes_allocated(const gpu_device *dev);
uint64_t gpu_bytes_peak(const gpu_device *dev);

#endif

/* Checks web/gpu.js against src/backends/webgpu/gpu.h from the C side: built
 * for wasm32 by tests/web_e2e.sh and run in Chromium (WebGPU on SwiftShader)
 * by tests/web/e2e.mjs. Every gpu_* call here is an import that web/gpu.js
 * implements, so this exercises the struct layouts (gpu_caps, gpu_binding,
 * gpu_cmd, wsd_err), the handles, JSPI for the blocking calls, and the error
 * paths. smoke() returns 0, or the line that failed; message() says more. */
#include "backends/webgpu/gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name)))

/* web/gpu.js allocates the gpu_caps struct with the module's alloc export. */
EXPORT(alloc) void *wasm_alloc(size_t n) { return malloc(n); }
EXPORT(release) void wasm_release(void *p) { free(p); }

static char g_msg[2048];
EXPORT(message) const char *message(void) { return g_msg; }

#define FAIL(...)                                     \
    do {                                              \
        snprintf(g_msg, sizeof g_msg, __VA_ARGS__);   \
        return __LINE__;                              \
    } while (0)

static const char *k_double =
    "@group(0) @binding(0) var<storage, read> a: array<f32>;\n"
    "@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n"
    "struct P { n: u32, scale: f32 }\n"
    "@group(0) @binding(2) var<uniform> p: P;\n"
    "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {\n"
    "  if (g.x < p.n) { o[g.x] = a[g.x] * p.scale + 1.0; }\n"
    "}\n";

EXPORT(smoke) int smoke(void)
{
    wsd_err err;
    memset(&err, 0, sizeof err);
    gpu_open_options opt;
    memset(&opt, 0, sizeof opt);
    gpu_device *dev = NULL;
    if (gpu_open(&opt, &dev, &err) != WSD_OK || !dev) FAIL("gpu_open: %s", err.msg);
    const gpu_caps *c = gpu_get_caps(dev);
    if (!c || c->max_buffer < (1u << 20) || c->max_storage_binding < (1u << 20) || c->max_invocations < 64 ||
        c->min_storage_align == 0 || strcmp(c->backend, "browser") != 0 || !c->adapter[0])
        FAIL("caps: max_buffer %llu binding %llu invocations %u align %u backend '%s' adapter '%s'",
             c ? (unsigned long long)c->max_buffer : 0ull, c ? (unsigned long long)c->max_storage_binding : 0ull,
             c ? c->max_invocations : 0, c ? c->min_storage_align : 0, c ? c->backend : "", c ? c->adapter : "");

    enum { N = 1000 };
    static float in[N], out[N];
    for (int i = 0; i < N; i++) in[i] = (float)i * 0.5f - 100.0f;
    gpu_buf a = gpu_buffer_create(dev, sizeof in, GPU_BUF_STORAGE, "a", &err);
    gpu_buf o = gpu_buffer_create(dev, 4096 + sizeof out, GPU_BUF_STORAGE, "o", &err);
    gpu_buf u = gpu_buffer_create(dev, 16, GPU_BUF_UNIFORM, "params", &err);
    gpu_buf c2 = gpu_buffer_create(dev, 256, GPU_BUF_STORAGE, "copy", &err);
    if (!a || !o || !u || !c2) FAIL("gpu_buffer_create: %s", err.msg);
    if (gpu_bytes_allocated(dev) != sizeof in + 4096 + sizeof out + 16 + 256)
        FAIL("gpu_bytes_allocated %llu", (unsigned long long)gpu_bytes_allocated(dev));
    struct { uint32_t n; float scale; uint32_t pad[2]; } P = {N, 2.0f, {0, 0}};
    if (gpu_buffer_write(dev, a, 0, in, sizeof in, &err) != WSD_OK) FAIL("gpu_buffer_write: %s", err.msg);
    if (gpu_buffer_write(dev, u, 0, &P, sizeof P, &err) != WSD_OK) FAIL("gpu_buffer_write: %s", err.msg);

    gpu_pipe pipe = gpu_pipeline_create(dev, k_double, "double", &err);
    if (!pipe) FAIL("gpu_pipeline_create: %s", err.msg);
    /* the output at offset 4096 (a binding offset, 64-bit field), the uniform whole (UINT64_MAX) */
    gpu_binding b[3] = {{0, a, 0, sizeof in}, {1, o, 4096, sizeof out}, {2, u, 0, UINT64_MAX}};
    gpu_bind bind = gpu_bindgroup_create(dev, pipe, 3, b, &err);
    if (!bind) FAIL("gpu_bindgroup_create: %s", err.msg);

    /* clear the whole output, dispatch, then copy the start of the result to c2 */
    gpu_cmd cmds[3];
    memset(cmds, 0, sizeof cmds);
    cmds[0].kind = GPU_CMD_CLEAR; cmds[0].a = o; cmds[0].dst_off = 0; cmds[0].size = 4096 + sizeof out;
    cmds[1].kind = GPU_CMD_DISPATCH; cmds[1].a = pipe; cmds[1].b = bind; cmds[1].x = (N + 63) / 64; cmds[1].y = 1; cmds[1].z = 1;
    cmds[2].kind = GPU_CMD_COPY; cmds[2].a = o; cmds[2].b = c2; cmds[2].src_off = 4096; cmds[2].dst_off = 0; cmds[2].size = 256;
    if (gpu_submit(dev, cmds, 3, &err) != WSD_OK) FAIL("gpu_submit: %s", err.msg);
    if (gpu_wait(dev, &err) != WSD_OK) FAIL("gpu_wait: %s", err.msg);
    if (gpu_buffer_read(dev, o, 4096, out, sizeof out, &err) != WSD_OK) FAIL("gpu_buffer_read: %s", err.msg);
    for (int i = 0; i < N; i++)
        if (out[i] != in[i] * 2.0f + 1.0f) FAIL("result[%d] = %g, expected %g", i, out[i], in[i] * 2.0f + 1.0f);
    float head[64];
    if (gpu_buffer_read(dev, c2, 0, head, sizeof head, &err) != WSD_OK) FAIL("gpu_buffer_read: %s", err.msg);
    for (int i = 0; i < 64; i++)
        if (head[i] != out[i]) FAIL("copied[%d] = %g, expected %g", i, head[i], out[i]);

    /* errors come back as messages, not traps */
    wsd_err e2;
    memset(&e2, 0, sizeof e2);
    if (gpu_pipeline_create(dev, "this is not wgsl", "broken", &e2) != 0 || e2.code != WSD_ERR_DEVICE || !strstr(e2.msg, "broken"))
        FAIL("a broken kernel was not reported: code %d '%s'", e2.code, e2.msg);
    memset(&e2, 0, sizeof e2);
    if (gpu_buffer_create(dev, 6, GPU_BUF_STORAGE, "odd", &e2) != 0 || e2.code != WSD_ERR_INVALID_ARGUMENT)
        FAIL("an unaligned buffer size was not refused: code %d '%s'", e2.code, e2.msg);
    memset(&e2, 0, sizeof e2);
    if (gpu_buffer_create(dev, c->max_buffer + 4, GPU_BUF_STORAGE, "huge", &e2) != 0 || e2.code != WSD_ERR_UNSUPPORTED)
        FAIL("a buffer above maxBufferSize was not refused: code %d '%s'", e2.code, e2.msg);
    memset(&e2, 0, sizeof e2);
    if (gpu_buffer_read(dev, o, 0, head, 1u << 30, &e2) != WSD_ERR_INVALID_ARGUMENT)
        FAIL("a read past the end was not refused: '%s'", e2.msg);

    gpu_bindgroup_destroy(dev, bind);
    gpu_pipeline_destroy(dev, pipe);
    gpu_buffer_destroy(dev, a);
    gpu_buffer_destroy(dev, o);
    gpu_buffer_destroy(dev, u);
    gpu_buffer_destroy(dev, c2);
    if (gpu_bytes_allocated(dev) != 0 || gpu_bytes_peak(dev) != sizeof in + 4096 + sizeof out + 16 + 256)
        FAIL("bytes after destroy %llu, peak %llu", (unsigned long long)gpu_bytes_allocated(dev),
             (unsigned long long)gpu_bytes_peak(dev));
    snprintf(g_msg, sizeof g_msg, "ok: %s, max buffer %llu, f16 %d, subgroups %d", c->adapter,
             (unsigned long long)c->max_buffer, c->has_f16, c->has_subgroups);
    gpu_close(dev);
    return 0;
}

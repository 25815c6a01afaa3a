/* Native implementation of gpu.h on Dawn's webgpu.h (see wgpu_dawn.h).
 *
 * The library is dlopened at the first gpu_open, so wsd builds and runs on
 * machines without it; gpu_open then fails with WSD_ERR_DEVICE and a message
 * saying what is missing. Search order for libwebgpu_wrapper.so:
 *   1. $WSD_DAWN_LIB (a path to the .so)
 *   2. the checkout's third_party/dawn/ (compiled-in path, WSD_DAWN_DEFAULT)
 *   3. third_party/dawn/ beside or above the running executable
 *   4. the plain name (LD_LIBRARY_PATH, system paths)
 *
 * Other environment variables (all optional):
 *   WSD_DAWN_TOGGLES  comma-separated Dawn device toggles to enable (for
 *                     benchmarks only, e.g. "skip_validation,disable_robustness")
 *   WSD_GPU_TIMEOUT   seconds gpu_wait waits before giving up (default 1800) */
#include "backends/webgpu/gpu.h"
#include "backends/webgpu/wgpu_dawn.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef WSD_DAWN_DEFAULT
#define WSD_DAWN_DEFAULT ""
#endif

/* ---- the function table ------------------------------------------------- */

typedef struct wgd_api {
#define WGD_MEMBER(ret, name, args) ret(*name) args;
    WGD_FUNCS(WGD_MEMBER)
#undef WGD_MEMBER
} wgd_api;

static wgd_api W;
static void *g_lib;
static int g_loaded;
static char g_lib_path[1024];

static int try_dlopen(const char *path, char *why, size_t cap)
{
    if (!path || !*path) return 0;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        size_t used = strlen(why);
        if (used + 8 < cap) snprintf(why + used, cap - used, "\n  %s: %s", path, e ? e : "?");
        return 0;
    }
    g_lib = h;
    snprintf(g_lib_path, sizeof g_lib_path, "%s", path);
    return 1;
}

static wsd_status load_library(wsd_err *err)
{
    if (g_loaded) return WSD_OK;
    char why[1536] = "";
    char path[1200];
    int ok = 0;
    const char *env = getenv("WSD_DAWN_LIB");
    if (env && *env) ok = try_dlopen(env, why, sizeof why);
    if (!ok && WSD_DAWN_DEFAULT[0]) {
        snprintf(path, sizeof path, "%s/%s", WSD_DAWN_DEFAULT, WGD_LIBRARY);
        if (access(path, R_OK) == 0) ok = try_dlopen(path, why, sizeof why);
    }
    if (!ok) {
        char exe[1024];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = 0;
            char *slash = strrchr(exe, '/');
            if (slash) *slash = 0;
            static const char *const rel[] = {".", "third_party/dawn", "../third_party/dawn",
                                              "../../third_party/dawn", "../../../third_party/dawn"};
            for (size_t i = 0; !ok && i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(path, sizeof path, "%s/%s/%s", exe, rel[i], WGD_LIBRARY);
                if (access(path, R_OK) == 0) ok = try_dlopen(path, why, sizeof why);
            }
        }
    }
    if (!ok) ok = try_dlopen(WGD_LIBRARY, why, sizeof why);
    if (!ok)
        return wsd_fail(err, WSD_ERR_DEVICE,
                        "WebGPU unavailable: cannot load %s (Dawn, from npm %s; run scripts/get_dawn.sh "
                        "or set WSD_DAWN_LIB to its path). Tried:%s",
                        WGD_LIBRARY, WGD_PACKAGE, why[0] ? why : " (nothing found)");
    /* Resolve every symbol we use; report all the missing ones at once. */
    char missing[512] = "";
    int n_missing = 0;
#define WGD_RESOLVE(ret, name, args)                                                     \
    {                                                                                    \
        void *sym = dlsym(g_lib, #name);                                                 \
        if (!sym) {                                                                      \
            n_missing++;                                                                 \
            size_t used = strlen(missing);                                               \
            if (used + 40 < sizeof missing) snprintf(missing + used, sizeof missing - used, " %s", #name); \
        }                                                                                \
        memcpy(&W.name, &sym, sizeof sym);                                               \
    }
    WGD_FUNCS(WGD_RESOLVE)
#undef WGD_RESOLVE
    if (n_missing) {
        dlclose(g_lib);
        g_lib = NULL;
        return wsd_fail(err, WSD_ERR_DEVICE,
                        "WebGPU unavailable: %s does not export %d function(s) wsd needs:%s. wsd's header "
                        "(src/backends/webgpu/wgpu_dawn.h) is written for %s; use that version.",
                        g_lib_path, n_missing, missing, WGD_PACKAGE);
    }
    g_loaded = 1;
    return WSD_OK;
}

/* ---- device ----------------------------------------------------------- */

typedef struct buf_slot {
    WGPUBuffer b;
    uint64_t size;
} buf_slot;
typedef struct pipe_slot {
    WGPUComputePipeline p;
    WGPUBindGroupLayout layout;
} pipe_slot;

struct gpu_device {
    WGPUInstance inst;
    WGPUAdapter adapter;
    WGPUDevice device;
    WGPUQueue queue;
    gpu_caps caps;
    /* handle tables: slot 0 unused; free slots have NULL objects */
    buf_slot *bufs;
    uint32_t n_bufs, cap_bufs;
    pipe_slot *pipes;
    uint32_t n_pipes, cap_pipes;
    WGPUBindGroup *binds;
    uint32_t n_binds, cap_binds;
    /* readback staging */
    WGPUBuffer staging;
    uint64_t staging_size;
    uint64_t bytes, peak;
    uint64_t written_since_wait;
    uint32_t marks_issued;          /* gpu_mark */
    volatile uint32_t marks_done;   /* their work-done callbacks, in order */
    uint32_t mark_status;           /* first failed mark's status (0: none) */
    /* sticky state set by callbacks */
    int lost;
    int n_errors;
    char error[900];
    double timeout_s;
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static WGPUStringView sv(const char *s)
{
    WGPUStringView v = {s, s ? WGPU_STRLEN : 0};
    return v;
}

static void sv_copy(char *dst, size_t cap, WGPUStringView v)
{
    size_t n = 0;
    if (v.data) n = v.length == WGPU_STRLEN ? strlen(v.data) : v.length;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, v.data, n);
    dst[n] = 0;
}

static void record_error(gpu_device *d, const char *kind, WGPUStringView msg)
{
    d->n_errors++;
    if (d->error[0]) return; /* keep the first: later ones usually follow from it */
    char m[800];
    sv_copy(m, sizeof m, msg);
    snprintf(d->error, sizeof d->error, "%s: %s", kind, m);
}

static void on_uncaptured_error(const WGPUDevice *dv, uint32_t type, WGPUStringView msg, void *u1, void *u2)
{
    (void)dv;
    (void)u2;
    const char *kind = type == WGPU_ERROR_VALIDATION      ? "GPU validation error"
                       : type == WGPU_ERROR_OUT_OF_MEMORY ? "GPU out of memory"
                       : type == WGPU_ERROR_INTERNAL      ? "GPU internal error"
                                                          : "GPU error";
    record_error((gpu_device *)u1, kind, msg);
}

static void on_device_lost(const WGPUDevice *dv, uint32_t reason, WGPUStringView msg, void *u1, void *u2)
{
    (void)dv;
    (void)u2;
    gpu_device *d = (gpu_device *)u1;
    if (!d) return;
    if (reason == WGPU_DEVICE_LOST_DESTROYED || reason == WGPU_DEVICE_LOST_CALLBACK_CANCELLED) return;
    d->lost = 1;
    record_error(d, "GPU device lost", msg);
}

typedef struct req_state {
    volatile int done;
    uint32_t status;
    void *obj;
    char msg[512];
} req_state;

static void on_adapter(uint32_t status, WGPUAdapter a, WGPUStringView msg, void *u1, void *u2)
{
    (void)u2;
    req_state *r = (req_state *)u1;
    r->status = status;
    r->obj = a;
    sv_copy(r->msg, sizeof r->msg, msg);
    r->done = 1;
}

static void on_device(uint32_t status, WGPUDevice dv, WGPUStringView msg, void *u1, void *u2)
{
    (void)u2;
    req_state *r = (req_state *)u1;
    r->status = status;
    r->obj = dv;
    sv_copy(r->msg, sizeof r->msg, msg);
    r->done = 1;
}

static void on_status(uint32_t status, WGPUStringView msg, void *u1, void *u2)
{
    (void)u2;
    req_state *r = (req_state *)u1;
    r->status = status;
    sv_copy(r->msg, sizeof r->msg, msg);
    r->done = 1;
}

/* Polls the instance until r->done, sleeping briefly between polls so a
 * software adapter (SwiftShader) keeps the CPU. */
static int wait_done(WGPUInstance inst, req_state *r, double timeout_s)
{
    double t0 = now_s();
    int spins = 0;
    while (!r->done) {
        W.wgpuInstanceProcessEvents(inst);
        if (r->done) break;
        if (++spins > 50) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        if (now_s() - t0 > timeout_s) return -1;
    }
    return 0;
}

static const char *backend_name(uint32_t b)
{
    switch (b) {
    case WGPU_BACKEND_NULL: return "null";
    case WGPU_BACKEND_WEBGPU: return "webgpu";
    case WGPU_BACKEND_D3D11: return "d3d11";
    case WGPU_BACKEND_D3D12: return "d3d12";
    case WGPU_BACKEND_METAL: return "metal";
    case WGPU_BACKEND_VULKAN: return "vulkan";
    case WGPU_BACKEND_OPENGL: return "opengl";
    case WGPU_BACKEND_OPENGLES: return "opengles";
    default: return "unknown";
    }
}

#define LIMITS_CANARY 0xA5C3A5C3u

static void limits_init(WGPULimits *l)
{
    memset(l, 0, sizeof *l);
    for (int i = 0; i < WGD_LIMITS_SPARE; i++) l->wgd_spare[i] = LIMITS_CANARY;
}

/* Checks that the library filled WGPULimits the way wgpu_dawn.h lays it out. */
static wsd_status limits_check(const WGPULimits *l, const char *what, wsd_err *err)
{
    for (int i = 0; i < WGD_LIMITS_SPARE; i++)
        if (l->wgd_spare[i] != LIMITS_CANARY)
            return wsd_fail(err, WSD_ERR_DEVICE,
                            "WebGPU unavailable: %s wrote past the WGPULimits struct wsd declares (field %d after "
                            "the known ones): the library is not %s, whose layout wgpu_dawn.h matches",
                            what, i, WGD_PACKAGE);
    int ok = l->maxComputeWorkgroupsPerDimension >= 65535 && l->maxStorageBufferBindingSize >= (1u << 27) &&
             l->maxBufferSize >= (1u << 28) && l->minStorageBufferOffsetAlignment >= 4 &&
             l->minStorageBufferOffsetAlignment <= 256 &&
             (l->minStorageBufferOffsetAlignment & (l->minStorageBufferOffsetAlignment - 1)) == 0 &&
             l->maxComputeInvocationsPerWorkgroup >= 128 && l->maxComputeWorkgroupStorageSize >= 16384 &&
             l->maxStorageBuffersPerShaderStage >= 8 && l->maxBindGroups >= 4;
    if (!ok)
        return wsd_fail(err, WSD_ERR_DEVICE,
                        "WebGPU unavailable: %s returned limits that make no sense under wsd's WGPULimits layout "
                        "(workgroups/dim %u, storage binding %llu, buffer %llu, storage align %u, invocations %u, "
                        "workgroup storage %u): the library is not %s",
                        what, l->maxComputeWorkgroupsPerDimension, (unsigned long long)l->maxStorageBufferBindingSize,
                        (unsigned long long)l->maxBufferSize, l->minStorageBufferOffsetAlignment,
                        l->maxComputeInvocationsPerWorkgroup, l->maxComputeWorkgroupStorageSize, WGD_PACKAGE);
    return WSD_OK;
}

static void print_features(const char *what, const WGPUSupportedFeatures *f)
{
    fprintf(stderr, "webgpu: %s features (%zu):", what, f->featureCount);
    for (size_t i = 0; i < f->featureCount; i++) fprintf(stderr, " 0x%x", f->features[i]);
    fprintf(stderr, "\n");
}

static int wait_marks(gpu_device *d, uint32_t m);

static void release_all(gpu_device *d)
{
    if (!d) return;
    /* pending work-done callbacks point at d: let them run first */
    if (g_loaded && d->inst && d->marks_done != d->marks_issued) {
        double keep = d->timeout_s;
        d->timeout_s = 10;
        wait_marks(d, d->marks_issued);
        d->timeout_s = keep;
    }
    if (g_loaded) {
        for (uint32_t i = 1; i < d->n_binds; i++)
            if (d->binds[i]) W.wgpuBindGroupRelease(d->binds[i]);
        for (uint32_t i = 1; i < d->n_pipes; i++) {
            if (d->pipes[i].layout) W.wgpuBindGroupLayoutRelease(d->pipes[i].layout);
            if (d->pipes[i].p) W.wgpuComputePipelineRelease(d->pipes[i].p);
        }
        for (uint32_t i = 1; i < d->n_bufs; i++)
            if (d->bufs[i].b) {
                W.wgpuBufferDestroy(d->bufs[i].b);
                W.wgpuBufferRelease(d->bufs[i].b);
            }
        if (d->staging) {
            W.wgpuBufferDestroy(d->staging);
            W.wgpuBufferRelease(d->staging);
        }
        if (d->queue) W.wgpuQueueRelease(d->queue);
        if (d->device) {
            W.wgpuDeviceDestroy(d->device);
            W.wgpuDeviceRelease(d->device);
        }
        if (d->adapter) W.wgpuAdapterRelease(d->adapter);
        if (d->inst) {
            W.wgpuInstanceProcessEvents(d->inst);
            W.wgpuInstanceRelease(d->inst);
        }
    }
    free(d->bufs);
    free(d->pipes);
    free(d->binds);
    free(d);
}

void gpu_close(gpu_device *dev)
{
    release_all(dev);
}

const gpu_caps *gpu_get_caps(const gpu_device *dev)
{
    return &dev->caps;
}

static wsd_status request_adapter(gpu_device *d, uint32_t backend, wsd_err *err)
{
    req_state r;
    memset(&r, 0, sizeof r);
    WGPURequestAdapterOptions ao;
    memset(&ao, 0, sizeof ao);
    ao.featureLevel = WGPU_FEATURE_LEVEL_CORE;
    ao.powerPreference = WGPU_POWER_PREFERENCE_HIGH_PERFORMANCE;
    ao.backendType = backend;
    WGPURequestAdapterCallbackInfo ci = {NULL, WGPU_CALLBACK_MODE_ALLOW_PROCESS_EVENTS, on_adapter, &r, NULL};
    W.wgpuInstanceRequestAdapter(d->inst, &ao, ci);
    if (wait_done(d->inst, &r, 120) != 0)
        return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU unavailable: the adapter request did not finish in 120 s");
    if (r.status != WGPU_REQUEST_ADAPTER_SUCCESS || !r.obj) {
        const char *icd = getenv("VK_ICD_FILENAMES");
        return wsd_fail(err, WSD_ERR_DEVICE,
                        "WebGPU unavailable: no adapter (%s)%s", r.msg[0] ? r.msg : "none found",
                        (icd && *icd) ? ""
                                      : ". On a machine without a GPU, install Debian's chromium and set "
                                        "VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader)");
    }
    d->adapter = (WGPUAdapter)r.obj;
    return WSD_OK;
}

wsd_status gpu_open(const gpu_open_options *opt, gpu_device **out, wsd_err *err)
{
    gpu_open_options o;
    memset(&o, 0, sizeof o);
    if (opt) o = *opt;
    *out = NULL;
    WSD_TRY(load_library(err));

    gpu_device *d = calloc(1, sizeof *d);
    if (!d) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "gpu_open: out of memory");
    d->n_bufs = d->n_pipes = d->n_binds = 1; /* handle 0 = none */
    const char *to = getenv("WSD_GPU_TIMEOUT");
    d->timeout_s = (to && atof(to) > 0) ? atof(to) : 1800;

    d->inst = W.wgpuCreateInstance(NULL);
    if (!d->inst) {
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU unavailable: wgpuCreateInstance failed (%s)", g_lib_path);
    }
    wsd_status st = request_adapter(d, WGPU_BACKEND_VULKAN, err);
    if (st != WSD_OK) {
        wsd_err e2;
        memset(&e2, 0, sizeof e2);
        if (request_adapter(d, WGPU_BACKEND_UNDEFINED, &e2) != WSD_OK) {
            release_all(d);
            return st;
        }
    }

    WGPUAdapterInfo info;
    memset(&info, 0, sizeof info);
    W.wgpuAdapterGetInfo(d->adapter, &info);
    char vendor[64], arch[64], dev_name[128], desc[128];
    sv_copy(vendor, sizeof vendor, info.vendor);
    sv_copy(arch, sizeof arch, info.architecture);
    sv_copy(dev_name, sizeof dev_name, info.device);
    sv_copy(desc, sizeof desc, info.description);
    gpu_caps *c = &d->caps;
    snprintf(c->adapter, sizeof c->adapter, "%s/%s/%s (%s)", vendor, arch, dev_name, desc);
    snprintf(c->backend, sizeof c->backend, "%s", backend_name(info.backendType));
    c->vendor_id = info.vendorID;
    c->device_id = info.deviceID;
    c->subgroup_min = info.subgroupMinSize;
    c->subgroup_max = info.subgroupMaxSize;
    c->is_cpu = info.adapterType == WGPU_ADAPTER_CPU || strstr(arch, "swiftshader") != NULL ||
                strstr(dev_name, "SwiftShader") != NULL;
    uint32_t backend_type = info.backendType;
    W.wgpuAdapterInfoFreeMembers(info);
    if (backend_type == WGPU_BACKEND_NULL) { /* Dawn's no-op backend: computes nothing */
        const char *icd = getenv("VK_ICD_FILENAMES");
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU unavailable: no GPU adapter (only Dawn's null backend)%s",
                        (icd && *icd) ? ""
                                      : ". On a machine without a GPU, install Debian's chromium and set "
                                        "VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader)");
    }

    WGPULimits al;
    limits_init(&al);
    if (W.wgpuAdapterGetLimits(d->adapter, &al) != WGPU_STATUS_SUCCESS) {
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU unavailable: wgpuAdapterGetLimits failed");
    }
    if ((st = limits_check(&al, "wgpuAdapterGetLimits", err)) != WSD_OK) {
        release_all(d);
        return st;
    }
    if (o.verbose) {
        fprintf(stderr, "webgpu: %s from %s\n", WGD_PACKAGE, g_lib_path);
        fprintf(stderr, "webgpu: adapter %s, backend %s, vendor 0x%x device 0x%x, subgroups %u..%u\n", c->adapter,
                c->backend, c->vendor_id, c->device_id, c->subgroup_min, c->subgroup_max);
        WGPUSupportedFeatures f = {0, NULL};
        W.wgpuAdapterGetFeatures(d->adapter, &f);
        print_features("adapter", &f);
        W.wgpuSupportedFeaturesFreeMembers(f);
    }

    /* Feature numbering: a core adapter always has core-features-and-limits. */
    if (!W.wgpuAdapterHasFeature(d->adapter, WGD_FEATURE_CORE_FEATURES_AND_LIMITS)) {
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE,
                        "WebGPU unavailable: the adapter does not report feature 0x%x (core-features-and-limits in "
                        "%s's numbering): the library's feature numbering differs from wgpu_dawn.h",
                        WGD_FEATURE_CORE_FEATURES_AND_LIMITS, WGD_PACKAGE);
    }
    WGPUFeatureName req[2];
    size_t n_req = 0;
    int want_f16 = !o.no_f16 && W.wgpuAdapterHasFeature(d->adapter, WGD_FEATURE_SHADER_F16);
    int want_sg = W.wgpuAdapterHasFeature(d->adapter, WGD_FEATURE_SUBGROUPS);
    if (want_f16) req[n_req++] = WGD_FEATURE_SHADER_F16;
    if (want_sg) req[n_req++] = WGD_FEATURE_SUBGROUPS;

    /* Optional Dawn toggles (benchmarks). */
    const char *toggles[8];
    size_t n_toggles = 0;
    char tbuf[256] = "";
    const char *tenv = getenv("WSD_DAWN_TOGGLES");
    if (tenv && *tenv) {
        snprintf(tbuf, sizeof tbuf, "%s", tenv);
        for (char *p = strtok(tbuf, ","); p && n_toggles < 8; p = strtok(NULL, ",")) toggles[n_toggles++] = p;
    }
    WGPUDawnTogglesDescriptor td;
    memset(&td, 0, sizeof td);
    td.chain.sType = WGPU_STYPE_DAWN_TOGGLES_DESCRIPTOR;
    td.enabledToggleCount = n_toggles;
    td.enabledToggles = toggles;

    WGPULimits want;
    memcpy(&want, &al, sizeof want);
    want.nextInChain = NULL;
    WGPUDeviceDescriptor dd;
    memset(&dd, 0, sizeof dd);
    dd.nextInChain = n_toggles ? &td.chain : NULL;
    dd.label = sv("wsd");
    dd.requiredFeatureCount = n_req;
    dd.requiredFeatures = req;
    dd.requiredLimits = o.default_limits ? NULL : &want;
    dd.deviceLostCallbackInfo.mode = WGPU_CALLBACK_MODE_ALLOW_PROCESS_EVENTS;
    dd.deviceLostCallbackInfo.callback = on_device_lost;
    dd.deviceLostCallbackInfo.userdata1 = d;
    dd.uncapturedErrorCallbackInfo.callback = on_uncaptured_error;
    dd.uncapturedErrorCallbackInfo.userdata1 = d;
    req_state r;
    memset(&r, 0, sizeof r);
    WGPURequestDeviceCallbackInfo ci = {NULL, WGPU_CALLBACK_MODE_ALLOW_PROCESS_EVENTS, on_device, &r, NULL};
    W.wgpuAdapterRequestDevice(d->adapter, &dd, ci);
    if (wait_done(d->inst, &r, 120) != 0) {
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU unavailable: the device request did not finish in 120 s");
    }
    if (r.status != WGPU_REQUEST_DEVICE_SUCCESS || !r.obj) {
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU unavailable: device request failed: %s",
                        r.msg[0] ? r.msg : "(no message)");
    }
    d->device = (WGPUDevice)r.obj;
    d->queue = W.wgpuDeviceGetQueue(d->device);

    /* Numbering check on the device: core devices implicitly get
     * core-features-and-limits (0x12 here). Under the newer numbering that
     * feature is 0x01, which in this numbering is depth-clip-control: never
     * requested by us, so seeing it means the numbering is the newer one. */
    if (!W.wgpuDeviceHasFeature(d->device, WGD_FEATURE_CORE_FEATURES_AND_LIMITS) ||
        W.wgpuDeviceHasFeature(d->device, 0x01)) {
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE,
                        "WebGPU unavailable: the device's features do not match %s's numbering (expected 0x%x = "
                        "core-features-and-limits and no 0x01): wgpu_dawn.h does not fit this library (%s)",
                        WGD_PACKAGE, WGD_FEATURE_CORE_FEATURES_AND_LIMITS, g_lib_path);
    }
    WGPULimits dl;
    limits_init(&dl);
    if (W.wgpuDeviceGetLimits(d->device, &dl) != WGPU_STATUS_SUCCESS) {
        release_all(d);
        return wsd_fail(err, WSD_ERR_DEVICE, "WebGPU unavailable: wgpuDeviceGetLimits failed");
    }
    if ((st = limits_check(&dl, "wgpuDeviceGetLimits", err)) != WSD_OK) {
        release_all(d);
        return st;
    }
    c->max_storage_binding = dl.maxStorageBufferBindingSize;
    c->max_buffer = dl.maxBufferSize;
    c->max_workgroup_storage = dl.maxComputeWorkgroupStorageSize;
    c->max_invocations = dl.maxComputeInvocationsPerWorkgroup;
    c->max_workgroup_size_x = dl.maxComputeWorkgroupSizeX;
    c->max_workgroup_size_y = dl.maxComputeWorkgroupSizeY;
    c->max_workgroup_size_z = dl.maxComputeWorkgroupSizeZ;
    c->max_workgroups_per_dim = dl.maxComputeWorkgroupsPerDimension;
    c->max_storage_buffers = dl.maxStorageBuffersPerShaderStage;
    c->min_storage_align = dl.minStorageBufferOffsetAlignment;
    c->min_uniform_align = dl.minUniformBufferOffsetAlignment;
    c->max_uniform_binding =
        dl.maxUniformBufferBindingSize > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)dl.maxUniformBufferBindingSize;
    c->has_f16 = want_f16 && W.wgpuDeviceHasFeature(d->device, WGD_FEATURE_SHADER_F16);
    c->has_subgroups = want_sg && W.wgpuDeviceHasFeature(d->device, WGD_FEATURE_SUBGROUPS);
    c->default_limits = o.default_limits;

    if (o.verbose) {
        fprintf(stderr,
                "webgpu: device limits%s: storage binding %llu, buffer %llu, workgroup storage %u, invocations %u, "
                "workgroup size %ux%ux%u, workgroups/dim %u, storage buffers/stage %u, align %u; shader-f16 %d, "
                "subgroups %d%s%s\n",
                o.default_limits ? " (spec defaults requested)" : "", (unsigned long long)c->max_storage_binding,
                (unsigned long long)c->max_buffer, c->max_workgroup_storage, c->max_invocations,
                c->max_workgroup_size_x, c->max_workgroup_size_y, c->max_workgroup_size_z, c->max_workgroups_per_dim,
                c->max_storage_buffers, c->min_storage_align, c->has_f16, c->has_subgroups,
                n_toggles ? ", toggles " : "", n_toggles ? tenv : "");
    }

    /* shader-f16: make sure "enable f16;" really compiles (the feature
     * number could be right and the extension still unavailable). */
    if (c->has_f16) {
        wsd_err e2;
        memset(&e2, 0, sizeof e2);
        gpu_pipe p = gpu_pipeline_create(
            d,
            "enable f16;\n@group(0) @binding(0) var<storage, read_write> o: array<f32>;\n"
            "@compute @workgroup_size(1) fn main() { let h: f16 = f16(o[0]); o[0] = f32(h * 2.0h); }\n",
            "f16 probe", &e2);
        if (!p) {
            c->has_f16 = 0;
            if (o.verbose) fprintf(stderr, "webgpu: shader-f16 reported but unusable: %s\n", e2.msg);
        } else {
            gpu_pipeline_destroy(d, p);
        }
        d->error[0] = 0;
        d->n_errors = 0;
    }
    *out = d;
    return WSD_OK;
}

/* ---- handle tables ---- */

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) return 0;
    uint32_t nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return -1;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

/* Reports an error the GPU raised since the last call. A validation or
 * out-of-memory error is reported once (the work it concerned did not run;
 * the device stays usable); a lost device is reported by every later call. */
static wsd_status sticky(gpu_device *d, const char *what, wsd_err *err)
{
    if (d->error[0] || d->lost) {
        wsd_status st = wsd_fail(err, WSD_ERR_DEVICE, "%s: %s%s", what, d->error[0] ? d->error : "GPU device lost",
                                 d->n_errors > 1 ? " (and later errors)" : "");
        if (!d->lost) {
            d->error[0] = 0;
            d->n_errors = 0;
        }
        return st;
    }
    return WSD_OK;
}

gpu_buf gpu_buffer_create(gpu_device *d, uint64_t size, uint32_t usage, const char *label, wsd_err *err)
{
    if (size == 0 || (size & 3)) {
        wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_buffer_create %s: size %llu is not a positive multiple of 4",
                 label ? label : "", (unsigned long long)size);
        return 0;
    }
    if (size > d->caps.max_buffer) {
        wsd_fail(err, WSD_ERR_UNSUPPORTED, "gpu_buffer_create %s: %llu bytes exceed the device's maxBufferSize %llu",
                 label ? label : "", (unsigned long long)size, (unsigned long long)d->caps.max_buffer);
        return 0;
    }
    uint32_t slot = 0;
    for (uint32_t i = 1; i < d->n_bufs; i++)
        if (!d->bufs[i].b) {
            slot = i;
            break;
        }
    if (!slot) {
        if (grow((void **)&d->bufs, &d->cap_bufs, d->n_bufs + 1, sizeof(buf_slot))) {
            wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "gpu_buffer_create: out of host memory");
            return 0;
        }
        slot = d->n_bufs++;
    }
    WGPUBufferDescriptor bd;
    memset(&bd, 0, sizeof bd);
    bd.label = sv(label);
    bd.size = size;
    bd.usage = WGPU_BUFFER_USAGE_COPY_SRC | WGPU_BUFFER_USAGE_COPY_DST;
    if (usage & GPU_BUF_STORAGE) bd.usage |= WGPU_BUFFER_USAGE_STORAGE;
    if (usage & GPU_BUF_UNIFORM) bd.usage |= WGPU_BUFFER_USAGE_UNIFORM;
    int errs0 = d->n_errors;
    WGPUBuffer b = W.wgpuDeviceCreateBuffer(d->device, &bd);
    W.wgpuInstanceProcessEvents(d->inst);
    if (!b || d->n_errors != errs0) {
        wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "gpu_buffer_create %s (%llu bytes): %s", label ? label : "",
                 (unsigned long long)size, d->error[0] ? d->error : "failed");
        if (b) {
            W.wgpuBufferDestroy(b);
            W.wgpuBufferRelease(b);
        }
        d->error[0] = 0; /* reported here; do not poison later calls */
        d->n_errors = errs0;
        return 0;
    }
    d->bufs[slot].b = b;
    d->bufs[slot].size = size;
    d->bytes += size;
    if (d->bytes > d->peak) d->peak = d->bytes;
    return slot;
}

static WGPUBuffer buf_get(gpu_device *d, gpu_buf h)
{
    return (h > 0 && h < d->n_bufs) ? d->bufs[h].b : NULL;
}

void gpu_buffer_destroy(gpu_device *d, gpu_buf h)
{
    if (!d || h == 0 || h >= d->n_bufs || !d->bufs[h].b) return;
    W.wgpuBufferDestroy(d->bufs[h].b);
    W.wgpuBufferRelease(d->bufs[h].b);
    d->bytes -= d->bufs[h].size;
    d->bufs[h].b = NULL;
    d->bufs[h].size = 0;
}

uint64_t gpu_bytes_allocated(const gpu_device *d)
{
    return d->bytes;
}

uint64_t gpu_bytes_peak(const gpu_device *d)
{
    return d->peak;
}

wsd_status gpu_buffer_write(gpu_device *d, gpu_buf h, uint64_t offset, const void *data, uint64_t size, wsd_err *err)
{
    WGPUBuffer b = buf_get(d, h);
    if (!b) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_buffer_write: invalid buffer %u", h);
    if ((offset & 3) || (size & 3) || offset + size > d->bufs[h].size)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT,
                        "gpu_buffer_write: range %llu+%llu is unaligned or outside the buffer (%llu bytes)",
                        (unsigned long long)offset, (unsigned long long)size, (unsigned long long)d->bufs[h].size);
    /* Dawn stages every write; wait now and then so staging memory stays bounded. */
    const uint64_t chunk = 64ull << 20;
    const unsigned char *p = (const unsigned char *)data;
    while (size) {
        uint64_t n = size < chunk ? size : chunk;
        W.wgpuQueueWriteBuffer(d->queue, b, offset, p, (size_t)n);
        offset += n;
        p += n;
        size -= n;
        d->written_since_wait += n;
        if (d->written_since_wait >= (256ull << 20)) WSD_TRY(gpu_wait(d, err));
    }
    return sticky(d, "gpu_buffer_write", err);
}

wsd_status gpu_wait(gpu_device *d, wsd_err *err)
{
    WSD_TRY(sticky(d, "GPU", err));
    req_state r;
    memset(&r, 0, sizeof r);
    WGPUQueueWorkDoneCallbackInfo ci = {NULL, WGPU_CALLBACK_MODE_ALLOW_PROCESS_EVENTS, on_status, &r, NULL};
    W.wgpuQueueOnSubmittedWorkDone(d->queue, ci);
    if (wait_done(d->inst, &r, d->timeout_s) != 0)
        return wsd_fail(err, WSD_ERR_DEVICE, "GPU work did not finish within %.0f s (WSD_GPU_TIMEOUT)", d->timeout_s);
    d->written_since_wait = 0;
    WSD_TRY(sticky(d, "GPU", err));
    if (r.status != WGPU_QUEUE_WORK_DONE_SUCCESS)
        return wsd_fail(err, WSD_ERR_DEVICE, "GPU queue failed (status %u): %s", r.status, r.msg);
    return WSD_OK;
}

static void on_mark(uint32_t status, WGPUStringView msg, void *u1, void *u2)
{
    (void)msg, (void)u2;
    gpu_device *d = (gpu_device *)u1;
    if (status != WGPU_QUEUE_WORK_DONE_SUCCESS && !d->mark_status) d->mark_status = status;
    d->marks_done++;
}

uint32_t gpu_mark(gpu_device *d)
{
    if (!d || !d->queue) return 0;
    uint32_t m = ++d->marks_issued;
    if (!m) m = ++d->marks_issued; /* 0 means none */
    WGPUQueueWorkDoneCallbackInfo ci = {NULL, WGPU_CALLBACK_MODE_ALLOW_PROCESS_EVENTS, on_mark, d, NULL};
    W.wgpuQueueOnSubmittedWorkDone(d->queue, ci);
    return m;
}

/* Waits until at least `m` marks are done (callbacks come in order). */
static int wait_marks(gpu_device *d, uint32_t m)
{
    double t0 = now_s();
    int spins = 0;
    while ((int32_t)(d->marks_done - m) < 0 && (int32_t)(d->marks_issued - m) >= 0) {
        W.wgpuInstanceProcessEvents(d->inst);
        if ((int32_t)(d->marks_done - m) >= 0) break;
        if (++spins > 50) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        if (now_s() - t0 > d->timeout_s) return -1;
    }
    return 0;
}

wsd_status gpu_wait_mark(gpu_device *d, uint32_t m, wsd_err *err)
{
    WSD_TRY(sticky(d, "GPU", err));
    if (m && wait_marks(d, m) != 0)
        return wsd_fail(err, WSD_ERR_DEVICE, "GPU work did not finish within %.0f s (WSD_GPU_TIMEOUT)", d->timeout_s);
    WSD_TRY(sticky(d, "GPU", err));
    if (d->mark_status) return wsd_fail(err, WSD_ERR_DEVICE, "GPU queue failed (status %u)", d->mark_status);
    return WSD_OK;
}

wsd_status gpu_buffer_read(gpu_device *d, gpu_buf h, uint64_t offset, void *dst, uint64_t size, wsd_err *err)
{
    WGPUBuffer b = buf_get(d, h);
    if (!b) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_buffer_read: invalid buffer %u", h);
    if ((offset & 3) || (size & 3) || offset + size > d->bufs[h].size)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT,
                        "gpu_buffer_read: range %llu+%llu is unaligned or outside the buffer (%llu bytes)",
                        (unsigned long long)offset, (unsigned long long)size, (unsigned long long)d->bufs[h].size);
    const uint64_t chunk = 64ull << 20;
    uint64_t want = size < chunk ? size : chunk;
    if (want < 256) want = 256;
    if (d->staging_size < want) {
        if (d->staging) {
            W.wgpuBufferDestroy(d->staging);
            W.wgpuBufferRelease(d->staging);
            d->staging = NULL;
        }
        WGPUBufferDescriptor bd;
        memset(&bd, 0, sizeof bd);
        bd.label = sv("readback");
        bd.size = want;
        bd.usage = WGPU_BUFFER_USAGE_MAP_READ | WGPU_BUFFER_USAGE_COPY_DST;
        d->staging = W.wgpuDeviceCreateBuffer(d->device, &bd);
        d->staging_size = d->staging ? want : 0;
        if (!d->staging) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "gpu_buffer_read: no staging buffer");
    }
    unsigned char *out = (unsigned char *)dst;
    while (size) {
        uint64_t n = size < d->staging_size ? size : d->staging_size;
        WGPUCommandEncoder enc = W.wgpuDeviceCreateCommandEncoder(d->device, NULL);
        W.wgpuCommandEncoderCopyBufferToBuffer(enc, b, offset, d->staging, 0, n);
        WGPUCommandBuffer cb = W.wgpuCommandEncoderFinish(enc, NULL);
        W.wgpuQueueSubmit(d->queue, 1, &cb);
        W.wgpuCommandBufferRelease(cb);
        W.wgpuCommandEncoderRelease(enc);
        req_state r;
        memset(&r, 0, sizeof r);
        WGPUBufferMapCallbackInfo ci = {NULL, WGPU_CALLBACK_MODE_ALLOW_PROCESS_EVENTS, on_status, &r, NULL};
        W.wgpuBufferMapAsync(d->staging, WGPU_MAP_MODE_READ, 0, (size_t)n, ci);
        if (wait_done(d->inst, &r, d->timeout_s) != 0)
            return wsd_fail(err, WSD_ERR_DEVICE, "gpu_buffer_read: GPU did not finish within %.0f s", d->timeout_s);
        WSD_TRY(sticky(d, "gpu_buffer_read", err));
        if (r.status != WGPU_MAP_ASYNC_SUCCESS)
            return wsd_fail(err, WSD_ERR_DEVICE, "gpu_buffer_read: mapping failed (status %u): %s", r.status, r.msg);
        const void *m = W.wgpuBufferGetConstMappedRange(d->staging, 0, (size_t)n);
        if (!m) {
            W.wgpuBufferUnmap(d->staging);
            return wsd_fail(err, WSD_ERR_DEVICE, "gpu_buffer_read: mapped range unavailable");
        }
        memcpy(out, m, (size_t)n);
        W.wgpuBufferUnmap(d->staging);
        out += n;
        offset += n;
        size -= n;
    }
    d->written_since_wait = 0;
    return WSD_OK;
}

gpu_pipe gpu_pipeline_create(gpu_device *d, const char *wgsl, const char *label, wsd_err *err)
{
    uint32_t slot = 0;
    for (uint32_t i = 1; i < d->n_pipes; i++)
        if (!d->pipes[i].p) {
            slot = i;
            break;
        }
    if (!slot) {
        if (grow((void **)&d->pipes, &d->cap_pipes, d->n_pipes + 1, sizeof(pipe_slot))) {
            wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "gpu_pipeline_create: out of host memory");
            return 0;
        }
        slot = d->n_pipes++;
    }
    int errs0 = d->n_errors;
    char saved[sizeof d->error];
    memcpy(saved, d->error, sizeof saved);
    d->error[0] = 0;
    WGPUShaderSourceWGSL src;
    memset(&src, 0, sizeof src);
    src.chain.sType = WGPU_STYPE_SHADER_SOURCE_WGSL;
    src.code = sv(wgsl);
    WGPUShaderModuleDescriptor smd;
    memset(&smd, 0, sizeof smd);
    smd.nextInChain = &src.chain;
    smd.label = sv(label);
    WGPUShaderModule sm = W.wgpuDeviceCreateShaderModule(d->device, &smd);
    WGPUComputePipelineDescriptor cpd;
    memset(&cpd, 0, sizeof cpd);
    cpd.label = sv(label);
    cpd.layout = NULL;
    cpd.compute.module = sm;
    cpd.compute.entryPoint = sv("main");
    WGPUComputePipeline p = sm ? W.wgpuDeviceCreateComputePipeline(d->device, &cpd) : NULL;
    W.wgpuInstanceProcessEvents(d->inst);
    if (sm) W.wgpuShaderModuleRelease(sm);
    if (!p || d->n_errors != errs0) {
        wsd_fail(err, WSD_ERR_DEVICE, "compiling WGSL kernel %s: %s", label ? label : "?",
                 d->error[0] ? d->error : "pipeline creation failed");
        if (p) W.wgpuComputePipelineRelease(p);
        memcpy(d->error, saved, sizeof saved);
        d->n_errors = errs0;
        return 0;
    }
    memcpy(d->error, saved, sizeof saved);
    d->pipes[slot].p = p;
    d->pipes[slot].layout = W.wgpuComputePipelineGetBindGroupLayout(p, 0);
    return slot;
}

void gpu_pipeline_destroy(gpu_device *d, gpu_pipe h)
{
    if (!d || h == 0 || h >= d->n_pipes || !d->pipes[h].p) return;
    if (d->pipes[h].layout) W.wgpuBindGroupLayoutRelease(d->pipes[h].layout);
    W.wgpuComputePipelineRelease(d->pipes[h].p);
    d->pipes[h].p = NULL;
    d->pipes[h].layout = NULL;
}

gpu_bind gpu_bindgroup_create(gpu_device *d, gpu_pipe pipe, uint32_t n, const gpu_binding *e, wsd_err *err)
{
    if (pipe == 0 || pipe >= d->n_pipes || !d->pipes[pipe].p) {
        wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_bindgroup_create: invalid pipeline %u", pipe);
        return 0;
    }
    WGPUBindGroupEntry ents[16];
    if (n > 16) {
        wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_bindgroup_create: %u bindings (at most 16)", n);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        WGPUBuffer b = buf_get(d, e[i].buffer);
        if (!b) {
            wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_bindgroup_create: binding %u has invalid buffer %u",
                     e[i].binding, e[i].buffer);
            return 0;
        }
        memset(&ents[i], 0, sizeof ents[i]);
        ents[i].binding = e[i].binding;
        ents[i].buffer = b;
        ents[i].offset = e[i].offset;
        ents[i].size = e[i].size;
    }
    uint32_t slot = 0;
    for (uint32_t i = 1; i < d->n_binds; i++)
        if (!d->binds[i]) {
            slot = i;
            break;
        }
    if (!slot) {
        if (grow((void **)&d->binds, &d->cap_binds, d->n_binds + 1, sizeof(WGPUBindGroup))) {
            wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "gpu_bindgroup_create: out of host memory");
            return 0;
        }
        slot = d->n_binds++;
    }
    int errs0 = d->n_errors;
    WGPUBindGroupDescriptor bd;
    memset(&bd, 0, sizeof bd);
    bd.layout = d->pipes[pipe].layout;
    bd.entryCount = n;
    bd.entries = ents;
    WGPUBindGroup g = W.wgpuDeviceCreateBindGroup(d->device, &bd);
    if (!g || d->n_errors != errs0) {
        wsd_fail(err, WSD_ERR_DEVICE, "gpu_bindgroup_create: %s", d->error[0] ? d->error : "failed");
        if (g) W.wgpuBindGroupRelease(g);
        d->error[0] = 0;
        d->n_errors = errs0;
        return 0;
    }
    d->binds[slot] = g;
    return slot;
}

void gpu_bindgroup_destroy(gpu_device *d, gpu_bind h)
{
    if (!d || h == 0 || h >= d->n_binds || !d->binds[h]) return;
    W.wgpuBindGroupRelease(d->binds[h]);
    d->binds[h] = NULL;
}

wsd_status gpu_submit(gpu_device *d, const gpu_cmd *cmds, uint32_t n, wsd_err *err)
{
    WSD_TRY(sticky(d, "GPU", err));
    WGPUCommandEncoder enc = W.wgpuDeviceCreateCommandEncoder(d->device, NULL);
    WGPUComputePassEncoder pass = NULL;
    wsd_status st = WSD_OK;
    for (uint32_t i = 0; i < n && st == WSD_OK; i++) {
        const gpu_cmd *c = &cmds[i];
        if (c->kind == GPU_CMD_DISPATCH) {
            if (c->a == 0 || c->a >= d->n_pipes || !d->pipes[c->a].p || c->b == 0 || c->b >= d->n_binds ||
                !d->binds[c->b]) {
                st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_submit: command %u has an invalid pipeline/bind group", i);
                break;
            }
            if (!pass) pass = W.wgpuCommandEncoderBeginComputePass(enc, NULL);
            W.wgpuComputePassEncoderSetPipeline(pass, d->pipes[c->a].p);
            W.wgpuComputePassEncoderSetBindGroup(pass, 0, d->binds[c->b], 0, NULL);
            W.wgpuComputePassEncoderDispatchWorkgroups(pass, c->x, c->y, c->z);
        } else {
            if (pass) {
                W.wgpuComputePassEncoderEnd(pass);
                W.wgpuComputePassEncoderRelease(pass);
                pass = NULL;
            }
            if (c->kind == GPU_CMD_COPY) {
                WGPUBuffer s = buf_get(d, c->a), t = buf_get(d, c->b);
                if (!s || !t) {
                    st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_submit: copy %u has an invalid buffer", i);
                    break;
                }
                W.wgpuCommandEncoderCopyBufferToBuffer(enc, s, c->src_off, t, c->dst_off, c->size);
            } else if (c->kind == GPU_CMD_CLEAR) {
                WGPUBuffer t = buf_get(d, c->a);
                if (!t) {
                    st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_submit: clear %u has an invalid buffer", i);
                    break;
                }
                W.wgpuCommandEncoderClearBuffer(enc, t, c->dst_off, c->size);
            } else {
                st = wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "gpu_submit: unknown command kind %u", c->kind);
            }
        }
    }
    if (pass) {
        W.wgpuComputePassEncoderEnd(pass);
        W.wgpuComputePassEncoderRelease(pass);
    }
    WGPUCommandBuffer cb = W.wgpuCommandEncoderFinish(enc, NULL);
    if (st == WSD_OK && cb) W.wgpuQueueSubmit(d->queue, 1, &cb);
    if (cb) W.wgpuCommandBufferRelease(cb);
    W.wgpuCommandEncoderRelease(enc);
    if (st != WSD_OK) return st;
    W.wgpuInstanceProcessEvents(d->inst);
    return sticky(d, "GPU", err);
}

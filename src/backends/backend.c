#include "backends/backend.h"

#include <string.h>

wsd_status wsd_backend_create(const char *name, const wsd_backend_options *opts, wsd_backend **out, wsd_err *err)
{
    *out = NULL;
    if (!name || !strcmp(name, "cpu"))
        return wsd_backend_cpu_create(opts, out, err);
    if (!strcmp(name, "webgpu")) {
#ifdef WSD_HAVE_WEBGPU
        return wsd_backend_webgpu_create(opts, out, err);
#else
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "webgpu: this build of wsd has no WebGPU backend");
#endif
    }
    return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "unknown backend \"%s\" (cpu, webgpu)", name);
}

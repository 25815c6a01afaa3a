#include "core/dtype.h"

static const struct { const char *name; size_t size; } dtype_info[WSD_DT_COUNT] = {
    [WSD_DT_F32] = {"F32", 4}, [WSD_DT_F16] = {"F16", 2}, [WSD_DT_BF16] = {"BF16", 2},
    [WSD_DT_I64] = {"I64", 8}, [WSD_DT_I32] = {"I32", 4}, [WSD_DT_U8] = {"U8", 1},
};

size_t wsd_dtype_size(wsd_dtype t) { return (unsigned)t < WSD_DT_COUNT ? dtype_info[t].size : 0; }
const char *wsd_dtype_name(wsd_dtype t) { return (unsigned)t < WSD_DT_COUNT ? dtype_info[t].name : "?"; }

int wsd_dtype_parse(const char *name, wsd_dtype *t)
{
    for (int i = 0; i < WSD_DT_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) {
            *t = (wsd_dtype)i;
            return 0;
        }
    return -1;
}

void wsd_convert_to_f32(wsd_dtype t, const void *src, float *dst, size_t n)
{
    const uint8_t *s = src;
    switch (t) {
    case WSD_DT_F32:
        memcpy(dst, src, n * 4);
        break;
    case WSD_DT_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = wsd_f16_to_f32(h);
        }
        break;
    case WSD_DT_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = wsd_bf16_to_f32(h);
        }
        break;
    default:
        for (size_t i = 0; i < n; i++) dst[i] = 0.0f;
        break;
    }
}

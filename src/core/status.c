#include "wsd.h"

const char *wsd_status_name(wsd_status s)
{
    switch (s) {
    case WSD_OK: return "ok";
    case WSD_ERR_INVALID_ARGUMENT: return "invalid argument";
    case WSD_ERR_IO: return "i/o error";
    case WSD_ERR_FORMAT: return "bad file format";
    case WSD_ERR_UNSUPPORTED: return "unsupported";
    case WSD_ERR_OUT_OF_MEMORY: return "out of memory";
    case WSD_ERR_DEVICE: return "device error";
    case WSD_ERR_CANCELLED: return "cancelled";
    case WSD_ERR_NUMERIC: return "non-finite values";
    case WSD_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

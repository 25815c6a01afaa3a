/* Lookup in the embedded WGSL table (the table itself is generated). */
#include "backends/webgpu/wgsl_embed.h"

#include <string.h>

const char *wsd_wgsl_get(const char *name)
{
    for (int i = 0; i < wsd_wgsl_count; i++)
        if (!strcmp(wsd_wgsl_files[i].name, name)) return wsd_wgsl_files[i].text;
    return NULL;
}

/* The WGSL kernel texts of src/backends/webgpu/wgsl/, embedded at build time
 * (embed_wgsl.cmake). Both the native and the browser build use these. */
#ifndef WSD_WEBGPU_WGSL_EMBED_H
#define WSD_WEBGPU_WGSL_EMBED_H

typedef struct wsd_wgsl_file {
    const char *name; /* file name without ".wgsl" */
    const char *text; /* NUL-terminated */
} wsd_wgsl_file;

extern const wsd_wgsl_file wsd_wgsl_files[]; /* ends with {0, 0} */
extern const int wsd_wgsl_count;

/* The text of wgsl/<name>.wgsl, or NULL. */
const char *wsd_wgsl_get(const char *name);

#endif

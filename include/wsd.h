/* wsd: Stable Diffusion in C, natively and in the browser.
 *
 * The one public header. Conventions (as in SQLite and Lua):
 *  - Handles are opaque. Every call returns a wsd_status; WSD_OK is 0.
 *  - On failure the context keeps a message naming the problem
 *    (wsd_last_error). Nothing in the library aborts or exits.
 *  - Ownership is stated at each function: "caller frees" means with the
 *    matching wsd_*_free function.
 *  - Strings are UTF-8. Images are 8-bit RGB, row-major, no padding.
 */
#ifndef WSD_H
#define WSD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WSD_VERSION "0.1.0"

typedef enum wsd_status {
    WSD_OK = 0,
    WSD_ERR_INVALID_ARGUMENT = 1, /* a parameter is out of range */
    WSD_ERR_IO = 2,               /* a file could not be opened or read */
    WSD_ERR_FORMAT = 3,           /* a file is malformed or inconsistent */
    WSD_ERR_UNSUPPORTED = 4,      /* valid, but not something wsd can run */
    WSD_ERR_OUT_OF_MEMORY = 5,
    WSD_ERR_DEVICE = 6,           /* GPU unavailable, lost or failing */
    WSD_ERR_CANCELLED = 7,        /* the progress callback asked to stop */
    WSD_ERR_NUMERIC = 8,          /* non-finite values appeared */
    WSD_ERR_INTERNAL = 9
} wsd_status;

/* Short name of a status ("invalid argument"). Static string. */
const char *wsd_status_name(wsd_status s);

/* ---- context ------------------------------------------------------------ */

typedef struct wsd_context wsd_context;

typedef enum wsd_backend_kind {
    WSD_BACKEND_CPU = 0,
    WSD_BACKEND_WEBGPU = 1
} wsd_backend_kind;

typedef struct wsd_context_options {
    wsd_backend_kind backend;
    int threads;          /* CPU threads; 0 = all cores */
    int gpu_default_limits; /* WebGPU: behave as if only spec-default limits existed */
} wsd_context_options;

/* Fills `opts` with defaults (CPU backend, all cores). */
void wsd_context_options_init(wsd_context_options *opts);

/* Creates a context. `opts` may be NULL for defaults. On success *out is
 * owned by the caller (wsd_context_free). On failure *out is NULL and, when
 * `err_msg` is not NULL, up to `err_cap` bytes of the reason are written there. */
wsd_status wsd_context_create(const wsd_context_options *opts, wsd_context **out,
                              char *err_msg, size_t err_cap);
void wsd_context_free(wsd_context *ctx);

/* Message of the last failed call on this context ("" if none). Valid until
 * the next call on the context. */
const char *wsd_last_error(const wsd_context *ctx);

/* ---- models ------------------------------------------------------------- */

typedef struct wsd_model wsd_model;

/* Loads a model: a diffusers folder (model_index.json, unet/, vae/,
 * text_encoder/, tokenizer/, scheduler/) or a single-file SD 1.x
 * `.safetensors` checkpoint. `path` NULL or "" loads the embedded default
 * model. Caller frees with wsd_model_free (after every run that uses it). */
wsd_status wsd_model_load(wsd_context *ctx, const char *path, wsd_model **out);
void wsd_model_free(wsd_model *model);

typedef struct wsd_model_info {
    const char *name;           /* folder or file name; valid while the model lives */
    int default_width, default_height;
    const char *sampler;        /* the model's own scheduler, A1111 spelling ("PNDM") */
    int64_t params_text_encoder, params_unet, params_vae;
    int single_file;
} wsd_model_info;

void wsd_model_get_info(const wsd_model *model, wsd_model_info *info);

/* ---- tokenizer ---------------------------------------------------------- */

#define WSD_MAX_TOKENS 77

/* Tokenizes a prompt as the model's CLIP tokenizer does: ids[0..76] receive
 * BOS, at most 75 tokens, EOS and padding. *n_tokens (may be NULL) receives
 * the number of prompt tokens before truncation, without BOS/EOS, so a UI
 * can show "n/75". */
wsd_status wsd_tokenize(wsd_context *ctx, const wsd_model *model, const char *text,
                        int32_t ids[WSD_MAX_TOKENS], int *n_tokens);

/* ---- generation --------------------------------------------------------- */

typedef enum wsd_sampler {
    WSD_SAMPLER_DEFAULT = 0, /* the model's scheduler config (PNDM for SD 1.5) */
    WSD_SAMPLER_PNDM,
    WSD_SAMPLER_DDIM,
    WSD_SAMPLER_EULER,
    WSD_SAMPLER_EULER_A,
    WSD_SAMPLER_DPMPP_2M,
    WSD_SAMPLER_DPMPP_2M_KARRAS,
    WSD_SAMPLER_LMS,
    WSD_SAMPLER_LCM
} wsd_sampler;

/* Called after every denoising step. `preview` (NULL unless previews were
 * asked for with preview_every) is a small RGB image (at most 64x64, pw x ph)
 * of the scheduler's current prediction of the final image, decoded by the
 * model's VAE from pooled latents. Return non-zero to cancel; the run then
 * ends with WSD_ERR_CANCELLED and no image. */
typedef int (*wsd_progress_fn)(void *user, int step, int total_steps,
                               const uint8_t *preview, int pw, int ph);

typedef struct wsd_generate_params {
    const char *prompt;
    const char *negative_prompt; /* NULL = "" */
    int width, height;           /* 0 = model default; multiples of 8 */
    int steps;                   /* 0 = 20 */
    float guidance;              /* <= 1 disables classifier-free guidance */
    int64_t seed;                /* < 0: random; the seed used is written back */
    wsd_sampler sampler;
    /* img2img: RGB image of width x height, strength in (0, 1] */
    const uint8_t *init_image;
    float strength;
    /* Exact-testing hooks (NULL in normal use): initial noise [1,4,h,w] and,
     * for img2img, the two noise draws [2,1,4,h,w]. */
    const float *latents_init;
    const float *noise_draws;
    wsd_progress_fn progress;
    void *progress_user;
    int preview_every; /* 0 = no previews; N = every N steps and the last */
} wsd_generate_params;

void wsd_generate_params_init(wsd_generate_params *p);

typedef struct wsd_image {
    int width, height;
    uint8_t *rgb;         /* width*height*3 bytes; freed by wsd_image_free */
    float *latents;       /* final latents [1,4,h,w] */
    float *image_f32;     /* [H,W,3] in [0,1] before rounding */
    int64_t seed;         /* the seed actually used */
} wsd_image;

/* Runs text-to-image (or img2img when init_image is set). On success `out`
 * holds owned buffers (wsd_image_free). On failure `out` is zeroed. */
wsd_status wsd_generate(wsd_context *ctx, const wsd_model *model,
                        const wsd_generate_params *params, wsd_image *out);
void wsd_image_free(wsd_image *img);

#ifdef __cplusplus
}
#endif
#endif

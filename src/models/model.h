/* A loaded model: configs, weights (mapped, or read lazily: model.c says who
 * holds them), tokenizer files
 * and the scheduler config, from a diffusers folder, a single-file SD 1.x
 * checkpoint, or files in memory (the embedded default model, the browser). */
#ifndef WSD_MODELS_MODEL_H
#define WSD_MODELS_MODEL_H

#include "io/json.h"
#include "io/safetensors.h"
#include "models/models.h"

/* A file held in memory, named by its path inside the model folder
 * ("unet/diffusion_pytorch_model.safetensors"). */
typedef struct wsd_mem_file {
    const char *path;
    const uint8_t *data;
    size_t size;
} wsd_mem_file;

typedef enum { COMP_TEXT_ENCODER, COMP_UNET, COMP_VAE, COMP_COUNT } model_component;

/* Weights of one component, indexed by diffusers name. */
typedef struct comp_weights {
    const st_file *file;
    const char **names;        /* diffusers names, sorted */
    const st_tensor **tensors; /* parallel to names */
    size_t count;
    char *label;               /* for messages: the file path */
    uint64_t uid;              /* unique per loaded model (see wg_graph.weights_uid) */
} comp_weights;

struct wsd_model {
    char *name;                /* shown in PNG metadata */
    int single_file;
    clip_config clip;
    unet_config unet;
    vae_config vae;
    json_doc *scheduler_doc;   /* may be NULL: SD 1.5's PNDM config is used */
    st_file files[COMP_COUNT]; /* diffusers: one per component; single file: files[0] */
    comp_weights w[COMP_COUNT];
    /* tokenizer files (owned copies) */
    char *vocab_json, *merges_txt, *tokenizer_config;
    size_t vocab_len, merges_len, tokenizer_config_len;
    void *tokenizer;           /* tok_tokenizer*, created lazily */
};

typedef struct wsd_model wsd_model;

/* Loads from a directory or .safetensors path. Caller frees with model_free. */
wsd_status model_load_path(const char *path, wsd_model **out, wsd_err *err);
/* Loads a diffusers folder held in memory; the files must outlive the model. */
wsd_status model_load_mem(const wsd_mem_file *files, size_t n, const char *name, wsd_model **out, wsd_err *err);
void model_free(wsd_model *m);

/* Whether the components fit together for text-to-image: text encoder width =
 * UNet cross-attention width, UNet in/out channels = VAE latent channels.
 * Loading does not check it (one component may be run alone, `wsd run`);
 * wsd_model_load does. WSD_ERR_FORMAT (or UNSUPPORTED for an inpainting UNet)
 * with a message naming both sides. */
wsd_status model_check_components(const wsd_model *m, wsd_err *err);

/* A new graph whose weights come from component c of m, in memory (read now
 * where the model's files are lazy). Caller: wg_free. */
wg_graph *model_graph_new(const wsd_model *m, model_component c);
/* The same with streamed weights (graph.h: weight_read): for the WebGPU
 * backend, which reads each weight in pieces as it uploads it. */
wg_graph *model_graph_new_streamed(const wsd_model *m, model_component c);

/* The graph weight callback for component `c` (pass &m->w[c] as user). */
wsd_status model_weight_fn(void *user, const char *name, int ndim, const int64_t *shape,
                           const void **data, wsd_dtype *dtype, wsd_err *err);

/* Maps a single-file (CompVis) tensor name to its diffusers component and
 * name. Returns 0 and writes `out` on success, -1 for names wsd ignores. */
int compvis_to_diffusers(const char *name, model_component *comp, char *out, size_t cap);

#endif

/* A model with random weights and the real architecture, built in memory:
 * for benchmarks (CPU and GPU) at the true SD 1.5 shapes without a 2 GB
 * download. Weights are stored as the caller asks (F16 by default, as real
 * SD 1.5 fp16 files), drawn deterministically from (seed, tensor name):
 * matrices and convolution kernels uniform with std 1/sqrt(fan_in) (so
 * activations keep their scale layer after layer), norm scales 1 +- 0.1,
 * biases +-0.02, embeddings std 0.02. The result is a plain wsd_model
 * (model_graph_new, model_free) with no tokenizer files and no scheduler
 * config: feed token ids to the text encoder directly. */
#ifndef WSD_MODELS_RANDOM_MODEL_H
#define WSD_MODELS_RANDOM_MODEL_H

#include "models/model.h"

typedef struct random_model_opts {
    wsd_dtype dtype;        /* WSD_DT_F16 (0 = F32 is allowed too), F32 or BF16 */
    int text_encoder;       /* which components get weights (a component left */
    int unet;               /* out has no tensors: building its graph fails)  */
    int vae_decoder;
    int vae_encoder;
    /* 1: the weights live in an unlinked temporary file mapped read-only, as
     * a real checkpoint is (st_open maps files), so only the pages a run
     * touches count in the resident set; 0: plain memory. Not in wasm. */
    int mapped;
} random_model_opts;

/* F16, every component, in memory. */
void random_model_default_opts(random_model_opts *o);

/* Any config may be NULL: SD 1.5's is used. Caller frees with model_free. */
wsd_status random_model_create(const clip_config *clip, const unet_config *unet, const vae_config *vae,
                               uint64_t seed, wsd_model **out, wsd_err *err);
wsd_status random_model_create_ex(const clip_config *clip, const unet_config *unet, const vae_config *vae,
                                  uint64_t seed, const random_model_opts *opts, wsd_model **out, wsd_err *err);

#endif

/* Running one component (text encoder, UNet, VAE decoder/encoder) on named
 * tensors: the golden harness (`wsd run`). Input names follow the goldens:
 * text_encoder: input_ids; unet: sample, timestep, encoder_hidden_states;
 * vae_decoder: latents; vae_encoder: image. */
#ifndef WSD_MODELS_RUN_H
#define WSD_MODELS_RUN_H

#include "backends/backend.h"
#include "io/safetensors.h"
#include "models/model.h"

typedef enum { RUN_TEXT_ENCODER, RUN_UNET, RUN_VAE_DECODER, RUN_VAE_ENCODER, RUN_COUNT } run_component;

int run_component_parse(const char *name); /* -1 if unknown */
const char *run_component_name(run_component c);

/* Builds the graph sized by the tensors in `in`. Caller frees (wg_free). */
wsd_status run_build(const wsd_model *m, run_component c, const st_file *in, const build_opts *opts, wg_graph **out, wsd_err *err);
/* Builds, plans, runs and adds every graph output to `out`. */
wsd_status run_component_exec(wsd_backend *be, const wsd_model *m, run_component c, const st_file *in, const build_opts *opts, st_writer *out, wsd_err *err);

#endif

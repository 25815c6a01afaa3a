/* The three networks of Stable Diffusion as graph builders, and their
 * hyper-parameters. Each builder writes the whole network into a wg_graph
 * once, for a given batch and size; weights are requested by their diffusers
 * (or transformers) names through the graph's weight callback. */
#ifndef WSD_MODELS_MODELS_H
#define WSD_MODELS_MODELS_H

#include "graph/graph.h"
#include "io/json.h"

#define WSD_MAX_LEVELS 6

/* ---- CLIP text encoder (transformers CLIPTextModel) ---- */
typedef struct clip_config {
    int hidden;          /* 768 in SD 1.x */
    int layers;          /* 12 */
    int heads;           /* 12 */
    int intermediate;    /* 3072 */
    int max_positions;   /* 77 */
    int vocab;           /* 49408 */
    int quick_gelu;      /* 1: quick_gelu (SD 1.x), 0: exact gelu (SD 2.x) */
    float ln_eps;
} clip_config;

/* ---- UNet2DConditionModel ---- */
typedef struct unet_config {
    int in_channels, out_channels;
    int levels;                          /* len(block_out_channels) */
    int block_out[WSD_MAX_LEVELS];
    int down_cross[WSD_MAX_LEVELS];      /* CrossAttnDownBlock2D? */
    int up_cross[WSD_MAX_LEVELS];        /* CrossAttnUpBlock2D? (in up order) */
    int heads[WSD_MAX_LEVELS];           /* attention heads per level (down order) */
    int layers_per_block;
    int transformer_depth;
    int cross_dim;
    int groups;
    float norm_eps;
    int linear_projection;               /* SD 2.x: proj_in/out are Linear */
    int flip_sin_to_cos;
    float freq_shift;
    int sample_size;                     /* latent side the model was trained at */
} unet_config;

/* ---- AutoencoderKL ---- */
typedef struct vae_config {
    int in_channels, out_channels, latent_channels;
    int levels;
    int block_out[WSD_MAX_LEVELS];
    int layers_per_block;
    int groups;
    float scaling_factor;
    int sample_size;                     /* image side */
    int use_quant_conv, use_post_quant_conv, mid_attention;
} vae_config;

/* Parse a component's config.json. `what` names the file in errors. Every
 * value is range-checked: a nonsense value is a WSD_ERR_FORMAT naming it. */
wsd_status clip_config_parse(const json_value *cfg, const char *what, clip_config *out, wsd_err *err);
wsd_status unet_config_parse(const json_value *cfg, const char *what, unet_config *out, wsd_err *err);
wsd_status vae_config_parse(const json_value *cfg, const char *what, vae_config *out, wsd_err *err);

/* The real SD 1.5 configuration (for planning and benchmarks without weights). */
void clip_config_sd15(clip_config *c);
void unet_config_sd15(unet_config *c);
void vae_config_sd15(vae_config *c);

/* Debug outputs: when set, builders also mark intermediate activations as
 * graph outputs under the names the goldens use ("down_blocks.0", ...). */
typedef struct build_opts {
    int debug_outputs;
    int clip_skip;      /* text encoder: 0 = last layer; N = hidden_states[-(N+1)] */
} build_opts;

/* Inputs: "input_ids" int32 [B,77]. Output: "last_hidden_state" [B,77,hidden]. */
int clip_build(wg_graph *g, const clip_config *c, int batch, const build_opts *o);

/* Inputs: "sample" [B,in,h,w], "timestep" [B] (float), "encoder_hidden_states" [B,T,cross_dim].
 * Output: "out" [B,out,h,w]. */
int unet_build(wg_graph *g, const unet_config *c, int batch, int h, int w, int ctx_len, const build_opts *o);

/* Inputs: "latents" [B,latent,h,w] (already divided by the scaling factor).
 * Output: "image" [B,3,8h,8w] (raw decoder output). */
int vae_decoder_build(wg_graph *g, const vae_config *c, int batch, int h, int w, const build_opts *o);

/* Inputs: "image" [B,3,H,W] in [-1,1]. Outputs: "mean", "logvar" (clamped to [-30,20]),
 * each [B,latent,H/8,W/8]. */
int vae_encoder_build(wg_graph *g, const vae_config *c, int batch, int H, int W, const build_opts *o);

#endif

/* Noise schedulers, configured from a model's scheduler_config.json exactly as
 * diffusers resolves `X.from_config(pipe.scheduler.config)`.
 *
 * Samplers: PNDM (PLMS, with or without the PRK warm-up), DDIM (eta 0), Euler,
 * Euler ancestral, DPM++ 2M (also 1st/3rd order, midpoint/heun), DPM++ 2M
 * Karras, LMS, LCM; epsilon and v-prediction.
 *
 * Usage (text-to-image):
 *     sched_create(config, WSD_SAMPLER_DEFAULT, &s, err);
 *     sched_set_timesteps(s, steps, err);
 *     x = noise * sched_init_noise_sigma(s);
 *     for (i = 0; i < sched_num_calls(s); i++) {
 *         sched_scale_model_input(s, i, x, in, n);
 *         model(in, sched_timestep(s, i)) -> out;  (CFG: sched_cfg_combine)
 *         sched_step(s, i, out, x, n, &noise_source, NULL, err);
 *     }
 * Image-to-image: after sched_set_timesteps, sched_img2img_begin(s, strength,
 * &first, err) gives the first call index k; the latents are
 * sched_add_noise(s, k, init, noise, x, n), then the loop runs from i = k.
 *
 * GPU-friendly structure: every step is (a) scalar coefficients computed here
 * on the CPU (sched_plan_step) and (b) a short list of elementwise linear
 * combinations of tensors (sample, model output, fresh noise, pred_x0 and
 * history tensors the scheduler keeps). sched_step runs the plan on the CPU
 * with buffers the scheduler owns; a GPU backend calls sched_plan_step and
 * replays the same ops on its own buffers (sched_history_slots of them).
 *
 * Steps must run in order (i = first, first+1, ...); the scheduler keeps the
 * multistep history between them. sched_set_timesteps or sched_img2img_begin
 * (or sched_begin) resets it. */
#ifndef WSD_SCHED_SCHED_H
#define WSD_SCHED_SCHED_H

#include "core/error.h"
#include "core/rng.h"
#include "io/json.h"
#include "wsd.h"

#include <stddef.h>

typedef enum sched_type {
    SCHED_PNDM = 0,
    SCHED_DDIM,
    SCHED_EULER,
    SCHED_EULER_ANCESTRAL,
    SCHED_DPM_MULTISTEP,
    SCHED_LMS,
    SCHED_LCM
} sched_type;

typedef struct sched sched;

/* ---- construction ---------------------------------------------------------- */

/* Builds a scheduler from a parsed scheduler_config.json (a JSON object) and a
 * sampler choice. WSD_SAMPLER_DEFAULT takes the config's own `_class_name`.
 * Other samplers convert the config the way diffusers' from_config does: the
 * target class's defaults, overridden by every key the config file holds
 * (keys listed in `_use_default_values` count as absent). DPM++ 2M also sets
 * algorithm_type "dpmsolver++", solver_order 2 and use_karras_sigmas false;
 * DPM++ 2M Karras sets use_karras_sigmas true.
 * Errors: WSD_ERR_FORMAT for malformed values, WSD_ERR_UNSUPPORTED for valid
 * settings wsd does not implement (thresholding, sde variants, ...).
 * config NULL means Stable Diffusion 1.5's scheduler_config.json (PNDM,
 * scaled_linear 0.00085..0.012, steps_offset 1), for models without one.
 * Caller frees *out with sched_free. */
wsd_status sched_create(const json_value *config, wsd_sampler which, sched **out, wsd_err *err);
void sched_free(sched *s);

/* Sampler names for command lines and UIs. sched_sampler_from_name accepts
 * the A1111 names ("Euler a", "DPM++ 2M Karras", "PLMS"), diffusers-ish ids
 * ("pndm", "ddim", "euler", "euler_a", "dpmpp_2m", "dpmpp_2m_karras", "lms",
 * "lcm", "default"), case-insensitively, with '-', '_', ' ' and '+' variants
 * ("dpm++2m", "euler-a"). Returns 0 on success, -1 for an unknown name. */
int sched_sampler_from_name(const char *name, wsd_sampler *out);
/* Short id of a sampler ("euler_a"), "default" for WSD_SAMPLER_DEFAULT. */
const char *sched_sampler_id(wsd_sampler which);

/* Computes the timestep schedule for `steps` inference steps and resets the
 * run state. Steps must be >= 1 and within what the scheduler allows (at most
 * num_train_timesteps, every timestep inside the training range, LCM at most
 * original_inference_steps); otherwise WSD_ERR_INVALID_ARGUMENT. */
wsd_status sched_set_timesteps(sched *s, int steps, wsd_err *err);

/* ---- schedule queries ------------------------------------------------------ */

sched_type sched_get_type(const sched *s);
/* A1111-style sampler name: "PLMS", "DDIM", "Euler", "Euler a", "DPM++ 2M",
 * "DPM++ 2M Karras", "LMS", "LCM" (other DPM variants: "DPM++ 1S"...). */
const char *sched_name(const sched *s);
/* The resolved diffusers class name ("EulerDiscreteScheduler"). */
const char *sched_class_name(const sched *s);
int sched_is_v_prediction(const sched *s);
/* Number of model calls after sched_set_timesteps (PNDM/PLMS: steps + 1;
 * 0 before set_timesteps). */
int sched_num_calls(const sched *s);
/* Number of inference steps given to sched_set_timesteps. */
int sched_num_steps(const sched *s);
/* Timestep passed to the model at call i (fractional for Euler/LMS). */
float sched_timestep(const sched *s, int i);
/* Sigma schedule (Euler, Euler a, LMS, DPM: steps + 1 values, the last one the
 * final sigma); returns the count and sets *sigmas, or 0 for schedulers
 * without sigmas. */
int sched_sigmas(const sched *s, const float **sigmas);
/* alphas_cumprod[num_train_timesteps] as float32 (diffusers' values). */
int sched_alphas_cumprod(const sched *s, const float **ac);
/* Standard deviation of the initial noise (14.6146 for Euler-type on SD). */
float sched_init_noise_sigma(const sched *s);

/* ---- per-step tensor operations -------------------------------------------- */

/* Model input scaling at call i: out = x * sched_input_scale(s, i) (Euler-type:
 * 1/sqrt(sigma^2+1); 1 for the others). out may equal x. */
float sched_input_scale(const sched *s, int i);
/* The divisor behind it: x / sched_input_divisor(s, i) is the model input
 * (sqrt(sigma^2+1) in float32 for Euler-type, else 1). */
float sched_input_divisor(const sched *s, int i);
void sched_scale_model_input(const sched *s, int i, const float *x, float *out, size_t n);

/* Where the random tensors of ancestral/LCM steps come from. */
typedef struct sched_noise {
    wsd_rng *rng;          /* draw torch.randn(n) from this generator, or */
    const float *draws;    /* replay: draw k is draws[k*n .. k*n+n) */
    size_t n_draws;
    size_t used;           /* draws taken so far (both modes) */
} sched_noise;
void sched_noise_from_rng(sched_noise *ns, wsd_rng *rng);
void sched_noise_replay(sched_noise *ns, const float *draws, size_t n_draws);

/* One denoising step at call i: sample (in/out, n floats) becomes the
 * previous sample. `noise` may be NULL for schedulers that draw none
 * (sched_draws_noise). `pred_x0` (may be NULL) receives the predicted
 * original sample (LCM: the denoised sample; DPM: the converted model output;
 * PNDM, which has none in diffusers: x0 implied by this call's output at its
 * timestep, for previews). */
wsd_status sched_step(sched *s, int i, const float *model_out, float *sample, size_t n, sched_noise *noise,
                      float *pred_x0, wsd_err *err);
/* Whether call i draws a noise tensor (Euler a: every step; LCM: all but the last). */
int sched_draws_noise(const sched *s, int i);

/* ---- image-to-image --------------------------------------------------------- */

/* diffusers' get_timesteps: init = min(int(steps*strength), steps); the run
 * starts at call (steps - init) * order. Resets the run state to begin there.
 * strength must be in (0, 1] and leave at least one step. */
wsd_status sched_img2img_begin(sched *s, double strength, int *first_call, wsd_err *err);
/* Starts the run at call index `first` (0 = from the beginning). */
wsd_status sched_begin(sched *s, int first, wsd_err *err);
/* The double a user typed as a float strength (0.7f -> 0.7): the shortest
 * decimal that round-trips the float, so int(steps*strength) matches Python. */
double sched_strength_from_float(float strength);
/* Noising at call i: out = a*x0 + b*noise (DDPM-type: sqrt(ac), sqrt(1-ac) at
 * the call's timestep; Euler-type: 1, sigma; DPM: alpha_t, sigma_t). */
void sched_add_noise_coeffs(const sched *s, int i, float *a, float *b);
void sched_add_noise(const sched *s, int i, const float *x0, const float *noise, float *out, size_t n);

/* Classifier-free guidance as the pipeline computes it: u + g*(c - u). */
void sched_cfg_combine(float *out, const float *uncond, const float *cond, float guidance, size_t n);

/* ---- step plans (for other backends) --------------------------------------- */

/* Buffer ids in a plan. SCHED_BUF_HIST + k is history slot k (0 <= k <
 * sched_history_slots); its contents persist between steps. */
enum {
    SCHED_BUF_SAMPLE = 0, /* the sample, updated in place */
    SCHED_BUF_MODEL = 1,  /* this call's model output (read only) */
    SCHED_BUF_NOISE = 2,  /* a fresh randn tensor (when plan.draws_noise) */
    SCHED_BUF_PRED = 3,   /* scratch that receives pred_x0 */
    SCHED_BUF_HIST = 4
};
#define SCHED_MAX_HIST 6
#define SCHED_MAX_TERMS 6
#define SCHED_MAX_OPS 5

/* dst[j] = clamp(sum_k coeff[k] * src[k][j]) for every element j. All
 * sources are read before dst is written at the same j, so dst may also be a
 * source. clamp > 0 limits the result to [-clamp, clamp]; 0 = no clamp. */
typedef struct sched_op {
    int dst;
    int n_terms;
    int src[SCHED_MAX_TERMS];
    float coeff[SCHED_MAX_TERMS];
    float clamp;
} sched_op;

typedef struct sched_plan {
    int n_ops;
    sched_op op[SCHED_MAX_OPS]; /* run in order */
    int draws_noise;            /* fill SCHED_BUF_NOISE (n randn values) before the ops */
    int pred_buf;               /* buffer holding pred_x0 after the ops, or -1 */
} sched_plan;

int sched_history_slots(const sched *s);
/* Computes the plan of call i and advances the run state as a step does
 * (so call it once per step, in order). */
wsd_status sched_plan_step(sched *s, int i, sched_plan *plan, wsd_err *err);
/* Runs a plan on CPU buffers indexed by buffer id (bufs[SCHED_BUF_HIST + k]...). */
void sched_run_plan(const sched_plan *plan, float *const *bufs, size_t n);
/* The elementwise kernel: out = clamp(sum_k coeff[k] * src[k]). */
void sched_lincomb(float *out, size_t n, int k, const float *coeff, const float *const *src, float clamp);

#endif

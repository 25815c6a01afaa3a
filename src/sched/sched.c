/* Schedulers: see sched.h.
 *
 * Numerics follow diffusers (0.3x-0.40) closely enough to match its goldens:
 *  - betas are torch.linspace in float32 (start + step*i with one rounding,
 *    the second half counted back from the end), squared for scaled_linear;
 *    alphas_cumprod is a cumulative product accumulated in double and stored
 *    as float32 at every step (torch's CPU cumprod);
 *  - train sigmas are sqrt((1 - ac) / ac) in float32 ops; the inference sigmas
 *    are numpy-interpolated in double from those and stored as float32;
 *  - timestep grids are built with numpy's linspace/arange/round semantics.
 * Per-step scalar coefficients are computed in double from those float32
 * tables and applied as float32 linear combinations (sched_lincomb). */
#include "sched/sched.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define CFG_WHAT "scheduler config"

typedef enum { SPACING_LINSPACE, SPACING_LEADING, SPACING_TRAILING } spacing_t;
typedef enum { BETAS_LINEAR, BETAS_SCALED_LINEAR, BETAS_COSINE, BETAS_TRAINED } betas_t;

typedef struct sched_config {
    sched_type type;
    const char *class_name;
    int num_train_timesteps;
    double beta_start, beta_end;
    betas_t beta_schedule;
    float *trained_betas; /* owned copy when BETAS_TRAINED */
    int v_prediction;
    spacing_t spacing;
    long steps_offset;
    int set_alpha_to_one;
    /* PNDM */
    int skip_prk_steps;
    /* DDIM / LCM */
    int clip_sample;
    double clip_sample_range;
    /* Euler / LMS / DPM */
    int use_karras_sigmas;
    double sigma_min, sigma_max; /* NaN = None */
    int final_sigma_zero;        /* final_sigmas_type "zero" (else "sigma_min") */
    /* DPM */
    int solver_order;
    int solver_heun; /* solver_type "heun" (else midpoint) */
    int lower_order_final;
    int euler_at_final;
    double lambda_min_clipped;
    /* LCM */
    long original_inference_steps;
    double timestep_scaling;
} sched_config;

struct sched {
    sched_config cfg;
    const char *name;
    int N;                   /* num_train_timesteps */
    float *alphas_cumprod;   /* [N] */
    float *train_sigmas;     /* [N] sqrt((1-ac)/ac), float32 */
    float *log_sigmas;       /* [N] log of train_sigmas, float32 */
    float final_alpha_cumprod;

    /* set_timesteps */
    int steps;               /* the requested number of inference steps */
    int n_calls;
    float *timesteps;        /* [n_calls] value given to the model */
    long *t_int;             /* [n_calls] integer timesteps (PNDM, DDIM, LCM, DPM) */
    float *sigmas;           /* [n_calls + 1] (Euler, Euler a, LMS, DPM) */
    int n_sigmas;
    int prk_calls;           /* PNDM without skip_prk_steps: 12, else 0 */

    /* run state */
    int begin;               /* first call of this run */
    int counter;             /* steps done since begin */
    int hist_count;          /* tensors pushed to the history ring */
    int lower_order_nums;    /* DPM */

    /* CPU buffers for sched_step */
    float *buf;              /* (hist slots + 2) * buf_n floats */
    size_t buf_n;
};

/* ---- config resolution ------------------------------------------------------- */

typedef struct class_info {
    const char *name;
    sched_type type;
    const char *const *keys; /* __init__ parameters of the diffusers class */
} class_info;

static const char *const PNDM_KEYS[] = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                        "trained_betas", "skip_prk_steps", "set_alpha_to_one", "prediction_type",
                                        "timestep_spacing", "steps_offset", NULL};
static const char *const DDIM_KEYS[] = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                        "trained_betas", "clip_sample", "set_alpha_to_one", "steps_offset",
                                        "prediction_type", "thresholding", "dynamic_thresholding_ratio",
                                        "clip_sample_range", "sample_max_value", "timestep_spacing",
                                        "rescale_betas_zero_snr", NULL};
static const char *const EULER_KEYS[] = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                         "trained_betas", "prediction_type", "interpolation_type",
                                         "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
                                         "sigma_min", "sigma_max", "timestep_spacing", "timestep_type",
                                         "steps_offset", "rescale_betas_zero_snr", "final_sigmas_type", NULL};
static const char *const EULER_A_KEYS[] = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                           "trained_betas", "prediction_type", "timestep_spacing", "steps_offset",
                                           "rescale_betas_zero_snr", NULL};
static const char *const DPM_KEYS[] = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                       "trained_betas", "solver_order", "prediction_type", "thresholding",
                                       "dynamic_thresholding_ratio", "sample_max_value", "algorithm_type",
                                       "solver_type", "lower_order_final", "euler_at_final", "use_karras_sigmas",
                                       "use_exponential_sigmas", "use_beta_sigmas", "use_lu_lambdas",
                                       "use_flow_sigmas", "flow_shift", "final_sigmas_type", "lambda_min_clipped",
                                       "variance_type", "timestep_spacing", "steps_offset", "rescale_betas_zero_snr",
                                       "use_dynamic_shifting", "time_shift_type", NULL};
static const char *const LMS_KEYS[] = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                       "trained_betas", "use_karras_sigmas", "use_exponential_sigmas",
                                       "use_beta_sigmas", "prediction_type", "timestep_spacing", "steps_offset",
                                       NULL};
static const char *const LCM_KEYS[] = {"num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
                                       "trained_betas", "original_inference_steps", "clip_sample",
                                       "clip_sample_range", "set_alpha_to_one", "steps_offset", "prediction_type",
                                       "thresholding", "dynamic_thresholding_ratio", "sample_max_value",
                                       "timestep_spacing", "timestep_scaling", "rescale_betas_zero_snr", NULL};

static const class_info CLASSES[] = {
    {"PNDMScheduler", SCHED_PNDM, PNDM_KEYS},
    {"DDIMScheduler", SCHED_DDIM, DDIM_KEYS},
    {"EulerDiscreteScheduler", SCHED_EULER, EULER_KEYS},
    {"EulerAncestralDiscreteScheduler", SCHED_EULER_ANCESTRAL, EULER_A_KEYS},
    {"DPMSolverMultistepScheduler", SCHED_DPM_MULTISTEP, DPM_KEYS},
    {"LMSDiscreteScheduler", SCHED_LMS, LMS_KEYS},
    {"LCMScheduler", SCHED_LCM, LCM_KEYS},
};

/* Reads keys of the config the way diffusers' extract_init_dict does. */
typedef struct resolver {
    const json_value *cfg;
    const json_value *used_defaults; /* array of key names, or NULL */
    const class_info *cls;
} resolver;

static int key_in_list(const char *const *keys, const char *key)
{
    for (; *keys; keys++)
        if (strcmp(*keys, key) == 0) return 1;
    return 0;
}

/* The config's value for `key` if the target class takes it and the config
 * really holds it (not only as a recorded default); NULL otherwise. */
static const json_value *r_get(const resolver *r, const char *key)
{
    if (!key_in_list(r->cls->keys, key)) return NULL;
    if (r->used_defaults) {
        for (size_t i = 0; i < r->used_defaults->len; i++) {
            const json_value *k = json_at(r->used_defaults, i);
            if (k && k->type == JSON_STRING && strcmp(k->str, key) == 0) return NULL;
        }
    }
    return json_get(r->cfg, key);
}

static wsd_status r_num(const resolver *r, const char *key, double def, double *out, wsd_err *err)
{
    const json_value *v = r_get(r, key);
    if (!v || v->type == JSON_NULL) {
        *out = def;
        return WSD_OK;
    }
    if (v->type != JSON_NUMBER)
        return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": \"%s\" must be a number", key);
    *out = v->number;
    return WSD_OK;
}

static wsd_status r_int(const resolver *r, const char *key, long def, long *out, wsd_err *err)
{
    double d = 0;
    WSD_TRY(r_num(r, key, (double)def, &d, err));
    if (d != floor(d) || fabs(d) > 1e9)
        return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": \"%s\" must be an integer (got %g)", key, d);
    *out = (long)d;
    return WSD_OK;
}

static wsd_status r_bool(const resolver *r, const char *key, int def, int *out, wsd_err *err)
{
    const json_value *v = r_get(r, key);
    if (!v || v->type == JSON_NULL) {
        *out = def;
        return WSD_OK;
    }
    if (v->type == JSON_TRUE || v->type == JSON_FALSE) {
        *out = v->type == JSON_TRUE;
        return WSD_OK;
    }
    return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": \"%s\" must be true or false", key);
}

/* def may be NULL (None); *out then NULL when absent. */
static wsd_status r_str(const resolver *r, const char *key, const char *def, const char **out, wsd_err *err)
{
    const json_value *v = r_get(r, key);
    if (!v || v->type == JSON_NULL) {
        *out = def;
        return WSD_OK;
    }
    if (v->type != JSON_STRING)
        return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": \"%s\" must be a string", key);
    *out = v->str;
    return WSD_OK;
}

static wsd_status require_false(const resolver *r, const char *key, wsd_err *err)
{
    int b = 0;
    WSD_TRY(r_bool(r, key, 0, &b, err));
    if (b)
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": %s with %s = true is not supported", r->cls->name, key);
    return WSD_OK;
}

static const class_info *class_for_sampler(wsd_sampler which)
{
    switch (which) {
    case WSD_SAMPLER_PNDM: return &CLASSES[0];
    case WSD_SAMPLER_DDIM: return &CLASSES[1];
    case WSD_SAMPLER_EULER: return &CLASSES[2];
    case WSD_SAMPLER_EULER_A: return &CLASSES[3];
    case WSD_SAMPLER_DPMPP_2M:
    case WSD_SAMPLER_DPMPP_2M_KARRAS: return &CLASSES[4];
    case WSD_SAMPLER_LMS: return &CLASSES[5];
    case WSD_SAMPLER_LCM: return &CLASSES[6];
    default: return NULL;
    }
}

static wsd_status resolve_config(const json_value *json, wsd_sampler which, sched_config *c, wsd_err *err)
{
    memset(c, 0, sizeof *c);
    if (!json || json->type != JSON_OBJECT)
        return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": expected a JSON object");
    const json_value *cn = json_get(json, "_class_name");
    if (cn && cn->type != JSON_STRING)
        return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": \"_class_name\" must be a string");

    const class_info *cls = NULL;
    if (which == WSD_SAMPLER_DEFAULT) {
        if (!cn) return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": no \"_class_name\" to take the default sampler from");
        for (size_t k = 0; k < sizeof CLASSES / sizeof CLASSES[0]; k++)
            if (strcmp(CLASSES[k].name, cn->str) == 0) cls = &CLASSES[k];
        if (!cls)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED,
                            CFG_WHAT ": scheduler class \"%s\" is not supported; choose a sampler "
                                     "(PNDM, DDIM, Euler, Euler a, DPM++ 2M, DPM++ 2M Karras, LMS, LCM)",
                            cn->str);
    } else {
        cls = class_for_sampler(which);
        if (!cls) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "sampler %d is not a known wsd_sampler", (int)which);
    }

    resolver r = {json, json_get(json, "_use_default_values"), cls};
    if (r.used_defaults && r.used_defaults->type != JSON_ARRAY) r.used_defaults = NULL;
    c->type = cls->type;
    c->class_name = cls->name;
    int is_lcm = cls->type == SCHED_LCM;

    long nt;
    WSD_TRY(r_int(&r, "num_train_timesteps", 1000, &nt, err));
    if (nt < 2 || nt > 100000)
        return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": num_train_timesteps %ld is out of range", nt);
    c->num_train_timesteps = (int)nt;
    WSD_TRY(r_num(&r, "beta_start", is_lcm ? 0.00085 : 0.0001, &c->beta_start, err));
    WSD_TRY(r_num(&r, "beta_end", is_lcm ? 0.012 : 0.02, &c->beta_end, err));

    const char *s;
    WSD_TRY(r_str(&r, "beta_schedule", is_lcm ? "scaled_linear" : "linear", &s, err));
    const json_value *tb = r_get(&r, "trained_betas");
    if (tb && tb->type != JSON_NULL) {
        if (tb->type != JSON_ARRAY || tb->len != (size_t)nt)
            return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": trained_betas must be an array of num_train_timesteps (%ld) numbers", nt);
        c->trained_betas = malloc((size_t)nt * sizeof(float));
        if (!c->trained_betas) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        for (long k = 0; k < nt; k++) {
            const json_value *v = json_at(tb, (size_t)k);
            if (!v || v->type != JSON_NUMBER || !(v->number >= 0 && v->number < 1)) {
                free(c->trained_betas);
                c->trained_betas = NULL;
                return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": trained_betas[%ld] is not a number in [0, 1)", k);
            }
            c->trained_betas[k] = (float)v->number;
        }
        c->beta_schedule = BETAS_TRAINED;
    } else if (strcmp(s, "linear") == 0) {
        c->beta_schedule = BETAS_LINEAR;
    } else if (strcmp(s, "scaled_linear") == 0) {
        c->beta_schedule = BETAS_SCALED_LINEAR;
    } else if (strcmp(s, "squaredcos_cap_v2") == 0) {
        c->beta_schedule = BETAS_COSINE;
    } else {
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": beta_schedule \"%s\" is not supported", s);
    }
    if (c->beta_schedule != BETAS_TRAINED && c->beta_schedule != BETAS_COSINE &&
        !(c->beta_start >= 0 && c->beta_end >= 0 && c->beta_start < 1 && c->beta_end < 1))
        return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": beta_start/beta_end must be in [0, 1)");

    WSD_TRY(r_str(&r, "prediction_type", "epsilon", &s, err));
    if (strcmp(s, "epsilon") == 0)
        c->v_prediction = 0;
    else if (strcmp(s, "v_prediction") == 0)
        c->v_prediction = 1;
    else
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": prediction_type \"%s\" is not supported (epsilon, v_prediction)", s);

    const char *def_spacing =
        (cls->type == SCHED_PNDM || cls->type == SCHED_DDIM || cls->type == SCHED_LCM) ? "leading" : "linspace";
    WSD_TRY(r_str(&r, "timestep_spacing", def_spacing, &s, err));
    if (strcmp(s, "linspace") == 0)
        c->spacing = SPACING_LINSPACE;
    else if (strcmp(s, "leading") == 0)
        c->spacing = SPACING_LEADING;
    else if (strcmp(s, "trailing") == 0)
        c->spacing = SPACING_TRAILING;
    else
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": timestep_spacing \"%s\" is not one of linspace, leading, trailing", s);
    WSD_TRY(r_int(&r, "steps_offset", 0, &c->steps_offset, err));
    WSD_TRY(r_bool(&r, "set_alpha_to_one", cls->type == SCHED_DDIM || is_lcm, &c->set_alpha_to_one, err));
    WSD_TRY(require_false(&r, "rescale_betas_zero_snr", err));
    WSD_TRY(require_false(&r, "thresholding", err));

    c->final_sigma_zero = 1;
    c->sigma_min = c->sigma_max = NAN;
    switch (cls->type) {
    case SCHED_PNDM:
        WSD_TRY(r_bool(&r, "skip_prk_steps", 0, &c->skip_prk_steps, err));
        break;
    case SCHED_DDIM:
    case SCHED_LCM:
        WSD_TRY(r_bool(&r, "clip_sample", !is_lcm, &c->clip_sample, err));
        WSD_TRY(r_num(&r, "clip_sample_range", 1.0, &c->clip_sample_range, err));
        if (c->clip_sample && !(c->clip_sample_range > 0))
            return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": clip_sample_range must be > 0");
        if (is_lcm) {
            WSD_TRY(r_int(&r, "original_inference_steps", 50, &c->original_inference_steps, err));
            WSD_TRY(r_num(&r, "timestep_scaling", 10.0, &c->timestep_scaling, err));
            if (c->original_inference_steps < 1)
                return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": original_inference_steps must be >= 1");
        }
        break;
    case SCHED_EULER: {
        WSD_TRY(r_str(&r, "interpolation_type", "linear", &s, err));
        if (strcmp(s, "linear") != 0)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": interpolation_type \"%s\" is not supported", s);
        WSD_TRY(r_str(&r, "timestep_type", "discrete", &s, err));
        if (strcmp(s, "discrete") != 0)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": timestep_type \"%s\" is not supported", s);
        WSD_TRY(r_num(&r, "sigma_min", NAN, &c->sigma_min, err));
        WSD_TRY(r_num(&r, "sigma_max", NAN, &c->sigma_max, err));
    } /* fall through */
    case SCHED_LMS:
        WSD_TRY(r_bool(&r, "use_karras_sigmas", 0, &c->use_karras_sigmas, err));
        WSD_TRY(require_false(&r, "use_exponential_sigmas", err));
        WSD_TRY(require_false(&r, "use_beta_sigmas", err));
        break;
    case SCHED_EULER_ANCESTRAL:
        break;
    case SCHED_DPM_MULTISTEP: {
        long order;
        WSD_TRY(r_int(&r, "solver_order", 2, &order, err));
        c->solver_order = (int)order;
        WSD_TRY(r_str(&r, "algorithm_type", "dpmsolver++", &s, err));
        if (which == WSD_SAMPLER_DPMPP_2M || which == WSD_SAMPLER_DPMPP_2M_KARRAS) {
            s = "dpmsolver++";
            c->solver_order = 2;
        }
        if (strcmp(s, "dpmsolver++") != 0)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": DPMSolverMultistepScheduler algorithm_type \"%s\" is not supported (dpmsolver++)", s);
        if (c->solver_order < 1 || c->solver_order > 3)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": solver_order %d is not supported (1, 2, 3)", c->solver_order);
        WSD_TRY(r_str(&r, "solver_type", "midpoint", &s, err));
        if (strcmp(s, "heun") == 0)
            c->solver_heun = 1;
        else if (strcmp(s, "midpoint") != 0 && strcmp(s, "logrho") != 0 && strcmp(s, "bh1") != 0 && strcmp(s, "bh2") != 0)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": solver_type \"%s\" is not supported", s);
        WSD_TRY(r_bool(&r, "lower_order_final", 1, &c->lower_order_final, err));
        WSD_TRY(r_bool(&r, "euler_at_final", 0, &c->euler_at_final, err));
        WSD_TRY(r_bool(&r, "use_karras_sigmas", 0, &c->use_karras_sigmas, err));
        WSD_TRY(require_false(&r, "use_exponential_sigmas", err));
        WSD_TRY(require_false(&r, "use_beta_sigmas", err));
        WSD_TRY(require_false(&r, "use_lu_lambdas", err));
        WSD_TRY(require_false(&r, "use_flow_sigmas", err));
        WSD_TRY(require_false(&r, "use_dynamic_shifting", err));
        WSD_TRY(r_num(&r, "lambda_min_clipped", -INFINITY, &c->lambda_min_clipped, err));
        WSD_TRY(r_str(&r, "variance_type", NULL, &s, err));
        if (s) return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": variance_type \"%s\" is not supported", s);
        break;
    }
    }
    if (cls->type == SCHED_EULER || cls->type == SCHED_DPM_MULTISTEP) {
        WSD_TRY(r_str(&r, "final_sigmas_type", "zero", &s, err));
        if (strcmp(s, "zero") == 0)
            c->final_sigma_zero = 1;
        else if (strcmp(s, "sigma_min") == 0)
            c->final_sigma_zero = 0;
        else
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, CFG_WHAT ": final_sigmas_type \"%s\" is not supported", s);
    }
    if (which == WSD_SAMPLER_DPMPP_2M) c->use_karras_sigmas = 0;
    if (which == WSD_SAMPLER_DPMPP_2M_KARRAS) c->use_karras_sigmas = 1;
    return WSD_OK;
}

/* ---- training schedule --------------------------------------------------------- */

/* torch.linspace(start, end, n, dtype=float32) on the CPU. */
static void linspace_f32(float *out, double start_d, double end_d, int n)
{
    float start = (float)start_d, end = (float)end_d;
    if (n == 1) {
        out[0] = start;
        return;
    }
    float step = (end - start) / (float)(n - 1);
    int half = n / 2;
    for (int i = 0; i < n; i++)
        out[i] = i < half ? fmaf(step, (float)i, start) : fmaf(-step, (float)(n - i - 1), end);
}

static double alpha_bar_cosine(double t)
{
    double c = cos((t + 0.008) / 1.008 * 3.14159265358979323846 / 2);
    return c * c;
}

static wsd_status build_train_schedule(sched *s, wsd_err *err)
{
    const sched_config *c = &s->cfg;
    int N = c->num_train_timesteps;
    float *betas = malloc((size_t)N * sizeof(float));
    s->alphas_cumprod = malloc((size_t)N * sizeof(float));
    s->train_sigmas = malloc((size_t)N * sizeof(float));
    s->log_sigmas = malloc((size_t)N * sizeof(float));
    if (!betas || !s->alphas_cumprod || !s->train_sigmas || !s->log_sigmas) {
        free(betas);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory for the noise schedule");
    }
    switch (c->beta_schedule) {
    case BETAS_LINEAR: linspace_f32(betas, c->beta_start, c->beta_end, N); break;
    case BETAS_SCALED_LINEAR:
        linspace_f32(betas, sqrt(c->beta_start), sqrt(c->beta_end), N);
        for (int i = 0; i < N; i++) betas[i] = betas[i] * betas[i];
        break;
    case BETAS_COSINE:
        for (int i = 0; i < N; i++) {
            double b = 1 - alpha_bar_cosine((double)(i + 1) / N) / alpha_bar_cosine((double)i / N);
            betas[i] = (float)(b < 0.999 ? b : 0.999);
        }
        break;
    case BETAS_TRAINED: memcpy(betas, c->trained_betas, (size_t)N * sizeof(float)); break;
    }
    double acc = 1.0;
    for (int i = 0; i < N; i++) {
        float alpha = 1.0f - betas[i];
        acc *= alpha;
        s->alphas_cumprod[i] = (float)acc;
    }
    free(betas);
    for (int i = 0; i < N; i++) {
        float a = s->alphas_cumprod[i];
        if (!(a > 0)) return wsd_fail(err, WSD_ERR_FORMAT, CFG_WHAT ": alphas_cumprod reaches 0 at timestep %d", i);
        float one_minus = 1.0f - a;
        float ratio = one_minus / a;
        s->train_sigmas[i] = sqrtf(ratio);
        s->log_sigmas[i] = (float)log((double)s->train_sigmas[i]);
    }
    s->final_alpha_cumprod = c->set_alpha_to_one ? 1.0f : s->alphas_cumprod[0];
    return WSD_OK;
}

/* ---- creation ------------------------------------------------------------------ */

static const char *type_name(const sched *s)
{
    const sched_config *c = &s->cfg;
    switch (c->type) {
    case SCHED_PNDM: return "PLMS";
    case SCHED_DDIM: return "DDIM";
    case SCHED_EULER: return c->use_karras_sigmas ? "Euler Karras" : "Euler";
    case SCHED_EULER_ANCESTRAL: return "Euler a";
    case SCHED_LMS: return c->use_karras_sigmas ? "LMS Karras" : "LMS";
    case SCHED_LCM: return "LCM";
    case SCHED_DPM_MULTISTEP:
        if (c->solver_order == 1) return c->use_karras_sigmas ? "DPM++ 1M Karras" : "DPM++ 1M";
        if (c->solver_order == 3) return c->use_karras_sigmas ? "DPM++ 3M Karras" : "DPM++ 3M";
        return c->use_karras_sigmas ? "DPM++ 2M Karras" : "DPM++ 2M";
    }
    return "?";
}

/* Stable Diffusion 1.5's scheduler/scheduler_config.json, for models that come
 * without one (single-file checkpoints). */
static const char SD15_SCHEDULER_CONFIG[] =
    "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", "
    "\"beta_start\": 0.00085, \"num_train_timesteps\": 1000, \"set_alpha_to_one\": false, "
    "\"skip_prk_steps\": true, \"steps_offset\": 1, \"trained_betas\": null, \"clip_sample\": false}";

wsd_status sched_create(const json_value *config, wsd_sampler which, sched **out, wsd_err *err)
{
    *out = NULL;
    json_doc *builtin = NULL;
    if (!config) {
        WSD_TRY(json_parse(SD15_SCHEDULER_CONFIG, sizeof SD15_SCHEDULER_CONFIG - 1, "built-in SD 1.5 scheduler config",
                           &builtin, err));
        config = json_root(builtin);
    }
    sched *s = calloc(1, sizeof *s);
    if (!s) {
        json_free(builtin);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    wsd_status st = resolve_config(config, which, &s->cfg, err);
    json_free(builtin); /* the resolved config keeps no pointers into it but class_name (static) */
    if (st == WSD_OK) {
        s->N = s->cfg.num_train_timesteps;
        st = build_train_schedule(s, err);
    }
    if (st != WSD_OK) {
        sched_free(s);
        return st;
    }
    s->name = type_name(s);
    *out = s;
    return WSD_OK;
}

static void free_timesteps(sched *s)
{
    free(s->timesteps);
    free(s->t_int);
    free(s->sigmas);
    s->timesteps = NULL;
    s->t_int = NULL;
    s->sigmas = NULL;
    s->n_calls = s->n_sigmas = s->steps = s->prk_calls = 0;
}

void sched_free(sched *s)
{
    if (!s) return;
    free_timesteps(s);
    free(s->alphas_cumprod);
    free(s->train_sigmas);
    free(s->log_sigmas);
    free(s->cfg.trained_betas);
    free(s->buf);
    free(s);
}

/* ---- sampler names ------------------------------------------------------------ */

static const struct {
    wsd_sampler which;
    const char *id;
    const char *aliases; /* normalised: lower case, no ' ', '-', '_' */
} SAMPLER_NAMES[] = {
    {WSD_SAMPLER_DEFAULT, "default", "|default|auto|"},
    {WSD_SAMPLER_PNDM, "pndm", "|pndm|plms|"},
    {WSD_SAMPLER_DDIM, "ddim", "|ddim|"},
    {WSD_SAMPLER_EULER, "euler", "|euler|eulerdiscrete|"},
    {WSD_SAMPLER_EULER_A, "euler_a", "|eulera|eulerancestral|eulerancestraldiscrete|"},
    {WSD_SAMPLER_DPMPP_2M, "dpmpp_2m", "|dpmpp2m|dpm++2m|dpmsolvermultistep|dpmsolver++|"},
    {WSD_SAMPLER_DPMPP_2M_KARRAS, "dpmpp_2m_karras", "|dpmpp2mkarras|dpm++2mkarras|"},
    {WSD_SAMPLER_LMS, "lms", "|lms|lmsdiscrete|"},
    {WSD_SAMPLER_LCM, "lcm", "|lcm|"},
};

int sched_sampler_from_name(const char *name, wsd_sampler *out)
{
    char norm[48];
    size_t n = 0;
    if (!name) return -1;
    norm[n++] = '|';
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '-' || c == '_') continue;
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (n + 2 >= sizeof norm) return -1;
        norm[n++] = c;
    }
    norm[n++] = '|';
    norm[n] = 0;
    if (n <= 2) return -1;
    for (size_t k = 0; k < sizeof SAMPLER_NAMES / sizeof SAMPLER_NAMES[0]; k++) {
        if (strstr(SAMPLER_NAMES[k].aliases, norm)) {
            *out = SAMPLER_NAMES[k].which;
            return 0;
        }
    }
    return -1;
}

const char *sched_sampler_id(wsd_sampler which)
{
    for (size_t k = 0; k < sizeof SAMPLER_NAMES / sizeof SAMPLER_NAMES[0]; k++)
        if (SAMPLER_NAMES[k].which == which) return SAMPLER_NAMES[k].id;
    return "?";
}

/* ---- numpy helpers --------------------------------------------------------------- */

/* np.linspace(start, stop, num, endpoint) in float64. */
static void np_linspace(double *out, double start, double stop, int num, int endpoint)
{
    int div = endpoint ? num - 1 : num;
    if (div <= 0) {
        for (int i = 0; i < num; i++) out[i] = start;
        return;
    }
    double step = (stop - start) / div;
    for (int i = 0; i < num; i++) out[i] = (double)i * step + start;
    if (endpoint && num > 1) out[num - 1] = stop;
}

/* np.arange(start, stop, step) for floats; returns the length (<= cap). */
static int np_arange(double *out, int cap, double start, double stop, double step)
{
    double len_d = ceil((stop - start) / step);
    int len = len_d > 0 ? (int)len_d : 0;
    if (len > cap) len = cap;
    if (len > 0) out[0] = start;
    if (len > 1) {
        double second = start + step;
        double delta = second - start;
        out[1] = second;
        for (int i = 2; i < len; i++) out[i] = start + (double)i * delta;
    }
    return len;
}

/* np.interp(x, arange(N), fp) with fp the float32 train sigmas. */
static double interp_sigma(const sched *s, double x)
{
    int N = s->N;
    const float *fp = s->train_sigmas;
    if (!(x >= 0)) return x != x ? x : fp[0];
    if (x >= N - 1) return fp[N - 1];
    int j = (int)floor(x);
    if ((double)j == x) return fp[j];
    double slope = ((double)fp[j + 1] - (double)fp[j]) / 1.0;
    return slope * (x - (double)j) + (double)fp[j];
}

/* diffusers' _convert_to_karras over [sigma_max .. sigma_min], n values. */
static void karras_sigmas(double *out, int n, double sigma_min, double sigma_max)
{
    const double rho = 7.0;
    double *ramp = out; /* reuse */
    np_linspace(ramp, 0.0, 1.0, n, 1);
    double min_inv = pow(sigma_min, 1.0 / rho), max_inv = pow(sigma_max, 1.0 / rho);
    for (int i = 0; i < n; i++) out[i] = pow(max_inv + ramp[i] * (min_inv - max_inv), rho);
}

/* diffusers' _sigma_to_t: fractional timestep of a sigma on the log-sigma table. */
static double sigma_to_t(const sched *s, double sigma)
{
    int N = s->N;
    const float *ls = s->log_sigmas;
    double log_sigma = log(sigma > 1e-10 ? sigma : 1e-10);
    int low = 0;
    for (int j = 0; j < N; j++)
        if (log_sigma - (double)ls[j] >= 0) low = j;
    if (low > N - 2) low = N - 2;
    int high = low + 1;
    float denom = ls[low] - ls[high];
    double w = ((double)ls[low] - log_sigma) / (double)denom;
    if (w < 0) w = 0;
    if (w > 1) w = 1;
    return (1 - w) * low + w * high;
}

/* ---- set_timesteps ------------------------------------------------------------------ */

static wsd_status alloc_schedule(sched *s, int n_calls, int with_sigmas, wsd_err *err)
{
    s->n_calls = n_calls;
    s->timesteps = calloc((size_t)n_calls + 1, sizeof(float));
    s->t_int = calloc((size_t)n_calls + 1, sizeof(long));
    if (with_sigmas) {
        s->n_sigmas = n_calls + 1;
        s->sigmas = calloc((size_t)n_calls + 1, sizeof(float));
    }
    if (!s->timesteps || !s->t_int || (with_sigmas && !s->sigmas))
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory for %d timesteps", n_calls);
    return WSD_OK;
}

static wsd_status bad_steps(const sched *s, int steps, const char *why, wsd_err *err)
{
    return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "steps = %d: %s (%s)", steps, why, s->name);
}

/* Integer DDPM-style grids (PNDM's _timesteps ascending, DDIM descending).
 * Returns the count written to out (cap >= steps + 2). */
static int ddpm_grid(const sched *s, int steps, long *out, int cap, int ascending)
{
    int N = s->N, len = 0;
    double tmp[1002 + 8];
    double *t = cap + 8 <= (int)(sizeof tmp / sizeof tmp[0]) ? tmp : malloc(((size_t)cap + 8) * sizeof(double));
    if (!t) return -1;
    switch (s->cfg.spacing) {
    case SPACING_LINSPACE:
        np_linspace(t, 0, N - 1, steps, 1);
        len = steps;
        for (int i = 0; i < len; i++) out[i] = (long)rint(t[i]); /* ascending */
        break;
    case SPACING_LEADING: {
        long ratio = N / steps;
        len = steps;
        for (int i = 0; i < len; i++) out[i] = (long)i * ratio + s->cfg.steps_offset;
        break;
    }
    case SPACING_TRAILING: {
        len = np_arange(t, cap, (double)N, 0.0, -((double)N / steps));
        for (int i = 0; i < len; i++) out[len - 1 - i] = (long)rint(t[i]) - 1; /* ascending */
        break;
    }
    }
    if (t != tmp) free(t);
    if (!ascending)
        for (int i = 0; i < len / 2; i++) {
            long v = out[i];
            out[i] = out[len - 1 - i];
            out[len - 1 - i] = v;
        }
    return len;
}

static wsd_status check_int_timesteps(const sched *s, int steps, wsd_err *err)
{
    for (int i = 0; i < s->n_calls; i++) {
        if (s->t_int[i] < 0 || s->t_int[i] >= s->N) {
            char why[160];
            snprintf(why, sizeof why, "timestep %ld is outside the %d training timesteps (timestep_spacing, steps_offset %ld)",
                     s->t_int[i], s->N, s->cfg.steps_offset);
            return bad_steps(s, steps, why, err);
        }
    }
    return WSD_OK;
}

static wsd_status set_pndm(sched *s, int steps, wsd_err *err)
{
    int cap = steps + 4;
    long *ts = malloc((size_t)cap * sizeof(long));
    if (!ts) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    int L = ddpm_grid(s, steps, ts, cap, 1);
    wsd_status st = WSD_OK;
    if (L < 1) {
        st = L < 0 ? wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory") : bad_steps(s, steps, "no timesteps", err);
    } else if (s->cfg.skip_prk_steps) {
        int n = L >= 2 ? L + 1 : 1;
        st = alloc_schedule(s, n, 0, err);
        if (st == WSD_OK) {
            if (L == 1) {
                s->t_int[0] = ts[0];
            } else {
                /* concat(ts[:-1], ts[-2:-1], ts[-1:])[::-1] */
                s->t_int[0] = ts[L - 1];
                s->t_int[1] = ts[L - 2];
                for (int k = 2; k < n; k++) s->t_int[k] = ts[L - k];
            }
        }
    } else {
        if (L < 4) {
            st = bad_steps(s, steps, "PNDM with skip_prk_steps false needs at least 4 steps", err);
        } else {
            long h = (s->N / steps) / 2;
            long v[8];
            for (int k = 0; k < 4; k++) {
                v[2 * k] = ts[L - 4 + k];
                v[2 * k + 1] = ts[L - 4 + k] + h;
            }
            /* v[:-1].repeat(2)[1:-1][::-1] */
            long rep[14], prk[12];
            for (int k = 0; k < 7; k++) rep[2 * k] = rep[2 * k + 1] = v[k];
            for (int k = 0; k < 12; k++) prk[k] = rep[12 - k];
            st = alloc_schedule(s, 12 + L - 3, 0, err);
            if (st == WSD_OK) {
                for (int k = 0; k < 12; k++) s->t_int[k] = prk[k];
                for (int k = 0; k < L - 3; k++) s->t_int[12 + k] = ts[L - 4 - k];
                s->prk_calls = 12;
            }
        }
    }
    free(ts);
    if (st == WSD_OK) st = check_int_timesteps(s, steps, err);
    return st;
}

static wsd_status set_ddim(sched *s, int steps, wsd_err *err)
{
    if (steps > s->N) return bad_steps(s, steps, "more steps than num_train_timesteps", err);
    int cap = steps + 4;
    long *ts = malloc((size_t)cap * sizeof(long));
    if (!ts) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    int L = ddpm_grid(s, steps, ts, cap, 0);
    wsd_status st = L < 1 ? bad_steps(s, steps, "no timesteps", err) : alloc_schedule(s, L, 0, err);
    if (st == WSD_OK) memcpy(s->t_int, ts, (size_t)L * sizeof(long));
    free(ts);
    if (st == WSD_OK) st = check_int_timesteps(s, steps, err);
    return st;
}

static wsd_status set_lcm(sched *s, int steps, wsd_err *err)
{
    long orig = s->cfg.original_inference_steps;
    if (steps > s->N) return bad_steps(s, steps, "more steps than num_train_timesteps", err);
    if (orig > s->N) return bad_steps(s, steps, "original_inference_steps exceeds num_train_timesteps", err);
    if (steps > orig) {
        char why[128];
        snprintf(why, sizeof why, "LCM allows at most original_inference_steps = %ld steps", orig);
        return bad_steps(s, steps, why, err);
    }
    if (orig / steps < 1) return bad_steps(s, steps, "LCM skipping step would be 0", err);
    long k = s->N / orig;
    WSD_TRY(alloc_schedule(s, steps, 0, err));
    double *idx = malloc((size_t)steps * sizeof(double));
    if (!idx) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    np_linspace(idx, 0, (double)orig, steps, 0);
    for (int i = 0; i < steps; i++) {
        long j = (long)floor(idx[i]);
        /* lcm_origin_timesteps[::-1][j], origin[m] = (m+1)*k - 1 */
        long m = orig - 1 - j;
        s->t_int[i] = (m + 1) * k - 1;
    }
    free(idx);
    return check_int_timesteps(s, steps, err);
}

/* Euler, Euler a, LMS. */
static wsd_status set_euler_like(sched *s, int steps, wsd_err *err)
{
    int N = s->N, cap = steps + 4;
    double *t = malloc((size_t)cap * sizeof(double));
    double *sg = malloc((size_t)cap * sizeof(double));
    if (!t || !sg) {
        free(t);
        free(sg);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int L = 0;
    switch (s->cfg.spacing) {
    case SPACING_LINSPACE:
        np_linspace(t, 0, N - 1, steps, 1);
        L = steps;
        for (int i = 0; i < L / 2; i++) {
            double v = t[i];
            t[i] = t[L - 1 - i];
            t[L - 1 - i] = v;
        }
        for (int i = 0; i < L; i++) t[i] = (double)(float)t[i]; /* dtype=float32 */
        break;
    case SPACING_LEADING: {
        long ratio = N / steps;
        L = steps;
        for (int i = 0; i < L; i++) {
            float v = (float)((long)(L - 1 - i) * ratio);
            t[i] = (double)(v + (float)s->cfg.steps_offset);
        }
        break;
    }
    case SPACING_TRAILING:
        L = np_arange(t, cap, (double)N, 0.0, -((double)N / steps));
        for (int i = 0; i < L; i++) t[i] = (double)((float)rint(t[i]) - 1.0f);
        break;
    }
    wsd_status st = L < 1 ? bad_steps(s, steps, "no timesteps", err) : WSD_OK;
    for (int i = 0; st == WSD_OK && i < L; i++) sg[i] = interp_sigma(s, t[i]);
    if (st == WSD_OK && s->cfg.use_karras_sigmas) {
        double smin = s->cfg.sigma_min == s->cfg.sigma_min ? s->cfg.sigma_min : sg[L - 1];
        double smax = s->cfg.sigma_max == s->cfg.sigma_max ? s->cfg.sigma_max : sg[0];
        karras_sigmas(sg, L, smin, smax);
        for (int i = 0; i < L; i++) t[i] = sigma_to_t(s, sg[i]);
    }
    if (st == WSD_OK) st = alloc_schedule(s, L, 1, err);
    if (st == WSD_OK) {
        for (int i = 0; i < L; i++) {
            s->timesteps[i] = (float)t[i];
            s->sigmas[i] = (float)sg[i];
        }
        s->sigmas[L] = s->cfg.final_sigma_zero ? 0.0f : s->train_sigmas[0];
    }
    free(t);
    free(sg);
    return st;
}

static wsd_status set_dpm(sched *s, int steps, wsd_err *err)
{
    int N = s->N, cap = steps + 4;
    /* lambda_min_clipped: last_timestep = N - searchsorted(flip(lambda_t), clip) */
    int clipped = 0;
    if (s->cfg.lambda_min_clipped > -INFINITY) {
        for (int k = 0; k < N; k++) {
            int t = N - 1 - k; /* flipped: ascending lambda */
            float a = s->alphas_cumprod[t];
            float alpha = sqrtf(a), sigma = sqrtf(1.0f - a);
            float lam = logf(alpha) - logf(sigma);
            if ((double)lam < s->cfg.lambda_min_clipped) clipped++;
            else break;
        }
    }
    int last = N - clipped;
    double *t = malloc((size_t)cap * sizeof(double));
    double *sg = malloc((size_t)cap * sizeof(double));
    if (!t || !sg) {
        free(t);
        free(sg);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int L = 0;
    switch (s->cfg.spacing) {
    case SPACING_LINSPACE:
        np_linspace(t, 0, last - 1, steps + 1, 1);
        L = steps;
        for (int i = 0; i < L; i++) sg[i] = rint(t[L - i]); /* [::-1][:-1] */
        break;
    case SPACING_LEADING: {
        long ratio = last / (steps + 1);
        L = steps;
        for (int i = 0; i < L; i++) sg[i] = (double)((long)(L - i) * ratio + s->cfg.steps_offset);
        break;
    }
    case SPACING_TRAILING:
        L = np_arange(t, cap, (double)last, 0.0, -((double)N / steps));
        for (int i = 0; i < L; i++) sg[i] = rint(t[i]) - 1;
        break;
    }
    for (int i = 0; i < L; i++) t[i] = sg[i]; /* integer timesteps */
    wsd_status st = L < 1 ? bad_steps(s, steps, "no timesteps", err) : WSD_OK;
    if (st == WSD_OK && s->cfg.use_karras_sigmas) {
        karras_sigmas(sg, L, s->train_sigmas[0], s->train_sigmas[N - 1]);
        for (int i = 0; i < L; i++) t[i] = rint(sigma_to_t(s, sg[i]));
    } else {
        for (int i = 0; st == WSD_OK && i < L; i++) sg[i] = interp_sigma(s, t[i]);
    }
    if (st == WSD_OK) st = alloc_schedule(s, L, 1, err);
    if (st == WSD_OK) {
        for (int i = 0; i < L; i++) {
            s->t_int[i] = (long)t[i];
            s->timesteps[i] = (float)t[i];
            s->sigmas[i] = (float)sg[i];
        }
        if (s->cfg.final_sigma_zero)
            s->sigmas[L] = 0.0f;
        else
            s->sigmas[L] = s->cfg.use_karras_sigmas ? (float)sg[L - 1] : s->train_sigmas[0];
        st = check_int_timesteps(s, steps, err);
    }
    free(t);
    free(sg);
    return st;
}

wsd_status sched_set_timesteps(sched *s, int steps, wsd_err *err)
{
    free_timesteps(s);
    s->begin = s->counter = s->hist_count = s->lower_order_nums = 0;
    if (steps < 1) return bad_steps(s, steps, "must be at least 1", err);
    if (steps > s->N) {
        char why[96];
        snprintf(why, sizeof why, "at most num_train_timesteps = %d steps", s->N);
        return bad_steps(s, steps, why, err);
    }
    wsd_status st = WSD_OK;
    switch (s->cfg.type) {
    case SCHED_PNDM: st = set_pndm(s, steps, err); break;
    case SCHED_DDIM: st = set_ddim(s, steps, err); break;
    case SCHED_LCM: st = set_lcm(s, steps, err); break;
    case SCHED_EULER:
    case SCHED_EULER_ANCESTRAL:
    case SCHED_LMS: st = set_euler_like(s, steps, err); break;
    case SCHED_DPM_MULTISTEP: st = set_dpm(s, steps, err); break;
    }
    if (st != WSD_OK) {
        free_timesteps(s);
        return st;
    }
    if (s->cfg.type == SCHED_PNDM || s->cfg.type == SCHED_DDIM || s->cfg.type == SCHED_LCM)
        for (int i = 0; i < s->n_calls; i++) s->timesteps[i] = (float)s->t_int[i];
    /* Multistep solvers divide by the differences between sigmas: a repeated
     * sigma (e.g. DPM linspace at 1000 steps rounds two timesteps to 500) makes
     * diffusers produce inf/NaN; refuse it instead. */
    if ((s->cfg.type == SCHED_DPM_MULTISTEP && s->cfg.solver_order > 1) || s->cfg.type == SCHED_LMS) {
        for (int i = 1; i < s->n_calls; i++) {
            if (s->sigmas[i] == s->sigmas[i - 1]) {
                char why[160];
                snprintf(why, sizeof why, "the schedule repeats timestep %g at steps %d and %d, which this multistep solver cannot step over",
                         (double)s->timesteps[i], i - 1, i);
                free_timesteps(s);
                return bad_steps(s, steps, why, err);
            }
        }
    }
    s->steps = steps;
    return WSD_OK;
}

/* ---- queries --------------------------------------------------------------------------- */

sched_type sched_get_type(const sched *s) { return s->cfg.type; }
const char *sched_name(const sched *s) { return s->name; }
const char *sched_class_name(const sched *s) { return s->cfg.class_name; }
int sched_is_v_prediction(const sched *s) { return s->cfg.v_prediction; }
int sched_num_calls(const sched *s) { return s->n_calls; }
int sched_num_steps(const sched *s) { return s->steps; }

float sched_timestep(const sched *s, int i)
{
    if (i < 0 || i >= s->n_calls) return NAN;
    return s->timesteps[i];
}

int sched_sigmas(const sched *s, const float **sigmas)
{
    *sigmas = s->sigmas;
    return s->sigmas ? s->n_sigmas : 0;
}

int sched_alphas_cumprod(const sched *s, const float **ac)
{
    *ac = s->alphas_cumprod;
    return s->N;
}

static int is_sigma_input_scaled(const sched *s)
{
    return s->cfg.type == SCHED_EULER || s->cfg.type == SCHED_EULER_ANCESTRAL || s->cfg.type == SCHED_LMS;
}

float sched_init_noise_sigma(const sched *s)
{
    if (!is_sigma_input_scaled(s)) return 1.0f;
    float mx = 0;
    if (s->sigmas) {
        for (int i = 0; i < s->n_sigmas; i++)
            if (s->sigmas[i] > mx) mx = s->sigmas[i];
    } else {
        for (int i = 0; i < s->N; i++)
            if (s->train_sigmas[i] > mx) mx = s->train_sigmas[i];
    }
    if (s->cfg.spacing == SPACING_LINSPACE || s->cfg.spacing == SPACING_TRAILING) return mx;
    float sq = mx * mx + 1.0f;
    return sqrtf(sq);
}

float sched_input_divisor(const sched *s, int i)
{
    if (!is_sigma_input_scaled(s) || i < 0 || i >= s->n_calls) return 1.0f;
    float sg = s->sigmas[i];
    return sqrtf(sg * sg + 1.0f); /* (sigma**2 + 1) ** 0.5 in float32, as torch */
}

float sched_input_scale(const sched *s, int i) { return (float)(1.0 / (double)sched_input_divisor(s, i)); }

void sched_scale_model_input(const sched *s, int i, const float *x, float *out, size_t n)
{
    float d = sched_input_divisor(s, i);
    if (d == 1.0f) { /* unscaled (x / 1 is x) */
        if (out != x) memmove(out, x, n * sizeof(float));
        return;
    }
    for (size_t k = 0; k < n; k++) out[k] = x[k] / d; /* x / d as torch */
}

int sched_history_slots(const sched *s)
{
    switch (s->cfg.type) {
    case SCHED_PNDM: return 6; /* ets ring 0-3, cur_sample 4, PRK accumulator 5 */
    case SCHED_DPM_MULTISTEP: return 3;
    case SCHED_LMS: return 4;
    default: return 0;
    }
}

/* ---- tensor math ------------------------------------------------------------------------ */

void sched_lincomb(float *out, size_t n, int k, const float *coeff, const float *const *src, float clamp)
{
    switch (k) {
    case 1: {
        const float c0 = coeff[0], *s0 = src[0];
        for (size_t j = 0; j < n; j++) out[j] = c0 * s0[j];
        break;
    }
    case 2: {
        const float c0 = coeff[0], c1 = coeff[1], *s0 = src[0], *s1 = src[1];
        for (size_t j = 0; j < n; j++) {
            float a = c0 * s0[j], b = c1 * s1[j];
            out[j] = a + b;
        }
        break;
    }
    case 3: {
        const float c0 = coeff[0], c1 = coeff[1], c2 = coeff[2], *s0 = src[0], *s1 = src[1], *s2 = src[2];
        for (size_t j = 0; j < n; j++) {
            float a = c0 * s0[j], b = c1 * s1[j], c = c2 * s2[j];
            out[j] = (a + b) + c;
        }
        break;
    }
    default:
        for (size_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int t = 0; t < k; t++) {
                float p = coeff[t] * src[t][j];
                acc = t ? acc + p : p;
            }
            out[j] = acc;
        }
        break;
    }
    if (clamp > 0)
        for (size_t j = 0; j < n; j++) out[j] = out[j] < -clamp ? -clamp : out[j] > clamp ? clamp : out[j];
}

void sched_run_plan(const sched_plan *plan, float *const *bufs, size_t n)
{
    for (int o = 0; o < plan->n_ops; o++) {
        const sched_op *op = &plan->op[o];
        const float *src[SCHED_MAX_TERMS];
        for (int t = 0; t < op->n_terms; t++) src[t] = bufs[op->src[t]];
        sched_lincomb(bufs[op->dst], n, op->n_terms, op->coeff, src, op->clamp);
    }
}

void sched_cfg_combine(float *out, const float *uncond, const float *cond, float guidance, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        float d = cond[j] - uncond[j];
        float g = guidance * d;
        out[j] = uncond[j] + g;
    }
}

/* ---- plan building ----------------------------------------------------------------------- */

static sched_op *op_begin(sched_plan *p, int dst)
{
    sched_op *op = &p->op[p->n_ops++];
    memset(op, 0, sizeof *op);
    op->dst = dst;
    return op;
}

/* Adds coeff*buf, merging a repeated source. */
static void op_term(sched_op *op, int buf, double coeff)
{
    for (int t = 0; t < op->n_terms; t++) {
        if (op->src[t] == buf) {
            op->coeff[t] = (float)((double)op->coeff[t] + coeff);
            return;
        }
    }
    op->src[op->n_terms] = buf;
    op->coeff[op->n_terms] = (float)coeff;
    op->n_terms++;
}

#define HIST(k) (SCHED_BUF_HIST + (k))

static double ac_at(const sched *s, long t)
{
    return t >= 0 ? (double)s->alphas_cumprod[t] : (double)s->final_alpha_cumprod;
}

static wsd_status check_t(const sched *s, long t, const char *what, wsd_err *err)
{
    if (t >= s->N)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "%s: timestep %ld is outside the %d training timesteps", what, t, s->N);
    return WSD_OK;
}

/* x0 = cx*x + cm*m from an epsilon or v model output at alphas_cumprod a. */
static void ddpm_x0_coeffs(const sched *s, double a, double *cx, double *cm)
{
    double sa = sqrt(a), sb = sqrt(1 - a);
    if (s->cfg.v_prediction) {
        *cx = sa;
        *cm = -sb;
    } else {
        *cx = 1 / sa;
        *cm = -sb / sa;
    }
}

/* PNDM's _get_prev_sample: X = cS*S + cE*E, E the (combined) model output. */
static wsd_status pndm_prev_coeffs(const sched *s, long t, long prev, double *cS, double *cE, wsd_err *err)
{
    WSD_TRY(check_t(s, t, "PNDM step", err));
    WSD_TRY(check_t(s, prev, "PNDM step", err));
    if (t < 0) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "PNDM step: negative timestep %ld", t);
    double at = ac_at(s, t), ap = ac_at(s, prev);
    double bt = 1 - at, bp = 1 - ap;
    double sc = sqrt(ap / at);
    double denom = at * sqrt(bp) + sqrt(at * bt * ap);
    double k = (ap - at) / denom;
    if (s->cfg.v_prediction) {
        *cS = sc - k * sqrt(bt);
        *cE = -k * sqrt(at);
    } else {
        *cS = sc;
        *cE = -k;
    }
    return WSD_OK;
}

static wsd_status plan_pndm(sched *s, int i, int want_pred, sched_plan *p, wsd_err *err)
{
    int c = s->counter;
    long t = s->t_int[i];
    long ratio = s->N / s->steps;
    if (want_pred) {
        double cx, cm;
        WSD_TRY(check_t(s, t, "PNDM step", err));
        ddpm_x0_coeffs(s, ac_at(s, t), &cx, &cm);
        sched_op *op = op_begin(p, SCHED_BUF_PRED);
        op_term(op, SCHED_BUF_SAMPLE, cx);
        op_term(op, SCHED_BUF_MODEL, cm);
        p->pred_buf = SCHED_BUF_PRED;
    }
    double cS, cE;
    if (c < s->prk_calls && !s->cfg.skip_prk_steps) {
        long diff = (c % 2) ? 0 : ratio / 2;
        long prev = t - diff;
        long tb = s->t_int[c / 4 * 4];
        WSD_TRY(pndm_prev_coeffs(s, tb, prev, &cS, &cE, err));
        const int acc = HIST(5), cur = HIST(4);
        sched_op *op;
        if (c % 4 == 0) {
            op = op_begin(p, acc);
            op_term(op, SCHED_BUF_MODEL, 1.0 / 6);
            op = op_begin(p, HIST(s->hist_count % 4));
            op_term(op, SCHED_BUF_MODEL, 1.0);
            s->hist_count++;
            op = op_begin(p, cur);
            op_term(op, SCHED_BUF_SAMPLE, 1.0);
            op = op_begin(p, SCHED_BUF_SAMPLE);
            op_term(op, cur, cS);
            op_term(op, SCHED_BUF_MODEL, cE);
        } else if (c % 4 == 1 || c % 4 == 2) {
            op = op_begin(p, acc);
            op_term(op, acc, 1.0);
            op_term(op, SCHED_BUF_MODEL, 1.0 / 3);
            op = op_begin(p, SCHED_BUF_SAMPLE);
            op_term(op, cur, cS);
            op_term(op, SCHED_BUF_MODEL, cE);
        } else {
            op = op_begin(p, SCHED_BUF_SAMPLE);
            op_term(op, cur, cS);
            op_term(op, acc, cE);
            op_term(op, SCHED_BUF_MODEL, cE / 6);
        }
        return WSD_OK;
    }
    if (!s->cfg.skip_prk_steps && s->hist_count < 3)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "PNDM: PLMS steps need the 12 PRK warm-up steps first (start img2img after them)");

    long prev = t - ratio;
    if (c != 1) {
        sched_op *op = op_begin(p, HIST(s->hist_count % 4));
        op_term(op, SCHED_BUF_MODEL, 1.0);
        s->hist_count++;
    } else {
        prev = t;
        t = t + ratio;
    }
    int len = s->hist_count < 4 ? s->hist_count : 4;
    int e1 = HIST((s->hist_count - 1) % 4), e2 = HIST((s->hist_count + 2) % 4);
    int e3 = HIST((s->hist_count + 1) % 4), e4 = HIST((s->hist_count) % 4);
    WSD_TRY(pndm_prev_coeffs(s, t, prev, &cS, &cE, err));
    sched_op *op;
    if (len == 1 && c == 0) {
        op = op_begin(p, HIST(4));
        op_term(op, SCHED_BUF_SAMPLE, 1.0);
        op = op_begin(p, SCHED_BUF_SAMPLE);
        op_term(op, SCHED_BUF_SAMPLE, cS);
        op_term(op, SCHED_BUF_MODEL, cE);
    } else if (len == 1 && c == 1) {
        op = op_begin(p, SCHED_BUF_SAMPLE);
        op_term(op, HIST(4), cS);
        op_term(op, SCHED_BUF_MODEL, cE * 0.5);
        op_term(op, e1, cE * 0.5);
    } else {
        op = op_begin(p, SCHED_BUF_SAMPLE);
        op_term(op, SCHED_BUF_SAMPLE, cS);
        if (len == 2) {
            op_term(op, e1, cE * 1.5);
            op_term(op, e2, cE * -0.5);
        } else if (len == 3) {
            op_term(op, e1, cE * 23 / 12);
            op_term(op, e2, cE * -16 / 12);
            op_term(op, e3, cE * 5 / 12);
        } else {
            op_term(op, e1, cE * 55 / 24);
            op_term(op, e2, cE * -59 / 24);
            op_term(op, e3, cE * 37 / 24);
            op_term(op, e4, cE * -9 / 24);
        }
    }
    return WSD_OK;
}

static wsd_status plan_ddim(sched *s, int i, sched_plan *p, wsd_err *err)
{
    long t = s->t_int[i];
    long prev = t - s->N / s->steps;
    WSD_TRY(check_t(s, t, "DDIM step", err));
    double at = ac_at(s, t), ap = ac_at(s, prev);
    double cx, cm;
    ddpm_x0_coeffs(s, at, &cx, &cm);
    sched_op *op = op_begin(p, SCHED_BUF_PRED);
    op_term(op, SCHED_BUF_SAMPLE, cx);
    op_term(op, SCHED_BUF_MODEL, cm);
    if (s->cfg.clip_sample) op->clamp = (float)s->cfg.clip_sample_range;
    p->pred_buf = SCHED_BUF_PRED;
    /* prev = sqrt(a_prev) * x0 + sqrt(1 - a_prev) * eps (eta = 0) */
    double dir = sqrt(1 - ap);
    op = op_begin(p, SCHED_BUF_SAMPLE);
    op_term(op, SCHED_BUF_PRED, sqrt(ap));
    if (s->cfg.v_prediction) {
        op_term(op, SCHED_BUF_MODEL, dir * sqrt(at));
        op_term(op, SCHED_BUF_SAMPLE, dir * sqrt(1 - at));
    } else {
        op_term(op, SCHED_BUF_MODEL, dir);
    }
    return WSD_OK;
}

/* Euler-type x0: pred = cx*x + cm*m at sigma. */
static void karras_x0_coeffs(const sched *s, double sigma, double *cx, double *cm)
{
    if (s->cfg.v_prediction) {
        double q = sigma * sigma + 1;
        *cm = -sigma / sqrt(q);
        *cx = 1 / q;
    } else {
        *cx = 1;
        *cm = -sigma;
    }
}

static wsd_status plan_euler(sched *s, int i, sched_plan *p, int ancestral)
{
    double sg = s->sigmas[i], sn = s->sigmas[i + 1];
    double cx, cm;
    karras_x0_coeffs(s, sg, &cx, &cm);
    sched_op *op = op_begin(p, SCHED_BUF_PRED);
    op_term(op, SCHED_BUF_SAMPLE, cx);
    op_term(op, SCHED_BUF_MODEL, cm);
    p->pred_buf = SCHED_BUF_PRED;
    double target = sn, up = 0;
    if (ancestral) {
        double v = sn * sn * (sg * sg - sn * sn) / (sg * sg);
        up = v > 0 ? sqrt(v) : 0;
        double d = sn * sn - up * up;
        target = d > 0 ? sqrt(d) : 0;
        p->draws_noise = 1;
    }
    /* x + (x - pred)/sigma * (target - sigma) */
    double r = (target - sg) / sg;
    op = op_begin(p, SCHED_BUF_SAMPLE);
    op_term(op, SCHED_BUF_SAMPLE, 1 + r);
    op_term(op, SCHED_BUF_PRED, -r);
    if (ancestral) op_term(op, SCHED_BUF_NOISE, up);
    return WSD_OK;
}

/* Integral of the j-th Lagrange basis polynomial over the nodes
 * sigma[i], sigma[i-1], ..., sigma[i-order+1], from sigma[i] to sigma[i+1]
 * (degree <= 3: 3-point Gauss-Legendre is exact). */
static double lms_coefficient(const sched *s, int order, int i, int j)
{
    static const double gx[3] = {-0.7745966692414833770359, 0.0, 0.7745966692414833770359};
    static const double gw[3] = {5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0};
    double a = s->sigmas[i], b = s->sigmas[i + 1];
    double half = (b - a) / 2, mid = (a + b) / 2, sum = 0;
    for (int q = 0; q < 3; q++) {
        double tau = mid + half * gx[q], prod = 1;
        for (int k = 0; k < order; k++) {
            if (k == j) continue;
            prod *= (tau - s->sigmas[i - k]) / ((double)s->sigmas[i - j] - s->sigmas[i - k]);
        }
        sum += gw[q] * prod;
    }
    return sum * half;
}

static wsd_status plan_lms(sched *s, int i, sched_plan *p)
{
    double sg = s->sigmas[i];
    double cx, cm;
    karras_x0_coeffs(s, sg, &cx, &cm);
    sched_op *op = op_begin(p, SCHED_BUF_PRED);
    op_term(op, SCHED_BUF_SAMPLE, cx);
    op_term(op, SCHED_BUF_MODEL, cm);
    p->pred_buf = SCHED_BUF_PRED;
    int slot = s->hist_count % 4;
    op = op_begin(p, HIST(slot));
    op_term(op, SCHED_BUF_SAMPLE, 1 / sg);
    op_term(op, SCHED_BUF_PRED, -1 / sg);
    s->hist_count++;
    int order = i + 1 < 4 ? i + 1 : 4;
    int have = s->hist_count < 4 ? s->hist_count : 4;
    int terms = order < have ? order : have;
    op = op_begin(p, SCHED_BUF_SAMPLE);
    op_term(op, SCHED_BUF_SAMPLE, 1.0);
    for (int j = 0; j < terms; j++) op_term(op, HIST((s->hist_count - 1 - j) % 4), lms_coefficient(s, order, i, j));
    return WSD_OK;
}

static wsd_status plan_lcm(sched *s, int i, sched_plan *p, wsd_err *err)
{
    long t = s->t_int[i];
    long prev = i + 1 < s->n_calls ? s->t_int[i + 1] : t;
    WSD_TRY(check_t(s, t, "LCM step", err));
    double at = ac_at(s, t), ap = ac_at(s, prev);
    float st = (float)t * (float)s->cfg.timestep_scaling;
    double sd = (double)st;
    double c_skip = 0.25 / (sd * sd + 0.25);
    double c_out = sd / sqrt(sd * sd + 0.25);
    double cx, cm;
    ddpm_x0_coeffs(s, at, &cx, &cm);
    sched_op *op = op_begin(p, SCHED_BUF_PRED);
    if (s->cfg.clip_sample) {
        op_term(op, SCHED_BUF_SAMPLE, cx);
        op_term(op, SCHED_BUF_MODEL, cm);
        op->clamp = (float)s->cfg.clip_sample_range;
        op = op_begin(p, SCHED_BUF_PRED);
        op_term(op, SCHED_BUF_PRED, c_out);
        op_term(op, SCHED_BUF_SAMPLE, c_skip);
    } else {
        op_term(op, SCHED_BUF_SAMPLE, c_out * cx + c_skip);
        op_term(op, SCHED_BUF_MODEL, c_out * cm);
    }
    p->pred_buf = SCHED_BUF_PRED;
    op = op_begin(p, SCHED_BUF_SAMPLE);
    if (i != s->steps - 1) {
        op_term(op, SCHED_BUF_PRED, sqrt(ap));
        op_term(op, SCHED_BUF_NOISE, sqrt(1 - ap));
        p->draws_noise = 1;
    } else {
        op_term(op, SCHED_BUF_PRED, 1.0);
    }
    return WSD_OK;
}

static void vp_alpha_sigma(double sigma, double *alpha, double *sig)
{
    *alpha = 1 / sqrt(sigma * sigma + 1);
    *sig = sigma * *alpha;
}

static double dpm_lambda(double sigma)
{
    double a, sg;
    vp_alpha_sigma(sigma, &a, &sg);
    return log(a) - log(sg);
}

static wsd_status plan_dpm(sched *s, int i, sched_plan *p)
{
    const sched_config *c = &s->cfg;
    int n = s->n_calls;
    int lof = i == n - 1 && (c->euler_at_final || (c->lower_order_final && n < 15) || c->final_sigma_zero);
    int los = i == n - 2 && c->lower_order_final && n < 15;

    double alpha_s0, sigma_s0;
    vp_alpha_sigma(s->sigmas[i], &alpha_s0, &sigma_s0);
    int slot = s->hist_count % 3;
    int m0 = HIST(slot), m1 = HIST((s->hist_count + 2) % 3), m2 = HIST((s->hist_count + 1) % 3);
    sched_op *op = op_begin(p, m0);
    if (c->v_prediction) {
        op_term(op, SCHED_BUF_SAMPLE, alpha_s0);
        op_term(op, SCHED_BUF_MODEL, -sigma_s0);
    } else {
        op_term(op, SCHED_BUF_SAMPLE, 1 / alpha_s0);
        op_term(op, SCHED_BUF_MODEL, -sigma_s0 / alpha_s0);
    }
    s->hist_count++;
    p->pred_buf = m0;

    double alpha_t, sigma_t;
    vp_alpha_sigma(s->sigmas[i + 1], &alpha_t, &sigma_t);
    double lambda_t = log(alpha_t) - log(sigma_t);
    double lambda_s0 = log(alpha_s0) - log(sigma_s0);
    double h = lambda_t - lambda_s0;
    double em1 = exp(-h) - 1.0;
    double A = alpha_t * em1;
    op = op_begin(p, SCHED_BUF_SAMPLE);
    op_term(op, SCHED_BUF_SAMPLE, sigma_t / sigma_s0);
    int lon = s->lower_order_nums;
    if (c->solver_order == 1 || lon < 1 || lof) {
        op_term(op, m0, -A);
    } else if (c->solver_order == 2 || lon < 2 || los) {
        double h0 = lambda_s0 - dpm_lambda(s->sigmas[i - 1]);
        double r0 = h0 / h;
        /* D0 = m0, D1 = (m0 - m1) / r0 */
        double cD1 = c->solver_heun ? alpha_t * (em1 / h + 1.0) : -0.5 * A;
        op_term(op, m0, -A + cD1 / r0);
        op_term(op, m1, -cD1 / r0);
    } else {
        double ls1 = dpm_lambda(s->sigmas[i - 1]), ls2 = dpm_lambda(s->sigmas[i - 2]);
        double r0 = (lambda_s0 - ls1) / h, r1 = (ls1 - ls2) / h;
        double B = alpha_t * (em1 / h + 1.0);
        double C = alpha_t * ((em1 + h) / (h * h) - 0.5);
        /* u = D1_0 - D1_1 = (m0-m1)/r0 - (m1-m2)/r1; D1 = (m0-m1)/r0 + q*u; D2 = u/(r0+r1) */
        double g = B * r0 / (r0 + r1) - C / (r0 + r1);
        op_term(op, m0, -A + B / r0 + g / r0);
        op_term(op, m1, -B / r0 - g * (1 / r0 + 1 / r1));
        op_term(op, m2, g / r1);
    }
    if (s->lower_order_nums < c->solver_order) s->lower_order_nums++;
    return WSD_OK;
}

wsd_status sched_plan_step(sched *s, int i, sched_plan *p, wsd_err *err)
{
    memset(p, 0, sizeof *p);
    p->pred_buf = -1;
    if (!s->n_calls) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "scheduler step before sched_set_timesteps");
    if (i < 0 || i >= s->n_calls)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "scheduler step %d outside the %d model calls", i, s->n_calls);
    if (i != s->begin + s->counter)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "scheduler step %d out of order (expected step %d)", i,
                        s->begin + s->counter);
    wsd_status st = WSD_OK;
    switch (s->cfg.type) {
    case SCHED_PNDM: st = plan_pndm(s, i, 1, p, err); break;
    case SCHED_DDIM: st = plan_ddim(s, i, p, err); break;
    case SCHED_EULER: st = plan_euler(s, i, p, 0); break;
    case SCHED_EULER_ANCESTRAL: st = plan_euler(s, i, p, 1); break;
    case SCHED_LMS: st = plan_lms(s, i, p); break;
    case SCHED_LCM: st = plan_lcm(s, i, p, err); break;
    case SCHED_DPM_MULTISTEP: st = plan_dpm(s, i, p); break;
    }
    if (st == WSD_OK) s->counter++;
    return st;
}

int sched_draws_noise(const sched *s, int i)
{
    if (s->cfg.type == SCHED_EULER_ANCESTRAL) return 1;
    if (s->cfg.type == SCHED_LCM) return i != s->steps - 1;
    return 0;
}

/* ---- CPU step --------------------------------------------------------------------------- */

void sched_noise_from_rng(sched_noise *ns, wsd_rng *rng)
{
    memset(ns, 0, sizeof *ns);
    ns->rng = rng;
}

void sched_noise_replay(sched_noise *ns, const float *draws, size_t n_draws)
{
    memset(ns, 0, sizeof *ns);
    ns->draws = draws;
    ns->n_draws = n_draws;
}

wsd_status sched_step(sched *s, int i, const float *model_out, float *sample, size_t n, sched_noise *noise,
                      float *pred_x0, wsd_err *err)
{
    int slots = sched_history_slots(s);
    if (n == 0) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "scheduler step: empty sample");
    if (s->buf_n != n) {
        if (s->counter > 0)
            return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "scheduler step: sample size changed from %zu to %zu mid-run", s->buf_n, n);
        free(s->buf);
        s->buf = NULL;
        s->buf_n = 0;
        size_t total;
        if (wsd_mul_overflows(n, (size_t)slots + 2, &total) || !(s->buf = wsd_malloc_array(total, sizeof(float))))
            return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory for scheduler buffers (%zu floats)", n);
        s->buf_n = n;
    }
    int draws = sched_draws_noise(s, i);
    if (draws && !noise)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "%s step %d needs a noise source", s->name, i);
    if (draws && !noise->rng && (!noise->draws || noise->used >= noise->n_draws))
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "%s step %d: the replayed noise has only %zu draws", s->name, i,
                        noise->n_draws);
    sched_plan plan;
    WSD_TRY(sched_plan_step(s, i, &plan, err));
    float *bufs[SCHED_BUF_HIST + SCHED_MAX_HIST];
    bufs[SCHED_BUF_SAMPLE] = sample;
    bufs[SCHED_BUF_MODEL] = (float *)model_out; /* read only: never a destination */
    bufs[SCHED_BUF_PRED] = s->buf;
    bufs[SCHED_BUF_NOISE] = s->buf + n;
    for (int k = 0; k < slots; k++) bufs[SCHED_BUF_HIST + k] = s->buf + (size_t)(2 + k) * n;
    if (plan.draws_noise) {
        if (noise->rng)
            rng_randn(noise->rng, bufs[SCHED_BUF_NOISE], n);
        else
            memcpy(bufs[SCHED_BUF_NOISE], noise->draws + noise->used * n, n * sizeof(float));
        noise->used++;
    }
    sched_run_plan(&plan, bufs, n);
    if (pred_x0 && plan.pred_buf >= 0) memcpy(pred_x0, bufs[plan.pred_buf], n * sizeof(float));
    return WSD_OK;
}

/* ---- img2img ---------------------------------------------------------------------------- */

wsd_status sched_begin(sched *s, int first, wsd_err *err)
{
    if (!s->n_calls) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "sched_begin before sched_set_timesteps");
    if (first < 0 || first >= s->n_calls)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "first step %d outside the %d model calls", first, s->n_calls);
    s->begin = first;
    s->counter = s->hist_count = s->lower_order_nums = 0;
    return WSD_OK;
}

wsd_status sched_img2img_begin(sched *s, double strength, int *first_call, wsd_err *err)
{
    if (!(strength > 0 && strength <= 1))
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "strength %g must be in (0, 1]", strength);
    int n = s->steps;
    double prod = (double)n * strength;
    int init = (int)prod;
    if (init > n) init = n;
    int t_start = n - init > 0 ? n - init : 0;
    int first = t_start; /* * order, which is 1 for every scheduler here */
    if (init < 1 || first >= s->n_calls)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "strength %g with %d steps leaves no denoising step", strength, n);
    WSD_TRY(sched_begin(s, first, err));
    if (first_call) *first_call = first;
    return WSD_OK;
}

double sched_strength_from_float(float strength)
{
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)strength);
        double d = strtod(buf, NULL);
        if ((float)d == strength) return d;
    }
    return (double)strength;
}

void sched_add_noise_coeffs(const sched *s, int i, float *a, float *b)
{
    if (i < 0 || i >= s->n_calls) {
        *a = 1;
        *b = 0;
        return;
    }
    switch (s->cfg.type) {
    case SCHED_EULER:
    case SCHED_EULER_ANCESTRAL:
    case SCHED_LMS:
        *a = 1;
        *b = s->sigmas[i];
        break;
    case SCHED_DPM_MULTISTEP: {
        double al, sg;
        vp_alpha_sigma(s->sigmas[i], &al, &sg);
        *a = (float)al;
        *b = (float)sg;
        break;
    }
    default: {
        long t = s->t_int[i];
        float ac = t >= 0 && t < s->N ? s->alphas_cumprod[t] : 1.0f;
        float om = 1.0f - ac;
        *a = sqrtf(ac);
        *b = sqrtf(om);
        break;
    }
    }
}

void sched_add_noise(const sched *s, int i, const float *x0, const float *noise, float *out, size_t n)
{
    float a, b;
    sched_add_noise_coeffs(s, i, &a, &b);
    if (a == 1.0f) {
        for (size_t j = 0; j < n; j++) {
            float e = noise[j] * b;
            out[j] = x0[j] + e;
        }
        return;
    }
    for (size_t j = 0; j < n; j++) {
        float u = a * x0[j], v = b * noise[j];
        out[j] = u + v;
    }
}

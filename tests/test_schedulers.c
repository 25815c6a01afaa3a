/* Schedulers against golden/schedulers.safetensors and the pipeline goldens:
 * timesteps exact, sigmas within 1e-6 relative, scheduler-only trajectories
 * within 1e-5 relative L2 per step; img2img and pipeline runs replayed from
 * their recorded UNet outputs; config resolution; v-prediction consistency;
 * step-count limits; the pipeline's step program (wg_linprog) bit-exact
 * against sched_step. */
#include "core/rng.h"
#include "graph/graph.h"
#include "io/json.h"
#include "pipeline/pipeline.h"
#include "io/safetensors.h"
#include "sched/sched.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN "reference/golden/"

static const struct {
    const char *name;
    wsd_sampler sampler;
    int pred_x0;  /* golden has pred_x0 */
    int noise;    /* golden has noise_draws */
} SCHEDS[] = {
    {"pndm", WSD_SAMPLER_PNDM, 0, 0},
    {"ddim", WSD_SAMPLER_DDIM, 1, 0},
    {"euler", WSD_SAMPLER_EULER, 1, 0},
    {"euler_ancestral", WSD_SAMPLER_EULER_A, 1, 1},
    {"dpmpp_2m", WSD_SAMPLER_DPMPP_2M, 0, 0},
    {"dpmpp_2m_karras", WSD_SAMPLER_DPMPP_2M_KARRAS, 0, 0},
    {"lms", WSD_SAMPLER_LMS, 1, 0},
    {"lcm", WSD_SAMPLER_LCM, 1, 1},
};
#define N_SCHEDS (sizeof SCHEDS / sizeof SCHEDS[0])

static double worst_sigma[N_SCHEDS], worst_traj[N_SCHEDS];

static double rel_l2(const float *a, const float *b, size_t n)
{
    return tu_compare(a, b, n).rel_l2;
}

static json_doc *parse(const char *text)
{
    json_doc *d = NULL;
    wsd_err err = {0};
    if (json_parse(text, strlen(text), "test config", &d, &err) != WSD_OK) CHECKF(0, "%s", err.msg);
    return d;
}

/* ---- timesteps and sigmas ---------------------------------------------------- */

static void check_schedule(const st_file *g, const json_value *sd15, const json_value *sj, size_t k, int steps)
{
    char name[96];
    wsd_err err = {0};
    sched *s = NULL;
    if (sched_create(sd15, SCHEDS[k].sampler, &s, &err) != WSD_OK) {
        CHECKF(0, "%s: %s", SCHEDS[k].name, err.msg);
        return;
    }
    CHECKF(sched_set_timesteps(s, steps, &err) == WSD_OK, "%s: %s", SCHEDS[k].name, err.msg);
    size_t nt = 0;
    snprintf(name, sizeof name, "%s_n%d_timesteps", SCHEDS[k].name, steps);
    float *ts = tu_read_f32(g, name, &nt);
    if (ts) {
        int exact = (size_t)sched_num_calls(s) == nt;
        for (size_t i = 0; exact && i < nt; i++) exact = sched_timestep(s, (int)i) == ts[i];
        CHECKF(exact, "%s: timesteps differ (calls %d vs %zu; first %g vs %g)", name, sched_num_calls(s), nt,
               sched_timestep(s, 0), ts[0]);
        free(ts);
    }
    snprintf(name, sizeof name, "%s_n%d_sigmas", SCHEDS[k].name, steps);
    if (st_find(g, name)) {
        size_t ns = 0;
        float *ref = tu_read_f32(g, name, &ns);
        const float *sg;
        int n = sched_sigmas(s, &sg);
        CHECKF((size_t)n == ns, "%s: %d sigmas, want %zu", name, n, ns);
        double worst = 0;
        for (size_t i = 0; ref && i < ns && (int)i < n; i++) {
            double e = fabs((double)sg[i] - ref[i]);
            double r = ref[i] != 0 ? e / fabs(ref[i]) : e;
            if (r > worst) worst = r;
        }
        CHECKF(worst <= 1e-6, "%s: sigma relative error %.3g", name, worst);
        if (worst > worst_sigma[k]) worst_sigma[k] = worst;
        free(ref);
    }
    /* init_noise_sigma from schedulers.json */
    char key[8];
    snprintf(key, sizeof key, "%d", steps);
    const json_value *st = json_get(json_get(json_get(json_get(sj, "schedulers"), SCHEDS[k].name), "steps"), key);
    const json_value *ins = json_get(st, "init_noise_sigma");
    CHECKF(ins && fabs(sched_init_noise_sigma(s) - ins->number) <= 1e-6 * fabs(ins->number),
           "%s n%d: init_noise_sigma %.9g vs %.9g", SCHEDS[k].name, steps, sched_init_noise_sigma(s), ins ? ins->number : 0);
    sched_free(s);
}

/* ---- trajectories ---------------------------------------------------------------- */

static void check_trajectory(const st_file *g, const json_value *sd15, size_t k, int steps, int use_rng)
{
    char name[96], pre[64];
    wsd_err err = {0};
    snprintf(pre, sizeof pre, "%s_n%d/", SCHEDS[k].name, steps);
    sched *s = NULL;
    if (sched_create(sd15, SCHEDS[k].sampler, &s, &err) != WSD_OK || sched_set_timesteps(s, steps, &err) != WSD_OK) {
        CHECKF(0, "%s: %s", pre, err.msg);
        sched_free(s);
        return;
    }
    size_t n = 0, n_calls = (size_t)sched_num_calls(s);
    float *x_init = tu_read_f32(g, "traj_x_init", &n);
    float *fixed = tu_read_f32(g, "traj_noise_fixed", NULL);
#define LOADP(var, suffix)                                    \
    snprintf(name, sizeof name, "%s%s", pre, suffix);         \
    float *var = st_find(g, name) ? tu_read_f32(g, name, NULL) : NULL
    LOADP(x_start, "x_start");
    LOADP(model_input, "model_input");
    LOADP(model_output, "model_output");
    LOADP(samples, "samples");
    LOADP(pred_ref, "pred_x0");
    LOADP(draws, "noise_draws");
    size_t n_draws = 0;
    if (draws) {
        snprintf(name, sizeof name, "%snoise_draws", pre);
        n_draws = (size_t)st_find(g, name)->shape[0];
    }
    CHECKF(!SCHEDS[k].pred_x0 || pred_ref, "%s: no pred_x0", pre);
    CHECKF(!SCHEDS[k].noise || draws, "%s: no noise_draws", pre);
    if (!x_init || !fixed || !x_start || !model_input || !model_output || !samples) goto done;

    float *x = malloc(n * sizeof(float)), *inp = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    float *pred = malloc(n * sizeof(float));
    float sigma0 = sched_init_noise_sigma(s);
    for (size_t j = 0; j < n; j++) x[j] = x_init[j] * sigma0;
    double w_in = rel_l2(x, x_start, n), w_out = 0, w_smp = 0, w_pred = 0;
    wsd_rng rng;
    rng_seed(&rng, 150);
    sched_noise ns;
    if (use_rng)
        sched_noise_from_rng(&ns, &rng);
    else
        sched_noise_replay(&ns, draws, n_draws);
    for (size_t i = 0; i < n_calls; i++) {
        sched_scale_model_input(s, (int)i, x, inp, n);
        double e = rel_l2(inp, model_input + i * n, n);
        if (e > w_in) w_in = e;
        for (size_t j = 0; j < n; j++) {
            float h = 0.5f * inp[j];
            out[j] = h + fixed[j];
        }
        e = rel_l2(out, model_output + i * n, n);
        if (e > w_out) w_out = e;
        if (sched_step(s, (int)i, out, x, n, &ns, pred, &err) != WSD_OK) {
            CHECKF(0, "%s step %zu: %s", pre, i, err.msg);
            break;
        }
        e = rel_l2(x, samples + i * n, n);
        if (e > w_smp) w_smp = e;
        if (pred_ref) {
            e = rel_l2(pred, pred_ref + i * n, n);
            if (e > w_pred) w_pred = e;
        }
    }
    CHECKF(ns.used == n_draws, "%s: %zu noise draws used, golden has %zu", pre, ns.used, n_draws);
    double worst = fmax(fmax(w_in, w_out), fmax(w_smp, w_pred));
    tu_checks++;
    int ok = worst <= 1e-5;
    if (!ok) tu_failures++;
    printf("%-4s %-26s %s per-step rel L2: model_input %.2e model_output %.2e samples %.2e pred_x0 %.2e\n",
           ok ? "ok" : "FAIL", pre, use_rng ? "(rng) " : "", w_in, w_out, w_smp, pred_ref ? w_pred : 0.0);
    if (!use_rng && worst > worst_traj[k]) worst_traj[k] = worst;
    free(x);
    free(inp);
    free(out);
    free(pred);
done:
    free(x_init);
    free(fixed);
    free(x_start);
    free(model_input);
    free(model_output);
    free(samples);
    free(pred_ref);
    free(draws);
    sched_free(s);
}

/* ---- full-pipeline and img2img replays ---------------------------------------------- */

/* Replays the scheduler of a pipeline golden from its recorded UNet outputs. */
static void check_pipeline(const char *file, double guidance, int img2img)
{
    st_file f;
    wsd_err err = {0};
    if (st_open(tu_shared(file), &f, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return;
    }
    const char *cfg_text = st_meta(&f, "scheduler_config");
    json_doc *doc = cfg_text ? parse(cfg_text) : NULL;
    sched *s = NULL;
    size_t n = 0, nts = 0, nin = 0;
    float *ts = tu_read_f32(&f, "timesteps", &nts);
    float *unet_in = tu_read_f32(&f, "unet_in", &nin);
    float *unet_out = tu_read_f32(&f, "unet_out", NULL);
    float *per_step = tu_read_f32(&f, "latents_per_step", NULL);
    float *final = tu_read_f32(&f, "latents_final", &n);
    int batch = (int)st_find(&f, "unet_in")->shape[1];
    if (!doc || !ts || !unet_in || !unet_out || !per_step || !final) goto done;
    if (sched_create(json_root(doc), WSD_SAMPLER_DEFAULT, &s, &err) != WSD_OK) {
        CHECKF(0, "%s: %s", file, err.msg);
        goto done;
    }
    int steps = img2img ? 8 : (int)nts - (strstr(file, "pndm") ? 1 : 0);
    CHECKF(sched_set_timesteps(s, steps, &err) == WSD_OK, "%s", err.msg);
    int first = 0;
    float *x = malloc(n * sizeof(float)), *noise_pred = malloc(n * sizeof(float)), *inp = malloc(n * sizeof(float));
    double w = 0;
    if (img2img) {
        CHECK(sched_img2img_begin(s, sched_strength_from_float(0.75f), &first, &err) == WSD_OK);
        CHECKF(first == 2 && sched_num_calls(s) - first == (int)nts, "img2img: first call %d, %d calls", first,
               sched_num_calls(s) - first);
        float *init = tu_read_f32(&f, "init_latents", NULL);
        float *draws = tu_read_f32(&f, "noise_draws", NULL);
        if (init && draws) sched_add_noise(s, first, init, draws + n, x, n);
        free(init);
        free(draws);
    } else {
        float *li = tu_read_f32(&f, "latents_init", NULL);
        if (li)
            for (size_t j = 0; j < n; j++) x[j] = li[j] * sched_init_noise_sigma(s);
        free(li);
    }
    int ts_ok = 1;
    for (size_t i = 0; i < nts; i++) {
        int call = first + (int)i;
        ts_ok &= sched_timestep(s, call) == ts[i];
        sched_scale_model_input(s, call, x, inp, n);
        for (int b = 0; b < batch; b++) w = fmax(w, rel_l2(inp, unet_in + (i * batch + b) * n, n));
        const float *o = unet_out + i * batch * n;
        if (batch == 2)
            sched_cfg_combine(noise_pred, o, o + n, (float)guidance, n);
        else
            memcpy(noise_pred, o, n * sizeof(float));
        if (sched_step(s, call, noise_pred, x, n, NULL, NULL, &err) != WSD_OK) {
            CHECKF(0, "%s: %s", file, err.msg);
            break;
        }
        w = fmax(w, rel_l2(x, per_step + i * n, n));
    }
    CHECKF(ts_ok, "%s: timesteps differ", file);
    w = fmax(w, rel_l2(x, final, n));
    tu_checks++;
    if (!(w <= 1e-5)) tu_failures++;
    printf("%-4s %-44s replayed from recorded UNet outputs: worst per-step rel L2 %.2e\n", w <= 1e-5 ? "ok" : "FAIL",
           file + strlen(GOLDEN), w);
    free(x);
    free(noise_pred);
    free(inp);
done:
    free(ts);
    free(unet_in);
    free(unet_out);
    free(per_step);
    free(final);
    sched_free(s);
    json_free(doc);
    st_close(&f);
}

/* ---- v-prediction: the same run expressed as v gives the same samples ------------------- */

/* Fake epsilon model: e = 0.5 * x_scaled + fixed. The matching v model
 * returns v = alpha*e - sigma*x0 with x0 implied by (x, e) at the call's noise
 * level, so an epsilon scheduler and a v scheduler must follow the same path. */
static void check_v_prediction(const json_value *sd15_eps, const json_value *sd15_v, size_t k, int steps)
{
    wsd_err err = {0};
    sched *se = NULL, *sv = NULL;
    if (sched_create(sd15_eps, SCHEDS[k].sampler, &se, &err) != WSD_OK ||
        sched_create(sd15_v, SCHEDS[k].sampler, &sv, &err) != WSD_OK) {
        CHECKF(0, "%s: %s", SCHEDS[k].name, err.msg);
        goto out;
    }
    CHECK(sched_is_v_prediction(sv) && !sched_is_v_prediction(se));
    CHECK(sched_set_timesteps(se, steps, &err) == WSD_OK && sched_set_timesteps(sv, steps, &err) == WSD_OK);
    enum { n = 64 };
    float xe[n], xv[n], inp[n], e[n], v[n], pe[n], pv[n], draws[40 * n];
    wsd_rng r;
    rng_seed(&r, 77);
    rng_randn(&r, xe, n);
    rng_randn(&r, draws, 40 * n);
    for (int j = 0; j < n; j++) xe[j] *= sched_init_noise_sigma(se);
    memcpy(xv, xe, sizeof xe);
    sched_noise ne, nv;
    sched_noise_replay(&ne, draws, 40);
    sched_noise_replay(&nv, draws, 40);
    const float *sg;
    int has_sigmas = sched_sigmas(se, &sg) > 0;
    const float *ac;
    sched_alphas_cumprod(se, &ac);
    /* PNDM mixes model outputs of different timesteps, so only its first step
     * is expected to agree. */
    int calls = sched_get_type(se) == SCHED_PNDM ? 1 : sched_num_calls(se);
    double worst = 0;
    for (int i = 0; i < calls; i++) {
        double alpha, sigma; /* VP coefficients at this call, in the sample's own scaling */
        double scale = 1;    /* x = scale * (alpha*x0 + sigma*eps) */
        if (has_sigmas) {
            double s = sg[i];
            alpha = 1 / sqrt(s * s + 1);
            sigma = s * alpha;
            if (sched_get_type(se) != SCHED_DPM_MULTISTEP) scale = 1 / alpha; /* Euler-type: x = x0 + s*eps */
        } else {
            double a = ac[(int)sched_timestep(se, i)];
            alpha = sqrt(a);
            sigma = sqrt(1 - a);
        }
        sched_scale_model_input(se, i, xe, inp, n);
        for (int j = 0; j < n; j++) e[j] = 0.5f * inp[j] + 0.25f;
        for (int j = 0; j < n; j++) {
            double x0 = (xe[j] / scale - sigma * e[j]) / alpha;
            v[j] = (float)(alpha * e[j] - sigma * x0);
        }
        CHECK(sched_step(se, i, e, xe, n, &ne, pe, &err) == WSD_OK);
        CHECK(sched_step(sv, i, v, xv, n, &nv, pv, &err) == WSD_OK);
        worst = fmax(worst, rel_l2(xv, xe, n));
        worst = fmax(worst, rel_l2(pv, pe, n));
    }
    tu_checks++;
    if (!(worst <= 1e-5)) tu_failures++;
    printf("%-4s %-16s v-prediction vs epsilon, %2d steps: worst rel L2 %.2e\n", worst <= 1e-5 ? "ok" : "FAIL",
           SCHEDS[k].name, steps, worst);
out:
    sched_free(se);
    sched_free(sv);
}

/* ---- limits and errors ---------------------------------------------------------------- */

static void check_limits(const json_value *sd15)
{
    wsd_err err = {0};
    for (size_t k = 0; k < N_SCHEDS; k++) {
        sched *s = NULL;
        if (sched_create(sd15, SCHEDS[k].sampler, &s, &err) != WSD_OK) continue;
        /* 0 and 1001 steps are refused with a message. */
        err.msg[0] = 0;
        CHECKF(sched_set_timesteps(s, 0, &err) == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "steps = 0"), "%s: %s",
               SCHEDS[k].name, err.msg);
        CHECKF(sched_set_timesteps(s, 1001, &err) == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "steps = 1001"),
               "%s: %s", SCHEDS[k].name, err.msg);
        CHECK(sched_num_calls(s) == 0);
        /* Every count in 1..1000 either works (timesteps in range, finite sigmas,
         * a finite run for some) or is refused with INVALID_ARGUMENT. */
        int ok_count = 0, max_ok = 0, bad = 0;
        for (int steps = 1; steps <= 1000; steps++) {
            wsd_status st = sched_set_timesteps(s, steps, &err);
            if (st != WSD_OK) {
                if (st != WSD_ERR_INVALID_ARGUMENT || !strstr(err.msg, "steps =")) bad++;
                continue;
            }
            ok_count++;
            max_ok = steps;
            const float *sg;
            int nsg = sched_sigmas(s, &sg);
            for (int i = 0; i < sched_num_calls(s); i++) {
                float t = sched_timestep(s, i);
                if (!(t >= 0 && t <= 999)) bad++;
            }
            for (int i = 0; i < nsg; i++)
                if (!isfinite(sg[i]) || sg[i] < 0) bad++;
            if (steps <= 8 || steps % 97 == 0 || steps == 999 || steps == 1000) {
                enum { n = 16 };
                float x[n], o[n], draws[n];
                for (int j = 0; j < n; j++) x[j] = (float)(j - 8) * sched_init_noise_sigma(s) / 8;
                memset(draws, 0, sizeof draws);
                wsd_rng r;
                rng_seed(&r, 3);
                sched_noise ns;
                sched_noise_from_rng(&ns, &r);
                for (int i = 0; i < sched_num_calls(s); i++) {
                    sched_scale_model_input(s, i, x, o, n);
                    for (int j = 0; j < n; j++) o[j] = 0.5f * o[j] + 0.1f;
                    if (sched_step(s, i, o, x, n, &ns, NULL, &err) != WSD_OK) {
                        bad++;
                        break;
                    }
                }
                for (int j = 0; j < n; j++)
                    if (!isfinite(x[j])) {
                        bad++;
                        break;
                    }
            }
        }
        CHECKF(bad == 0, "%s: %d problems over step counts 1..1000", SCHEDS[k].name, bad);
        printf("ok   %-16s step counts allowed: %d of 1..1000 (largest %d)\n", SCHEDS[k].name, ok_count, max_ok);
        sched_free(s);
    }
    /* Specific limits. */
    struct { wsd_sampler sm; int steps; wsd_status want; const char *needle; } cases[] = {
        {WSD_SAMPLER_PNDM, 1000, WSD_ERR_INVALID_ARGUMENT, "timestep 1000"},
        {WSD_SAMPLER_DDIM, 1000, WSD_ERR_INVALID_ARGUMENT, "timestep 1000"},
        {WSD_SAMPLER_PNDM, 999, WSD_OK, ""},
        {WSD_SAMPLER_EULER, 1000, WSD_OK, ""},
        {WSD_SAMPLER_DPMPP_2M_KARRAS, 1000, WSD_OK, ""},
        {WSD_SAMPLER_DPMPP_2M, 1000, WSD_ERR_INVALID_ARGUMENT, "repeats timestep 500"},
        {WSD_SAMPLER_DPMPP_2M, 999, WSD_OK, ""},
        {WSD_SAMPLER_LCM, 50, WSD_OK, ""},
        {WSD_SAMPLER_LCM, 51, WSD_ERR_INVALID_ARGUMENT, "original_inference_steps = 50"},
        {WSD_SAMPLER_PNDM, 1, WSD_OK, ""},
        {WSD_SAMPLER_EULER_A, -3, WSD_ERR_INVALID_ARGUMENT, "steps = -3"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sched *s = NULL;
        CHECK(sched_create(sd15, cases[c].sm, &s, &err) == WSD_OK);
        err.msg[0] = 0;
        wsd_status st = sched_set_timesteps(s, cases[c].steps, &err);
        CHECKF(st == cases[c].want && strstr(err.msg, cases[c].needle), "%s %d steps: status %d, \"%s\"", sched_name(s),
               cases[c].steps, st, err.msg);
        if (st == WSD_OK && cases[c].sm == WSD_SAMPLER_PNDM && cases[c].steps == 1)
            CHECK(sched_num_calls(s) == 1 && sched_timestep(s, 0) == 1);
        sched_free(s);
    }
    /* Steps out of order, and a step before set_timesteps. */
    sched *s = NULL;
    CHECK(sched_create(sd15, WSD_SAMPLER_DDIM, &s, &err) == WSD_OK);
    float x[4] = {0}, o[4] = {0};
    CHECK(sched_step(s, 0, o, x, 4, NULL, NULL, &err) == WSD_ERR_INVALID_ARGUMENT);
    CHECK(sched_set_timesteps(s, 10, &err) == WSD_OK);
    CHECKF(sched_step(s, 1, o, x, 4, NULL, NULL, &err) == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "out of order"),
           "%s", err.msg);
    CHECK(sched_step(s, 0, o, x, 4, NULL, NULL, &err) == WSD_OK);
    CHECK(sched_step(s, 1, o, x, 4, NULL, NULL, &err) == WSD_OK);
    /* img2img strength limits */
    CHECK(sched_img2img_begin(s, 0.0, NULL, &err) == WSD_ERR_INVALID_ARGUMENT);
    CHECK(sched_img2img_begin(s, 1.5, NULL, &err) == WSD_ERR_INVALID_ARGUMENT);
    CHECKF(sched_img2img_begin(s, 0.05, NULL, &err) == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "no denoising step"),
           "%s", err.msg);
    int first = -1;
    CHECK(sched_img2img_begin(s, 1.0, &first, &err) == WSD_OK && first == 0);
    CHECK(sched_img2img_begin(s, 0.3, &first, &err) == WSD_OK && first == 7);
    CHECK(sched_strength_from_float(0.7f) == 0.7 && sched_strength_from_float(0.75f) == 0.75);
    /* int(10 * 0.7) is 7 in Python (10*0.7 = 7.000000000000001): 3 steps skipped */
    CHECK(sched_img2img_begin(s, sched_strength_from_float(0.7f), &first, &err) == WSD_OK && first == 3);
    sched_free(s);
    /* Euler a / LCM need a noise source */
    CHECK(sched_create(sd15, WSD_SAMPLER_EULER_A, &s, &err) == WSD_OK && sched_set_timesteps(s, 4, &err) == WSD_OK);
    CHECKF(sched_step(s, 0, o, x, 4, NULL, NULL, &err) == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "noise"), "%s",
           err.msg);
    sched_noise ns;
    sched_noise_replay(&ns, o, 1);
    CHECK(sched_step(s, 0, o, x, 4, &ns, NULL, &err) == WSD_OK);
    CHECK(sched_step(s, 1, o, x, 4, &ns, NULL, &err) == WSD_ERR_INVALID_ARGUMENT && strstr(err.msg, "only 1 draws"));
    sched_free(s);
}

/* ---- config resolution ------------------------------------------------------------------ */

static void check_config(const json_value *sd15)
{
    wsd_err err = {0};
    sched *s = NULL;
    /* DEFAULT = the config's own class. */
    CHECK(sched_create(sd15, WSD_SAMPLER_DEFAULT, &s, &err) == WSD_OK);
    CHECK(s && sched_get_type(s) == SCHED_PNDM && strcmp(sched_class_name(s), "PNDMScheduler") == 0 &&
          strcmp(sched_name(s), "PLMS") == 0);
    sched_free(s);
    /* No config (single-file checkpoints): SD 1.5's own. */
    CHECK(sched_create(NULL, WSD_SAMPLER_DEFAULT, &s, &err) == WSD_OK && sched_get_type(s) == SCHED_PNDM &&
          sched_set_timesteps(s, 4, &err) == WSD_OK && sched_num_calls(s) == 5 && sched_timestep(s, 0) == 751 &&
          sched_timestep(s, 4) == 1);
    sched_free(s);
    CHECK(sched_create(NULL, WSD_SAMPLER_EULER, &s, &err) == WSD_OK &&
          fabsf(sched_init_noise_sigma(s) - 14.6146469f) < 1e-4f);
    sched_free(s);
    struct { wsd_sampler sm; const char *name; } names[] = {
        {WSD_SAMPLER_DDIM, "DDIM"}, {WSD_SAMPLER_EULER, "Euler"}, {WSD_SAMPLER_EULER_A, "Euler a"},
        {WSD_SAMPLER_DPMPP_2M, "DPM++ 2M"}, {WSD_SAMPLER_DPMPP_2M_KARRAS, "DPM++ 2M Karras"},
        {WSD_SAMPLER_LMS, "LMS"}, {WSD_SAMPLER_LCM, "LCM"}};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        CHECK(sched_create(sd15, names[k].sm, &s, &err) == WSD_OK);
        CHECKF(strcmp(sched_name(s), names[k].name) == 0, "%s vs %s", sched_name(s), names[k].name);
        sched_free(s);
    }

    /* A key listed in _use_default_values counts as absent: Euler keeps its
     * own "linspace"; without the list, "leading" + steps_offset carry over. */
    json_doc *d1 = parse("{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,"
                         "\"beta_end\":0.012,\"timestep_spacing\":\"leading\",\"steps_offset\":1,"
                         "\"_use_default_values\":[\"timestep_spacing\"]}");
    json_doc *d2 = parse("{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,"
                         "\"beta_end\":0.012,\"timestep_spacing\":\"leading\",\"steps_offset\":1}");
    if (d1 && d2) {
        CHECK(sched_create(json_root(d1), WSD_SAMPLER_EULER, &s, &err) == WSD_OK && sched_set_timesteps(s, 4, &err) == WSD_OK);
        CHECKF(sched_timestep(s, 0) == 999 && sched_timestep(s, 3) == 0, "linspace: %g", sched_timestep(s, 0));
        CHECK(fabsf(sched_init_noise_sigma(s) - 14.6146469f) < 1e-4f);
        sched_free(s);
        CHECK(sched_create(json_root(d2), WSD_SAMPLER_EULER, &s, &err) == WSD_OK && sched_set_timesteps(s, 4, &err) == WSD_OK);
        CHECKF(sched_timestep(s, 0) == 751 && sched_timestep(s, 3) == 1, "leading: %g", sched_timestep(s, 0));
        /* leading spacing: init_noise_sigma = sqrt(max^2 + 1) */
        const float *sg;
        sched_sigmas(s, &sg);
        CHECK(fabsf(sched_init_noise_sigma(s) - sqrtf(sg[0] * sg[0] + 1)) < 1e-5f);
        sched_free(s);
    }
    json_free(d1);
    json_free(d2);

    /* Errors: unknown class by default, unsupported settings, malformed values. */
    struct { const char *json; wsd_sampler sm; wsd_status want; const char *needle; } bad[] = {
        {"{\"_class_name\":\"UniPCMultistepScheduler\"}", WSD_SAMPLER_DEFAULT, WSD_ERR_UNSUPPORTED, "UniPCMultistepScheduler"},
        {"{\"_class_name\":\"UniPCMultistepScheduler\"}", WSD_SAMPLER_EULER, WSD_OK, ""},
        {"{\"_class_name\":\"DDIMScheduler\",\"thresholding\":true}", WSD_SAMPLER_DEFAULT, WSD_ERR_UNSUPPORTED, "thresholding"},
        {"{\"_class_name\":\"DDIMScheduler\",\"thresholding\":true}", WSD_SAMPLER_EULER, WSD_OK, ""},
        {"{\"_class_name\":\"PNDMScheduler\",\"steps_offset\":\"one\"}", WSD_SAMPLER_DEFAULT, WSD_ERR_FORMAT, "steps_offset"},
        {"{\"_class_name\":\"PNDMScheduler\",\"steps_offset\":1.5}", WSD_SAMPLER_DEFAULT, WSD_ERR_FORMAT, "steps_offset"},
        {"{\"_class_name\":\"PNDMScheduler\",\"prediction_type\":\"sample\"}", WSD_SAMPLER_DEFAULT, WSD_ERR_UNSUPPORTED, "prediction_type"},
        {"{\"_class_name\":\"PNDMScheduler\",\"timestep_spacing\":\"cosine\"}", WSD_SAMPLER_DEFAULT, WSD_ERR_UNSUPPORTED, "timestep_spacing"},
        {"{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"sigmoid\"}", WSD_SAMPLER_DEFAULT, WSD_ERR_UNSUPPORTED, "beta_schedule"},
        {"{\"_class_name\":\"DPMSolverMultistepScheduler\",\"algorithm_type\":\"sde-dpmsolver++\"}", WSD_SAMPLER_DEFAULT, WSD_ERR_UNSUPPORTED, "algorithm_type"},
        {"{\"_class_name\":\"DPMSolverMultistepScheduler\",\"algorithm_type\":\"sde-dpmsolver++\"}", WSD_SAMPLER_DPMPP_2M, WSD_OK, ""},
        {"{\"_class_name\":\"EulerDiscreteScheduler\",\"use_exponential_sigmas\":true}", WSD_SAMPLER_DEFAULT, WSD_ERR_UNSUPPORTED, "use_exponential_sigmas"},
        {"{\"_class_name\":\"PNDMScheduler\",\"trained_betas\":[0.1,0.2]}", WSD_SAMPLER_DEFAULT, WSD_ERR_FORMAT, "trained_betas"},
        {"[1,2]", WSD_SAMPLER_DEFAULT, WSD_ERR_FORMAT, "object"},
        {"{}", WSD_SAMPLER_DEFAULT, WSD_ERR_FORMAT, "_class_name"},
        {"{}", WSD_SAMPLER_DDIM, WSD_OK, ""},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        json_doc *d = parse(bad[k].json);
        if (!d) continue;
        err.msg[0] = 0;
        s = NULL;
        wsd_status st = sched_create(json_root(d), bad[k].sm, &s, &err);
        CHECKF(st == bad[k].want && strstr(err.msg, bad[k].needle) && (st == WSD_OK) == (s != NULL),
               "config %s: status %d \"%s\"", bad[k].json, st, err.msg);
        sched_free(s);
        json_free(d);
    }

    /* Other beta schedules and trained betas build finite schedules. */
    const char *others[] = {
        "{\"_class_name\":\"DDIMScheduler\",\"beta_schedule\":\"squaredcos_cap_v2\",\"clip_sample\":true}",
        "{\"_class_name\":\"EulerDiscreteScheduler\",\"beta_schedule\":\"linear\",\"use_karras_sigmas\":true,\"timestep_spacing\":\"trailing\"}",
        "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,\"beta_end\":0.012,"
        "\"solver_order\":3,\"timestep_spacing\":\"leading\",\"steps_offset\":1,\"final_sigmas_type\":\"sigma_min\",\"lambda_min_clipped\":-5.1}",
        "{\"_class_name\":\"DPMSolverMultistepScheduler\",\"solver_type\":\"heun\",\"timestep_spacing\":\"trailing\"}",
        "{\"_class_name\":\"LMSDiscreteScheduler\",\"use_karras_sigmas\":true}",
        "{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,\"beta_end\":0.012,\"timestep_spacing\":\"trailing\"}",
        "{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,\"beta_end\":0.012,\"timestep_spacing\":\"linspace\"}",
        "{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,\"beta_end\":0.012,\"skip_prk_steps\":false}",
        "{\"_class_name\":\"LCMScheduler\",\"clip_sample\":true,\"prediction_type\":\"v_prediction\"}",
    };
    for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
        json_doc *d = parse(others[k]);
        if (!d) continue;
        s = NULL;
        wsd_status st = sched_create(json_root(d), WSD_SAMPLER_DEFAULT, &s, &err);
        CHECKF(st == WSD_OK, "%s: %s", others[k], err.msg);
        if (st == WSD_OK) {
            int finite = 1;
            for (int steps = 1; steps <= 60; steps++) {
                if (sched_set_timesteps(s, steps, &err) != WSD_OK) {
                    CHECKF(strstr(err.msg, "steps =") != NULL, "%s: %s", others[k], err.msg);
                    continue;
                }
                enum { n = 8 };
                float x[n], o[n];
                wsd_rng r;
                rng_seed(&r, (uint64_t)steps);
                rng_randn(&r, x, n);
                sched_noise ns;
                sched_noise_from_rng(&ns, &r);
                for (int i = 0; i < sched_num_calls(s) && finite; i++) {
                    sched_scale_model_input(s, i, x, o, n);
                    for (int j = 0; j < n; j++) o[j] = 0.5f * o[j];
                    if (sched_step(s, i, o, x, n, &ns, NULL, &err) != WSD_OK) {
                        CHECKF(0, "%s %d steps, step %d: %s", others[k], steps, i, err.msg);
                        finite = 0;
                    }
                }
                for (int j = 0; j < n; j++) finite &= isfinite(x[j]) != 0;
                if (!finite) {
                    CHECKF(0, "%s: non-finite run at %d steps", others[k], steps);
                    break;
                }
            }
            if (strstr(others[k], "skip_prk_steps\":false")) {
                CHECK(sched_set_timesteps(s, 10, &err) == WSD_OK && sched_num_calls(s) == 19);
                CHECK(sched_set_timesteps(s, 3, &err) == WSD_ERR_INVALID_ARGUMENT);
            }
            printf("ok   ran 1..60 steps: %s\n", others[k]);
        }
        sched_free(s);
        json_free(d);
    }
}

/* A stand-in UNet output that depends on its input, so a wrong input shows. */
static float fake_unet(float v, int b, int i) { return 0.8f * v + 0.1f * (float)(b + 1) * sinf(v + (float)i); }

/* The denoising step as the pipeline runs it on a backend (one wg_linprog
 * program per step over the graph state) against the host path (guidance,
 * then sched_step, then the next input by sched_scale_model_input): the
 * latents, the next UNet input and pred_x0 must agree bit for bit. */
static void check_step_program(const json_value *config, wsd_sampler sampler, const char *name, int cfg, int steps)
{
    enum { L = 96 };
    wsd_err err = {0};
    sched *sa = NULL, *sb = NULL;
    if (sched_create(config, sampler, &sa, &err) != WSD_OK || sched_create(config, sampler, &sb, &err) != WSD_OK ||
        sched_set_timesteps(sa, steps, &err) != WSD_OK || sched_set_timesteps(sb, steps, &err) != WSD_OK ||
        sched_begin(sa, 0, &err) != WSD_OK || sched_begin(sb, 0, &err) != WSD_OK) {
        CHECKF(0, "step program %s: %s", name, err.msg);
        sched_free(sa);
        sched_free(sb);
        return;
    }
    const float guidance = 7.5f;
    int B = cfg ? 2 : 1;
    step_regs r = step_layout(sb, B);
    int regs = r.ns + B + 2;
    float xa[L], in[L], u[L], c[L], eps[L], pred[L], outs[2 * L], noise[L] = {0}, prog[WG_LINPROG_LEN];
    float *state = calloc((size_t)r.ns * L, sizeof *state), *next = calloc((size_t)r.ns * L, sizeof *next);
    wsd_rng ga, gb;
    rng_seed(&ga, 77);
    rng_randn(&ga, xa, L);
    for (int j = 0; j < L; j++) xa[j] *= sched_init_noise_sigma(sa);
    if (state) memcpy(state, xa, sizeof xa);
    rng_seed(&ga, 5);
    rng_seed(&gb, 5);
    sched_noise na;
    sched_noise_from_rng(&na, &ga);
    if (state) sched_scale_model_input(sb, 0, state, state + (size_t)r.r_next * L, L);
    int total = sched_num_calls(sa), bad = 0;
    for (int i = 0; i < total && !bad && state && next; i++) {
        /* host path */
        sched_scale_model_input(sa, i, xa, in, L);
        for (int j = 0; j < L; j++) u[j] = fake_unet(in[j], 0, i), c[j] = fake_unet(in[j], 1, i);
        if (cfg) sched_cfg_combine(eps, u, c, guidance, L);
        else memcpy(eps, c, sizeof eps);
        pred[0] = NAN;
        if (sched_step(sa, i, eps, xa, L, &na, pred, &err) != WSD_OK) {
            CHECKF(0, "step program %s: %s", name, err.msg);
            break;
        }
        /* the step program */
        sched_plan plan;
        if (sched_plan_step(sb, i, &plan, &err) != WSD_OK) {
            CHECKF(0, "step program %s: %s", name, err.msg);
            break;
        }
        if (plan.draws_noise) rng_randn(&gb, noise, L);
        const float *bin = state + (size_t)r.r_next * L;
        for (int b = 0; b < B; b++)
            for (int j = 0; j < L; j++) outs[b * L + j] = fake_unet(bin[j], cfg ? b : 1, i);
        step_program(&r, &plan, cfg, guidance, i + 1 < total ? sched_input_divisor(sb, i + 1) : 1.0f, prog);
        char msg[160];
        if (wg_linprog_check(prog, regs, msg, sizeof msg) != 0) {
            CHECKF(0, "step program %s step %d: %s", name, i, msg);
            break;
        }
        wg_linprog_run(prog, state, r.ns, outs, B, noise, 1, next, L);
        float *t = state;
        state = next;
        next = t;
        if (memcmp(state, xa, sizeof xa) != 0) bad = 1;
        if (plan.pred_buf >= 0 && !isnan(pred[0]) && memcmp(state + (size_t)step_reg(&r, plan.pred_buf) * L, pred, sizeof pred))
            bad = 2;
        if (i + 1 < total) {
            sched_scale_model_input(sa, i + 1, xa, in, L);
            if (memcmp(state + (size_t)r.r_next * L, in, sizeof in) != 0) bad = 3;
        }
        CHECKF(!bad, "step program %s%s, step %d: %s differs from the host path", name, cfg ? "" : " (no cfg)", i,
               bad == 1 ? "the sample" : bad == 2 ? "pred_x0" : "the next UNet input");
    }
    if (!bad) printf("ok   step program %-22s%s: %d steps bit-exact with sched_step\n", name, cfg ? "" : " no cfg", total);
    free(state);
    free(next);
    sched_free(sa);
    sched_free(sb);
}

int main(void)
{
    wsd_err err = {0};
    json_doc *cfg = NULL, *sj = NULL;
    st_file g;
    if (json_parse_file(tu_shared("reference/tiny-sd15/scheduler/scheduler_config.json"), &cfg, &err) != WSD_OK ||
        json_parse_file(tu_shared(GOLDEN "schedulers.json"), &sj, &err) != WSD_OK ||
        st_open(tu_shared(GOLDEN "schedulers.safetensors"), &g, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return tu_finish();
    }
    const json_value *sd15 = json_root(cfg);

    /* Schedule constants */
    {
        sched *s = NULL;
        CHECK(sched_create(sd15, WSD_SAMPLER_DEFAULT, &s, &err) == WSD_OK);
        size_t n = 0;
        float *ac = tu_read_f32(&g, "alphas_cumprod", &n);
        const float *mine;
        CHECK(sched_alphas_cumprod(s, &mine) == (int)n);
        CHECKF(ac && memcmp(ac, mine, n * sizeof(float)) == 0, "alphas_cumprod not bit-exact");
        printf("ok   alphas_cumprod bit-exact (%zu values)\n", n);
        free(ac);
        sched_free(s);
    }

    for (size_t k = 0; k < N_SCHEDS; k++) {
        static const int steps[] = {4, 20, 50};
        for (int j = 0; j < 3; j++) check_schedule(&g, sd15, json_root(sj), k, steps[j]);
        printf("ok   %-16s timesteps exact for 4/20/50 steps; sigmas worst rel %.2e\n", SCHEDS[k].name, worst_sigma[k]);
    }
    for (size_t k = 0; k < N_SCHEDS; k++) check_step_program(sd15, SCHEDS[k].sampler, SCHEDS[k].name, 1, 8);
    check_step_program(sd15, WSD_SAMPLER_DPMPP_2M, "dpmpp_2m", 0, 5);
    check_step_program(sd15, WSD_SAMPLER_PNDM, "pndm", 0, 5);
    {
        json_doc *clip = parse("{\"_class_name\": \"DDIMScheduler\", \"clip_sample\": true, \"clip_sample_range\": 0.5}");
        if (clip) check_step_program(json_root(clip), WSD_SAMPLER_DEFAULT, "ddim clip_sample 0.5", 1, 6);
        json_free(clip);
    }
    for (size_t k = 0; k < N_SCHEDS; k++) {
        check_trajectory(&g, sd15, k, 4, 0);
        check_trajectory(&g, sd15, k, 20, 0);
    }
    /* The recorded draws are successive randn(1,4,8,8) of one manual_seed(150)
     * generator; drawing them from our generator gives the same trajectory. */
    for (size_t k = 0; k < N_SCHEDS; k++) {
        if (!SCHEDS[k].noise) continue;
        char name[64];
        snprintf(name, sizeof name, "%s_n20/noise_draws", SCHEDS[k].name);
        size_t n = 0;
        float *d = tu_read_f32(&g, name, &n);
        if (!d) continue;
        size_t count = (size_t)st_find(&g, name)->shape[0], per = n / count, same = 0;
        float *mine = malloc(per * sizeof(float));
        wsd_rng r;
        rng_seed(&r, 150);
        for (size_t j = 0; j < count; j++) {
            rng_randn(&r, mine, per);
            same += memcmp(mine, d + j * per, per * sizeof(float)) == 0;
        }
        CHECKF(same == count, "%s: %zu of %zu draws match successive randn of manual_seed(150)", name, same, count);
        printf("%-4s %-26s %zu draws = successive randn(%zu) of manual_seed(150), bit-exact\n", same == count ? "ok" : "FAIL",
               name, count, per);
        free(mine);
        free(d);
        check_trajectory(&g, sd15, k, 4, 1);
        check_trajectory(&g, sd15, k, 20, 1);
    }

    check_pipeline(GOLDEN "pipeline_pndm_cfg.safetensors", 7.5, 0);
    check_pipeline(GOLDEN "pipeline_dpmpp2m_cfg.safetensors", 7.5, 0);
    check_pipeline(GOLDEN "pipeline_pndm_nocfg.safetensors", 1.0, 0);
    check_pipeline(GOLDEN "img2img_pndm.safetensors", 7.5, 1);

    /* shapes-sd15: DPM++ 2M and PNDM 20-step timesteps from its own config. */
    {
        json_doc *sc = NULL;
        st_file f;
        if (json_parse_file(tu_shared("shapes-sd15/model/scheduler/scheduler_config.json"), &sc, &err) == WSD_OK &&
            st_open(tu_shared("shapes-sd15/golden/shapes_goldens.safetensors"), &f, &err) == WSD_OK) {
            static const struct { const char *t; wsd_sampler sm; } runs[] = {{"p0_pndm_timesteps", WSD_SAMPLER_DEFAULT},
                                                                           {"p0_dpmpp2m_timesteps", WSD_SAMPLER_DPMPP_2M}};
            for (int r = 0; r < 2; r++) {
                sched *s = NULL;
                size_t n = 0;
                float *ts = tu_read_f32(&f, runs[r].t, &n);
                CHECK(sched_create(json_root(sc), runs[r].sm, &s, &err) == WSD_OK && sched_set_timesteps(s, 20, &err) == WSD_OK);
                int same = ts && (size_t)sched_num_calls(s) == n;
                for (size_t i = 0; same && i < n; i++) same = sched_timestep(s, (int)i) == ts[i];
                CHECKF(same, "shapes %s", runs[r].t);
                printf("%-4s shapes-sd15 %s\n", same ? "ok" : "FAIL", runs[r].t);
                free(ts);
                sched_free(s);
            }
            st_close(&f);
        } else {
            CHECKF(0, "%s", err.msg);
        }
        json_free(sc);
    }

    /* v-prediction */
    {
        json_doc *eps = parse("{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,"
                              "\"beta_end\":0.012,\"steps_offset\":1,\"skip_prk_steps\":true,\"set_alpha_to_one\":false,"
                              "\"clip_sample\":false}");
        json_doc *v = parse("{\"_class_name\":\"PNDMScheduler\",\"beta_schedule\":\"scaled_linear\",\"beta_start\":0.00085,"
                            "\"beta_end\":0.012,\"steps_offset\":1,\"skip_prk_steps\":true,\"set_alpha_to_one\":false,"
                            "\"clip_sample\":false,\"prediction_type\":\"v_prediction\"}");
        for (size_t k = 0; eps && v && k < N_SCHEDS; k++) {
            check_v_prediction(json_root(eps), json_root(v), k, 4);
            check_v_prediction(json_root(eps), json_root(v), k, 20);
        }
        json_free(eps);
        json_free(v);
    }

    check_limits(sd15);
    check_config(sd15);

    /* Sampler names */
    {
        static const struct { const char *name; wsd_sampler want; } nm[] = {
            {"Euler a", WSD_SAMPLER_EULER_A}, {"euler_a", WSD_SAMPLER_EULER_A}, {"EULER-A", WSD_SAMPLER_EULER_A},
            {"DPM++ 2M", WSD_SAMPLER_DPMPP_2M}, {"dpm++2m", WSD_SAMPLER_DPMPP_2M}, {"dpmpp_2m", WSD_SAMPLER_DPMPP_2M},
            {"DPM++ 2M Karras", WSD_SAMPLER_DPMPP_2M_KARRAS}, {"dpmpp_2m_karras", WSD_SAMPLER_DPMPP_2M_KARRAS},
            {"PLMS", WSD_SAMPLER_PNDM}, {"pndm", WSD_SAMPLER_PNDM}, {"ddim", WSD_SAMPLER_DDIM}, {"Euler", WSD_SAMPLER_EULER},
            {"LMS", WSD_SAMPLER_LMS}, {"lcm", WSD_SAMPLER_LCM}, {"default", WSD_SAMPLER_DEFAULT}};
        for (size_t k = 0; k < sizeof nm / sizeof nm[0]; k++) {
            wsd_sampler w = (wsd_sampler)-1;
            CHECKF(sched_sampler_from_name(nm[k].name, &w) == 0 && w == nm[k].want, "sampler name %s", nm[k].name);
            CHECK(sched_sampler_from_name(sched_sampler_id(nm[k].want), &w) == 0 && w == nm[k].want);
        }
        wsd_sampler w;
        CHECK(sched_sampler_from_name("eul", &w) == -1 && sched_sampler_from_name("", &w) == -1 &&
              sched_sampler_from_name("dpm", &w) == -1 && sched_sampler_from_name(NULL, &w) == -1);
    }

    /* CFG helper */
    {
        float u[3] = {1, -2, 0.5f}, c[3] = {2, 2, 0.5f}, o[3];
        sched_cfg_combine(o, u, c, 7.5f, 3);
        CHECK(o[0] == 8.5f && o[1] == 28.0f && o[2] == 0.5f);
    }

    printf("\nworst errors per scheduler (sigmas: max relative; trajectories: max per-step rel L2 over 4/20 steps)\n");
    for (size_t k = 0; k < N_SCHEDS; k++)
        printf("  %-16s sigmas %.2e  trajectory %.2e\n", SCHEDS[k].name, worst_sigma[k], worst_traj[k]);
    st_close(&g);
    json_free(cfg);
    json_free(sj);
    return tu_finish();
}

/* Full pipelines through the public API against the diffusers goldens:
 * the three tiny-sd15 text-to-image runs, img2img, and the 8 runs of the
 * trained shapes-sd15 model (the embedded default model). Bounds (shared/reference/README.md): final
 * latents rel L2 <= 1e-4, image max abs <= 1e-3. */
#include "io/safetensors.h"
#include "testutil.h"
#include "wsd.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *file, *label;
    wsd_sampler sampler;
    float guidance;
    int steps, size;
    const char *negative;
    int img2img;
} pipeline_case;

static void run_case(wsd_context *ctx, wsd_model *model, const pipeline_case *c, const char *prompt, const char *prefix, const char *result_prefix, int nchw)
{
    wsd_err err = {0};
    st_file gold;
    if (st_open(tu_shared(c->file), &gold, &err) != WSD_OK) { CHECKF(0, "%s", err.msg); return; }
    char name[128];
    snprintf(name, sizeof name, "%slatents_init", prefix);
    float *lat = c->img2img ? NULL : tu_read_f32(&gold, name, NULL); /* img2img draws its noise from noise_draws */
    wsd_generate_params p;
    wsd_generate_params_init(&p);
    p.prompt = prompt;
    p.negative_prompt = c->negative;
    p.guidance = c->guidance;
    p.steps = c->steps;
    p.width = p.height = c->size;
    p.sampler = c->sampler;
    p.latents_init = lat;
    p.seed = 0;
    uint8_t *init_rgb = NULL;
    float *draws = NULL;
    if (c->img2img) {
        const st_tensor *t = st_find(&gold, "init_image_uint8");
        init_rgb = malloc((size_t)t->numel);
        memcpy(init_rgb, t->data, (size_t)t->numel);
        draws = tu_read_f32(&gold, "noise_draws", NULL);
        p.init_image = init_rgb;
        p.noise_draws = draws;
        p.strength = 0.75f;
    }
    wsd_image img;
    wsd_status s = wsd_generate(ctx, model, &p, &img);
    CHECKF(s == WSD_OK, "%s: %s", c->label, wsd_last_error(ctx));
    if (s == WSD_OK) {
        size_t nl, ni;
        snprintf(name, sizeof name, "%slatents_final", result_prefix);
        float *ref_lat = tu_read_f32(&gold, name, &nl);
        snprintf(name, sizeof name, "%simage", result_prefix);
        float *ref_img = tu_read_f32(&gold, name, &ni);
        char label[256];
        if (ref_lat) {
            snprintf(label, sizeof label, "%s: final latents", c->label);
            tu_check_close(label, img.latents, ref_lat, nl, 1e-4, 1e9);
        }
        if (ref_img) {
            float *ours = img.image_f32;
            float *tmp = NULL;
            if (nchw) { /* shapes goldens store NCHW; ours is HWC */
                size_t npix = ni / 3;
                tmp = malloc(ni * sizeof *tmp);
                for (size_t i = 0; i < npix; i++)
                    for (int ch = 0; ch < 3; ch++) tmp[ch * npix + i] = ours[3 * i + ch];
                ours = tmp;
            }
            snprintf(label, sizeof label, "%s: image (max abs <= 1e-3)", c->label);
            tu_check_close(label, ours, ref_img, ni, 1e9, 1e-3);
            free(tmp);
        }
        free(ref_lat);
        free(ref_img);
        wsd_image_free(&img);
    }
    free(lat);
    free(init_rgb);
    free(draws);
    st_close(&gold);
}

int main(void)
{
    wsd_context *ctx;
    char msg[512];
    wsd_context_options o;
    wsd_context_options_init(&o);
    const char *backend = getenv("WSD_TEST_BACKEND");
    if (backend && !strcmp(backend, "webgpu")) o.backend = WSD_BACKEND_WEBGPU;
    if (wsd_context_create(&o, &ctx, msg, sizeof msg) != WSD_OK) {
        CHECKF(0, "context: %s", msg);
        return tu_finish();
    }
    wsd_model *tiny, *shapes;
    CHECKF(wsd_model_load(ctx, tu_shared("reference/tiny-sd15"), &tiny) == WSD_OK, "%s", wsd_last_error(ctx));
    const char *astronaut = "a photograph of an astronaut riding a horse";
    pipeline_case cases[] = {
        {"reference/golden/pipeline_pndm_cfg.safetensors", "pndm cfg 7.5", WSD_SAMPLER_DEFAULT, 7.5f, 4, 128, "blurry", 0},
        {"reference/golden/pipeline_dpmpp2m_cfg.safetensors", "dpm++ 2m cfg 7.5", WSD_SAMPLER_DPMPP_2M, 7.5f, 4, 128, "blurry", 0},
        {"reference/golden/pipeline_pndm_nocfg.safetensors", "pndm no cfg", WSD_SAMPLER_DEFAULT, 1.0f, 4, 128, NULL, 0},
        {"reference/golden/img2img_pndm.safetensors", "img2img pndm strength 0.75", WSD_SAMPLER_DEFAULT, 7.5f, 8, 128, "blurry", 1},
    };
    if (tiny)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(ctx, tiny, &cases[i], astronaut, "", "", 0);
    wsd_model_free(tiny);

    /* the embedded default model is shapes-sd15 */
    CHECKF(wsd_model_load(ctx, NULL, &shapes) == WSD_OK, "%s", wsd_last_error(ctx));
    const char *prompts[4] = {"a red circle on a blue background", "a yellow square on a black background",
                              "a white triangle on a green background", "a purple circle on an orange background"};
    for (int k = 0; shapes && k < 4; k++)
        for (int sch = 0; sch < 2; sch++) {
            char prefix[32], label[64];
            snprintf(prefix, sizeof prefix, "p%d_", k);
            snprintf(label, sizeof label, "shapes p%d %s", k, sch ? "dpm++ 2m" : "pndm");
            pipeline_case c = {"shapes-sd15/golden/shapes_goldens.safetensors", label, sch ? WSD_SAMPLER_DPMPP_2M : WSD_SAMPLER_DEFAULT, 7.5f, 20, 64, "", 0};
            /* p{k}_latents_init is shared by both schedulers; results are per scheduler */
            char lat_prefix[32];
            snprintf(lat_prefix, sizeof lat_prefix, "p%d_%s_", k, sch ? "dpmpp2m" : "pndm");
            run_case(ctx, shapes, &c, prompts[k], prefix, lat_prefix, 1);
        }
    wsd_model_free(shapes);
    wsd_context_free(ctx);
    return tu_finish();
}

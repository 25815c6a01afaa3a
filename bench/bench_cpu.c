/* CPU benchmark on the real SD 1.5 shapes with random f16 weights
 * (random_model.h): text encoder, UNet per CFG step (batch 2) and VAE
 * decode at 128, 256 and/or 512 pixels, GFLOP/s per operator, peak RSS,
 * threads, and the machine's measured FMA peak beside the achieved rate.
 *
 *   bench_cpu [--size 128|256|512]... [--threads N] [--isa portable|avx2|avx512]
 *             [--reference] [--unet-runs N] [--vae-runs N] [--parts te,unet,vae] [--resident]
 *   bench_cpu --matmul [--threads N] [--isa NAME]   (the matmul shapes of bench/wasm/page.html,
 *             every instruction set this machine runs, 1 thread unless --threads)
 *
 * Each size runs in its own child process, so its peak RSS is its own: the
 * weights of the text encoder, UNet and VAE decoder plus activations and
 * scratch. The weights sit in a mapped (unlinked, temporary) file, as a real
 * checkpoint does under model_load_path, so the pages a txt2img run never
 * reads (most of the token embedding table; the VAE encoder, left out here)
 * do not count; --resident keeps them in plain memory instead (all count). UNet time is the median of --unet-runs steps after
 * one warm-up step (the pipeline reuses one compiled UNet for every step);
 * VAE time is its first run, compile included (as the pipeline runs it). */
#include "backends/backend.h"
#include "backends/cpu/cpu_fast.h"
#include "backends/cpu/fast_ops.h"
#include "backends/cpu/gemm.h"
#include "models/random_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int sizes[8], nsizes;
    int threads;
    const char *isa;
    int reference;
    int unet_runs, vae_runs;
    int te, unet, vae;
    int resident;
    int matmul;
} opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0;
}

/* Resident set now (from /proc/self/statm), 0 where unknown. */
static double rss_now_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long size = 0, res = 0;
    if (fscanf(f, "%ld %ld", &size, &res) != 2) res = 0;
    fclose(f);
    return (double)res * (double)sysconf(_SC_PAGESIZE);
}

static void cpu_name(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ') c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(buf, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

/* ---- FMA peak ---- */
typedef struct {
    const cpu_isa *isa;
    int64_t iters;
    double secs[256];
    float sink;
} peak_job;

static void peak_task(void *p, int64_t task, int thread)
{
    peak_job *j = p;
    double t = now_s();
    float s;
    j->isa->fma_loop(j->iters, &s);
    j->secs[task] = now_s() - t;
    j->sink += s * 0.0f;
    (void)thread;
}

static double measure_peak(cpu_ctx *c, int threads)
{
    peak_job j;
    memset(&j, 0, sizeof j);
    j.isa = c->isa;
    j.iters = 20000;
    /* calibrate to ~0.3 s per thread */
    for (;;) {
        double t = now_s();
        float s;
        c->isa->fma_loop(j.iters, &s);
        t = now_s() - t;
        if (t > 0.05) {
            j.iters = (int64_t)((double)j.iters * 0.3 / t);
            break;
        }
        j.iters *= 4;
    }
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        if (threads <= 1) {
            peak_task(&j, 0, 0);
        } else {
            cpu_parallel(c, threads, peak_task, &j);
        }
        double total = 0;
        for (int i = 0; i < (threads > 1 ? threads : 1); i++) total += (double)j.iters * c->isa->fma_flops / j.secs[i];
        if (total > best) best = total;
    }
    return best / 1e9;
}

/* ---- stages ---- */
typedef struct {
    wsd_cpu_profile prof;
    double wall, cpu, flops;
    size_t arena;
    double runs[16];
    int nruns;
    double rss_before, rss_after, peak_after; /* after compile, after the runs, peak so far */
} stage;

static uint64_t rng_state = 0x1234567;
static float randn(void)
{
    /* Box-Muller on a 64-bit LCG: inputs only */
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((rng_state >> 11) + 1.0) / 9007199254740993.0;
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (rng_state >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static double graph_flops(const wg_graph *g)
{
    double f = 0;
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i].op != WG_OP_RESHAPE) f += wg_node_flops(g, &g->nodes[i]);
    return f;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Builds, compiles and runs one graph `runs` times (after `warm` untimed runs). */
static int run_stage(wsd_backend *be, int is_fast, wg_graph *g, const char *const *in_names, float *const *in_data,
                     int n_in, const char *out_name, float *out, size_t out_n, int warm, int runs, int time_compile, stage *st)
{
    wsd_err err = {0};
    wg_plan plan = {0};
    wsd_exec *ex = NULL;
    memset(st, 0, sizeof *st);
    double tc0 = now_s(), cc0 = cpu_s();
    if (wg_plan_memory(g, &plan, &err) != WSD_OK || be->iface->compile(be, g, &plan, &ex, &err) != WSD_OK) {
        fprintf(stderr, "compile: %s\n", err.msg);
        return -1;
    }
    double compile_wall = now_s() - tc0, compile_cpu = cpu_s() - cc0;
    st->rss_before = rss_now_bytes();
    st->arena = is_fast ? wsd_cpu_exec_arena_bytes(ex) : plan.arena_bytes;
    for (int i = 0; i < n_in; i++) {
        int t = wg_find(g, in_names[i]);
        size_t bytes = (size_t)wg_numel(&g->t[t]) * wsd_dtype_size(g->t[t].dtype);
        if (be->iface->set_input(ex, t, in_data[i], bytes, &err) != WSD_OK) {
            fprintf(stderr, "input %s: %s\n", in_names[i], err.msg);
            return -1;
        }
    }
    st->flops = graph_flops(g);
    for (int r = 0; r < warm + runs; r++) {
        if (is_fast) wsd_cpu_exec_set_profile(ex, r >= warm ? &st->prof : NULL);
        double t0 = now_s(), c0 = cpu_s();
        if (be->iface->run(ex, NULL, NULL, &err) != WSD_OK) {
            fprintf(stderr, "run: %s\n", err.msg);
            return -1;
        }
        double dt = now_s() - t0, dc = cpu_s() - c0;
        if (r >= warm) {
            if (time_compile && r == warm) {
                dt += compile_wall;
                dc += compile_cpu;
            }
            st->runs[st->nruns++] = dt;
            st->cpu += dc;
        }
    }
    double sorted[16];
    memcpy(sorted, st->runs, sizeof(double) * (size_t)st->nruns);
    qsort(sorted, (size_t)st->nruns, sizeof(double), cmp_double);
    st->wall = sorted[st->nruns / 2];
    st->cpu /= st->nruns;
    int ot = wg_find(g, out_name);
    if (be->iface->get_output(ex, ot, out, out_n * sizeof(float), &err) != WSD_OK) {
        fprintf(stderr, "output: %s\n", err.msg);
        return -1;
    }
    st->rss_after = rss_now_bytes();
    if (getenv("WSD_BENCH_SMAPS")) {
        FILE *f = fopen("/proc/self/smaps_rollup", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "Rss", 3) || !strncmp(line, "Anonymous", 9) || !strncmp(line, "Pss_File", 8)) fprintf(stderr, "  %s", line);
        if (f) fclose(f);
    }
    st->peak_after = peak_rss_bytes();
    be->iface->exec_free(ex);
    return 0;
}

static void stats(const float *x, size_t n, double *mean, double *sd, int *finite)
{
    double s = 0, q = 0;
    *finite = 1;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) *finite = 0;
        s += x[i];
        q += (double)x[i] * x[i];
    }
    *mean = s / (double)n;
    *sd = sqrt(q / (double)n - *mean * *mean);
}

static void print_ops(const char *what, const stage *st, int runs)
{
    printf("  %-12s %-18s %6s %10s %10s %9s %9s %11s\n", what, "operator", "steps", "ms/run", "cpu ms/run", "GFLOP", "GFLOP/s", "GFLOP/cpu-s");
    double tot_s = 0, tot_c = 0, tot_f = 0;
    for (int op = 0; op < WG_OP_COUNT; op++) {
        if (!st->prof.steps[op]) continue;
        double s = st->prof.seconds[op] / runs, cs = st->prof.cpu_seconds[op] / runs, f = st->prof.flops[op] / runs;
        tot_s += s;
        tot_c += cs;
        tot_f += f;
        printf("  %-12s %-18s %6lld %10.1f %10.1f %9.2f %9.1f %11.1f\n", "", wg_op_name((wg_op)op), (long long)(st->prof.steps[op] / runs),
               s * 1e3, cs * 1e3, f / 1e9, s > 0 ? f / s / 1e9 : 0.0, cs > 0 ? f / cs / 1e9 : 0.0);
    }
    printf("  %-12s %-18s %6s %10.1f %10.1f %9.2f %9.1f %11.1f\n", "", "total", "", tot_s * 1e3, tot_c * 1e3, tot_f / 1e9,
           tot_s > 0 ? tot_f / tot_s / 1e9 : 0.0, tot_c > 0 ? tot_f / tot_c / 1e9 : 0.0);
}

static int bench_size(const opts *o, int size)
{
    wsd_err err = {0};
    random_model_opts ro;
    random_model_default_opts(&ro);
    ro.vae_encoder = 0; /* txt2img never reads it; a mapped checkpoint would not hold it in memory */
    ro.text_encoder = o->te || o->unet;
    ro.unet = o->unet;
    ro.vae_decoder = o->vae;
    ro.mapped = !o->resident;
    wsd_model *m = NULL;
    double t0 = now_s();
    if (random_model_create_ex(NULL, NULL, NULL, 1234, &ro, &m, &err) != WSD_OK) {
        fprintf(stderr, "random model: %s\n", err.msg);
        return 1;
    }
    double weight_bytes = 0;
    for (int c = 0; c < COMP_COUNT; c++) weight_bytes += (double)m->files[c].bytes.size;
    double gen_s = now_s() - t0;

    wsd_backend *be = NULL;
    wsd_backend_options bo = {o->threads, 0};
    wsd_status s = o->reference ? wsd_backend_cpu_ref_create(&bo, &be, &err) : wsd_backend_cpu_fast_create(&bo, o->isa, &be, &err);
    if (s != WSD_OK) {
        fprintf(stderr, "backend: %s\n", err.msg);
        model_free(m);
        return 1;
    }
    int fast = !o->reference;
    int lat = size / 8, T = m->clip.max_positions, D = m->clip.hidden, B = 2;
    printf("\n=== %dx%d (latent %dx%d), random f16 weights %.2f GB %s (made in %.1f s), UNet batch 2 (CFG) ===\n", size, size, lat, lat,
           weight_bytes / 1e9, o->resident ? "in memory" : "in a mapped file", gen_s);
    fflush(stdout);

    float *emb = malloc((size_t)B * T * D * sizeof(float));
    stage te = {0}, un = {0}, va = {0};
    int rc = 0;
    /* text encoder: [uncond, cond] */
    {
        int32_t *ids = malloc((size_t)B * T * sizeof(int32_t));
        for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((uint64_t)(i * 2654435761u) % (uint64_t)(m->clip.vocab - 2));
        wg_graph *g = model_graph_new(m, COMP_TEXT_ENCODER);
        clip_build(g, &m->clip, B, NULL);
        const char *names[1] = {"input_ids"};
        float *data[1] = {(float *)(void *)ids};
        if (run_stage(be, fast, g, names, data, 1, "last_hidden_state", emb, (size_t)B * T * D, 1, 3, 0, &te) != 0) rc = 1;
        wg_free(g);
        free(ids);
    }
    if (!rc && o->unet) {
        size_t n = (size_t)B * 4 * lat * lat;
        float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), ts[2] = {500.0f, 500.0f};
        for (size_t i = 0; i < n; i++) x[i] = randn();
        wg_graph *g = model_graph_new(m, COMP_UNET);
        unet_build(g, &m->unet, B, lat, lat, T, NULL);
        const char *names[3] = {"sample", "timestep", "encoder_hidden_states"};
        float *data[3] = {x, ts, emb};
        if (run_stage(be, fast, g, names, data, 3, "out", y, n, 1, o->unet_runs, 0, &un) != 0) rc = 1;
        double mean, sd;
        int fin;
        stats(y, n, &mean, &sd, &fin);
        if (!rc) printf("UNet output: mean %.3g std %.3g%s\n", mean, sd, fin ? "" : "  NON-FINITE");
        wg_free(g);
        free(x);
        free(y);
    }
    if (!rc && o->vae) {
        size_t n = (size_t)4 * lat * lat, npix = (size_t)3 * size * size;
        float *x = malloc(n * sizeof(float)), *img = malloc(npix * sizeof(float));
        for (size_t i = 0; i < n; i++) x[i] = randn();
        wg_graph *g = model_graph_new(m, COMP_VAE);
        vae_decoder_build(g, &m->vae, 1, lat, lat, NULL);
        const char *names[1] = {"latents"};
        float *data[1] = {x};
        if (run_stage(be, fast, g, names, data, 1, "image", img, npix, 0, o->vae_runs, 1, &va) != 0) rc = 1;
        double mean, sd;
        int fin;
        stats(img, npix, &mean, &sd, &fin);
        if (!rc) printf("VAE output: mean %.3g std %.3g%s\n", mean, sd, fin ? "" : "  NON-FINITE");
        wg_free(g);
        free(x);
        free(img);
    }
    if (rc) {
        wsd_backend_destroy(be);
        model_free(m);
        free(emb);
        return rc;
    }
    double rss = peak_rss_bytes();
    printf("%-22s %9s %9s %9s %9s %10s\n", "stage", "wall s", "cpu s", "GFLOP", "GFLOP/s", "arena MB");
    printf("%-22s %9.3f %9.3f %9.1f %9.1f %10.1f\n", "text encoder (B=2)", te.wall, te.cpu, te.flops / 1e9, te.flops / te.wall / 1e9, te.arena / 1e6);
    if (o->unet)
        printf("%-22s %9.3f %9.3f %9.1f %9.1f %10.1f\n", "UNet per CFG step", un.wall, un.cpu, un.flops / 1e9, un.flops / un.wall / 1e9, un.arena / 1e6);
    if (o->vae)
        printf("%-22s %9.3f %9.3f %9.1f %9.1f %10.1f\n", "VAE decode", va.wall, va.cpu, va.flops / 1e9, va.flops / va.wall / 1e9, va.arena / 1e6);
    if (o->unet) {
        printf("UNet step runs (s):");
        for (int i = 0; i < un.nruns; i++) printf(" %.3f", un.runs[i]);
        printf("\n");
    }
    if (o->vae && va.nruns > 1) {
        printf("VAE runs (s, first includes compile):");
        for (int i = 0; i < va.nruns; i++) printf(" %.3f", va.runs[i]);
        printf("\n");
    }
    printf("peak RSS %.3f GB (%.3f GiB); weights %.3f GB\n", rss / 1e9, rss / 1073741824.0, weight_bytes / 1e9);
    printf("RSS by stage (GB, after compile / after runs / peak so far):");
    printf(" TE %.3f/%.3f/%.3f", te.rss_before / 1e9, te.rss_after / 1e9, te.peak_after / 1e9);
    if (o->unet) printf(", UNet %.3f/%.3f/%.3f", un.rss_before / 1e9, un.rss_after / 1e9, un.peak_after / 1e9);
    if (o->vae) printf(", VAE %.3f/%.3f/%.3f", va.rss_before / 1e9, va.rss_after / 1e9, va.peak_after / 1e9);
    printf("\n");
    if (fast) {
        printf("per operator (wall time inside the runs):\n");
        if (o->unet) print_ops("UNet step", &un, un.nruns);
        if (o->vae) print_ops("VAE decode", &va, va.nruns);
    }
    static const struct { int size; double step, step_fa, vae, rss; } sdcpp[] = {
        {128, 1.96, 0, 5.2, 0}, {256, 8.8, 7.5, 19.4, 2.49}, {512, 48.5, 31.6, 72.7, 3.78},
    };
    for (size_t i = 0; i < sizeof sdcpp / sizeof *sdcpp; i++)
        if (sdcpp[i].size == size) {
            printf("stable-diffusion.cpp (2 threads, f16, issue 8): step %.2f s%s", sdcpp[i].step, sdcpp[i].step_fa > 0 ? "" : "");
            if (sdcpp[i].step_fa > 0) printf(" (%.1f s flash attention)", sdcpp[i].step_fa);
            printf(", VAE %.1f s", sdcpp[i].vae);
            if (sdcpp[i].rss > 0) printf(", peak RSS %.2f GB", sdcpp[i].rss);
            printf("\n");
        }
    fflush(stdout);
    wsd_backend_destroy(be);
    model_free(m);
    free(emb);
    return 0;
}

/* The matmul benchmark (the same shapes as bench/wasm/page.html): fast_linear,
 * y = x W^T, for every instruction set this machine runs. */
static int matmul_bench(const opts *o)
{
    static const int shapes[][4] = {{512, 512, 512, 0}, {1024, 1024, 1024, 0}, {2048, 320, 320, 1},
                                    {2048, 1280, 320, 1}, {154, 3072, 768, 1}, {128, 10240, 1280, 1}};
    printf("%-10s %-22s %9s %11s\n", "isa", "matmul (M N K, weights)", "GFLOP/s", "GFLOP/cpu-s");
    for (const char *const *name = cpu_isa_names(); *name; name++) {
        const cpu_isa *isa = cpu_isa_by_name(*name);
        if (!isa || (o->isa && strcmp(o->isa, *name))) continue;
        cpu_ctx *c = cpu_ctx_create(o->threads ? o->threads : 1, isa);
        if (!c) return 1;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int half = shapes[s][3];
            float *x = malloc((size_t)(M * K) * sizeof *x), *y = malloc((size_t)(M * N) * sizeof *y);
            void *w = malloc((size_t)(N * K) * (half ? 2 : 4));
            if (!x || !y || !w) return 1;
            for (int64_t i = 0; i < M * K; i++) x[i] = randn();
            for (int64_t i = 0; i < N * K; i++) {
                float v = 0.1f * randn();
                if (half) ((uint16_t *)w)[i] = wsd_f32_to_f16(v);
                else ((float *)w)[i] = v;
            }
            wsd_dtype dt = half ? WSD_DT_F16 : WSD_DT_F32;
            fast_linear(c, x, w, dt, NULL, NULL, y, M, K, N);
            int reps = 1;
            double sec = 0;
            for (;;) {
                double t0 = now_s();
                for (int r = 0; r < reps; r++) fast_linear(c, x, w, dt, NULL, NULL, y, M, K, N);
                sec = now_s() - t0;
                if (sec > 0.3) break;
                reps *= 2;
            }
            double best = sec / reps, bestc = 1e30;
            for (int rep = 0; rep < 3; rep++) {
                double t0 = now_s(), c0 = cpu_s();
                for (int r = 0; r < reps; r++) fast_linear(c, x, w, dt, NULL, NULL, y, M, K, N);
                double t = (now_s() - t0) / reps, ct = (cpu_s() - c0) / reps;
                if (t < best) best = t;
                if (ct < bestc) bestc = ct;
            }
            char label[64];
            snprintf(label, sizeof label, "%lld %lld %lld %s", (long long)M, (long long)N, (long long)K, half ? "f16" : "f32");
            printf("%-10s %-22s %9.1f %11.1f\n", *name, label, 2.0 * M * N * K / best / 1e9, 2.0 * M * N * K / bestc / 1e9);
            free(x);
            free(y);
            free(w);
        }
        double pk = measure_peak(c, 1);
        printf("%-10s %-22s %9.1f\n", *name, "multiply-add peak", pk);
        cpu_ctx_free(c);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_cpu [--size 128|256|512]... [--threads N] [--isa portable|avx2|avx512] [--reference]\n"
                    "                 [--unet-runs N] [--vae-runs N] [--parts te,unet,vae] [--resident] [--matmul]\n");
}

int main(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof o);
    o.unet_runs = 3;
    o.vae_runs = 1;
    o.te = o.unet = o.vae = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--size") && v) {
            if (o.nsizes < 8) o.sizes[o.nsizes++] = atoi(v);
            i++;
        } else if (!strcmp(a, "--threads") && v) {
            o.threads = atoi(v);
            i++;
        } else if (!strcmp(a, "--isa") && v) {
            o.isa = v;
            i++;
        } else if (!strcmp(a, "--matmul")) {
            o.matmul = 1;
        } else if (!strcmp(a, "--resident")) {
            o.resident = 1;
        } else if (!strcmp(a, "--reference")) {
            o.reference = 1;
        } else if (!strcmp(a, "--unet-runs") && v) {
            o.unet_runs = atoi(v);
            i++;
        } else if (!strcmp(a, "--vae-runs") && v) {
            o.vae_runs = atoi(v);
            i++;
        } else if (!strcmp(a, "--parts") && v) {
            o.te = strstr(v, "te") != NULL;
            o.unet = strstr(v, "unet") != NULL;
            o.vae = strstr(v, "vae") != NULL;
            i++;
        } else {
            usage();
            return 2;
        }
    }
    if (o.unet_runs < 1) o.unet_runs = 1;
    if (o.unet_runs > 15) o.unet_runs = 15;
    if (o.vae_runs < 1) o.vae_runs = 1;
    if (o.vae_runs > 15) o.vae_runs = 15;
    for (int i = 0; i < o.nsizes; i++)
        if (o.sizes[i] < 64 || o.sizes[i] % 64) {
            fprintf(stderr, "--size %d: use a multiple of 64 (128, 256, 512)\n", o.sizes[i]);
            return 2;
        }
    if (!o.nsizes) o.sizes[o.nsizes++] = 128;
    if (o.matmul) return matmul_bench(&o);

    char cpu[256];
    cpu_name(cpu, sizeof cpu);
    time_t now = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&now));
    cpu_ctx *c = cpu_ctx_create(o.threads, o.isa ? cpu_isa_by_name(o.isa) : NULL);
    if (!c) {
        fprintf(stderr, "cannot create the thread pool\n");
        return 1;
    }
    if (o.isa && !cpu_isa_by_name(o.isa)) {
        fprintf(stderr, "--isa %s: not available on this machine\n", o.isa);
        return 2;
    }
    printf("wsd CPU benchmark, %s, %s (%ld online CPUs), load average at start:", date, cpu, sysconf(_SC_NPROCESSORS_ONLN));
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        char l[128] = {0};
        if (fgets(l, sizeof l, la)) printf(" %.*s", (int)strcspn(l, " "), l);
        fclose(la);
    }
    printf("\nbackend %s, isa %s, %d threads\n", o.reference ? "reference (float32 weights)" : "fast", o.reference ? "-" : c->isa->name, c->threads);
    double p1 = measure_peak(c, 1), pn = c->threads > 1 ? measure_peak(c, c->threads) : p1;
    printf("measured FMA peak (%s): 1 thread %.1f GFLOP/s, %d threads %.1f GFLOP/s\n", c->isa->name, p1, c->threads, pn);
    cpu_ctx_free(c);
    fflush(stdout);

    int rc = 0;
    for (int i = 0; i < o.nsizes; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc |= bench_size(&o, o.sizes[i]);
            continue;
        }
        if (pid == 0) _exit(bench_size(&o, o.sizes[i]));
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "size %d failed\n", o.sizes[i]);
            rc = 1;
        }
    }
    return rc;
}

/* `wsd run` end to end: builds input files from the goldens, runs the CLI
 * (WSD_CLI, else the wsd binary in the build tree) for the UNet (plain and
 * --debug) and every other component, and compares what it wrote with the
 * goldens (bounds of shared/reference/README.md).
 *
 * Also a helper for tests/cli_run.sh (which has no safetensors reader):
 *   test_cli_run make-inputs DIR            writes te_in / unet_in / vae_dec_in / vae_enc_in .safetensors
 *   test_cli_run compare OUT NAME GOLD NAME exit 0 when OUT:NAME matches GOLD:NAME within the bounds
 *   test_cli_run names OUT NAME...          exit 0 when OUT holds exactly these tensors */
#include "io/safetensors.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define REL 1e-5
#define ABS 1e-4

static const char *cli_path(void)
{
    const char *c = getenv("WSD_CLI");
    return c && *c ? c : WSD_BINARY_DIR "/wsd";
}

/* Copies tensors (golden name -> input name) into a new file. */
static int copy_tensors(const char *gold_path, const char *const *pairs, int n, const float *timestep, const char *out)
{
    wsd_err err = {0};
    st_file gold;
    if (st_open(gold_path, &gold, &err) != WSD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    st_writer *w = st_writer_new();
    int ok = w != NULL;
    for (int i = 0; ok && i < n; i++) {
        const st_tensor *t = st_find(&gold, pairs[2 * i]);
        if (!t) {
            fprintf(stderr, "%s: no tensor %s\n", gold_path, pairs[2 * i]);
            ok = 0;
            break;
        }
        ok = st_writer_add(w, pairs[2 * i + 1], t->dtype, t->ndim, t->shape, t->data, &err) == WSD_OK;
    }
    if (ok && timestep) ok = st_writer_add(w, "timestep", WSD_DT_F32, 0, NULL, timestep, &err) == WSD_OK; /* 0-dim, as the pipeline passes it */
    if (ok) ok = st_writer_save(w, out, &err) == WSD_OK;
    if (!ok && err.msg[0]) fprintf(stderr, "%s\n", err.msg);
    st_writer_free(w);
    st_close(&gold);
    return ok;
}

static int make_inputs(const char *dir)
{
    char p[1200];
    float t981 = 981.0f;
    int ok = 1;
    snprintf(p, sizeof p, "%s/te_in.safetensors", dir);
    ok &= copy_tensors(tu_shared("reference/golden/text_encoder.safetensors"), (const char *const[]){"input_ids", "input_ids"}, 1, NULL, p);
    snprintf(p, sizeof p, "%s/unet_in.safetensors", dir);
    ok &= copy_tensors(tu_shared("reference/golden/unet.safetensors"),
                       (const char *const[]){"sample", "sample", "encoder_hidden_states", "encoder_hidden_states"}, 2, &t981, p);
    snprintf(p, sizeof p, "%s/vae_dec_in.safetensors", dir);
    ok &= copy_tensors(tu_shared("reference/golden/vae.safetensors"), (const char *const[]){"dec_input", "latents"}, 1, NULL, p);
    snprintf(p, sizeof p, "%s/vae_enc_in.safetensors", dir);
    ok &= copy_tensors(tu_shared("reference/golden/vae.safetensors"), (const char *const[]){"enc_input", "image"}, 1, NULL, p);
    return ok;
}

/* OUT:name against GOLD:gname (whole tensors, same element count). */
static int compare(const char *out_path, const char *name, const char *gold_path, const char *gname)
{
    wsd_err err = {0};
    st_file a, b;
    if (st_open(out_path, &a, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return 0;
    }
    if (st_open(gold_path, &b, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        st_close(&a);
        return 0;
    }
    int ok = 0;
    const st_tensor *ta = st_find(&a, name), *tb = st_find(&b, gname);
    float *fa = NULL, *fb = NULL;
    if (!ta || !tb) {
        CHECKF(0, "missing %s in %s or %s in %s", name, out_path, gname, gold_path);
    } else if (ta->dtype != WSD_DT_F32 || ta->numel != tb->numel || ta->ndim != tb->ndim || memcmp(ta->shape, tb->shape, sizeof(int64_t) * (size_t)ta->ndim)) {
        CHECKF(0, "%s: %s is not float32 of the golden's shape", out_path, name);
    } else if (st_read_f32(&a, name, ta->ndim, ta->shape, &fa, &err) == WSD_OK && st_read_f32(&b, gname, tb->ndim, tb->shape, &fb, &err) == WSD_OK) {
        char label[600];
        snprintf(label, sizeof label, "wsd run: %s vs %s", name, gname);
        ok = tu_check_close(label, fa, fb, (size_t)ta->numel, REL, ABS);
    } else {
        CHECKF(0, "%s", err.msg);
    }
    free(fa);
    free(fb);
    st_close(&a);
    st_close(&b);
    return ok;
}

/* The file holds exactly `names` (in any order). */
static int has_exactly(const char *path, const char *const *names, int n)
{
    wsd_err err = {0};
    st_file f;
    if (st_open(path, &f, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return 0;
    }
    int ok = (int)f.count == n;
    for (int i = 0; ok && i < n; i++) ok = st_find(&f, names[i]) != NULL;
    if (!ok) {
        fprintf(stderr, "%s holds %zu tensors:", path, f.count);
        for (size_t i = 0; i < f.count && i < 8; i++) fprintf(stderr, " %s", f.tensors[i].name);
        fprintf(stderr, "%s; expected %d:", f.count > 8 ? " ..." : "", n);
        for (int i = 0; i < n; i++) fprintf(stderr, " %s", names[i]);
        fputc('\n', stderr);
    }
    st_close(&f);
    return ok;
}

/* Runs `wsd ARGS`, stderr to a file; returns the exit code (-1 if it did not exit). */
static int run_cli(const char *args, const char *err_path)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>'%s' >/dev/null", cli_path(), args, err_path);
    int st = system(cmd);
    if (st == -1 || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strstr(buf, needle) != NULL;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "make-inputs")) return make_inputs(argv[2]) ? 0 : 1;
    if (argc == 6 && !strcmp(argv[1], "compare")) return compare(argv[2], argv[3], argv[4], argv[5]) ? 0 : 1;
    if (argc >= 3 && !strcmp(argv[1], "names")) return has_exactly(argv[2], (const char *const *)argv + 3, argc - 3) ? 0 : 1;
    if (argc != 1) {
        fprintf(stderr, "usage: test_cli_run [make-inputs DIR | compare OUT NAME GOLD NAME | names OUT NAME...]\n");
        return 2;
    }

    const char *tmp = tu_tmpdir(), *model = tu_shared("reference/tiny-sd15");
    char gold_unet[1024], gold_te[1024], gold_vae[1024];
    snprintf(gold_unet, sizeof gold_unet, "%s", tu_shared("reference/golden/unet.safetensors"));
    snprintf(gold_te, sizeof gold_te, "%s", tu_shared("reference/golden/text_encoder.safetensors"));
    snprintf(gold_vae, sizeof gold_vae, "%s", tu_shared("reference/golden/vae.safetensors"));
    CHECK(make_inputs(tmp));
    printf("cli: %s\n", cli_path());
    char args[3000], out[1200], errp[1200];
    snprintf(errp, sizeof errp, "%s/stderr.txt", tmp);

    /* UNet at t=981: only "out" without --debug */
    snprintf(out, sizeof out, "%s/unet_out.safetensors", tmp);
    snprintf(args, sizeof args, "run unet --model '%s' --in '%s/unet_in.safetensors' --out '%s'", model, tmp, out);
    int rc = run_cli(args, errp);
    CHECKF(rc == 0, "wsd run unet exited %d", rc);
    if (rc == 0) {
        CHECK(has_exactly(out, (const char *const[]){"out"}, 1));
        compare(out, "out", gold_unet, "out_t981");
    }

    /* --debug adds the intermediates under the golden names (t981/NAME -> NAME) */
    snprintf(out, sizeof out, "%s/unet_debug.safetensors", tmp);
    snprintf(args, sizeof args, "run unet --debug --threads 1 --model '%s' --in '%s/unet_in.safetensors' --out '%s'", model, tmp, out);
    rc = run_cli(args, errp);
    CHECKF(rc == 0, "wsd run unet --debug exited %d", rc);
    if (rc == 0) {
        wsd_err err = {0};
        st_file gold;
        compare(out, "out", gold_unet, "out_t981");
        if (st_open(gold_unet, &gold, &err) == WSD_OK) {
            int n = 0;
            for (size_t i = 0; i < gold.count; i++)
                if (!strncmp(gold.tensors[i].name, "t981/", 5)) {
                    compare(out, gold.tensors[i].name + 5, gold_unet, gold.tensors[i].name);
                    n++;
                }
            CHECKF(n == 20, "%d UNet intermediates in the golden", n);
            st_close(&gold);
        }
    }

    /* The other components: output names and values */
    snprintf(out, sizeof out, "%s/te_out.safetensors", tmp);
    snprintf(args, sizeof args, "run text_encoder --model '%s' --in '%s/te_in.safetensors' --out '%s'", model, tmp, out);
    rc = run_cli(args, errp);
    CHECKF(rc == 0, "wsd run text_encoder exited %d", rc);
    if (rc == 0 && has_exactly(out, (const char *const[]){"last_hidden_state"}, 1))
        compare(out, "last_hidden_state", gold_te, "last_hidden_state");

    snprintf(out, sizeof out, "%s/vae_dec_out.safetensors", tmp);
    snprintf(args, sizeof args, "run vae_decoder --model '%s' --in '%s/vae_dec_in.safetensors' --out '%s'", model, tmp, out);
    rc = run_cli(args, errp);
    CHECKF(rc == 0, "wsd run vae_decoder exited %d", rc);
    if (rc == 0 && has_exactly(out, (const char *const[]){"image"}, 1)) compare(out, "image", gold_vae, "dec_output");

    snprintf(out, sizeof out, "%s/vae_enc_out.safetensors", tmp);
    snprintf(args, sizeof args, "run vae_encoder --model '%s' --in '%s/vae_enc_in.safetensors' --out '%s'", model, tmp, out);
    rc = run_cli(args, errp);
    CHECKF(rc == 0, "wsd run vae_encoder exited %d", rc);
    if (rc == 0 && has_exactly(out, (const char *const[]){"mean", "logvar"}, 2)) {
        compare(out, "mean", gold_vae, "enc_mean");
        compare(out, "logvar", gold_vae, "enc_logvar");
    }

    /* Failures: exit 1 and a message naming the problem */
    snprintf(args, sizeof args, "run unet --model '%s' --in '%s/vae_dec_in.safetensors' --out '%s/x.safetensors'", model, tmp, tmp);
    rc = run_cli(args, errp);
    CHECKF(rc == 1 && file_contains(errp, "vae_dec_in.safetensors") && file_contains(errp, "\"sample\""), "unet on the wrong input: exit %d", rc);
    snprintf(args, sizeof args, "run unet --model '%s' --in '%s/unet_in.safetensors' --out '%s/no/such/dir/x.safetensors'", model, tmp, tmp);
    rc = run_cli(args, errp);
    CHECKF(rc == 1 && file_contains(errp, "no/such/dir/x.safetensors"), "unwritable output: exit %d", rc);
    /* Bad usage: exit 2 */
    snprintf(args, sizeof args, "run unet --model '%s' --in '%s/unet_in.safetensors'", model, tmp);
    rc = run_cli(args, errp);
    CHECKF(rc == 2 && file_contains(errp, "--out"), "missing --out: exit %d", rc);
    return tu_finish();
}

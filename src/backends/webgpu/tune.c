/* Kernel tuning database: see tune.h. */
#include "backends/webgpu/tune.h"
#include "backends/webgpu/wgsl_embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tune_entry {
    char *adapter, *sig, *variant, *note;
} tune_entry;

struct wsd_tune_db {
    tune_entry *e;
    int n, cap;
};

void wsd_tune_adapter_key(const gpu_caps *caps, char *out, size_t cap)
{
    snprintf(out, cap, "%x:%x:%s", caps->vendor_id, caps->device_id, caps->backend);
}

static tune_entry *find(const wsd_tune_db *db, const char *adapter, const char *sig)
{
    for (int i = 0; i < db->n; i++)
        if (!strcmp(db->e[i].adapter, adapter) && !strcmp(db->e[i].sig, sig)) return &db->e[i];
    return NULL;
}

int wsd_tune_db_set(wsd_tune_db *db, const char *adapter, const char *sig, const char *variant, const char *note)
{
    tune_entry *e = find(db, adapter, sig);
    if (!e) {
        if (db->n == db->cap) {
            int nc = db->cap ? db->cap * 2 : 64;
            tune_entry *ne = realloc(db->e, (size_t)nc * sizeof *ne);
            if (!ne) return -1;
            db->e = ne;
            db->cap = nc;
        }
        e = &db->e[db->n];
        memset(e, 0, sizeof *e);
        e->adapter = wsd_strdup(adapter);
        e->sig = wsd_strdup(sig);
        if (!e->adapter || !e->sig) {
            free(e->adapter);
            free(e->sig);
            return -1;
        }
        db->n++;
    }
    char *v = wsd_strdup(variant), *nt = wsd_strdup(note ? note : "");
    if (!v || !nt) {
        free(v);
        free(nt);
        return -1;
    }
    free(e->variant);
    free(e->note);
    e->variant = v;
    e->note = nt;
    return 0;
}

int wsd_tune_db_add_text(wsd_tune_db *db, const char *text)
{
    int added = 0;
    const char *p = text;
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len && p[0] != '#') {
            char *line = wsd_strndup(p, len);
            if (!line) return added;
            if (len && line[len - 1] == '\r') line[len - 1] = 0;
            char *f[4] = {line, NULL, NULL, NULL};
            int nf = 1;
            for (char *q = line; *q && nf < 4; q++)
                if (*q == '\t') {
                    *q = 0;
                    f[nf++] = q + 1;
                }
            if (nf >= 3 && f[0][0] && f[1][0] && f[2][0])
                if (wsd_tune_db_set(db, f[0], f[1], f[2], nf > 3 ? f[3] : "") == 0) added++;
            free(line);
        }
        p = eol ? eol + 1 : NULL;
    }
    return added;
}

wsd_tune_db *wsd_tune_db_load(char *warn, size_t warn_cap)
{
    if (warn && warn_cap) warn[0] = 0;
    wsd_tune_db *db = calloc(1, sizeof *db);
    if (!db) return NULL;
    const char *emb = wsd_wgsl_get("tuning");
    if (emb) wsd_tune_db_add_text(db, emb);
    const char *path = getenv("WSD_TUNE_DB");
    if (path && *path) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            if (warn) snprintf(warn, warn_cap, "cannot read tuning database %s (WSD_TUNE_DB); using the built-in one", path);
        } else {
            size_t cap = 1 << 16, n = 0;
            char *buf = malloc(cap);
            while (buf) {
                size_t r = fread(buf + n, 1, cap - n - 1, f);
                n += r;
                if (n + 1 < cap) break;
                char *nb = realloc(buf, cap * 2);
                if (!nb) {
                    free(buf);
                    buf = NULL;
                    break;
                }
                buf = nb;
                cap *= 2;
            }
            fclose(f);
            if (buf) {
                buf[n] = 0;
                wsd_tune_db_add_text(db, buf);
                free(buf);
            }
        }
    }
    return db;
}

void wsd_tune_db_free(wsd_tune_db *db)
{
    if (!db) return;
    for (int i = 0; i < db->n; i++) {
        free(db->e[i].adapter);
        free(db->e[i].sig);
        free(db->e[i].variant);
        free(db->e[i].note);
    }
    free(db->e);
    free(db);
}

const char *wsd_tune_db_lookup(const wsd_tune_db *db, const char *adapter, const char *sig)
{
    if (!db) return NULL;
    const tune_entry *e = find(db, adapter, sig);
    return e ? e->variant : NULL;
}

const char *wsd_tune_db_lookup_near(const wsd_tune_db *db, const char *adapter, const char *sig)
{
    const char *v = wsd_tune_db_lookup(db, adapter, sig);
    if (v || !db) return v;
    const char *c1 = strchr(adapter, ':'), *c2 = strrchr(adapter, ':');
    if (!c1 || c1 == c2) return NULL;
    size_t nv = (size_t)(c1 - adapter) + 1; /* "vendor:" */
    for (int i = 0; i < db->n; i++) {
        const char *a = db->e[i].adapter, *b = strrchr(a, ':');
        if (strncmp(a, adapter, nv) || !b || strcmp(b, c2) || strcmp(db->e[i].sig, sig)) continue;
        return db->e[i].variant;
    }
    return NULL;
}

int wsd_tune_db_count(const wsd_tune_db *db) { return db ? db->n : 0; }

static int cmp_entry(const void *a, const void *b)
{
    const tune_entry *x = a, *y = b;
    int c = strcmp(x->adapter, y->adapter);
    return c ? c : strcmp(x->sig, y->sig);
}

int wsd_tune_db_write(const wsd_tune_db *db, const char *path)
{
    tune_entry *s = malloc((size_t)(db->n ? db->n : 1) * sizeof *s);
    if (!s) return -1;
    memcpy(s, db->e, (size_t)db->n * sizeof *s);
    qsort(s, (size_t)db->n, sizeof *s, cmp_entry);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(s);
        return -1;
    }
    fprintf(f, "# wsd WebGPU kernel tuning database (written by `wsd tune`; see src/backends/webgpu/tune.h).\n");
    fprintf(f, "# adapter (vendor:device:backend)\tsignature\tvariant\tnote\n");
    for (int i = 0; i < db->n; i++)
        fprintf(f, "%s\t%s\t%s%s%s\n", s[i].adapter, s[i].sig, s[i].variant, s[i].note[0] ? "\t" : "", s[i].note);
    free(s);
    return fclose(f) == 0 ? 0 : -1;
}

// capnp_testutil.h: what the Cap'n Proto tests that drive the `capnp` tool
// share: running a command, reading and writing files, and finding the
// corpus (tests/capnp) and a private temporary folder. Include it once, in
// a test program, after <cmocka.h>.
#ifndef DTSI_CAPNP_TESTUTIL_H
#define DTSI_CAPNP_TESTUTIL_H

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char ct_corpus[1024]; // tests/capnp
static char ct_tmp[64];      // made by ct_setup, removed by ct_teardown
static unsigned ct_runs;     // commands run

// ct_sh runs a shell command line built with printf formatting and returns
// its exit status (0 on success), printing the line when it fails.
__attribute__((format(printf, 1, 2))) static inline int
ct_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ct_runs++;
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

// ct_slurp reads a whole file into a new buffer (free it), NUL-terminated
// after its *len bytes.
static inline uint8_t *
ct_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 4096, n = 0, got;
    uint8_t *buf = malloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

// ct_spill writes len bytes to a file.
static inline void
ct_spill(const char *path, const void *d, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, len, f), len);
    fclose(f);
}

// ct_setup finds the corpus (DTS_SRC, else DTS_SOURCE_DIR when the build
// defines it, else this file's path) and makes ct_tmp from a template such
// as "/tmp/dts_capnp_XXXXXX". Returns 0 or -1, as cmocka setups do.
static inline int
ct_setup(const char *tmp_template)
{
    const char *src = getenv("DTS_SRC");
#ifdef DTS_SOURCE_DIR
    if (!src) src = DTS_SOURCE_DIR;
#endif
    if (src) {
        snprintf(ct_corpus, sizeof ct_corpus, "%s/tests/capnp", src);
    } else {
        snprintf(ct_corpus, sizeof ct_corpus, "%s", __FILE__);
        char *cut = strstr(ct_corpus, "/src/codec/capnp/");
        if (!cut) return -1;
        strcpy(cut, "/tests/capnp");
    }
    snprintf(ct_tmp, sizeof ct_tmp, "%s", tmp_template);
    return mkdtemp(ct_tmp) ? 0 : -1;
}

static int
ct_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// ct_each_schema calls fn with the name, without ".capnp", of every schema
// of the corpus, in name order.
static inline void
ct_each_schema(void (*fn)(const char *name))
{
    DIR *d = opendir(ct_corpus);
    assert_non_null(d);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 6 && strcmp(e->d_name + l - 6, ".capnp") == 0)
            names[n++] = strndup(e->d_name, l - 6);
    }
    closedir(d);
    qsort(names, n, sizeof *names, ct_name_cmp);
    for (size_t i = 0; i < n; i++) {
        fn(names[i]);
        free(names[i]);
    }
}

// ct_teardown removes ct_tmp, unless DTS_CAPNP_KEEP is set (for debugging).
static inline int
ct_teardown(void)
{
    if (getenv("DTS_CAPNP_KEEP")) return 0;
    return ct_sh("rm -rf '%s'", ct_tmp);
}

#endif

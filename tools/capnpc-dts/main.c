// main.c: capnpc-dts, the Cap'n Proto code generator plugin of dts (issue 5
// item 2; docs/spec/capnp.md, "Code generator"). `capnp compile -odts
// FILE.capnp` runs it with the CodeGeneratorRequest on stdin and the output
// directory as the current directory; it writes FILE.capnp.h and
// FILE.capnp.c (basename of each requested file) there. Exit status 0 on
// success, 1 with a message on stderr otherwise.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

// main_slurp reads all of stdin (bounded by the request limit).
static uint8_t *
main_slurp(size_t *len)
{
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= (size_t)DTS_CAPNP_MAX_WORDS * 8) break; // parse reports ETOOBIG
            uint8_t *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    *len = n;
    return buf;
}

int
main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: capnp compile -odts FILE.capnp (request on stdin)\n");
        return 1;
    }
    size_t len;
    uint8_t *buf = main_slurp(&len);
    if (!buf) {
        fprintf(stderr, "capnpc-dts: out of memory\n");
        return 1;
    }
    char err[256];
    dtsi_cgr *g = NULL;
    uint8_t *nodes = NULL;
    size_t nodes_len = 0;
    dts_err e = dtsi_cgr_parse(buf, len, NULL, &g, err, sizeof err);
    const char *no_schema = getenv("CAPNPC_DTS_NO_SCHEMA");
    if (e == DTS_OK && !(no_schema && *no_schema)) {
        e = gen_nodes_only(buf, len, &nodes, &nodes_len);
        if (e) snprintf(err, sizeof err, "%s", dts_strerror(e));
    }
    free(buf);
    if (e != DTS_OK) {
        fprintf(stderr, "capnpc-dts: bad request: %s\n", err);
        dtsi_cgr_free(g);
        return 1;
    }
    gen x = {.g = g, .nodes = nodes, .nodes_len = nodes_len};
    int rc = 0;
    for (uint32_t i = 0; i < dtsi_cgr_file_count(g) && rc == 0; i++) {
        const dtsi_cgr_file *f = dtsi_cgr_file_at(g, i);
        const dtsi_cgr_node *node = dtsi_cgr_find(g, f->id);
        if (!node || node->kind != DTSI_CGR_NODE_FILE) {
            fprintf(stderr, "capnpc-dts: %s: file node missing\n", f->filename);
            rc = 1;
        } else if (gen_file(&x, node, f->filename) != 0) {
            rc = 1;
        }
    }
    gen_free(&x);
    dtsi_cgr_free(g);
    dts_codec_free(nodes);
    return rc;
}

// gen.h: the emitter of capnpc-dts, the Cap'n Proto code generator of dts
// (issue 5 item 2; docs/spec/capnp.md, "Code generator"). main.c reads the
// compiler's CodeGeneratorRequest into the dtsi_cgr model (src/codec/capnp/
// cgr.h); the functions here write, per requested file, FILE.capnp.h and
// FILE.capnp.c with typed readers and builders over the runtime (capnp.h).
// Single-threaded; every string returned is from malloc and owned by the
// generator's arena (gen_free releases all of them).
#ifndef CAPNPC_DTS_GEN_H
#define CAPNPC_DTS_GEN_H

#include <stdio.h>

#include "codec/capnp/cgr.h"

typedef struct gen {
    dtsi_cgr *g;
    const dtsi_cgr_node *file; // the file being generated
    const char *base;          // its basename ("brewery.capnp")
    const char *prefix;        // C prefix of its names ("brewery")
    FILE *h, *c;
    // The request's nodes (a CodeGeneratorRequest holding only them), from
    // which each struct's NAME_schema() builds the schema that travels;
    // NULL when CAPNPC_DTS_NO_SCHEMA is set (the bootstrap).
    const uint8_t *nodes;
    size_t nodes_len;
    // The headers of imported files whose types the file uses.
    const char *imports[64];
    size_t nimports;
    char **strs; // every string made by gen_fmt, freed by gen_free
    size_t nstrs, capstrs;
    int failed;
} gen;

// gen_fmt formats a string owned by the generator (exits on ENOMEM).
char *gen_fmt(gen *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gen_free(gen *x);

// gen_cname is the C name of a node: the prefix of its file, then its
// scope with dots as underscores ("brewery_Temperature_Unit").
const char *gen_cname(gen *x, const dtsi_cgr_node *n);
// gen_file_prefix makes the C prefix of a file name: its basename without
// ".capnp", other characters than [A-Za-z0-9_] as '_', and an 's' in front
// of a leading digit. CAPNPC_DTS_PREFIX in the environment overrides it.
const char *gen_file_prefix(gen *x, const char *filename);

// gen_nodes_only writes a copy of the request (len bytes, stream framing)
// that keeps only its nodes (no source info, no requested files) into *out
// (free with dts_codec_free).
dts_err gen_nodes_only(const uint8_t *req, size_t len, uint8_t **out, size_t *outlen);

// gen_file writes base.h and base.c for the file node into the current
// directory. Returns 0 or -1 (a message on stderr).
int gen_file(gen *x, const dtsi_cgr_node *file, const char *filename);

// Struct emission (gen_struct.c): types and size constants, prototypes, and
// the definitions of a struct or group node.
void gen_struct_types(gen *x, const dtsi_cgr_node *n);
void gen_struct_decls(gen *x, const dtsi_cgr_node *n);
void gen_struct_defs(gen *x, const dtsi_cgr_node *n);
// gen_struct_layout writes the rows of the layout table of node n (path is
// the node's short name) into the .c file.
void gen_struct_layout(gen *x, const dtsi_cgr_node *n, const char *path, int top);

// Type helpers
const char *gen_ctype(gen *x, const dtsi_cgr_type *t); // C type of a primitive or enum
unsigned gen_esize(const dtsi_cgr_type *t);            // DTS_CAPNP_* list element size
const char *gen_rt(dtsi_cgr_kind k);                   // runtime suffix: bool, u8 ... u64
int gen_is_ptr(dtsi_cgr_kind k);
// gen_cstr writes len bytes as a C string literal.
void gen_cstr(FILE *f, const uint8_t *s, size_t len);

#endif

// gen.c: names, types, enums, constants and the per-file driver of
// capnpc-dts (gen.h). The struct accessors are in gen_struct.c.
#define _GNU_SOURCE // vasprintf
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "codec/capnp/dyn.h"
#include "gen.h"

char *
gen_fmt(gen *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        fprintf(stderr, "capnpc-dts: out of memory\n");
        exit(1);
    }
    if (x->nstrs == x->capstrs) {
        x->capstrs = x->capstrs ? 2 * x->capstrs : 256;
        x->strs = realloc(x->strs, x->capstrs * sizeof *x->strs);
        if (!x->strs) exit(1);
    }
    x->strs[x->nstrs++] = s;
    return s;
}

void
gen_free(gen *x)
{
    for (size_t i = 0; i < x->nstrs; i++) free(x->strs[i]);
    free(x->strs);
    x->strs = NULL;
    x->nstrs = x->capstrs = 0;
}

const char *
gen_file_prefix(gen *x, const char *filename)
{
    const char *env = getenv("CAPNPC_DTS_PREFIX");
    if (env && *env) return env;
    const char *b = strrchr(filename, '/');
    b = b ? b + 1 : filename;
    size_t n = strlen(b);
    if (n > 6 && strcmp(b + n - 6, ".capnp") == 0) n -= 6;
    char *s = gen_fmt(x, "s%.*s", (int)n, b);
    for (char *p = s + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_') *p = '_';
    return isdigit((unsigned char)s[1]) ? s : s + 1;
}

// The C name: the prefix of the node's own file (from its display name
// "dir/file.capnp:Outer.Inner"), then the scope with '_' for '.'.
const char *
gen_cname(gen *x, const dtsi_cgr_node *n)
{
    const char *dn = n->display_name;
    const char *colon = strchr(dn, ':');
    size_t flen = colon ? (size_t)(colon - dn) : strlen(dn);
    const char *pfx = gen_file_prefix(x, gen_fmt(x, "%.*s", (int)flen, dn));
    char *s = gen_fmt(x, "%s_%s", pfx, dtsi_cgr_short_name(n));
    for (char *p = s; *p; p++)
        if (*p == '.') *p = '_';
    return s;
}

const char *
gen_rt(dtsi_cgr_kind k)
{
    switch (dtsi_cgr_kind_bits(k)) {
    case 1:
        return "bool";
    case 8:
        return "u8";
    case 16:
        return "u16";
    case 32:
        return "u32";
    default:
        return "u64";
    }
}

int
gen_is_ptr(dtsi_cgr_kind k)
{
    return k == DTSI_CGR_TEXT || k == DTSI_CGR_DATA || k == DTSI_CGR_LIST || k == DTSI_CGR_STRUCT ||
           k == DTSI_CGR_INTERFACE || k == DTSI_CGR_ANYPOINTER;
}

const char *
gen_ctype(gen *x, const dtsi_cgr_type *t)
{
    switch (t->kind) {
    case DTSI_CGR_BOOL:
        return "bool";
    case DTSI_CGR_INT8:
        return "int8_t";
    case DTSI_CGR_INT16:
        return "int16_t";
    case DTSI_CGR_INT32:
        return "int32_t";
    case DTSI_CGR_INT64:
        return "int64_t";
    case DTSI_CGR_UINT8:
        return "uint8_t";
    case DTSI_CGR_UINT16:
        return "uint16_t";
    case DTSI_CGR_UINT32:
        return "uint32_t";
    case DTSI_CGR_UINT64:
        return "uint64_t";
    case DTSI_CGR_FLOAT32:
        return "float";
    case DTSI_CGR_FLOAT64:
        return "double";
    case DTSI_CGR_ENUM:
        return t->node ? gen_cname(x, t->node) : "uint16_t";
    default:
        return "void";
    }
}

unsigned
gen_esize(const dtsi_cgr_type *t)
{
    switch (dtsi_cgr_kind_bits(t->kind)) {
    case 1:
        return DTS_CAPNP_BIT;
    case 8:
        return DTS_CAPNP_BYTE;
    case 16:
        return DTS_CAPNP_TWO;
    case 32:
        return DTS_CAPNP_FOUR;
    case 64:
        return DTS_CAPNP_EIGHT;
    default:
        break;
    }
    if (t->kind == DTSI_CGR_VOID) return DTS_CAPNP_VOID;
    if (t->kind == DTSI_CGR_STRUCT) return DTS_CAPNP_COMPOSITE;
    return DTS_CAPNP_POINTER;
}

void
gen_cstr(FILE *f, const uint8_t *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            fprintf(f, "\\%c", s[i]);
        else if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '?')
            fputc(s[i], f);
        else
            fprintf(f, "\\%03o", s[i]);
    }
    fputc('"', f);
}

// ---------------------------------------------------------------------------
// Enums and constants

static void
gen_enum(gen *x, const dtsi_cgr_node *n)
{
    const char *cn = gen_cname(x, n);
    fprintf(x->h, "\n// %s\ntypedef enum %s {\n", n->display_name, cn);
    for (uint32_t i = 0; i < n->nenumerants; i++)
        fprintf(x->h, "    %s_%s = %u,\n", cn, n->enumerants[i].name, i);
    fprintf(x->h, "} %s;\n#define %s_TYPE_ID UINT64_C(0x%016llx)\n", cn, cn,
            (unsigned long long)n->id);
}

// gen_int_lit writes the value bits of an integer type as a C expression.
static const char *
gen_int_lit(gen *x, dtsi_cgr_kind k, uint64_t bits)
{
    switch (k) {
    case DTSI_CGR_BOOL:
        return bits & 1 ? "true" : "false";
    case DTSI_CGR_INT8:
        return gen_fmt(x, "((int8_t)%d)", (int8_t)bits);
    case DTSI_CGR_INT16:
        return gen_fmt(x, "((int16_t)%d)", (int16_t)bits);
    case DTSI_CGR_INT32:
        if ((int32_t)bits == INT32_MIN) return "INT32_MIN";
        return gen_fmt(x, "((int32_t)%ld)", (long)(int32_t)bits);
    case DTSI_CGR_INT64:
        if ((int64_t)bits == INT64_MIN) return "INT64_MIN";
        return gen_fmt(x, "INT64_C(%lld)", (long long)(int64_t)bits);
    case DTSI_CGR_UINT64:
        return gen_fmt(x, "UINT64_C(%llu)", (unsigned long long)bits);
    default:
        return gen_fmt(x, "UINT32_C(%llu)", (unsigned long long)bits);
    }
}

// A constant: the value cgr.c read (primitive bits, or text and data bytes).
static void
gen_const(gen *x, const dtsi_cgr_node *n)
{
    const char *cn = gen_cname(x, n);
    const dtsi_cgr_value *v = &n->const_value;
    unsigned which = v->kind;
    uint64_t bits = v->bits;
    fprintf(x->h, "\n// %s\n", n->display_name);
    switch (which) {
    case DTSI_CGR_FLOAT32: {
        uint32_t b32 = (uint32_t)bits;
        float f;
        memcpy(&f, &b32, 4);
        if (f != f || f - f != 0) goto bad; // NaN and infinities: not as a literal
        fprintf(x->h, "#define %s ((float)%a)\n", cn, (double)f);
        return;
    }
    case DTSI_CGR_FLOAT64: {
        double d;
        memcpy(&d, &bits, 8);
        if (d != d || d - d != 0) goto bad;
        fprintf(x->h, "#define %s (%a)\n", cn, d);
        return;
    }
    case DTSI_CGR_ENUM:
        fprintf(x->h, "#define %s ((uint16_t)%u)\n", cn, (unsigned)bits);
        return;
    case DTSI_CGR_TEXT: {
        size_t len = v->len;
        fprintf(x->h, "#define %s ", cn);
        gen_cstr(x->h, v->bytes ? v->bytes : (const uint8_t *)"", len);
        fprintf(x->h, "\n#define %s_LEN %zu\n", cn, len);
        return;
    }
    case DTSI_CGR_DATA: {
        const uint8_t *d = v->bytes;
        size_t len = v->len;
        fprintf(x->h, "extern const uint8_t %s[%zu];\n#define %s_LEN %zu\n", cn, len ? len : 1, cn,
                len);
        fprintf(x->c, "\nconst uint8_t %s[%zu] = {", cn, len ? len : 1);
        for (size_t i = 0; i < len; i++) fprintf(x->c, "%s0x%02x", i ? ", " : "", d[i]);
        fprintf(x->c, "%s};\n", len ? "" : "0");
        return;
    }
    default:
        if (which == DTSI_CGR_VOID || which > DTSI_CGR_FLOAT64) goto bad;
        fprintf(x->h, "#define %s %s\n", cn, gen_int_lit(x, (dtsi_cgr_kind)which, bits));
        return;
    }
bad:
    fprintf(x->h, "// %s: constant of this type not generated (docs/spec/capnp.md)\n", cn);
}

// ---------------------------------------------------------------------------
// Files

// gen_walk visits the nodes of a file in scope order (nested nodes, then
// the groups of each struct) and calls fn on each struct, group, enum or
// constant.
static void
gen_walk(gen *x, const dtsi_cgr_node *n, void (*fn)(gen *, const dtsi_cgr_node *))
{
    if (n->kind != DTSI_CGR_NODE_FILE) fn(x, n);
    for (uint32_t i = 0; i < n->nnested; i++) {
        const dtsi_cgr_node *m = dtsi_cgr_find(x->g, n->nested[i].id);
        if (m) gen_walk(x, m, fn);
    }
    if (n->kind == DTSI_CGR_NODE_STRUCT)
        for (uint32_t i = 0; i < n->nfields; i++)
            if (n->fields[i].is_group && n->fields[i].group) gen_walk(x, n->fields[i].group, fn);
}

static void
gen_visit_types(gen *x, const dtsi_cgr_node *n)
{
    if (n->kind == DTSI_CGR_NODE_ENUM)
        gen_enum(x, n);
    else if (n->kind == DTSI_CGR_NODE_STRUCT)
        gen_struct_types(x, n);
}

static void
gen_visit_consts(gen *x, const dtsi_cgr_node *n)
{
    if (n->kind == DTSI_CGR_NODE_CONST) gen_const(x, n);
}

static void
gen_visit_check(gen *x, const dtsi_cgr_node *n)
{
    char err[256];
    if (n->kind != DTSI_CGR_NODE_STRUCT || n->is_group) return;
    if (dtsi_cgr_check_struct(x->g, n, err, sizeof err) != DTS_OK) {
        fprintf(stderr, "capnpc-dts: %s: %s\n", n->display_name, err);
        x->failed = 1;
    }
}

static void
gen_visit_decls(gen *x, const dtsi_cgr_node *n)
{
    if (n->kind == DTSI_CGR_NODE_STRUCT) gen_struct_decls(x, n);
}

static void
gen_visit_defs(gen *x, const dtsi_cgr_node *n)
{
    if (n->kind == DTSI_CGR_NODE_STRUCT) gen_struct_defs(x, n);
}

// gen_import_type notes the file of a type's node when it is another file
// than the one being generated: its header is included.
static void
gen_import_type(gen *x, const dtsi_cgr_type *t)
{
    for (; t && t->kind == DTSI_CGR_LIST; t = t->element) {
    }
    if (!t || !t->node) return;
    const char *dn = t->node->display_name, *own = x->file->display_name;
    const char *colon = strrchr(dn, ':');
    size_t flen = colon ? (size_t)(colon - dn) : strlen(dn);
    if (strlen(own) == flen && strncmp(dn, own, flen) == 0) return;
    size_t path = dtsi_cgr_path_len(dn);
    const char *h = gen_fmt(x, "%.*s.h", (int)(flen - path), dn + path);
    for (size_t i = 0; i < x->nimports; i++)
        if (strcmp(x->imports[i], h) == 0) return;
    if (x->nimports < sizeof x->imports / sizeof x->imports[0])
        x->imports[x->nimports++] = h;
    else
        x->failed = 1; // reported by gen_file
}

static void
gen_visit_imports(gen *x, const dtsi_cgr_node *n)
{
    if (n->kind != DTSI_CGR_NODE_STRUCT) return;
    for (uint32_t i = 0; i < n->nfields; i++)
        if (!n->fields[i].is_group) gen_import_type(x, &n->fields[i].type);
}

// gen_visit_schema gives each struct (not groups) NAME_schema(), which
// builds the schema that travels with a type of it from the nodes the
// generated file carries (dts_codec_capnp_schema_make): a program declares
// the type without the capnp tool or the .capnp file.
static void
gen_visit_schema(gen *x, const dtsi_cgr_node *n)
{
    if (n->kind != DTSI_CGR_NODE_STRUCT || n->is_group) return;
    const char *cn = gen_cname(x, n);
    fprintf(x->h,
            "\n// %s_schema builds the schema a dts type of %s travels with (what\n"
            "// dts_codec_capnp_schema_from_file gives for it), for dts_type_declare with\n"
            "// DTS_FORMAT_CAPNP; free *out with dts_codec_free.\n"
            "dts_err %s_schema(void **out, size_t *len);\n",
            cn, dtsi_cgr_short_name(n), cn);
    fprintf(x->c, "\ndts_err\n%s_schema(void **out, size_t *len)\n{\n", cn);
    fprintf(x->c, "    return dts_codec_capnp_schema_make(");
    const char *name = dtsi_cgr_base_name(n->display_name); // no build paths
    gen_cstr(x->c, (const uint8_t *)name, strlen(name));
    fprintf(x->c, ", %s_nodes_, sizeof %s_nodes_, out, len, NULL, 0);\n}\n", x->prefix, x->prefix);
}

// gen_nodes_bytes writes the request's nodes as a byte array.
static void
gen_nodes_bytes(gen *x)
{
    fprintf(x->c,
            "\n// The compiler's nodes for this file (what the _schema functions build from).\n");
    fprintf(x->c, "static const uint8_t %s_nodes_[%zu] = {", x->prefix, x->nodes_len);
    for (size_t i = 0; i < x->nodes_len; i++)
        fprintf(x->c, "%s0x%02x,", i % 16 ? " " : "\n    ", x->nodes[i]);
    fprintf(x->c, "\n};\n");
}

dts_err
gen_nodes_only(const uint8_t *req, size_t len, uint8_t **out, size_t *outlen)
{
    dts_capnp_limits lim = {.max_words = DTSI_CAPNP_COMPILE_MAX / 8,
                            .traversal_words = DTSI_CAPNP_COMPILE_MAX / 4};
    dts_capnp_builder_opts o = {.single = true, .max_words = DTSI_CAPNP_COMPILE_MAX / 8};
    dts_capnp_msg m;
    dts_capnp_struct root;
    dts_capnp_builder b;
    dts_err e = dts_capnp_msg_init_stream(&m, req, len, &lim, NULL);
    if (!e) e = dts_capnp_read_struct(dts_capnp_root(&m), &root);
    if (!e && !(e = dts_capnp_builder_init(&b, &o))) {
        dts_capnp_bstruct r = dts_capnp_init_struct(dts_capnp_broot(&b), 0, 1);
        e = dts_capnp_copy(dts_capnp_struct_ptr(&root, 0), dts_capnp_bstruct_ptr(r, 0), false);
        if (!e) e = dts_capnp_builder_error(&b);
        if (!e) e = dts_capnp_builder_write(&b, false, out, outlen);
        dts_capnp_builder_fini(&b);
    }
    dts_capnp_msg_fini(&m);
    return e;
}

static void
gen_visit_layout(gen *x, const dtsi_cgr_node *n)
{
    if (n->kind == DTSI_CGR_NODE_STRUCT && !n->is_group)
        gen_struct_layout(x, n, dtsi_cgr_short_name(n), 1);
}

int
gen_file(gen *x, const dtsi_cgr_node *file, const char *filename)
{
    const char *b = strrchr(filename, '/');
    x->base = b ? b + 1 : filename;
    x->prefix = gen_file_prefix(x, filename);
    x->file = file;
    x->failed = 0;
    gen_walk(x, file, gen_visit_check);
    if (x->failed) return -1;
    x->nimports = 0;
    gen_walk(x, file, gen_visit_imports);
    if (x->failed) {
        fprintf(stderr, "capnpc-dts: %s: types of more than %zu imported files\n", filename,
                sizeof x->imports / sizeof x->imports[0]);
        return -1;
    }
    const char *hname = gen_fmt(x, "%s.h", x->base), *cname = gen_fmt(x, "%s.c", x->base);
    x->h = fopen(hname, "w");
    x->c = fopen(cname, "w");
    if (!x->h || !x->c) {
        perror("capnpc-dts: cannot write output");
        if (x->h) fclose(x->h);
        if (x->c) fclose(x->c);
        x->h = x->c = NULL;
        return -1;
    }
    const char *guard = gen_fmt(x, "CAPNPC_DTS_%s_H", x->prefix);
    fprintf(x->h,
            "// %s: generated by capnpc-dts from %s. Do not edit.\n"
            "// Typed readers and builders over the dts capnp runtime (include/dts/capnp.h;\n"
            "// docs/spec/capnp.md, \"Code generator\").\n"
            "#ifndef %s\n#define %s\n\n#include <stdbool.h>\n#include <stddef.h>\n"
            "#include <stdint.h>\n\n#include <dts/capnp.h>\n",
            hname, filename, guard, guard);
    if (x->nimports)
        fprintf(x->h, "\n// Imported files whose types this one uses (generate them too).\n");
    for (size_t i = 0; i < x->nimports; i++) fprintf(x->h, "#include \"%s\"\n", x->imports[i]);
    fprintf(x->h, "\n#ifndef DTSC_LAYOUT_DEFINED\n#define DTSC_LAYOUT_DEFINED\n"
                  "// A row of a file's layout table: kind 's' a struct (a = data bytes, b =\n"
                  "// pointers), 'b' a data field (bits [a, b)), 'p' a pointer field (a = index),\n"
                  "// 't' a union tag (bits [a, b)). path is Outer.Inner.field.\n"
                  "typedef struct dtsc_layout {\n    const char *path;\n    char kind;\n"
                  "    uint32_t a, b;\n} dtsc_layout;\n#endif\n\n"
                  "#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
    fprintf(x->c,
            "// %s: generated by capnpc-dts from %s. Do not edit.\n"
            "#include <string.h>\n\n#include \"%s\"\n",
            cname, filename, hname);
    gen_walk(x, file, gen_visit_types);
    gen_walk(x, file, gen_visit_consts);
    gen_walk(x, file, gen_visit_decls);
    gen_walk(x, file, gen_visit_defs);
    if (x->nodes) {
        gen_nodes_bytes(x);
        gen_walk(x, file, gen_visit_schema);
    }
    fprintf(x->h,
            "\n// The layout of every struct of the file (tests compare it with the compiler's).\n"
            "extern const dtsc_layout %s_layout[];\nextern const size_t %s_layout_count;\n",
            x->prefix, x->prefix);
    fprintf(x->c, "\nconst dtsc_layout %s_layout[] = {\n", x->prefix);
    gen_walk(x, file, gen_visit_layout);
    fprintf(x->c,
            "    {NULL, 0, 0, 0},\n};\nconst size_t %s_layout_count =\n"
            "    sizeof %s_layout / sizeof %s_layout[0] - 1;\n",
            x->prefix, x->prefix, x->prefix);
    fprintf(x->h, "\n#ifdef __cplusplus\n}\n#endif\n#endif\n");
    int bad = ferror(x->h) || ferror(x->c);
    bad |= fclose(x->h) != 0;
    bad |= fclose(x->c) != 0;
    x->h = x->c = NULL;
    if (bad) fprintf(stderr, "capnpc-dts: write error\n");
    return bad ? -1 : 0;
}

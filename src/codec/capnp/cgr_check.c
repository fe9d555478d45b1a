// cgr_check.c: checking what a struct of a CodeGeneratorRequest reaches,
// and writing the trimmed request that travels as a capnp type's schema
// (cgr.h; docs/spec/capnp.md, "Compiled schemas"). A codec reads payload
// fields at the offsets these nodes give, so a hostile request must not be
// able to place a field outside its section, make a group loop back to its
// parent, or name a type that is not there.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/capnp/capnp_int.h"
#include "codec/capnp/cgr.h"
#include "codec/capnp/gen/schema.capnp.h"
#include "codec/codec_int.h"

typedef struct cgr_walk {
    dtsi_cgr *g;
    const dtsi_cgr_node **stack;
    uint32_t top, cap;
    char *err;
    size_t errcap;
} cgr_walk;

static dts_err walk_fail(cgr_walk *w, dts_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static dts_err
walk_fail(cgr_walk *w, dts_err e, const char *fmt, ...)
{
    if (w->err && w->errcap) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(w->err, w->errcap, "capnp schema: ");
        if (n >= 0 && (size_t)n < w->errcap) vsnprintf(w->err + n, w->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return e;
}

// walk_push queues a node once (its mark says it was seen).
static void
walk_push(cgr_walk *w, const dtsi_cgr_node *n)
{
    if (n->mark || w->top >= w->cap) return;
    ((dtsi_cgr_node *)n)->mark = 1;
    w->stack[w->top++] = n;
}

// dtsi_cgr_kind_bits is the width of a data field of kind k (0 for void and for
// pointer kinds, which walk_is_ptr tells apart).
unsigned
dtsi_cgr_kind_bits(dtsi_cgr_kind k)
{
    switch (k) {
    case DTSI_CGR_BOOL:
        return 1;
    case DTSI_CGR_INT8:
    case DTSI_CGR_UINT8:
        return 8;
    case DTSI_CGR_INT16:
    case DTSI_CGR_UINT16:
    case DTSI_CGR_ENUM:
        return 16;
    case DTSI_CGR_INT32:
    case DTSI_CGR_UINT32:
    case DTSI_CGR_FLOAT32:
        return 32;
    case DTSI_CGR_INT64:
    case DTSI_CGR_UINT64:
    case DTSI_CGR_FLOAT64:
        return 64;
    default:
        return 0;
    }
}

static bool
walk_is_ptr(dtsi_cgr_kind k)
{
    return k >= DTSI_CGR_TEXT && k != DTSI_CGR_ENUM;
}

// walk_type checks a field's type (list elements included) and queues the
// struct types it uses.
static dts_err
walk_type(cgr_walk *w, const dtsi_cgr_node *n, const dtsi_cgr_field *f, const dtsi_cgr_type *t)
{
    for (; t; t = t->element) {
        if (t->kind == DTSI_CGR_LIST && !t->element)
            return walk_fail(w, DTS_EMALFORMED, "%s.%s: list without element type", n->display_name,
                             f->name);
        if (t->kind == DTSI_CGR_ENUM && (!t->node || t->node->kind != DTSI_CGR_NODE_ENUM))
            return walk_fail(w, DTS_EMALFORMED, "%s.%s: enum %016llx is not in the schema",
                             n->display_name, f->name, (unsigned long long)t->type_id);
        if (t->kind == DTSI_CGR_ENUM) walk_push(w, t->node); // kept by dtsi_cgr_trim
        if (t->kind == DTSI_CGR_STRUCT) {
            if (!t->node || t->node->kind != DTSI_CGR_NODE_STRUCT || t->node->is_group)
                return walk_fail(w, DTS_EMALFORMED, "%s.%s: struct %016llx is not in the schema",
                                 n->display_name, f->name, (unsigned long long)t->type_id);
            walk_push(w, t->node);
        }
    }
    return DTS_OK;
}

// walk_field checks one field of struct node n.
static dts_err
walk_field(cgr_walk *w, const dtsi_cgr_node *n, const dtsi_cgr_field *f)
{
    if (f->discriminant != DTSI_CGR_NO_DISCRIMINANT && f->discriminant >= n->discriminant_count)
        return walk_fail(w, DTS_EMALFORMED, "%s.%s: discriminant %u outside the union",
                         n->display_name, f->name, f->discriminant);
    if (f->is_group) {
        const dtsi_cgr_node *gn = f->group;
        if (!gn || gn->kind != DTSI_CGR_NODE_STRUCT || !gn->is_group || gn->scope_id != n->id ||
            gn->data_words != n->data_words || gn->pointers != n->pointers)
            return walk_fail(w, DTS_EMALFORMED, "%s.%s: group %016llx missing or inconsistent",
                             n->display_name, f->name, (unsigned long long)f->group_id);
        walk_push(w, gn);
        return DTS_OK;
    }
    dtsi_cgr_kind k = f->type.kind;
    unsigned bits = dtsi_cgr_kind_bits(k);
    if (walk_is_ptr(k) ? f->offset >= n->pointers
                       : (uint64_t)(f->offset + 1ull) * bits > (uint64_t)n->data_words * 64)
        return walk_fail(w, DTS_EMALFORMED, "%s.%s: offset %u outside the struct", n->display_name,
                         f->name, f->offset);
    dtsi_cgr_kind dk = f->default_value.kind;
    if (!walk_is_ptr(k) && dk != k && !(dk == DTSI_CGR_VOID && f->default_value.bits == 0))
        return walk_fail(w, DTS_EMALFORMED, "%s.%s: default value of another type", n->display_name,
                         f->name);
    return walk_type(w, n, f, &f->type);
}

// walk_struct checks one struct (or group) node.
static dts_err
walk_struct(cgr_walk *w, const dtsi_cgr_node *n)
{
    if (n->discriminant_count &&
        ((uint64_t)n->discriminant_offset + 1) * 16 > (uint64_t)n->data_words * 64)
        return walk_fail(w, DTS_EMALFORMED, "%s: union tag outside the struct", n->display_name);
    for (uint32_t i = 0; i < n->nfields; i++) {
        dts_err e = walk_field(w, n, &n->fields[i]);
        if (e) return e;
    }
    return DTS_OK;
}

// walk_run checks root and everything it reaches; the reached nodes keep
// mark 1 until walk_end.
static dts_err
walk_run(cgr_walk *w, dtsi_cgr *g, const dtsi_cgr_node *root)
{
    w->g = g;
    w->cap = dtsi_cgr_node_count(g);
    w->top = 0;
    w->stack = dtsi_cmalloc(((size_t)w->cap + 1) * sizeof *w->stack);
    if (!w->stack) return DTS_ENOMEM;
    if (!root || root->kind != DTSI_CGR_NODE_STRUCT || root->is_group)
        return walk_fail(w, DTS_ENOENT, "%s is not a struct", root ? root->display_name : "root");
    walk_push(w, root);
    while (w->top) {
        dts_err e = walk_struct(w, w->stack[--w->top]);
        if (e) return e;
    }
    return DTS_OK;
}

static void
walk_end(cgr_walk *w)
{
    for (uint32_t i = 0; i < dtsi_cgr_node_count(w->g); i++) dtsi_cgr_node_at(w->g, i)->mark = 0;
    dtsi_cfree(w->stack);
}

dts_err
dtsi_cgr_check_struct(dtsi_cgr *g, const dtsi_cgr_node *n, char *err, size_t errcap)
{
    cgr_walk w = {.err = err, .errcap = errcap};
    dts_err e = walk_run(&w, g, n);
    walk_end(&w);
    return e;
}

size_t
dtsi_cgr_path_len(const char *display_name)
{
    const char *colon = strrchr(display_name, ':');
    size_t file = colon ? (size_t)(colon - display_name) : strlen(display_name);
    size_t path = 0;
    for (size_t i = 0; i < file; i++)
        if (display_name[i] == '/') path = i + 1;
    return path;
}

// trim_copy copies node n (data words and pointers) into element b, its
// display name without the directories of its file (so that the schema does
// not depend on the directory capnp compiled the file from).
static dts_err
trim_copy(const dtsi_cgr_node *n, dts_capnp_bstruct b)
{
    dts_capnp_struct s = n->raw;
    for (uint32_t i = 0; i < s.data_bits / 64 && i < b.dwords; i++)
        dts_capnp_set_u64(b, i, dts_capnp_get_u64(&s, i, 0), 0);
    for (uint32_t i = 0; i < s.nptrs && i < b.nptrs; i++) {
        dts_err e = dts_capnp_copy(dts_capnp_struct_ptr(&s, i), dts_capnp_bstruct_ptr(b, i), false);
        if (e) return e;
    }
    size_t path = dtsi_cgr_path_len(n->display_name);
    if (path) {
        dtsi_schema_Node_builder nb = {b};
        const char *name = n->display_name + path;
        dts_err e = dtsi_schema_Node_set_displayName(nb, name, strlen(name));
        if (e) return e;
        dtsi_schema_Node_set_displayNamePrefixLength(
            nb, n->prefix_len > path ? n->prefix_len - (uint32_t)path : 0);
    }
    return DTS_OK;
}

static int
trim_cmp_id(const void *a, const void *b)
{
    uint64_t x = (*(const dtsi_cgr_node *const *)a)->id, y = (*(const dtsi_cgr_node *const *)b)->id;
    return x < y ? -1 : x > y;
}

// trim_same_names refuses two marked nodes whose names are one without
// their files' directories (v1/x.capnp and v2/x.capnp both reached):
// a receiver could not tell them apart by name.
static dts_err
trim_same_names(dtsi_cgr *g, char *err, size_t errcap)
{
    uint32_t nn = dtsi_cgr_node_count(g);
    for (uint32_t i = 0; i < nn; i++) {
        const dtsi_cgr_node *a = dtsi_cgr_node_at(g, i);
        if (!a->mark) continue;
        const char *an = dtsi_cgr_base_name(a->display_name);
        for (uint32_t j = i + 1; j < nn; j++) {
            const dtsi_cgr_node *b = dtsi_cgr_node_at(g, j);
            if (!b->mark || strcmp(an, dtsi_cgr_base_name(b->display_name))) continue;
            if (err && errcap)
                snprintf(err, errcap,
                         "capnp schema: %s and %s are both reached: two files named alike in "
                         "two directories; rename one",
                         a->display_name, b->display_name);
            return DTS_EINVAL;
        }
    }
    return DTS_OK;
}

// trim_build writes a request with the marked nodes only.
static dts_err
trim_build(dtsi_cgr *g, dts_capnp_builder *b)
{
    uint32_t k = 0, dw = 5, np = 6; // Node: 40 bytes, 6 pointers
    for (uint32_t i = 0; i < dtsi_cgr_node_count(g); i++) {
        const dtsi_cgr_node *n = dtsi_cgr_node_at(g, i);
        k += n->mark;
        if (n->raw.data_bits / 64 > dw) dw = n->raw.data_bits / 64;
        if (n->raw.nptrs > np) np = n->raw.nptrs;
    }
    // The nodes in the order of their ids, not of the request (the
    // compiler's own order may follow what else it loaded).
    const dtsi_cgr_node **marked = dtsi_cmalloc((k ? k : 1) * sizeof *marked);
    if (!marked) return DTS_ENOMEM;
    for (uint32_t i = 0, j = 0; i < dtsi_cgr_node_count(g); i++)
        if (dtsi_cgr_node_at(g, i)->mark) marked[j++] = dtsi_cgr_node_at(g, i);
    qsort(marked, k, sizeof *marked, trim_cmp_id);
    dts_capnp_bstruct root = dts_capnp_init_struct(dts_capnp_broot(b), 0, 4);
    dts_capnp_blist l =
        dts_capnp_init_struct_list(dts_capnp_bstruct_ptr(root, 0), (uint16_t)dw, (uint16_t)np, k);
    dts_err e = DTS_OK;
    for (uint32_t j = 0; j < k && !e; j++) e = trim_copy(marked[j], dts_capnp_blist_struct(l, j));
    dtsi_cfree(marked);
    return e ? e : dts_capnp_builder_error(b);
}

// trim_canonical turns a built message into its canonical form with a
// one-segment stream table in front.
static dts_err
trim_canonical(const dts_capnp_builder *b, const dts_capnp_limits *lim, uint8_t **out,
               size_t *outlen)
{
    uint8_t *raw = NULL, *flat = NULL;
    size_t rawlen = 0, flatlen = 0;
    dts_capnp_msg m;
    dts_err e = dts_capnp_builder_write(b, false, &raw, &rawlen);
    if (!e) {
        e = dts_capnp_msg_init_stream(&m, raw, rawlen, lim, NULL);
        if (!e) e = dts_capnp_canonicalize(&m, &flat, &flatlen);
        dts_capnp_msg_fini(&m);
    }
    dtsi_cfree(raw);
    if (!e && flatlen / 8 > UINT32_MAX) e = DTS_ETOOBIG;
    uint8_t *o = e ? NULL : dtsi_cmalloc(flatlen + 8);
    if (!e && !o) e = DTS_ENOMEM;
    if (!e) {
        cp_storen(o, 4, 0);
        cp_storen(o + 4, 4, flatlen / 8);
        memcpy(o + 8, flat, flatlen);
        *out = o;
        *outlen = flatlen + 8;
    }
    dtsi_cfree(flat);
    return e;
}

dts_err
dtsi_cgr_trim(dtsi_cgr *g, const dtsi_cgr_node *root, uint8_t **out, size_t *outlen, char *err,
              size_t errcap)
{
    cgr_walk w = {.err = err, .errcap = errcap};
    dts_capnp_builder b;
    dts_capnp_builder_opts o = {.single = true, .max_words = dtsi_cgr_message(g)->limits.max_words};
    dts_err e = walk_run(&w, g, root);
    if (!e) e = trim_same_names(g, err, errcap);
    if (!e && !(e = dts_capnp_builder_init(&b, &o))) {
        e = trim_build(g, &b);
        if (!e) e = trim_canonical(&b, &dtsi_cgr_message(g)->limits, out, outlen);
        dts_capnp_builder_fini(&b);
        if (e && err && errcap)
            snprintf(err, errcap, "capnp schema: cannot trim: %s", dts_strerror(e));
    }
    walk_end(&w);
    return e;
}

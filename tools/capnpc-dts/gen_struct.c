// gen_struct.c: the accessors of one struct or group node (gen.h). For a
// struct with C name N the generated API is, per field f:
//   primitives and enums  T N_get_f(N_reader), void N_set_f(N_builder, T)
//   Void in a union       void N_set_f(N_builder) (writes the discriminant)
//   Text, Data            bool N_has_f, dts_err N_get_f(r, &ptr, &len),
//                         dts_err N_set_f(b, ptr, len)
//   struct S              bool N_has_f, dts_err N_get_f(r, S_reader *),
//                         S_builder N_init_f(b)
//   List(E)               bool N_has_f, dts_err N_get_f(r, dts_capnp_list *),
//                         dts_capnp_blist N_init_f(b, count), and element
//                         accessors N_f_len, N_f_at, N_f_set / N_f_elem /
//                         N_f_init (nested lists: N_f_at_at ...)
//   group G               G_reader N_get_f(r), G_builder N_init_f(b)
// plus N_which for a union, N_read / N_read_root / N_new / N_new_root and
// N_copy (a deep copy through the typed accessors). Setters of union
// members write the discriminant first. Primitive values are stored XOR
// their default (encoding spec, "Default values").
#include <stdlib.h>
#include <string.h>

#include "gen.h"

typedef struct gen_fld {
    const char *cn;   // the node's C name
    const char *fn;   // the field's function suffix
    const char *disc; // statement writing the discriminant, or ""
    const dtsi_cgr_field *f;
    const dtsi_cgr_node *n;
} gen_fld;

// gen_fn writes a prototype into the header and opens the definition.
static void
gen_fn(gen *x, const char *ret, const char *sig)
{
    fprintf(x->h, "%s %s;\n", ret, sig);
    fprintf(x->c, "\n%s\n%s\n{\n", ret, sig);
}

static const char *
gen_uint(gen *x, unsigned bits)
{
    return bits == 1 ? "bool" : gen_fmt(x, "uint%u_t", bits);
}

void
gen_struct_types(gen *x, const dtsi_cgr_node *n)
{
    const char *cn = gen_cname(x, n);
    fprintf(x->h, "\n// %s%s\n", n->display_name, n->is_group ? " (a group)" : "");
    fprintf(x->h, "typedef struct %s_reader {\n    dts_capnp_struct s;\n} %s_reader;\n", cn, cn);
    fprintf(x->h, "typedef struct %s_builder {\n    dts_capnp_bstruct s;\n} %s_builder;\n", cn, cn);
    fprintf(x->h, "#define %s_TYPE_ID UINT64_C(0x%016llx)\n", cn, (unsigned long long)n->id);
    fprintf(x->h, "#define %s_DATA_WORDS %u\n#define %s_POINTERS %u\n", cn, n->data_words, cn,
            n->pointers);
    if (!n->discriminant_count) return;
    fprintf(x->h, "typedef enum %s_tag {\n", cn);
    for (uint32_t i = 0; i < n->nfields; i++)
        if (n->fields[i].discriminant != DTSI_CGR_NO_DISCRIMINANT)
            fprintf(x->h, "    %s_TAG_%s = %u,\n", cn, n->fields[i].name,
                    n->fields[i].discriminant);
    fprintf(x->h, "} %s_tag;\n", cn);
}

void
gen_struct_decls(gen *x, const dtsi_cgr_node *n)
{
    (void)x;
    (void)n; // prototypes are written with their definitions (gen_fn)
}

// gen_data_field: Bool, integers, floats and enums.
static void
gen_data_field(gen *x, const gen_fld *g)
{
    const dtsi_cgr_field *f = g->f;
    unsigned bits = dtsi_cgr_kind_bits(f->type.kind);
    const char *T = gen_ctype(x, &f->type), *U = gen_uint(x, bits), *rt = gen_rt(f->type.kind);
    uint64_t dv = f->default_value.bits;
    const char *def = bits == 1 ? ((dv & 1) ? "true" : "false")
                                : gen_fmt(x, "(%s)UINT64_C(0x%llx)", U, (unsigned long long)dv);
    int fl = f->type.kind == DTSI_CGR_FLOAT32 || f->type.kind == DTSI_CGR_FLOAT64;
    gen_fn(x, T, gen_fmt(x, "%s_get_%s(%s_reader r)", g->cn, g->fn, g->cn));
    if (fl)
        fprintf(x->c,
                "    %s v = dts_capnp_get_%s(&r.s, %u, %s);\n    %s f;\n"
                "    memcpy(&f, &v, sizeof f);\n    return f;\n}\n",
                U, rt, f->offset, def, T);
    else
        fprintf(x->c, "    return (%s)dts_capnp_get_%s(&r.s, %u, %s);\n}\n", T, rt, f->offset, def);
    gen_fn(x, "void", gen_fmt(x, "%s_set_%s(%s_builder b, %s v)", g->cn, g->fn, g->cn, T));
    fprintf(x->c, "%s", g->disc);
    if (fl)
        fprintf(x->c,
                "    %s u;\n    memcpy(&u, &v, sizeof u);\n"
                "    dts_capnp_set_%s(b.s, %u, u, %s);\n}\n",
                U, rt, f->offset, def);
    else
        fprintf(x->c, "    dts_capnp_set_%s(b.s, %u, (%s)v, %s);\n}\n", rt, f->offset, U, def);
}

// gen_blob_field: Text and Data, with the default of a null pointer.
static void
gen_blob_field(gen *x, const gen_fld *g)
{
    const dtsi_cgr_field *f = g->f;
    int text = f->type.kind == DTSI_CGR_TEXT;
    const char *ptype = text ? "const char" : "const uint8_t";
    const uint8_t *dflt = NULL;
    size_t dlen = 0;
    if (f->default_value.kind == f->type.kind && f->default_value.bytes) {
        dflt = f->default_value.bytes;
        dlen = f->default_value.len;
    }
    gen_fn(x, "bool", gen_fmt(x, "%s_has_%s(%s_reader r)", g->cn, g->fn, g->cn));
    fprintf(x->c, "    return !dts_capnp_ptr_is_null(dts_capnp_struct_ptr(&r.s, %u));\n}\n",
            f->offset);
    gen_fn(x, "dts_err",
           gen_fmt(x, "%s_get_%s(%s_reader r, %s **v, size_t *len)", g->cn, g->fn, g->cn, ptype));
    fprintf(x->c, "    dts_capnp_ptr p = dts_capnp_struct_ptr(&r.s, %u);\n", f->offset);
    if (dflt) {
        fprintf(x->c, "    if (dts_capnp_ptr_is_null(p)) {\n        *v = (%s *)", ptype);
        gen_cstr(x->c, dflt, dlen);
        fprintf(x->c, ";\n        *len = %zu;\n        return DTS_OK;\n    }\n", dlen);
    }
    fprintf(x->c, "    return dts_capnp_read_%s(p, v, len);\n}\n", text ? "text" : "data");
    gen_fn(x, "dts_err",
           gen_fmt(x, "%s_set_%s(%s_builder b, %s *v, size_t len)", g->cn, g->fn, g->cn,
                   text ? "const char" : "const void"));
    fprintf(x->c, "%s    return dts_capnp_set_%s(dts_capnp_bstruct_ptr(b.s, %u), v, len);\n}\n",
            g->disc, text ? "text" : "data", f->offset);
}

// gen_list_init writes the expression allocating a list of type t (count n)
// at builder slot p.
static const char *
gen_list_init(gen *x, const dtsi_cgr_type *t, const char *p)
{
    const dtsi_cgr_type *e = t->element;
    if (e->kind == DTSI_CGR_STRUCT) {
        const char *s = gen_cname(x, e->node);
        return gen_fmt(x, "dts_capnp_init_struct_list(%s, %s_DATA_WORDS, %s_POINTERS, n)", p, s, s);
    }
    return gen_fmt(x, "dts_capnp_init_list(%s, %u, n)", p, gen_esize(e));
}

// gen_list_level writes the element accessors of a list of type t whose
// functions are named L_*, then (deeper levels first) the static L_copy.
static void
gen_list_level(gen *x, const char *L, const dtsi_cgr_type *t)
{
    const dtsi_cgr_type *e = t->element;
    unsigned bits = dtsi_cgr_kind_bits(e->kind);
    const char *lr = "const dts_capnp_list *l, uint32_t i";
    gen_fn(x, "uint32_t", gen_fmt(x, "%s_len(const dts_capnp_list *l)", L));
    fprintf(x->c, "    return l->count;\n}\n");
    const char *copy = "";
    if (bits) {
        const char *T = gen_ctype(x, e), *U = gen_uint(x, bits), *rt = gen_rt(e->kind);
        int fl = e->kind == DTSI_CGR_FLOAT32 || e->kind == DTSI_CGR_FLOAT64;
        gen_fn(x, T, gen_fmt(x, "%s_at(%s)", L, lr));
        if (fl)
            fprintf(x->c,
                    "    %s v = dts_capnp_list_%s(l, i);\n    %s f;\n"
                    "    memcpy(&f, &v, sizeof f);\n    return f;\n}\n",
                    U, rt, T);
        else
            fprintf(x->c, "    return (%s)dts_capnp_list_%s(l, i);\n}\n", T, rt);
        gen_fn(x, "void", gen_fmt(x, "%s_set(dts_capnp_blist l, uint32_t i, %s v)", L, T));
        if (fl)
            fprintf(x->c,
                    "    %s u;\n    memcpy(&u, &v, sizeof u);\n"
                    "    dts_capnp_blist_set(l, i, u);\n}\n",
                    U);
        else
            fprintf(x->c, "    dts_capnp_blist_set(l, i, (%s)v);\n}\n", U);
        copy = gen_fmt(x, "        %s_set(bl, i, %s_at(l, i));\n", L, L);
    } else if (e->kind == DTSI_CGR_TEXT || e->kind == DTSI_CGR_DATA) {
        int text = e->kind == DTSI_CGR_TEXT;
        const char *pt = text ? "const char" : "const uint8_t";
        gen_fn(x, "dts_err", gen_fmt(x, "%s_at(%s, %s **v, size_t *len)", L, lr, pt));
        fprintf(x->c, "    return dts_capnp_read_%s(dts_capnp_list_ptr(l, i), v, len);\n}\n",
                text ? "text" : "data");
        gen_fn(x, "dts_err",
               gen_fmt(x, "%s_set(dts_capnp_blist l, uint32_t i, %s *v, size_t len)", L,
                       text ? "const char" : "const void"));
        fprintf(x->c, "    return dts_capnp_set_%s(dts_capnp_blist_ptr(l, i), v, len);\n}\n",
                text ? "text" : "data");
        copy = gen_fmt(x,
                       "        %s *v;\n        size_t len;\n"
                       "        if ((e = %s_at(l, i, &v, &len)) || (e = %s_set(bl, i, v, len)))\n"
                       "            return e;\n",
                       pt, L, L);
    } else if (e->kind == DTSI_CGR_STRUCT) {
        const char *s = gen_cname(x, e->node);
        gen_fn(x, "dts_err", gen_fmt(x, "%s_at(%s, %s_reader *out)", L, lr, s));
        fprintf(x->c, "    return dts_capnp_list_struct(l, i, &out->s);\n}\n");
        gen_fn(x, gen_fmt(x, "%s_builder", s),
               gen_fmt(x, "%s_elem(dts_capnp_blist l, uint32_t i)", L));
        fprintf(x->c, "    %s_builder o = {dts_capnp_blist_struct(l, i)};\n    return o;\n}\n", s);
        copy = gen_fmt(x,
                       "        %s_reader v;\n"
                       "        if ((e = %s_at(l, i, &v)) || (e = %s_copy(v, %s_elem(bl, i))))\n"
                       "            return e;\n",
                       s, L, s, L);
    } else if (e->kind == DTSI_CGR_LIST) {
        gen_fn(x, "dts_err", gen_fmt(x, "%s_at(%s, dts_capnp_list *out)", L, lr));
        fprintf(x->c, "    return dts_capnp_read_list(dts_capnp_list_ptr(l, i), %u, out);\n}\n",
                gen_esize(e->element));
        gen_fn(x, "dts_capnp_blist",
               gen_fmt(x, "%s_init(dts_capnp_blist l, uint32_t i, uint32_t n)", L));
        fprintf(x->c, "    return %s;\n}\n", gen_list_init(x, e, "dts_capnp_blist_ptr(l, i)"));
        const char *sub = gen_fmt(x, "%s_at", L);
        gen_list_level(x, sub, e);
        copy = gen_fmt(
            x,
            "        dts_capnp_list v;\n"
            "        if ((e = %s_at(l, i, &v)) || (e = %s_copy(&v, %s_init(bl, i, v.count))))\n"
            "            return e;\n",
            L, sub, L);
    }
    fprintf(x->c,
            "\nstatic dts_err\n%s_copy(const dts_capnp_list *l, dts_capnp_blist bl)\n{\n"
            "    dts_err e = DTS_OK;\n    for (uint32_t i = 0; i < l->count; i++) {\n%s"
            "    }\n    (void)bl;\n    return e;\n}\n",
            L, copy);
}

// gen_ptr_field: struct, list and raw pointer fields.
static void
gen_ptr_field(gen *x, const gen_fld *g)
{
    const dtsi_cgr_field *f = g->f;
    const char *slot = gen_fmt(x, "dts_capnp_bstruct_ptr(b.s, %u)", f->offset);
    gen_fn(x, "bool", gen_fmt(x, "%s_has_%s(%s_reader r)", g->cn, g->fn, g->cn));
    fprintf(x->c, "    return !dts_capnp_ptr_is_null(dts_capnp_struct_ptr(&r.s, %u));\n}\n",
            f->offset);
    if (f->type.kind == DTSI_CGR_STRUCT) {
        const char *s = gen_cname(x, f->type.node);
        gen_fn(x, "dts_err",
               gen_fmt(x, "%s_get_%s(%s_reader r, %s_reader *out)", g->cn, g->fn, g->cn, s));
        fprintf(x->c,
                "    return dts_capnp_read_struct(dts_capnp_struct_ptr(&r.s, %u), &out->s);\n}\n",
                f->offset);
        gen_fn(x, gen_fmt(x, "%s_builder", s),
               gen_fmt(x, "%s_init_%s(%s_builder b)", g->cn, g->fn, g->cn));
        fprintf(x->c,
                "%s    %s_builder o = {dts_capnp_init_struct(%s, %s_DATA_WORDS, %s_POINTERS)};\n"
                "    return o;\n}\n",
                g->disc, s, slot, s, s);
    } else if (f->type.kind == DTSI_CGR_LIST) {
        gen_fn(x, "dts_err",
               gen_fmt(x, "%s_get_%s(%s_reader r, dts_capnp_list *out)", g->cn, g->fn, g->cn));
        fprintf(x->c,
                "    return dts_capnp_read_list(dts_capnp_struct_ptr(&r.s, %u), %u, out);\n}\n",
                f->offset, gen_esize(f->type.element));
        gen_fn(x, "dts_capnp_blist",
               gen_fmt(x, "%s_init_%s(%s_builder b, uint32_t n)", g->cn, g->fn, g->cn));
        fprintf(x->c, "%s    return %s;\n}\n", g->disc, gen_list_init(x, &f->type, slot));
        gen_list_level(x, gen_fmt(x, "%s_%s", g->cn, g->fn), &f->type);
    } else {
        gen_fn(x, "dts_capnp_ptr", gen_fmt(x, "%s_get_%s(%s_reader r)", g->cn, g->fn, g->cn));
        fprintf(x->c, "    return dts_capnp_struct_ptr(&r.s, %u);\n}\n", f->offset);
        gen_fn(x, "dts_capnp_bptr", gen_fmt(x, "%s_ptr_%s(%s_builder b)", g->cn, g->fn, g->cn));
        fprintf(x->c, "%s    return %s;\n}\n", g->disc, slot);
    }
}

// gen_copy_stmt is the statement of N_copy that copies field g.
static const char *
gen_copy_stmt(gen *x, const gen_fld *g)
{
    const dtsi_cgr_field *f = g->f;
    const char *cn = g->cn, *fn = g->fn;
    int in_union = f->discriminant != DTSI_CGR_NO_DISCRIMINANT;
    const char *cond = in_union ? "" : gen_fmt(x, "if (%s_has_%s(r)) ", cn, fn);
    if (f->is_group) {
        const char *gc = gen_cname(x, f->group);
        return gen_fmt(x, "if ((e = %s_copy(%s_get_%s(r), %s_init_%s(b)))) return e;", gc, cn, fn,
                       cn, fn);
    }
    switch (f->type.kind) {
    case DTSI_CGR_VOID:
        return in_union ? gen_fmt(x, "%s_set_%s(b);", cn, fn) : "";
    case DTSI_CGR_TEXT:
    case DTSI_CGR_DATA:
        return gen_fmt(x,
                       "%s{\n        const %s *v;\n        size_t len;\n"
                       "        if ((e = %s_get_%s(r, &v, &len)) || (e = %s_set_%s(b, v, len))) "
                       "return e;\n    }",
                       cond, f->type.kind == DTSI_CGR_TEXT ? "char" : "uint8_t", cn, fn, cn, fn);
    case DTSI_CGR_STRUCT: {
        const char *s = gen_cname(x, f->type.node);
        return gen_fmt(x,
                       "%s{\n        %s_reader v;\n"
                       "        if ((e = %s_get_%s(r, &v)) || (e = %s_copy(v, %s_init_%s(b)))) "
                       "return e;\n    }",
                       cond, s, cn, fn, s, cn, fn);
    }
    case DTSI_CGR_LIST:
        return gen_fmt(
            x,
            "%s{\n        dts_capnp_list v;\n"
            "        if ((e = %s_get_%s(r, &v)) || (e = %s_%s_copy(&v, %s_init_%s(b, v.count))))\n"
            "            return e;\n    }",
            cond, cn, fn, cn, fn, cn, fn);
    case DTSI_CGR_ANYPOINTER:
    case DTSI_CGR_INTERFACE:
        return gen_fmt(x,
                       "%sif ((e = dts_capnp_copy(%s_get_%s(r), %s_ptr_%s(b), false))) return e;",
                       cond, cn, fn, cn, fn);
    default:
        return gen_fmt(x, "%s_set_%s(b, %s_get_%s(r));", cn, fn, cn, fn);
    }
}

void
gen_struct_defs(gen *x, const dtsi_cgr_node *n)
{
    const char *cn = gen_cname(x, n);
    fprintf(x->h, "\n// %s: accessors\n", n->display_name);
    if (!n->is_group) {
        gen_fn(x, "dts_err", gen_fmt(x, "%s_read(dts_capnp_ptr p, %s_reader *out)", cn, cn));
        fprintf(x->c, "    return dts_capnp_read_struct(p, &out->s);\n}\n");
        gen_fn(x, "dts_err", gen_fmt(x, "%s_read_root(dts_capnp_msg *m, %s_reader *out)", cn, cn));
        fprintf(x->c, "    return dts_capnp_read_struct(dts_capnp_root(m), &out->s);\n}\n");
        gen_fn(x, gen_fmt(x, "%s_builder", cn), gen_fmt(x, "%s_new(dts_capnp_bptr p)", cn));
        fprintf(x->c,
                "    %s_builder o = {dts_capnp_init_struct(p, %s_DATA_WORDS, %s_POINTERS)};\n"
                "    return o;\n}\n",
                cn, cn, cn);
        gen_fn(x, gen_fmt(x, "%s_builder", cn),
               gen_fmt(x, "%s_new_root(dts_capnp_builder *b)", cn));
        fprintf(x->c, "    return %s_new(dts_capnp_broot(b));\n}\n", cn);
    }
    if (n->discriminant_count) {
        gen_fn(x, gen_fmt(x, "%s_tag", cn), gen_fmt(x, "%s_which(%s_reader r)", cn, cn));
        fprintf(x->c, "    return (%s_tag)dts_capnp_get_u16(&r.s, %u, 0);\n}\n", cn,
                n->discriminant_offset);
    }
    const char **stmts = calloc(n->nfields + 1, sizeof *stmts);
    for (uint32_t i = 0; i < n->nfields; i++) {
        const dtsi_cgr_field *f = &n->fields[i];
        gen_fld g = {.cn = cn, .fn = f->name, .f = f, .n = n, .disc = ""};
        if (f->discriminant != DTSI_CGR_NO_DISCRIMINANT)
            g.disc = gen_fmt(x, "    dts_capnp_set_u16(b.s, %u, %u, 0);\n", n->discriminant_offset,
                             f->discriminant);
        if (f->is_group) {
            const char *gc = gen_cname(x, f->group);
            gen_fn(x, gen_fmt(x, "%s_reader", gc),
                   gen_fmt(x, "%s_get_%s(%s_reader r)", cn, f->name, cn));
            fprintf(x->c, "    %s_reader g = {r.s};\n    return g;\n}\n", gc);
            gen_fn(x, gen_fmt(x, "%s_builder", gc),
                   gen_fmt(x, "%s_init_%s(%s_builder b)", cn, f->name, cn));
            fprintf(x->c, "%s    %s_builder g = {b.s};\n    return g;\n}\n", g.disc, gc);
        } else if (dtsi_cgr_kind_bits(f->type.kind)) {
            gen_data_field(x, &g);
        } else if (f->type.kind == DTSI_CGR_VOID) {
            if (*g.disc) {
                gen_fn(x, "void", gen_fmt(x, "%s_set_%s(%s_builder b)", cn, f->name, cn));
                fprintf(x->c, "%s}\n", g.disc);
            }
        } else if (f->type.kind == DTSI_CGR_TEXT || f->type.kind == DTSI_CGR_DATA) {
            gen_blob_field(x, &g);
        } else {
            gen_ptr_field(x, &g);
        }
        stmts[i] = gen_copy_stmt(x, &g);
    }
    gen_fn(x, "dts_err", gen_fmt(x, "%s_copy(%s_reader r, %s_builder b)", cn, cn, cn));
    fprintf(x->c, "    dts_err e = DTS_OK;\n    (void)r;\n    (void)b;\n");
    for (uint32_t i = 0; i < n->nfields; i++)
        if (n->fields[i].discriminant == DTSI_CGR_NO_DISCRIMINANT && *stmts[i])
            fprintf(x->c, "    %s\n", stmts[i]);
    if (n->discriminant_count) {
        fprintf(x->c, "    switch (%s_which(r)) {\n", cn);
        for (uint32_t i = 0; i < n->nfields; i++)
            if (n->fields[i].discriminant != DTSI_CGR_NO_DISCRIMINANT)
                fprintf(x->c, "    case %s_TAG_%s: {\n    %s\n        break;\n    }\n", cn,
                        n->fields[i].name, stmts[i]);
        fprintf(x->c, "    default: break;\n    }\n");
    }
    fprintf(x->c, "    return e;\n}\n");
    free(stmts);
}

void
gen_struct_layout(gen *x, const dtsi_cgr_node *n, const char *path, int top)
{
    if (top) fprintf(x->c, "    {\"%s\", 's', %u, %u},\n", path, n->data_words * 8u, n->pointers);
    if (n->discriminant_count)
        fprintf(x->c, "    {\"%s\", 't', %u, %u},\n", path, n->discriminant_offset * 16,
                n->discriminant_offset * 16 + 16);
    for (uint32_t i = 0; i < n->nfields; i++) {
        const dtsi_cgr_field *f = &n->fields[i];
        const char *p = gen_fmt(x, "%s.%s", path, f->name);
        unsigned bits = dtsi_cgr_kind_bits(f->type.kind);
        if (f->is_group) {
            if (f->group) gen_struct_layout(x, f->group, p, 0);
        } else if (bits) {
            fprintf(x->c, "    {\"%s\", 'b', %u, %u},\n", p, f->offset * bits,
                    f->offset * bits + bits);
        } else if (gen_is_ptr(f->type.kind)) {
            fprintf(x->c, "    {\"%s\", 'p', %u, 0},\n", p, f->offset);
        }
    }
}

// cgr.c: reading the compiler's CodeGeneratorRequest into a C model
// (cgr.h; docs/spec/capnp.md, "Compiled schemas"). The accessors below are
// written by hand from the layout `capnp compile -ocapnp schema.capnp`
// prints for /usr/include/capnp/schema.capnp (0.9.2); offsets are in units
// of the field's size, as the runtime's getters take them. A future
// capnpc-dts regenerates them.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/capnp/cgr.h"
#include "codec/codec_int.h"

// schema.capnp layout (bits[a, b) / 16 for u16 and so on).
enum {
    // CodeGeneratorRequest: 0 data words, 4 pointers
    CGR_P_NODES = 0,
    CGR_P_FILES = 1,
    // Node
    NODE_U64_ID = 0,
    NODE_P_NAME = 0,
    NODE_U32_PREFIX = 2,
    NODE_U64_SCOPE = 2,
    NODE_P_NESTED = 1,
    NODE_U16_WHICH = 6,
    NODE_U16_DWORDS = 7,
    NODE_U16_PTRS = 12,
    NODE_BIT_ISGROUP = 224,
    NODE_U16_DCOUNT = 15,
    NODE_U32_DOFFSET = 8,
    NODE_P_MEMBERS = 3, // struct.fields, enum.enumerants
    NODE_P_PARAMS = 5,
    NODE_BIT_GENERIC = 288,
    // NestedNode
    NESTED_P_NAME = 0,
    NESTED_U64_ID = 0,
    // Field
    FIELD_P_NAME = 0,
    FIELD_U16_ORDER = 0,
    FIELD_U16_DISCR = 1, // default 65535
    FIELD_U16_WHICH = 4,
    FIELD_U32_OFFSET = 1,
    FIELD_P_TYPE = 2,
    FIELD_P_DEFAULT = 3,
    FIELD_BIT_EXPLICIT = 128,
    FIELD_U64_GROUP = 2,
    // Enumerant
    ENUMERANT_P_NAME = 0,
    ENUMERANT_U16_ORDER = 0,
    // Type
    TYPE_U16_WHICH = 0,
    TYPE_P_ELEMENT = 0,
    TYPE_U64_ID = 1,
    // Value
    VALUE_U16_WHICH = 0,
    // RequestedFile
    FILE_U64_ID = 0,
    FILE_P_NAME = 0,
};

// A bump allocator whose total is bounded (the model is sized by input).
typedef struct cgr_chunk {
    struct cgr_chunk *next;
    size_t used, cap;
    max_align_t data[];
} cgr_chunk;

struct dtsi_cgr {
    dtsi_capnp_msg msg;
    uint8_t *bytes;
    dtsi_cgr_opts o;
    cgr_chunk *chunks;
    size_t model_bytes;
    uint32_t members;
    dtsi_cgr_node *nodes;
    uint32_t nnodes;
    dtsi_cgr_node **by_id; // sorted by id
    dtsi_cgr_file *files;
    uint32_t nfiles;
    dtsi_capnp_list node_list; // for dtsi_cgr_trim (element sizes)
    char *err;
    size_t errcap;
};

static dts_err cgr_fail(dtsi_cgr *g, dts_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static dts_err
cgr_fail(dtsi_cgr *g, dts_err e, const char *fmt, ...)
{
    if (g->err && g->errcap) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(g->err, g->errcap, "capnp schema: ");
        if (n >= 0 && (size_t)n < g->errcap) vsnprintf(g->err + n, g->errcap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return e;
}

// cgr_alloc returns n zeroed bytes from the model's arena, or NULL past
// max_model_bytes or out of memory.
static void *
cgr_alloc(dtsi_cgr *g, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (n > g->o.max_model_bytes || g->model_bytes > g->o.max_model_bytes - n) return NULL;
    cgr_chunk *c = g->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = dtsi_cmalloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = g->chunks;
        c->used = 0;
        c->cap = cap;
        g->chunks = c;
    }
    void *p = (uint8_t *)c->data + c->used;
    c->used += n;
    g->model_bytes += n;
    memset(p, 0, n);
    return p;
}

// cgr_array allocates count elements of size, charging count members.
static void *
cgr_array(dtsi_cgr *g, uint32_t count, size_t size, dts_err *e)
{
    if (count > g->o.max_members - g->members) {
        *e = cgr_fail(g, DTS_ETOOBIG, "more than %u fields, enumerants and nested names",
                      g->o.max_members);
        return NULL;
    }
    g->members += count;
    if (count == 0) return NULL;
    void *p = cgr_alloc(g, (size_t)count * size);
    if (!p) *e = cgr_fail(g, DTS_ETOOBIG, "model larger than %zu bytes", g->o.max_model_bytes);
    return p;
}

// cgr_text reads a name: NUL-terminated by the runtime's check, and with
// no NUL inside so that it can be used as a C string.
static dts_err
cgr_text(dtsi_cgr *g, dtsi_capnp_ptr p, const char **out, const char *what)
{
    const char *s;
    size_t n;
    dts_err e = dtsi_capnp_read_text(p, &s, &n);
    if (e) return cgr_fail(g, e, "%s: %s", what, g->msg.errmsg);
    if (strlen(s) != n) return cgr_fail(g, DTS_EMALFORMED, "%s contains a NUL byte", what);
    *out = s;
    return DTS_OK;
}

static dts_err
cgr_list(dtsi_cgr *g, dtsi_capnp_ptr p, dtsi_capnp_list *l, const char *what)
{
    dts_err e = dtsi_capnp_read_list(p, DTSI_CAPNP_COMPOSITE, l);
    return e ? cgr_fail(g, e, "%s: %s", what, g->msg.errmsg) : DTS_OK;
}

// cgr_type reads a Type (recursively for list elements, up to
// max_type_depth). Kinds outside the schema.capnp union are malformed.
static dts_err
cgr_type(dtsi_cgr *g, dtsi_capnp_ptr p, dtsi_cgr_type *t, unsigned depth)
{
    dtsi_capnp_struct s;
    if (depth > g->o.max_type_depth)
        return cgr_fail(g, DTS_ETOOBIG, "type nested deeper than %u", g->o.max_type_depth);
    dts_err e = dtsi_capnp_read_struct(p, &s);
    if (e) return cgr_fail(g, e, "type: %s", g->msg.errmsg);
    uint16_t k = dtsi_capnp_get_u16(&s, TYPE_U16_WHICH, 0);
    if (k > DTSI_CGR_ANYPOINTER) return cgr_fail(g, DTS_EMALFORMED, "unknown type kind %u", k);
    t->kind = (dtsi_cgr_kind)k;
    if (k == DTSI_CGR_ENUM || k == DTSI_CGR_STRUCT || k == DTSI_CGR_INTERFACE)
        t->type_id = dtsi_capnp_get_u64(&s, TYPE_U64_ID, 0);
    if (k != DTSI_CGR_LIST) return DTS_OK;
    dtsi_cgr_type *el = cgr_alloc(g, sizeof *el);
    if (!el) return cgr_fail(g, DTS_ETOOBIG, "model larger than %zu bytes", g->o.max_model_bytes);
    t->element = el;
    return cgr_type(g, dtsi_capnp_struct_ptr(&s, TYPE_P_ELEMENT), el, depth + 1);
}

// cgr_value reads a Value: the primitive bits at the place its kind uses,
// or the pointer slot.
static dts_err
cgr_value(dtsi_cgr *g, dtsi_capnp_ptr p, dtsi_cgr_value *v)
{
    dtsi_capnp_struct s;
    dts_err e = dtsi_capnp_read_struct(p, &s);
    if (e) return cgr_fail(g, e, "default value: %s", g->msg.errmsg);
    uint16_t k = dtsi_capnp_get_u16(&s, VALUE_U16_WHICH, 0);
    if (k > DTSI_CGR_ANYPOINTER) return cgr_fail(g, DTS_EMALFORMED, "unknown value kind %u", k);
    v->kind = (dtsi_cgr_kind)k;
    switch (v->kind) {
    case DTSI_CGR_BOOL:
        v->bits = dtsi_capnp_get_bool(&s, 16, false);
        break;
    case DTSI_CGR_INT8:
    case DTSI_CGR_UINT8:
        v->bits = dtsi_capnp_get_u8(&s, 2, 0);
        break;
    case DTSI_CGR_INT16:
    case DTSI_CGR_UINT16:
    case DTSI_CGR_ENUM:
        v->bits = dtsi_capnp_get_u16(&s, 1, 0);
        break;
    case DTSI_CGR_INT32:
    case DTSI_CGR_UINT32:
    case DTSI_CGR_FLOAT32:
        v->bits = dtsi_capnp_get_u32(&s, 1, 0);
        break;
    case DTSI_CGR_INT64:
    case DTSI_CGR_UINT64:
    case DTSI_CGR_FLOAT64:
        v->bits = dtsi_capnp_get_u64(&s, 1, 0);
        break;
    case DTSI_CGR_TEXT:
    case DTSI_CGR_DATA:
    case DTSI_CGR_LIST:
    case DTSI_CGR_STRUCT:
    case DTSI_CGR_ANYPOINTER:
        v->ptr = dtsi_capnp_struct_ptr(&s, 0);
        break;
    default:
        break;
    }
    return DTS_OK;
}

// cgr_field reads Field element i of a node's field list.
static dts_err
cgr_field(dtsi_cgr *g, const dtsi_capnp_list *l, uint32_t i, dtsi_cgr_field *f)
{
    dtsi_capnp_struct s;
    dts_err e = dtsi_capnp_list_struct(l, i, &s);
    if (!e) e = cgr_text(g, dtsi_capnp_struct_ptr(&s, FIELD_P_NAME), &f->name, "field name");
    if (e) return e;
    f->index = i;
    f->code_order = dtsi_capnp_get_u16(&s, FIELD_U16_ORDER, 0);
    f->discriminant = dtsi_capnp_get_u16(&s, FIELD_U16_DISCR, DTSI_CGR_NO_DISCRIMINANT);
    uint16_t which = dtsi_capnp_get_u16(&s, FIELD_U16_WHICH, 0);
    if (which == 1) {
        f->is_group = true;
        f->group_id = dtsi_capnp_get_u64(&s, FIELD_U64_GROUP, 0);
        return DTS_OK;
    }
    if (which != 0) return cgr_fail(g, DTS_EMALFORMED, "field %s of unknown kind", f->name);
    f->offset = dtsi_capnp_get_u32(&s, FIELD_U32_OFFSET, 0);
    f->had_explicit_default = dtsi_capnp_get_bool(&s, FIELD_BIT_EXPLICIT, false);
    e = cgr_type(g, dtsi_capnp_struct_ptr(&s, FIELD_P_TYPE), &f->type, 1);
    return e ? e : cgr_value(g, dtsi_capnp_struct_ptr(&s, FIELD_P_DEFAULT), &f->default_value);
}

// cgr_members reads the fields of a struct node or the enumerants of an
// enum node.
static dts_err
cgr_members(dtsi_cgr *g, dtsi_cgr_node *n, const dtsi_capnp_struct *s)
{
    dtsi_capnp_list l;
    dts_err e = cgr_list(g, dtsi_capnp_struct_ptr(s, NODE_P_MEMBERS), &l, n->display_name);
    if (e) return e;
    if (n->kind == DTSI_CGR_NODE_STRUCT) {
        dtsi_cgr_field *f = cgr_array(g, l.count, sizeof *f, &e);
        for (uint32_t i = 0; !e && i < l.count; i++) e = cgr_field(g, &l, i, &f[i]);
        n->fields = f;
        n->nfields = l.count;
        return e;
    }
    dtsi_cgr_enumerant *en = cgr_array(g, l.count, sizeof *en, &e);
    for (uint32_t i = 0; !e && i < l.count; i++) {
        dtsi_capnp_struct es;
        e = dtsi_capnp_list_struct(&l, i, &es);
        if (!e)
            e = cgr_text(g, dtsi_capnp_struct_ptr(&es, ENUMERANT_P_NAME), &en[i].name,
                         "enumerant name");
        en[i].code_order = dtsi_capnp_get_u16(&es, ENUMERANT_U16_ORDER, 0);
    }
    n->enumerants = en;
    n->nenumerants = l.count;
    return e;
}

// cgr_node reads Node element i of the request's node list.
static dts_err
cgr_node(dtsi_cgr *g, const dtsi_capnp_list *l, uint32_t i, dtsi_cgr_node *n)
{
    dtsi_capnp_struct s;
    dtsi_capnp_list nl;
    dts_err e = dtsi_capnp_list_struct(l, i, &s);
    if (!e) e = cgr_text(g, dtsi_capnp_struct_ptr(&s, NODE_P_NAME), &n->display_name, "node name");
    if (e) return e;
    n->raw = s;
    n->id = dtsi_capnp_get_u64(&s, NODE_U64_ID, 0);
    n->scope_id = dtsi_capnp_get_u64(&s, NODE_U64_SCOPE, 0);
    n->prefix_len = dtsi_capnp_get_u32(&s, NODE_U32_PREFIX, 0);
    if (n->prefix_len > strlen(n->display_name)) n->prefix_len = 0;
    uint16_t which = dtsi_capnp_get_u16(&s, NODE_U16_WHICH, 0);
    if (which > DTSI_CGR_NODE_ANNOTATION)
        return cgr_fail(g, DTS_EMALFORMED, "node %s of unknown kind %u", n->display_name, which);
    n->kind = (dtsi_cgr_node_kind)which;
    e = cgr_list(g, dtsi_capnp_struct_ptr(&s, NODE_P_NESTED), &nl, n->display_name);
    dtsi_cgr_nested *nn = e ? NULL : cgr_array(g, nl.count, sizeof *nn, &e);
    for (uint32_t j = 0; !e && j < nl.count; j++) {
        dtsi_capnp_struct ns;
        e = dtsi_capnp_list_struct(&nl, j, &ns);
        if (!e)
            e = cgr_text(g, dtsi_capnp_struct_ptr(&ns, NESTED_P_NAME), &nn[j].name,
                         "nested node name");
        nn[j].id = dtsi_capnp_get_u64(&ns, NESTED_U64_ID, 0);
    }
    n->nested = nn;
    n->nnested = e ? 0 : nl.count;
    if (e) return e;
    if (n->kind == DTSI_CGR_NODE_STRUCT) {
        n->data_words = dtsi_capnp_get_u16(&s, NODE_U16_DWORDS, 0);
        n->pointers = dtsi_capnp_get_u16(&s, NODE_U16_PTRS, 0);
        n->is_group = dtsi_capnp_get_bool(&s, NODE_BIT_ISGROUP, false);
        n->discriminant_count = dtsi_capnp_get_u16(&s, NODE_U16_DCOUNT, 0);
        n->discriminant_offset = dtsi_capnp_get_u32(&s, NODE_U32_DOFFSET, 0);
    }
    if (n->kind == DTSI_CGR_NODE_STRUCT || n->kind == DTSI_CGR_NODE_ENUM)
        return cgr_members(g, n, &s);
    return DTS_OK;
}

static int
cgr_cmp_id(const void *a, const void *b)
{
    uint64_t x = (*(dtsi_cgr_node *const *)a)->id, y = (*(dtsi_cgr_node *const *)b)->id;
    return x < y ? -1 : x > y;
}

// cgr_resolve_type points enum and struct types at their nodes.
static void
cgr_resolve_type(dtsi_cgr *g, dtsi_cgr_type *t)
{
    for (; t; t = (dtsi_cgr_type *)t->element)
        if (t->kind == DTSI_CGR_ENUM || t->kind == DTSI_CGR_STRUCT)
            t->node = dtsi_cgr_find(g, t->type_id);
}

// cgr_index sorts the nodes by id (refusing duplicates) and resolves the
// references of every field.
static dts_err
cgr_index(dtsi_cgr *g)
{
    g->by_id = cgr_alloc(g, (size_t)g->nnodes * sizeof *g->by_id + 1);
    if (!g->by_id) return cgr_fail(g, DTS_ETOOBIG, "model too large");
    for (uint32_t i = 0; i < g->nnodes; i++) g->by_id[i] = &g->nodes[i];
    qsort(g->by_id, g->nnodes, sizeof *g->by_id, cgr_cmp_id);
    for (uint32_t i = 1; i < g->nnodes; i++)
        if (g->by_id[i]->id == g->by_id[i - 1]->id)
            return cgr_fail(g, DTS_EMALFORMED, "two nodes with id %016llx",
                            (unsigned long long)g->by_id[i]->id);
    for (uint32_t i = 0; i < g->nnodes; i++) {
        dtsi_cgr_node *n = &g->nodes[i];
        for (uint32_t j = 0; j < n->nfields; j++) {
            dtsi_cgr_field *f = (dtsi_cgr_field *)&n->fields[j];
            if (f->is_group)
                f->group = dtsi_cgr_find(g, f->group_id);
            else
                cgr_resolve_type(g, &f->type);
        }
    }
    return DTS_OK;
}

// cgr_read reads the whole request once the message is open.
static dts_err
cgr_read(dtsi_cgr *g)
{
    dtsi_capnp_struct root;
    dtsi_capnp_list l, fl;
    dts_err e = dtsi_capnp_read_struct(dtsi_capnp_root(&g->msg), &root);
    if (e) return cgr_fail(g, e, "request: %s", g->msg.errmsg);
    if ((e = cgr_list(g, dtsi_capnp_struct_ptr(&root, CGR_P_NODES), &l, "node list"))) return e;
    if (l.count > g->o.max_nodes)
        return cgr_fail(g, DTS_ETOOBIG, "%u nodes, more than %u", l.count, g->o.max_nodes);
    g->node_list = l;
    g->nodes = cgr_alloc(g, (size_t)l.count * sizeof *g->nodes + 1);
    if (!g->nodes) return cgr_fail(g, DTS_ETOOBIG, "model too large");
    for (uint32_t i = 0; !e && i < l.count; i++, g->nnodes++) e = cgr_node(g, &l, i, &g->nodes[i]);
    if (!e) e = cgr_list(g, dtsi_capnp_struct_ptr(&root, CGR_P_FILES), &fl, "requested files");
    if (e) return e;
    g->files = cgr_array(g, fl.count, sizeof *g->files, &e);
    for (uint32_t i = 0; !e && i < fl.count; i++, g->nfiles++) {
        dtsi_capnp_struct fs;
        e = dtsi_capnp_list_struct(&fl, i, &fs);
        if (!e)
            e = cgr_text(g, dtsi_capnp_struct_ptr(&fs, FILE_P_NAME), &g->files[i].filename,
                         "file name");
        g->files[i].id = dtsi_capnp_get_u64(&fs, FILE_U64_ID, 0);
    }
    return e ? e : cgr_index(g);
}

dts_err
dtsi_cgr_parse(const void *buf, size_t len, const dtsi_cgr_opts *opts, dtsi_cgr **out, char *err,
               size_t errcap)
{
    if (err && errcap) err[0] = 0;
    if (!out || (len && !buf)) return DTS_EINVAL;
    dtsi_cgr *g = dtsi_cmalloc(sizeof *g);
    if (!g) return DTS_ENOMEM;
    memset(g, 0, sizeof *g);
    g->err = err;
    g->errcap = errcap;
    if (opts) g->o = *opts;
    g->o.limits = dtsi_capnp_limits_resolve(opts ? &opts->limits : NULL);
    if (!g->o.max_nodes) g->o.max_nodes = DTSI_CGR_MAX_NODES;
    if (!g->o.max_members) g->o.max_members = DTSI_CGR_MAX_MEMBERS;
    if (!g->o.max_type_depth) g->o.max_type_depth = DTSI_CGR_MAX_TYPE_DEPTH;
    if (!g->o.max_model_bytes) g->o.max_model_bytes = DTSI_CGR_MAX_MODEL;
    g->bytes = dtsi_cmalloc(len ? len : 1);
    dts_err e = g->bytes ? DTS_OK : DTS_ENOMEM;
    size_t used = 0;
    if (!e) {
        if (len) memcpy(g->bytes, buf, len);
        e = dtsi_capnp_msg_init_stream(&g->msg, g->bytes, len, &g->o.limits, &used);
        if (e)
            cgr_fail(g, e, "request framing: %s", g->msg.errmsg);
        else if (used != len)
            e = cgr_fail(g, DTS_EMALFORMED, "%zu bytes after the request message", len - used);
    }
    if (!e) e = cgr_read(g);
    g->err = NULL;
    g->errcap = 0;
    if (e) {
        dtsi_cgr_free(g);
        return e;
    }
    *out = g;
    return DTS_OK;
}

void
dtsi_cgr_free(dtsi_cgr *g)
{
    if (!g) return;
    while (g->chunks) {
        cgr_chunk *c = g->chunks;
        g->chunks = c->next;
        dtsi_cfree(c);
    }
    dtsi_capnp_msg_fini(&g->msg);
    dtsi_cfree(g->bytes);
    dtsi_cfree(g);
}

uint32_t
dtsi_cgr_node_count(const dtsi_cgr *g)
{
    return g->nnodes;
}

dtsi_cgr_node *
dtsi_cgr_node_at(const dtsi_cgr *g, uint32_t i)
{
    return i < g->nnodes ? &g->nodes[i] : NULL;
}

dtsi_cgr_node *
dtsi_cgr_find(const dtsi_cgr *g, uint64_t id)
{
    uint32_t lo = 0, hi = g->nnodes;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (g->by_id[mid]->id == id) return g->by_id[mid];
        if (g->by_id[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

dtsi_cgr_node *
dtsi_cgr_find_name(const dtsi_cgr *g, const char *name)
{
    for (uint32_t i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].display_name, name)) return &g->nodes[i];
    return NULL;
}

uint32_t
dtsi_cgr_file_count(const dtsi_cgr *g)
{
    return g->nfiles;
}

const dtsi_cgr_file *
dtsi_cgr_file_at(const dtsi_cgr *g, uint32_t i)
{
    return i < g->nfiles ? &g->files[i] : NULL;
}

dtsi_capnp_msg *
dtsi_cgr_message(dtsi_cgr *g)
{
    return &g->msg;
}

const char *
dtsi_cgr_short_name(const dtsi_cgr_node *n)
{
    const char *c = strchr(n->display_name, ':');
    return c ? c + 1 : n->display_name + n->prefix_len;
}

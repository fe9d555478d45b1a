// cgr.c: reading the compiler's CodeGeneratorRequest into a C model
// (cgr.h; docs/spec/capnp.md, "Compiled schemas"). It reads the request
// through the accessors capnpc-dts generated from schema.capnp
// (gen/schema.capnp.h, prefix dtsi_schema; "Bootstrap" in the spec): the
// generator reads its own input with code it generated.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/capnp/cgr.h"
#include "codec/capnp/gen/schema.capnp.h"
#include "codec/codec_int.h"

// A bump allocator whose total is bounded (the model is sized by input).
typedef struct cgr_chunk {
    struct cgr_chunk *next;
    size_t used, cap;
    max_align_t data[];
} cgr_chunk;

struct dtsi_cgr {
    dts_capnp_msg msg;
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
    dts_capnp_list node_list; // for dtsi_cgr_trim (element sizes)
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

// cgr_name checks a name read by a generated text getter: NUL-terminated
// by the runtime's check, and with no NUL inside so that it can be used as
// a C string.
static dts_err
cgr_name(dtsi_cgr *g, dts_err e, const char *s, size_t n, const char **out, const char *what)
{
    if (e) return cgr_fail(g, e, "%s: %s", what, g->msg.errmsg);
    if (strlen(s) != n) return cgr_fail(g, DTS_EMALFORMED, "%s contains a NUL byte", what);
    *out = s;
    return DTS_OK;
}

static dts_err
cgr_list(dtsi_cgr *g, dts_err e, const char *what)
{
    return e ? cgr_fail(g, e, "%s: %s", what, g->msg.errmsg) : DTS_OK;
}

// cgr_type reads a Type (recursively for list elements, up to
// max_type_depth). Kinds outside the schema.capnp union are malformed.
static dts_err
cgr_type(dtsi_cgr *g, dts_err e, dtsi_schema_Type_reader r, dtsi_cgr_type *t, unsigned depth)
{
    if (e) return cgr_fail(g, e, "type: %s", g->msg.errmsg);
    if (depth > g->o.max_type_depth)
        return cgr_fail(g, DTS_ETOOBIG, "type nested deeper than %u", g->o.max_type_depth);
    unsigned k = dtsi_schema_Type_which(r);
    if (k > DTSI_CGR_ANYPOINTER) return cgr_fail(g, DTS_EMALFORMED, "unknown type kind %u", k);
    t->kind = (dtsi_cgr_kind)k;
    if (k == DTSI_CGR_ENUM)
        t->type_id = dtsi_schema_Type_enum_get_typeId(dtsi_schema_Type_get_enum(r));
    else if (k == DTSI_CGR_STRUCT)
        t->type_id = dtsi_schema_Type_struct_get_typeId(dtsi_schema_Type_get_struct(r));
    else if (k == DTSI_CGR_INTERFACE)
        t->type_id = dtsi_schema_Type_interface_get_typeId(dtsi_schema_Type_get_interface(r));
    if (k != DTSI_CGR_LIST) return DTS_OK;
    dtsi_cgr_type *el = cgr_alloc(g, sizeof *el);
    if (!el) return cgr_fail(g, DTS_ETOOBIG, "model larger than %zu bytes", g->o.max_model_bytes);
    t->element = el;
    dtsi_schema_Type_reader er;
    e = dtsi_schema_Type_list_get_elementType(dtsi_schema_Type_get_list(r), &er);
    return cgr_type(g, e, er, el, depth + 1);
}

// cgr_value reads a Value: the primitive bits as stored, the bytes of text
// and data, or the pointer of the other pointer kinds.
static dts_err
cgr_value(dtsi_cgr *g, dts_err e, dtsi_schema_Value_reader r, dtsi_cgr_value *v)
{
    if (e) return cgr_fail(g, e, "value: %s", g->msg.errmsg);
    unsigned k = dtsi_schema_Value_which(r);
    if (k > DTSI_CGR_ANYPOINTER) return cgr_fail(g, DTS_EMALFORMED, "unknown value kind %u", k);
    v->kind = (dtsi_cgr_kind)k;
    float f32;
    double f64;
    uint32_t b32;
    switch (v->kind) {
    case DTSI_CGR_BOOL:
        v->bits = dtsi_schema_Value_get_bool(r);
        break;
    case DTSI_CGR_INT8:
        v->bits = (uint8_t)dtsi_schema_Value_get_int8(r);
        break;
    case DTSI_CGR_UINT8:
        v->bits = dtsi_schema_Value_get_uint8(r);
        break;
    case DTSI_CGR_INT16:
        v->bits = (uint16_t)dtsi_schema_Value_get_int16(r);
        break;
    case DTSI_CGR_UINT16:
        v->bits = dtsi_schema_Value_get_uint16(r);
        break;
    case DTSI_CGR_ENUM:
        v->bits = dtsi_schema_Value_get_enum(r);
        break;
    case DTSI_CGR_INT32:
        v->bits = (uint32_t)dtsi_schema_Value_get_int32(r);
        break;
    case DTSI_CGR_UINT32:
        v->bits = dtsi_schema_Value_get_uint32(r);
        break;
    case DTSI_CGR_FLOAT32:
        f32 = dtsi_schema_Value_get_float32(r);
        memcpy(&b32, &f32, sizeof b32);
        v->bits = b32;
        break;
    case DTSI_CGR_INT64:
        v->bits = (uint64_t)dtsi_schema_Value_get_int64(r);
        break;
    case DTSI_CGR_UINT64:
        v->bits = dtsi_schema_Value_get_uint64(r);
        break;
    case DTSI_CGR_FLOAT64:
        f64 = dtsi_schema_Value_get_float64(r);
        memcpy(&v->bits, &f64, sizeof v->bits);
        break;
    case DTSI_CGR_TEXT:
        if (dtsi_schema_Value_has_text(r))
            e = dtsi_schema_Value_get_text(r, (const char **)&v->bytes, &v->len);
        break;
    case DTSI_CGR_DATA:
        if (dtsi_schema_Value_has_data(r)) e = dtsi_schema_Value_get_data(r, &v->bytes, &v->len);
        break;
    case DTSI_CGR_LIST:
        v->ptr = dtsi_schema_Value_get_list(r);
        break;
    case DTSI_CGR_STRUCT:
        v->ptr = dtsi_schema_Value_get_struct(r);
        break;
    case DTSI_CGR_ANYPOINTER:
        v->ptr = dtsi_schema_Value_get_anyPointer(r);
        break;
    default:
        break;
    }
    return e ? cgr_fail(g, e, "value: %s", g->msg.errmsg) : DTS_OK;
}

// cgr_field reads Field element i of a node's field list.
static dts_err
cgr_field(dtsi_cgr *g, const dts_capnp_list *l, uint32_t i, dtsi_cgr_field *f)
{
    dtsi_schema_Field_reader r;
    const char *s = NULL;
    size_t n = 0;
    dts_err e = dtsi_schema_Node_struct_fields_at(l, i, &r);
    if (!e) e = dtsi_schema_Field_get_name(r, &s, &n);
    if ((e = cgr_name(g, e, s, n, &f->name, "field name"))) return e;
    f->index = i;
    f->code_order = dtsi_schema_Field_get_codeOrder(r);
    f->discriminant = dtsi_schema_Field_get_discriminantValue(r);
    unsigned which = dtsi_schema_Field_which(r);
    if (which == dtsi_schema_Field_TAG_group) {
        f->is_group = true;
        f->group_id = dtsi_schema_Field_group_get_typeId(dtsi_schema_Field_get_group(r));
        return DTS_OK;
    }
    if (which != dtsi_schema_Field_TAG_slot)
        return cgr_fail(g, DTS_EMALFORMED, "field %s of unknown kind", f->name);
    dtsi_schema_Field_slot_reader slot = dtsi_schema_Field_get_slot(r);
    dtsi_schema_Type_reader tr;
    dtsi_schema_Value_reader vr;
    f->offset = dtsi_schema_Field_slot_get_offset(slot);
    f->had_explicit_default = dtsi_schema_Field_slot_get_hadExplicitDefault(slot);
    e = cgr_type(g, dtsi_schema_Field_slot_get_type(slot, &tr), tr, &f->type, 1);
    if (e) return e;
    return cgr_value(g, dtsi_schema_Field_slot_get_defaultValue(slot, &vr), vr, &f->default_value);
}

// cgr_fields reads the fields of a struct node.
static dts_err
cgr_fields(dtsi_cgr *g, dtsi_cgr_node *n, dtsi_schema_Node_struct_reader st)
{
    dts_capnp_list l;
    dts_err e = cgr_list(g, dtsi_schema_Node_struct_get_fields(st, &l), n->display_name);
    if (e) return e;
    dtsi_cgr_field *f = cgr_array(g, l.count, sizeof *f, &e);
    for (uint32_t i = 0; !e && i < l.count; i++) e = cgr_field(g, &l, i, &f[i]);
    n->fields = f;
    n->nfields = l.count;
    return e;
}

// cgr_enumerants reads the enumerants of an enum node.
static dts_err
cgr_enumerants(dtsi_cgr *g, dtsi_cgr_node *n, dtsi_schema_Node_enum_reader en)
{
    dts_capnp_list l;
    dts_err e = cgr_list(g, dtsi_schema_Node_enum_get_enumerants(en, &l), n->display_name);
    if (e) return e;
    dtsi_cgr_enumerant *m = cgr_array(g, l.count, sizeof *m, &e);
    for (uint32_t i = 0; !e && i < l.count; i++) {
        dtsi_schema_Enumerant_reader r;
        const char *s = NULL;
        size_t len = 0;
        e = dtsi_schema_Node_enum_enumerants_at(&l, i, &r);
        if (!e) e = dtsi_schema_Enumerant_get_name(r, &s, &len);
        e = cgr_name(g, e, s, len, &m[i].name, "enumerant name");
        if (!e) m[i].code_order = dtsi_schema_Enumerant_get_codeOrder(r);
    }
    n->enumerants = m;
    n->nenumerants = l.count;
    return e;
}

// cgr_nested reads the names of the nodes nested in a node.
static dts_err
cgr_nested(dtsi_cgr *g, dtsi_cgr_node *n, dtsi_schema_Node_reader r)
{
    dts_capnp_list l;
    dts_err e = cgr_list(g, dtsi_schema_Node_get_nestedNodes(r, &l), n->display_name);
    dtsi_cgr_nested *nn = e ? NULL : cgr_array(g, l.count, sizeof *nn, &e);
    for (uint32_t j = 0; !e && j < l.count; j++) {
        dtsi_schema_Node_NestedNode_reader nr;
        const char *s = NULL;
        size_t len = 0;
        e = dtsi_schema_Node_nestedNodes_at(&l, j, &nr);
        if (!e) e = dtsi_schema_Node_NestedNode_get_name(nr, &s, &len);
        e = cgr_name(g, e, s, len, &nn[j].name, "nested node name");
        if (!e) nn[j].id = dtsi_schema_Node_NestedNode_get_id(nr);
    }
    n->nested = nn;
    n->nnested = e ? 0 : l.count;
    return e;
}

// cgr_node reads Node element i of the request's node list.
static dts_err
cgr_node(dtsi_cgr *g, const dts_capnp_list *l, uint32_t i, dtsi_cgr_node *n)
{
    dtsi_schema_Node_reader r;
    const char *s = NULL;
    size_t len = 0;
    dts_err e = dtsi_schema_CodeGeneratorRequest_nodes_at(l, i, &r);
    if (!e) e = dtsi_schema_Node_get_displayName(r, &s, &len);
    if ((e = cgr_name(g, e, s, len, &n->display_name, "node name"))) return e;
    n->raw = r.s;
    n->id = dtsi_schema_Node_get_id(r);
    n->scope_id = dtsi_schema_Node_get_scopeId(r);
    n->prefix_len = dtsi_schema_Node_get_displayNamePrefixLength(r);
    if (n->prefix_len > len) n->prefix_len = 0;
    unsigned which = dtsi_schema_Node_which(r);
    if (which > DTSI_CGR_NODE_ANNOTATION)
        return cgr_fail(g, DTS_EMALFORMED, "node %s of unknown kind %u", n->display_name, which);
    n->kind = (dtsi_cgr_node_kind)which;
    if ((e = cgr_nested(g, n, r))) return e;
    if (n->kind == DTSI_CGR_NODE_STRUCT) {
        dtsi_schema_Node_struct_reader st = dtsi_schema_Node_get_struct(r);
        n->data_words = dtsi_schema_Node_struct_get_dataWordCount(st);
        n->pointers = dtsi_schema_Node_struct_get_pointerCount(st);
        n->is_group = dtsi_schema_Node_struct_get_isGroup(st);
        n->discriminant_count = dtsi_schema_Node_struct_get_discriminantCount(st);
        n->discriminant_offset = dtsi_schema_Node_struct_get_discriminantOffset(st);
        return cgr_fields(g, n, st);
    }
    if (n->kind == DTSI_CGR_NODE_ENUM) return cgr_enumerants(g, n, dtsi_schema_Node_get_enum(r));
    if (n->kind == DTSI_CGR_NODE_CONST) {
        dtsi_schema_Value_reader vr;
        e = dtsi_schema_Node_const_get_value(dtsi_schema_Node_get_const(r), &vr);
        return cgr_value(g, e, vr, &n->const_value);
    }
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
    dtsi_schema_CodeGeneratorRequest_reader root;
    dts_capnp_list l, fl;
    dts_err e = dtsi_schema_CodeGeneratorRequest_read_root(&g->msg, &root);
    if (e) return cgr_fail(g, e, "request: %s", g->msg.errmsg);
    e = cgr_list(g, dtsi_schema_CodeGeneratorRequest_get_nodes(root, &l), "node list");
    if (e) return e;
    if (l.count > g->o.max_nodes)
        return cgr_fail(g, DTS_ETOOBIG, "%u nodes, more than %u", l.count, g->o.max_nodes);
    g->node_list = l;
    g->nodes = cgr_alloc(g, (size_t)l.count * sizeof *g->nodes + 1);
    if (!g->nodes) return cgr_fail(g, DTS_ETOOBIG, "model too large");
    for (uint32_t i = 0; !e && i < l.count; i++, g->nnodes++) e = cgr_node(g, &l, i, &g->nodes[i]);
    if (!e)
        e = cgr_list(g, dtsi_schema_CodeGeneratorRequest_get_requestedFiles(root, &fl),
                     "requested files");
    if (e) return e;
    g->files = cgr_array(g, fl.count, sizeof *g->files, &e);
    for (uint32_t i = 0; !e && i < fl.count; i++, g->nfiles++) {
        dtsi_schema_CodeGeneratorRequest_RequestedFile_reader fr;
        const char *s = NULL;
        size_t len = 0;
        e = dtsi_schema_CodeGeneratorRequest_requestedFiles_at(&fl, i, &fr);
        if (!e) e = dtsi_schema_CodeGeneratorRequest_RequestedFile_get_filename(fr, &s, &len);
        e = cgr_name(g, e, s, len, &g->files[i].filename, "file name");
        if (!e) g->files[i].id = dtsi_schema_CodeGeneratorRequest_RequestedFile_get_id(fr);
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
    g->o.limits = dts_capnp_limits_resolve(opts ? &opts->limits : NULL);
    if (!g->o.max_nodes) g->o.max_nodes = DTSI_CGR_MAX_NODES;
    if (!g->o.max_members) g->o.max_members = DTSI_CGR_MAX_MEMBERS;
    if (!g->o.max_type_depth) g->o.max_type_depth = DTSI_CGR_MAX_TYPE_DEPTH;
    if (!g->o.max_model_bytes) g->o.max_model_bytes = DTSI_CGR_MAX_MODEL;
    g->bytes = dtsi_cmalloc(len ? len : 1);
    dts_err e = g->bytes ? DTS_OK : DTS_ENOMEM;
    size_t used = 0;
    if (!e) {
        if (len) memcpy(g->bytes, buf, len);
        e = dts_capnp_msg_init_stream(&g->msg, g->bytes, len, &g->o.limits, &used);
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
    dts_capnp_msg_fini(&g->msg);
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
    dtsi_cgr_node *hit = NULL;
    const char *want = dtsi_cgr_base_name(name);
    for (uint32_t i = 0; i < g->nnodes; i++) // as given, directories and all
        if (!strcmp(g->nodes[i].display_name, name)) return &g->nodes[i];
    for (uint32_t i = 0; i < g->nnodes; i++) {
        const char *dn = g->nodes[i].display_name;
        if (strcmp(dtsi_cgr_base_name(dn), want)) continue;
        if (hit) return NULL; // two files of one name in two directories
        hit = &g->nodes[i];
    }
    return hit;
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

dts_capnp_msg *
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

// cgr.h: a reader of the Cap'n Proto compiler's CodeGeneratorRequest
// (issue 5; docs/spec/capnp.md, "Compiled schemas").
//
// `capnp compile -o- FILE.capnp` writes the request to stdout as a capnp
// message (stream framing, unpacked): every node of the file and the nodes
// it uses from imports, with the layout already done. This module reads the
// subset of /usr/include/capnp/schema.capnp that a dynamic codec or a code
// generator needs, with hand-written accessors over the dts runtime
// (capnp.h), into a plain C model: nodes (file, struct, enum, others by
// kind only), fields, types, default values, enumerants, nested names.
//
// The request may come from the network (it is the travelling schema of a
// capnp type), so everything is bounded: the message by dts_capnp_limits,
// the model by dtsi_cgr_opts (nodes, members, type nesting, bytes), and
// every string is checked (NUL-terminated, no NUL inside). References
// between nodes (field types, groups) are resolved to pointers when the
// node is present and left NULL otherwise; dtsi_cgr_check_struct verifies
// that everything a struct needs is present and consistent before a codec
// trusts it.
//
// The model borrows strings from the message and keeps the message alive
// (pointer defaults are views into it), so it owns a copy of the bytes.
// Immutable after dtsi_cgr_parse except the mark field that
// dtsi_cgr_check_struct and dtsi_cgr_trim use, so a parsed model may be
// read from several threads; following the pointer views (Value.ptr,
// node.raw) reads the request message, which charges its traversal budget,
// and is for one thread at a time (a code generator; dtsi_cgr_trim).
#ifndef DTSI_CAPNP_CGR_H
#define DTSI_CAPNP_CGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dts/capnp.h>

// Defaults of dtsi_cgr_opts (0 means the default).
#define DTSI_CGR_MAX_NODES 4096u         // nodes in one request
#define DTSI_CGR_MAX_MEMBERS 65536u      // fields + enumerants + nested names, all nodes
#define DTSI_CGR_MAX_TYPE_DEPTH 32u      // List(List(...)) nesting of one type
#define DTSI_CGR_MAX_MODEL (8u << 20)    // bytes of the parsed model
#define DTSI_CGR_NO_DISCRIMINANT 0xffffu // Field.discriminantValue outside a union

typedef struct dtsi_cgr_opts {
    dts_capnp_limits limits; // for reading the request message itself
    uint32_t max_nodes;
    uint32_t max_members;
    unsigned max_type_depth;
    size_t max_model_bytes;
} dtsi_cgr_opts;

// Type kinds: the tags of schema.capnp's Type union.
typedef enum dtsi_cgr_kind {
    DTSI_CGR_VOID = 0,
    DTSI_CGR_BOOL = 1,
    DTSI_CGR_INT8 = 2,
    DTSI_CGR_INT16 = 3,
    DTSI_CGR_INT32 = 4,
    DTSI_CGR_INT64 = 5,
    DTSI_CGR_UINT8 = 6,
    DTSI_CGR_UINT16 = 7,
    DTSI_CGR_UINT32 = 8,
    DTSI_CGR_UINT64 = 9,
    DTSI_CGR_FLOAT32 = 10,
    DTSI_CGR_FLOAT64 = 11,
    DTSI_CGR_TEXT = 12,
    DTSI_CGR_DATA = 13,
    DTSI_CGR_LIST = 14,
    DTSI_CGR_ENUM = 15,
    DTSI_CGR_STRUCT = 16,
    DTSI_CGR_INTERFACE = 17,
    DTSI_CGR_ANYPOINTER = 18,
} dtsi_cgr_kind;

// Node kinds: the tags of Node's union.
typedef enum dtsi_cgr_node_kind {
    DTSI_CGR_NODE_FILE = 0,
    DTSI_CGR_NODE_STRUCT = 1,
    DTSI_CGR_NODE_ENUM = 2,
    DTSI_CGR_NODE_INTERFACE = 3,
    DTSI_CGR_NODE_CONST = 4,
    DTSI_CGR_NODE_ANNOTATION = 5,
} dtsi_cgr_node_kind;

struct dtsi_cgr_node;

typedef struct dtsi_cgr_type {
    dtsi_cgr_kind kind;
    uint64_t type_id;                    // enum, struct, interface
    const struct dtsi_cgr_node *node;    // resolved enum or struct node, or NULL
    const struct dtsi_cgr_type *element; // list element type (never NULL for a list)
} dtsi_cgr_type;

// A Value: kind is the tag of schema.capnp's Value union (same numbers as
// dtsi_cgr_kind). bits holds a primitive as stored (bool in bit 0, integers
// zero-extended, floats as their IEEE bits, enums as the u16); bytes and
// len a text (NUL-terminated, len without the NUL) or data value (bytes
// NULL for a null pointer); ptr the
// pointer of list, struct and anyPointer values (views into the request
// message, for dts_capnp_copy or the read functions).
typedef struct dtsi_cgr_value {
    dtsi_cgr_kind kind;
    uint64_t bits;
    const uint8_t *bytes;
    size_t len;
    dts_capnp_ptr ptr;
} dtsi_cgr_value;

typedef struct dtsi_cgr_field {
    const char *name;
    uint16_t code_order;
    uint16_t discriminant; // DTSI_CGR_NO_DISCRIMINANT outside a union
    uint32_t index;        // position in the node's field list
    bool is_group;
    // slot
    uint32_t offset; // in units of the type's size (bits for Bool, pointer index for pointers)
    dtsi_cgr_type type;
    dtsi_cgr_value default_value;
    bool had_explicit_default;
    // group
    uint64_t group_id;
    const struct dtsi_cgr_node *group; // resolved, or NULL
} dtsi_cgr_field;

typedef struct dtsi_cgr_enumerant {
    const char *name;
    uint16_t code_order;
} dtsi_cgr_enumerant;

typedef struct dtsi_cgr_nested {
    const char *name;
    uint64_t id;
} dtsi_cgr_nested;

typedef struct dtsi_cgr_node {
    uint64_t id, scope_id;
    const char *display_name; // "dir/file.capnp:Outer.Inner"
    uint32_t prefix_len;      // bytes of display_name before the node's own name
    dtsi_cgr_node_kind kind;
    const dtsi_cgr_nested *nested;
    uint32_t nnested;
    // struct
    uint16_t data_words, pointers, discriminant_count;
    uint32_t discriminant_offset; // in 16-bit units
    bool is_group;
    const dtsi_cgr_field *fields;
    uint32_t nfields;
    // enum
    const dtsi_cgr_enumerant *enumerants;
    uint32_t nenumerants;
    // const
    dtsi_cgr_value const_value;
    // free for tree walks of the caller (starts 0)
    uint32_t mark;
    // the request message slot of this node (for copying it)
    dts_capnp_struct raw;
} dtsi_cgr_node;

typedef struct dtsi_cgr_file {
    uint64_t id;
    const char *filename;
} dtsi_cgr_file;

typedef struct dtsi_cgr dtsi_cgr;

// dtsi_cgr_parse reads a stream-framed, unpacked CodeGeneratorRequest (the
// whole of buf must be one message) into *out, which the caller frees with
// dtsi_cgr_free. opts may be NULL (defaults). The bytes are copied.
// Errors: DTS_EMALFORMED (not a request, duplicate node ids, a bad string),
// DTS_ETOOBIG (a limit), DTS_ENOMEM; err explains.
dts_err dtsi_cgr_parse(const void *buf, size_t len, const dtsi_cgr_opts *opts, dtsi_cgr **out,
                       char *err, size_t errcap);
void dtsi_cgr_free(dtsi_cgr *g);

// Nodes, in request order; dtsi_cgr_find looks one up by id (NULL if absent).
uint32_t dtsi_cgr_node_count(const dtsi_cgr *g);
dtsi_cgr_node *dtsi_cgr_node_at(const dtsi_cgr *g, uint32_t i);
dtsi_cgr_node *dtsi_cgr_find(const dtsi_cgr *g, uint64_t id);
// dtsi_cgr_find_name returns the node whose display name is name, else
// the one whose name is name's when both are compared without their files'
// directories (dtsi_cgr_path_len); NULL when none has it, or more than one
// (files of one name in two directories).
dtsi_cgr_node *dtsi_cgr_find_name(const dtsi_cgr *g, const char *name);
// The files the compiler was asked to compile (requestedFiles).
uint32_t dtsi_cgr_file_count(const dtsi_cgr *g);
const dtsi_cgr_file *dtsi_cgr_file_at(const dtsi_cgr *g, uint32_t i);
// dtsi_cgr_message returns the request message (for pointer defaults).
dts_capnp_msg *dtsi_cgr_message(dtsi_cgr *g);

// dtsi_cgr_check_struct verifies that struct node n and everything it
// reaches (groups, struct, enum and list types of its fields) are present
// and consistent: groups are group nodes scoped to their parent with the
// parent's sizes, every slot and the discriminant lie inside the data or
// pointer section, type kinds are known, enums and structs resolve. It
// uses and resets the nodes' mark fields. Returns DTS_OK or DTS_EMALFORMED
// (DTS_ENOTSUP for interfaces and generics) with err explaining.
dts_err dtsi_cgr_check_struct(dtsi_cgr *g, const dtsi_cgr_node *n, char *err, size_t errcap);

// dtsi_cgr_kind_bits is the width in bits of a data field of kind k (Bool
// 1, ... Float64 64), 0 for kinds that are not data (void, pointers).
unsigned dtsi_cgr_kind_bits(dtsi_cgr_kind k);
// dtsi_cgr_path_len is the length of the directories in front of a display
// name's file name ("dir/sub/" of "dir/sub/x.capnp:Outer.Inner"; the file
// name ends at the last colon, as scopes have none), 0 if none: schemas
// leave them out (docs/spec/capnp.md, "Schema bytes").
size_t dtsi_cgr_path_len(const char *display_name);
// dtsi_cgr_base_name is display_name after those directories.
static inline const char *
dtsi_cgr_base_name(const char *display_name)
{
    return display_name + dtsi_cgr_path_len(display_name);
}

// dtsi_cgr_short_name is display_name after its "file:" prefix
// ("Outer.Inner").
const char *dtsi_cgr_short_name(const dtsi_cgr_node *n);

// dtsi_cgr_trim writes a smaller request holding only the nodes that struct
// root reaches (checked as dtsi_cgr_check_struct does), in canonical form
// with stream framing: no source info, no requested files, no unused nodes,
// so the bytes depend on the schema only. *out is from dtsi_cmalloc.
dts_err dtsi_cgr_trim(dtsi_cgr *g, const dtsi_cgr_node *root, uint8_t **out, size_t *outlen,
                      char *err, size_t errcap);

#endif

// pb.h: the protobuf codec's private model of a FileDescriptorSet and its
// wire reader (src/codec/protobuf/). Not public.
#ifndef DTS_CODEC_PB_H
#define DTS_CODEC_PB_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec_int.h"

// FieldDescriptorProto.Type and .Label values (google/protobuf/descriptor.proto).
enum {
    PB_DOUBLE = 1,
    PB_FLOAT = 2,
    PB_INT64 = 3,
    PB_UINT64 = 4,
    PB_INT32 = 5,
    PB_FIXED64 = 6,
    PB_FIXED32 = 7,
    PB_BOOL = 8,
    PB_STRING = 9,
    PB_GROUP = 10,
    PB_MESSAGE = 11,
    PB_BYTES = 12,
    PB_UINT32 = 13,
    PB_ENUM = 14,
    PB_SFIXED32 = 15,
    PB_SFIXED64 = 16,
    PB_SINT32 = 17,
    PB_SINT64 = 18,
    PB_TYPE_MAX = 18,
};
enum { PB_LABEL_OPTIONAL = 1, PB_LABEL_REQUIRED = 2, PB_LABEL_REPEATED = 3 };
// Wire types.
enum {
    PB_WT_VARINT = 0,
    PB_WT_I64 = 1,
    PB_WT_LEN = 2,
    PB_WT_SGROUP = 3,
    PB_WT_EGROUP = 4,
    PB_WT_I32 = 5
};

typedef struct pb_enum_val {
    char *name;
    int32_t number;
} pb_enum_val;

typedef struct pb_enum {
    char *full; // "pkg.Color", no leading dot
    pb_enum_val *vals;
    size_t nvals;
} pb_enum;

struct pb_msg;

typedef struct pb_field {
    char *name;
    char *json_name;
    char *type_name; // ".pkg.Msg" for messages and enums, else NULL
    uint32_t number;
    int label;
    int type;
    int packed;     // repeated scalars are written packed
    uint32_t oneof; // 1 + the index of the oneof it belongs to (oneof_index), 0 for none
    const struct pb_msg *msg;
    const pb_enum *en;
} pb_field;

typedef struct pb_msg {
    char *full;       // "pkg.Outer.Inner"
    pb_field *fields; // sorted by number after parsing
    size_t nfields;
    int map_entry;
    uint32_t n_oneofs; // the largest oneof of its fields (pb_field.oneof)
} pb_msg;

typedef struct pb_schema {
    pb_msg *msgs;
    size_t nmsgs, capm;
    pb_enum *enums;
    size_t nenums, cape;
    const pb_msg *root; // the type's message, once chosen
} pb_schema;

// A bounded reader over protobuf wire bytes. Each function returns 0, or -1
// when the bytes run out or are malformed.
typedef struct pb_rd {
    const uint8_t *p;
    size_t n;
    size_t off;
} pb_rd;

// dtsi_pb_wire_type is the wire type of a field type (protobuf.c).
int dtsi_pb_wire_type(int type);
int dtsi_pb_varint(pb_rd *r, uint64_t *v);
int dtsi_pb_tag(pb_rd *r, uint32_t *number, int *wt);
int dtsi_pb_len(pb_rd *r, const uint8_t **d, size_t *len);
int dtsi_pb_fixed(pb_rd *r, int wt, uint64_t *v);
int dtsi_pb_skip(pb_rd *r, int wt);

// dtsi_pb_schema_parse reads a serialized FileDescriptorSet into *out
// (free with dtsi_pb_schema_free even on error). Nested declarations deeper
// than the limits' max_depth are refused.
dts_err dtsi_pb_schema_parse(const dts_codec_ctx *cx, const uint8_t *fds, size_t len,
                             pb_schema *out);
void dtsi_pb_schema_free(pb_schema *s);
// dtsi_pb_find_msg finds a message by full name (no leading dot), or, when
// short_ok, by a short name that exactly one message has.
const pb_msg *dtsi_pb_find_msg(const pb_schema *s, const char *name, int short_ok);

// dtsi_pb_encode encodes value as message m (pbenc.c). The caller owns *out.
dts_err dtsi_pb_encode(const dts_codec_ctx *cx, const pb_msg *m, const json_t *value, void **out,
                       size_t *outlen);

#endif

// typed.h: typed helpers for C programs (docs/spec/codecs.md, "Typed
// helpers"): publish and receive a jansson value of any format, and a
// protobuf-c generated struct, without handling payload bytes.
//
// These join the node API (dts.h) and the codec layer (codec.h); they live
// in the codec library (libdts_codec). Thread rules are those of the
// functions they call: publishing is safe from any thread, and the message
// helpers work on the borrowed dts_msg of a subscription callback.
//
// A decode with the wrong schema never happens silently: the JSON helpers
// check the message's schema id against the schema they are given and
// return DTS_EMISMATCH when they differ.
#ifndef DTS_TYPED_H
#define DTS_TYPED_H

#include <stddef.h>

#include <dts/codec.h>
#include <dts/dts.h>

#ifdef __cplusplus
extern "C" {
#endif

struct json_t;
struct ProtobufCMessage;
struct ProtobufCMessageDescriptor;

// ---------------------------------------------------------------------------
// Any format as a jansson value

// dts_type_declare_checked is dts_type_declare after compiling the schema
// with its format's codec (dts_codec_schema_alloc, default limits): a
// schema no node could decode with (a JSON Schema with "type":"bogus", a
// protobuf schema whose set lacks the message, capnp bytes that are not a
// schema) is refused, err (when not NULL) says why, and nothing is
// declared. dts_type_declare itself does not parse schemas: the core names
// no codec. Errors: DTS_EINVAL (NULL, a format that is not a dts format),
// DTS_ETOOBIG (schema larger than DTS_SCHEMA_MAX, checked first), those of
// dts_codec_schema_alloc (DTS_EMALFORMED, DTS_ENOENT, DTS_ENOTSUP) and of
// dts_type_declare (DTS_EEXIST: declared here with another schema); err
// says which, in every case.
dts_err dts_type_declare_checked(dts_node *node, const char *name, dts_format format,
                                 const void *schema, size_t schema_len, char *err, size_t errcap);

// dts_publish_json encodes value (borrowed) into the format and schema the
// type was declared with on this node (dts_type_declare) and publishes it.
// It looks the declaration up and parses the schema on every call: for
// many messages, parse once with dts_codec_schema_alloc and use
// dts_publish_value. Errors: DTS_ENOENT (type not declared here),
// DTS_EINVAL (the value does not fit the format or schema), DTS_ETOOBIG,
// and those of dts_publish. dts_publish_json_err also says why in err
// (when not NULL): which field, what was expected.
dts_err dts_publish_json(dts_node *node, const char *type, const struct json_t *value);
dts_err dts_publish_json_err(dts_node *node, const char *type, const struct json_t *value,
                             char *err, size_t errcap);

// dts_publish_value encodes value with a compiled schema and publishes it.
// s must be the schema the type was declared with: this is not checked on
// each call (receivers decode with the declared schema). err, when not NULL,
// receives
// a one-line explanation of an encoding error (which field, what was
// expected).
dts_err dts_publish_value(dts_node *node, const char *type, const dts_codec_schema *s,
                          const struct json_t *value, char *err, size_t errcap);

// dts_msg_json decodes a received message into a new jansson value the
// caller owns (json_decref), with the schema bytes of its type (as
// dts_schema_get returns them for msg->schema_id; empty for types declared
// without a schema). The format is the one whose schema id, with these
// bytes, equals msg->schema_id, so it works before discovery has told the
// format. Errors: DTS_EMISMATCH (the schema is not the message's),
// DTS_EMALFORMED, DTS_ETOOBIG (payload refused by the codec), DTS_ENOTSUP,
// DTS_ENOMEM. Parses the schema on every call: for many messages, use
// dts_msg_decode.
dts_err dts_msg_json(const dts_msg *msg, const void *schema, size_t schema_len, struct json_t **out,
                     char *err, size_t errcap);

// dts_msg_decode is dts_msg_json with a compiled schema (dts_codec_schema_alloc),
// which must have msg->schema_id (DTS_EMISMATCH otherwise).
dts_err dts_msg_decode(const dts_msg *msg, const dts_codec_schema *s, struct json_t **out,
                       char *err, size_t errcap);

// ---------------------------------------------------------------------------
// protobuf-c generated structs

// dts_type_declare_protobuf declares a protobuf type for the generated
// message descriptor d (its full name, d->name, is the message) with a
// serialized FileDescriptorSet that holds it (protoc --include_imports
// --descriptor_set_out=F): protobuf-c descriptors cannot be turned back
// into one, and the set is what lets any node decode the type. fds is
// borrowed. Errors: those of dts_codec_protobuf_schema_make (DTS_ENOENT:
// the set lacks the message) and of dts_type_declare.
dts_err dts_type_declare_protobuf(dts_node *node, const char *type,
                                  const struct ProtobufCMessageDescriptor *d, const void *fds,
                                  size_t fds_len, char *err, size_t errcap);

// dts_publish_protobuf packs a generated message (protobuf_c_message_pack)
// and publishes it. m is borrowed. Errors: DTS_EINVAL (NULL), DTS_ENOMEM,
// and those of dts_publish.
dts_err dts_publish_protobuf(dts_node *node, const char *type, const struct ProtobufCMessage *m);

// dts_msg_unpack_protobuf unpacks a received message into a generated
// struct the caller frees with protobuf_c_message_free_unpacked(*out,
// NULL). protobuf-c has no nesting limit (a 34 KB recursive input
// overflows its stack), so the payload is first walked with the codec's
// bounded wire reader along d, refusing nesting deeper than
// DTS_CODEC_MAX_DEPTH, more than DTS_CODEC_MAX_ELEMENTS fields (each may
// become a struct) and payloads larger than DTS_CODEC_MAX_BYTES. The
// format must be protobuf (or not yet known); protobuf-c cannot check the
// schema id, so the caller subscribes to the type it expects. Errors:
// DTS_EINVAL (NULL, not a message descriptor), DTS_EMISMATCH (another
// format), DTS_ETOOBIG, DTS_EMALFORMED (refused by the walker or by
// protobuf-c).
dts_err dts_msg_unpack_protobuf(const dts_msg *msg, const struct ProtobufCMessageDescriptor *d,
                                struct ProtobufCMessage **out, char *err, size_t errcap);

#ifdef __cplusplus
}
#endif
#endif

// typed.c: typed helpers (include/dts/typed.h): jansson values and
// protobuf-c structs published and received through a node, with the
// codec layer doing the encoding and the bounds.
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include <dts/typed.h>

#include "codec/codec_int.h"
#include "codec/protobuf/pb.h"

// Payloads packed on the stack up to this size (no allocation).
#define TYPED_STACK_PACK 512

// typed_declared finds the format and schema bytes this node declared for
// type. The node holds them, so dts_schema_get answers at once. The caller
// frees *schema with dts_free.
static dts_err
typed_declared(dts_node *node, const char *type, uint64_t *id, dts_format *f, void **schema,
               size_t *len)
{
    dts_type_info *ti = NULL;
    size_t n = 0;
    dts_err e = dts_node_types(node, &ti, &n);
    if (e) return e;
    int found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (ti[i].local_pub && strcmp(ti[i].name, type) == 0) {
            *id = ti[i].schema_id;
            found = 1;
        }
    }
    dts_free(ti);
    return found ? dts_schema_get(node, *id, f, schema, len) : DTS_ENOENT;
}

dts_err
dts_type_declare_checked(dts_node *node, const char *name, dts_format format, const void *schema,
                         size_t schema_len, char *err, size_t errcap)
{
    dts_codec_schema *s;
    if (!node || !name) return DTS_EINVAL;
    if ((unsigned)format >= DTS_FORMAT_COUNT_) { // as dts_type_declare says
        dtsi_errbuf(err, errcap, "format %d is not a dts format", (int)format);
        return DTS_EINVAL;
    }
    if (schema_len > DTS_SCHEMA_MAX) {
        dtsi_errbuf(err, errcap, "a schema of %zu bytes: at most %d travel", schema_len,
                    DTS_SCHEMA_MAX);
        return DTS_ETOOBIG;
    }
    dts_err e = dts_codec_schema_alloc(format, schema, schema_len, NULL, &s, err, errcap);
    if (e) return e;
    dts_codec_schema_free(s);
    e = dts_type_declare(node, name, format, schema, schema_len);
    if (e) dtsi_errbuf(err, errcap, "cannot declare %s: %s", name, dts_strerror(e));
    return e;
}

dts_err
dts_publish_value(dts_node *node, const char *type, const dts_codec_schema *s, const json_t *value,
                  char *err, size_t errcap)
{
    void *payload = NULL;
    size_t len = 0;
    if (!node || !type || !value) return DTS_EINVAL;
    dts_err e = dts_codec_encode(s, value, &payload, &len, err, errcap); // explains a NULL s
    if (e) return e;
    e = dts_publish(node, type, payload, len);
    dts_codec_free(payload);
    return e;
}

// dts_publish_json checks nothing more than dts_publish_value: the schema
// comes from the declaration itself.
dts_err
dts_publish_json_err(dts_node *node, const char *type, const json_t *value, char *err,
                     size_t errcap)
{
    uint64_t id;
    dts_format f;
    void *schema = NULL;
    size_t len = 0;
    dts_codec_schema *s = NULL;
    if (err && errcap) err[0] = 0;
    if (!node || !type || !value) return DTS_EINVAL;
    dts_err e = typed_declared(node, type, &id, &f, &schema, &len);
    if (e == DTS_ENOENT) dtsi_errbuf(err, errcap, "%s is not declared on this node", type);
    if (!e) e = dts_codec_schema_alloc(f, schema, len, NULL, &s, err, errcap);
    dts_free(schema);
    if (!e) e = dts_publish_value(node, type, s, value, err, errcap);
    dts_codec_schema_free(s);
    return e;
}

dts_err
dts_publish_json(dts_node *node, const char *type, const json_t *value)
{
    return dts_publish_json_err(node, type, value, NULL, 0);
}

dts_err
dts_msg_decode(const dts_msg *msg, const dts_codec_schema *s, json_t **out, char *err,
               size_t errcap)
{
    if (!msg || !out) return DTS_EINVAL;
    if (!s) return dts_codec_decode(s, NULL, 0, out, err, errcap); // explains a NULL s
    if (dts_codec_schema_id(s) != msg->schema_id) {
        dtsi_errbuf(err, errcap, "message has schema %016llx, the schema given is %016llx",
                    (unsigned long long)msg->schema_id, (unsigned long long)dts_codec_schema_id(s));
        return DTS_EMISMATCH;
    }
    return dts_codec_decode(s, msg->data, msg->len, out, err, errcap);
}

// dts_msg_json recognises the format from the schema id: the id hashes the
// format byte with the schema bytes (docs/spec/codecs.md), so exactly the
// right format reproduces it.
dts_err
dts_msg_json(const dts_msg *msg, const void *schema, size_t schema_len, json_t **out, char *err,
             size_t errcap)
{
    if (!msg || !out || (schema_len && !schema)) return DTS_EINVAL;
    int f = 0;
    while (f < DTS_FORMAT_COUNT_ &&
           dts_schema_id((dts_format)f, schema, schema_len) != msg->schema_id)
        f++;
    if (f == DTS_FORMAT_COUNT_) {
        dtsi_errbuf(err, errcap, "message has schema %016llx, not the schema given",
                    (unsigned long long)msg->schema_id);
        return DTS_EMISMATCH;
    }
    dts_codec_schema *s;
    dts_err e = dts_codec_schema_alloc((dts_format)f, schema, schema_len, NULL, &s, err, errcap);
    if (e) return e;
    e = dts_msg_decode(msg, s, out, err, errcap);
    dts_codec_schema_free(s);
    return e;
}

dts_err
dts_type_declare_protobuf(dts_node *node, const char *type, const ProtobufCMessageDescriptor *d,
                          const void *fds, size_t fds_len, char *err, size_t errcap)
{
    void *schema = NULL;
    size_t len = 0;
    if (!node || !type || !d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) return DTS_EINVAL;
    dts_err e = dts_codec_protobuf_schema_make(d->name, fds, fds_len, &schema, &len, err, errcap);
    if (e) return e;
    e = dts_type_declare(node, type, DTS_FORMAT_PROTOBUF, schema, len);
    dts_codec_free(schema);
    return e;
}

dts_err
dts_publish_protobuf(dts_node *node, const char *type, const ProtobufCMessage *m)
{
    uint8_t stack[TYPED_STACK_PACK];
    if (!node || !type || !m) return DTS_EINVAL;
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = n <= sizeof stack ? stack : malloc(n);
    if (!buf) return DTS_ENOMEM;
    size_t packed = protobuf_c_message_pack(m, buf);
    dts_err e = packed == n ? dts_publish(node, type, buf, n) : DTS_EINVAL;
    if (buf != stack) free(buf);
    return e;
}

// typed_pb_walk checks a message body against descriptor d before
// protobuf-c sees it: every tag and length is read with the codec's bounded
// reader, and each field that d says is a message is entered, one level
// deeper, so nesting past max_depth is refused without recursing further.
// Unknown fields and non-message fields are skipped (protobuf-c does not
// recurse into them). base is the body's offset in the payload. *fields
// counts the fields walked: past DTS_CODEC_MAX_ELEMENTS the payload is
// refused, as the codec's decoder refuses it, for protobuf-c would allocate
// a struct for each of that many 2-byte empty sub-messages.
static dts_err
typed_pb_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, unsigned depth,
              size_t base, size_t *fields, char *err, size_t errcap)
{
    if (depth > DTS_CODEC_MAX_DEPTH) {
        dtsi_errbuf(err, errcap, "protobuf messages nested deeper than %u at byte %zu",
                    DTS_CODEC_MAX_DEPTH, base);
        return DTS_ETOOBIG;
    }
    pb_rd r = {p, n, 0};
    while (r.off < n) {
        uint32_t num;
        int wt, bad = 0;
        size_t at = base + r.off;
        const uint8_t *sub;
        size_t sl;
        if (++*fields > DTS_CODEC_MAX_ELEMENTS) {
            dtsi_errbuf(err, errcap, "protobuf %s: more than %u fields at byte %zu", d->name,
                        DTS_CODEC_MAX_ELEMENTS, at);
            return DTS_ETOOBIG;
        }
        if (dtsi_pb_tag(&r, &num, &wt)) {
            bad = 1;
        } else {
            const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(d, num);
            if (wt == PB_WT_LEN && f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                bad = dtsi_pb_len(&r, &sub, &sl) != 0;
                dts_err e = bad ? DTS_OK
                                : typed_pb_walk(f->descriptor, sub, sl, depth + 1,
                                                base + (size_t)(sub - p), fields, err, errcap);
                if (e) return e;
            } else {
                bad = dtsi_pb_skip(&r, wt) != 0;
            }
        }
        if (bad) {
            dtsi_errbuf(err, errcap, "protobuf %s: bad field at byte %zu", d->name, at);
            return DTS_EMALFORMED;
        }
    }
    return DTS_OK;
}

dts_err
dts_msg_unpack_protobuf(const dts_msg *msg, const ProtobufCMessageDescriptor *d,
                        ProtobufCMessage **out, char *err, size_t errcap)
{
    if (!msg || !d || !out || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) return DTS_EINVAL;
    if (msg->format != DTS_FORMAT_PROTOBUF && msg->format != DTS_FORMAT_RAW) {
        dtsi_errbuf(err, errcap, "message is %s, not protobuf", dts_format_name(msg->format));
        return DTS_EMISMATCH;
    }
    if (msg->len > DTS_CODEC_MAX_BYTES) {
        dtsi_errbuf(err, errcap, "protobuf payload of %zu bytes exceeds %u", msg->len,
                    DTS_CODEC_MAX_BYTES);
        return DTS_ETOOBIG;
    }
    const uint8_t *p = msg->len ? msg->data : (const uint8_t *)"";
    size_t fields = 0;
    dts_err e = typed_pb_walk(d, p, msg->len, 1, 0, &fields, err, errcap);
    if (e) return e;
    *out = protobuf_c_message_unpack(d, NULL, msg->len, p);
    if (*out) return DTS_OK;
    dtsi_errbuf(err, errcap, "protobuf-c refused the payload as %s", d->name);
    return DTS_EMALFORMED;
}

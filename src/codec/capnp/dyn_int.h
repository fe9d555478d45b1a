// dyn_int.h: what the files of the dynamic capnp codec share (dyn.c,
// dyn_enc.c, dyn_schema.c). Not for other modules.
#ifndef DTSI_CAPNP_DYN_INT_H
#define DTSI_CAPNP_DYN_INT_H

#include "codec/capnp/cgr.h"
#include "codec/capnp/dyn.h"
#include "codec/codec_int.h"

// The longest root display name accepted in schema bytes.
#define DYN_NAME_MAX 1024u

// The codec's parsed schema (dts_codec_ctx.schema).
typedef struct dyn_schema {
    dtsi_cgr *g;
    const dtsi_cgr_node *root;
} dyn_schema;

// dyn_esize is the list element size a list of t uses.
unsigned dtsi_dyn_esize(const dtsi_cgr_type *t);
// dtsi_dyn_name is a node's name for messages ("Outer.Inner").
const char *dtsi_dyn_name(const dtsi_cgr_node *n);

// dtsi_dyn_encode builds a stream-framed single-segment message from a
// JSON value (the encode op).
dts_err dtsi_dyn_encode(const dts_codec_ctx *cx, const json_t *value, void **out, size_t *outlen);

#endif

// dyn.h: the dynamic Cap'n Proto codec (issue 5 item 3; docs/spec/capnp.md,
// "Dynamic codec"; docs/spec/codecs.md, "capnp").
//
// A capnp type's schema, as it travels through discovery, is
//
//   root struct display name ("brewery.capnp:Temperature"), one NUL byte,
//   then a CodeGeneratorRequest (stream framing, unpacked)
//
// The codec (dtsi_codec_capnp, listed in src/codec/registry.c) decodes a
// stream-framed payload with that schema to JSON with the mapping of
// `capnp convert binary:json`, and encodes such JSON back, with no
// generated code.
#ifndef DTSI_CAPNP_DYN_H
#define DTSI_CAPNP_DYN_H

#include <stddef.h>

#include <dts/codec.h>

extern const dts_codec_ops dtsi_codec_capnp;

// The largest request read back from `capnp compile`.
#define DTSI_CAPNP_COMPILE_MAX (16u << 20)

// dts_codec_capnp_schema_make and dts_codec_capnp_schema_from_file are
// public: include/dts/codec.h, "Cap'n Proto schemas".

#endif

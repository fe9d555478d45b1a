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

// dtsi_capnp_schema_make builds the travelling schema of struct strct from
// a CodeGeneratorRequest (cgr, len bytes). strct is a display name
// ("brewery.capnp:Temperature") or the name after the colon
// ("Temperature", "Outer.Inner") when one struct of the request has it.
// The request is trimmed to the nodes the struct reaches and written in
// canonical form (dtsi_cgr_trim), so the schema id does not depend on
// comments or unrelated declarations. The caller owns *out
// (dts_codec_free). Errors: DTS_ENOENT (no such struct, or ambiguous; err
// then ends with "structs: A, B, Outer.Inner"), DTS_EMALFORMED,
// DTS_ETOOBIG, DTS_ENOMEM.
dts_err dtsi_capnp_schema_make(const char *strct, const void *cgr, size_t len, void **out,
                               size_t *outlen, char *err, size_t errcap);

// dtsi_capnp_schema_from_file runs `capnp compile -o- FILE` (capnp from
// PATH; in the file's directory, so display names start with the file's
// base name) and calls dtsi_capnp_schema_make. Blocks while capnp runs; for
// the CLI. Returns DTS_ESYS when capnp cannot run, DTS_EINVAL when it
// refuses the file (its first line of error output is in err), or the
// errors of dtsi_capnp_schema_make.
dts_err dtsi_capnp_schema_from_file(const char *path, const char *strct, void **out, size_t *outlen,
                                    char *err, size_t errcap);

#endif

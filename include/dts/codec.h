// codec.h: data formats (DESIGN.md decision 8; docs/spec/codecs.md).
//
// A codec turns the payload of one format (raw, json, cbor, msgpack,
// protobuf, capnp) into a dynamic value and back. The dynamic value is a jansson
// tree (json_t), so "decode" also means "render as JSON" and "encode" means
// "build a payload from JSON" (what `dts pub` and `dts echo` need).
//
// Everything here is a pure function of its arguments: no I/O, no network,
// no global state (except dts_codec_set_alloc_funcs, an instrumentation
// hook), safe from any thread. The exceptions are the two functions that
// compile a schema file with its compiler in a child process:
// dts_codec_protobuf_schema_from_proto (`protoc`) and
// dts_codec_capnp_schema_from_file (`capnp`). They block while it runs; a
// program calls them once, at start-up.
//
// Every decoder treats its input as hostile: each length or count it reads
// is checked against the bytes that remain and against dts_codec_limits
// before anything is allocated, and nesting is bounded, so memory and stack
// stay proportional to the input and to the limits.
//
// Errors are dts_err values; functions that take (err, errcap) also write a
// one-line English explanation there (what and where: byte offset in a
// payload, line and column in JSON text). err may be NULL.
#ifndef DTS_CODEC_H
#define DTS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <dts/dts.h>

#ifdef __cplusplus
extern "C" {
#endif

// jansson's value type, so that this header does not need <jansson.h>.
struct json_t;

// ---------------------------------------------------------------------------
// Limits

// Defaults of dts_codec_limits (named so configuration can override them).
#define DTS_CODEC_MAX_BYTES (4u << 20)        // payload or JSON text: 4 MiB
#define DTS_CODEC_MAX_DEPTH 64u               // nested arrays, maps, messages
#define DTS_CODEC_MAX_ELEMENTS 100000u        // values in one payload
#define DTS_CODEC_MAX_STRING (1u << 20)       // one string or byte string: 1 MiB
#define DTS_CODEC_MAX_DECOMPRESSED (4u << 20) // size after decompression: 4 MiB

// Bounds every decoder and encoder checks. A field of 0 means its default.
typedef struct dts_codec_limits {
    size_t max_bytes;        // largest payload or JSON text accepted or produced
    unsigned max_depth;      // deepest nesting; the top-level value is depth 1
    size_t max_elements;     // scalars + containers + map keys in one value
    size_t max_string;       // longest string or byte string
    size_t max_decompressed; // largest original size a compressed payload may claim
} dts_codec_limits;

// dts_codec_limits_init fills l with the defaults above.
void dts_codec_limits_init(dts_codec_limits *l);

// ---------------------------------------------------------------------------
// The ops table a codec implements

// What every op receives besides its own arguments.
typedef struct dts_codec_ctx {
    const dts_codec_limits *limits; // never NULL; zero fields already resolved
    void *schema;                   // what schema_parse produced (NULL if nothing)
    char *err;                      // explanation buffer, may be NULL
    size_t errcap;
} dts_codec_ctx;

typedef struct dts_codec_ops {
    // name is the format name as dts_format_name prints it ("cbor").
    const char *name;
    // format is the dts_format this codec serves.
    dts_format format;
    // schema_parse checks the schema bytes of a type and builds the codec's
    // private form of it in *state (may stay NULL when the codec keeps
    // nothing). Pure, never blocks, any thread. The codec owns *state until
    // schema_free. Returns DTS_EMALFORMED for a bad schema, DTS_ENOENT when a
    // protobuf message name is not in the descriptor set. May be NULL: the
    // schema is then ignored.
    dts_err (*schema_parse)(const dts_codec_ctx *cx, const void *schema, size_t len, void **state);
    // schema_free releases what schema_parse built. May be NULL.
    void (*schema_free)(void *state);
    // validate checks that a payload is well formed for the schema, within
    // the limits, without building anything. Pure, never blocks, any
    // thread. Returns DTS_OK, DTS_EMALFORMED or DTS_ETOOBIG. May be NULL:
    // dts_codec_validate then decodes and discards the value.
    dts_err (*validate)(const dts_codec_ctx *cx, const void *payload, size_t len);
    // decode builds the dynamic value of a payload (the JSON mapping of
    // docs/spec/codecs.md). On success the caller owns *out (json_decref).
    // Pure, never blocks, any thread. Returns DTS_EMALFORMED, DTS_ETOOBIG,
    // DTS_ENOTSUP (a value the JSON mapping cannot express) or DTS_ENOMEM.
    dts_err (*decode)(const dts_codec_ctx *cx, const void *payload, size_t len,
                      struct json_t **out);
    // encode builds a payload from a dynamic value. value is borrowed. On
    // success the caller owns *out (free with dts_codec_free); *out is never NULL,
    // even for an empty payload. Pure, never blocks, any thread. Returns
    // DTS_EINVAL when the value does not fit the format or schema,
    // DTS_ETOOBIG past the limits, DTS_ENOMEM.
    dts_err (*encode)(const dts_codec_ctx *cx, const struct json_t *value, void **out,
                      size_t *outlen);
} dts_codec_ops;

// dts_codec_find returns the built-in codec of a format (raw, json, cbor,
// msgpack, protobuf, capnp), or NULL for out-of-range values.
const dts_codec_ops *dts_codec_find(dts_format format);
// dts_codec_find_name returns the codec named name ("msgpack"), or NULL.
const dts_codec_ops *dts_codec_find_name(const char *name);

// ---------------------------------------------------------------------------
// Compiled schemas: parse a type's schema once, decode many payloads.

typedef struct dts_codec_schema dts_codec_schema;

// dts_codec_schema_alloc parses the schema bytes of a type of the given
// format (docs/spec/codecs.md gives each format's schema layout; empty is
// valid for raw, json, cbor and msgpack). limits may be NULL (defaults);
// they are copied. On success the caller owns *out and frees it with
// dts_codec_schema_free. Errors: DTS_ENOTSUP (no codec for the format),
// DTS_EMALFORMED, DTS_ENOENT (protobuf message not found), DTS_ENOMEM.
dts_err dts_codec_schema_alloc(dts_format format, const void *schema, size_t schema_len,
                               const dts_codec_limits *limits, dts_codec_schema **out, char *err,
                               size_t errcap);
void dts_codec_schema_free(dts_codec_schema *s);
// dts_codec_schema_id returns the schema id (dts_schema_id of the format
// and the schema bytes as they travel); 0 for NULL. The functions below
// that take a compiled schema return DTS_EINVAL for a NULL one.
uint64_t dts_codec_schema_id(const dts_codec_schema *s);
dts_format dts_codec_schema_format(const dts_codec_schema *s); // DTS_FORMAT_RAW for NULL

// dts_codec_validate checks a payload against a compiled schema.
dts_err dts_codec_validate(const dts_codec_schema *s, const void *payload, size_t len, char *err,
                           size_t errcap);
// dts_codec_decode decodes a payload into a jansson value the caller owns.
dts_err dts_codec_decode(const dts_codec_schema *s, const void *payload, size_t len,
                         struct json_t **out, char *err, size_t errcap);
// dts_codec_encode encodes a jansson value (borrowed) into a payload the
// caller owns (dts_codec_free).
dts_err dts_codec_encode(const dts_codec_schema *s, const struct json_t *value, void **out,
                         size_t *outlen, char *err, size_t errcap);
// dts_codec_decode_json decodes a payload to compact JSON text (NUL
// terminated, keys in payload order) the caller owns (dts_codec_free).
dts_err dts_codec_decode_json(const dts_codec_schema *s, const void *payload, size_t len,
                              char **json_out, char *err, size_t errcap);
// dts_codec_json_text renders a jansson value as compact JSON text, as
// dts_codec_decode_json does: reals in the shortest form that reads back as
// the same double (18.15, where json_dumps writes 18.149999999999999),
// integral reals with ".0". NUL terminated; the caller frees it with
// dts_codec_free. The value must be no deeper than a decoded one can be
// (its recursion is not bounded otherwise). Errors: DTS_EINVAL, DTS_ENOMEM.
dts_err dts_codec_json_text(const struct json_t *value, char **out);
// dts_codec_encode_json parses JSON text (len bytes, no NUL needed) under
// the limits (depth and element counts are checked before parsing) and
// encodes it. Errors in the text cite line, column and byte position.
dts_err dts_codec_encode_json(const dts_codec_schema *s, const char *json, size_t len, void **out,
                              size_t *outlen, char *err, size_t errcap);

// ---------------------------------------------------------------------------
// One-shot helpers (parse the schema, do one thing, free it). limits may be
// NULL. For protobuf, message may name the message and the schema is then a
// bare FileDescriptorSet; with message NULL the schema has the travelling
// layout "message name, NUL, FileDescriptorSet".

dts_err dts_codec_to_json(dts_format format, const void *schema, size_t schema_len,
                          const void *payload, size_t len, const dts_codec_limits *limits,
                          char **json_out, char *err, size_t errcap);
dts_err dts_codec_from_json(dts_format format, const void *schema, size_t schema_len,
                            const char *message, const char *json, size_t json_len,
                            const dts_codec_limits *limits, void **out, size_t *outlen, char *err,
                            size_t errcap);

// ---------------------------------------------------------------------------
// Protobuf schemas
//
// The schema of a protobuf type, as it travels through discovery, is the
// message's full name without a leading dot ("brewery.Temperature"), one
// NUL byte, then a serialized google.protobuf.FileDescriptorSet holding the
// message's file and everything it imports (`protoc --include_imports
// --descriptor_set_out=F`).

// dts_codec_protobuf_schema_make builds those schema bytes from a message
// name and a serialized FileDescriptorSet, checking that the set parses and
// holds the message. A name without a package is accepted when exactly one
// message of the set has that short name. The caller owns *out (dts_codec_free).
dts_err dts_codec_protobuf_schema_make(const char *message, const void *fds, size_t fds_len,
                                       void **out, size_t *outlen, char *err, size_t errcap);

// dts_codec_protobuf_schema_from_proto runs `protoc --include_imports
// --descriptor_set_out=TMP -I DIR FILE` (protoc from PATH; DIR is the
// directory of proto_path, plus include_dir when not NULL), then calls
// dts_codec_protobuf_schema_make. Blocks while protoc runs; for the CLI.
// Returns DTS_ESYS when protoc cannot run, DTS_EINVAL when it fails (its
// first line of error output is in err).
dts_err dts_codec_protobuf_schema_from_proto(const char *proto_path, const char *include_dir,
                                             const char *message, void **out, size_t *outlen,
                                             char *err, size_t errcap);

// ---------------------------------------------------------------------------
// Cap'n Proto schemas
//
// The schema of a capnp type, as it travels through discovery, is the root
// struct's display name ("brewery.capnp:Temperature"), one NUL byte, then a
// CodeGeneratorRequest (stream framing, unpacked) trimmed to the nodes the
// struct reaches (docs/spec/capnp.md, "Schema bytes"). Messages are built
// and read with the runtime of <dts/capnp.h>, by hand or through code that
// capnpc-dts generates.

// dts_codec_capnp_schema_make builds the travelling schema of struct strct
// from a CodeGeneratorRequest (cgr, len bytes; what `capnp compile -o-`
// writes). strct is a display name ("brewery.capnp:Temperature") or the
// name after the colon ("Temperature", "Outer.Inner") when one struct of
// the request has it. The request is trimmed to the nodes the struct
// reaches and written in canonical form, with the file's directories left
// out of its names, so the schema id does not depend on comments,
// unrelated declarations or the directory capnp compiled the file from. The caller owns *out
// (dts_codec_free). Errors: DTS_ENOENT (no such struct, or ambiguous; err
// then ends with "structs: A, B, Outer.Inner"), DTS_EMALFORMED,
// DTS_ETOOBIG, DTS_ENOMEM.
dts_err dts_codec_capnp_schema_make(const char *strct, const void *cgr, size_t len, void **out,
                                    size_t *outlen, char *err, size_t errcap);

// dts_codec_capnp_schema_from_file runs `capnp compile -o- FILE` (capnp
// from PATH; in the file's directory, so display names start with the
// file's base name) and calls dts_codec_capnp_schema_make. Blocks while
// capnp runs. Returns DTS_ESYS when capnp cannot run, DTS_EINVAL when it
// refuses the file (its first line of error output is in err), or the
// errors of dts_codec_capnp_schema_make.
dts_err dts_codec_capnp_schema_from_file(const char *path, const char *strct, void **out,
                                         size_t *outlen, char *err, size_t errcap);

// ---------------------------------------------------------------------------
// Compression (docs/spec/codecs.md, "Compression framing")
//
// A compressed payload is: 1 byte algorithm, 4 bytes original size (u32
// little endian), then the compressed bytes. The frame header's flag says
// that the payload is compressed; this prefix says how.

typedef enum dts_compress_alg {
    DTS_COMPRESS_NONE = 0,
    DTS_COMPRESS_ZSTD = 1,
    DTS_COMPRESS_LZ4 = 2,
    DTS_COMPRESS_BLOSC = 3, // blosc1 (lz4, byte shuffle), as the Python DTS 0.1.9
} dts_compress_alg;

#define DTS_COMPRESS_HEADER 5
// Payloads shorter than this are not worth compressing (measured: a loss
// below about 1 KiB; docs/spec/codecs.md, "Compression framing").
#define DTS_COMPRESS_THRESHOLD 1024u

// dts_compress_alg_name returns "none", "zstd", "lz4", "blosc" or "unknown";
// dts_compress_alg_parse is its inverse, in any case (DTS_ENOTSUP for other
// names).
const char *dts_compress_alg_name(dts_compress_alg alg);
dts_err dts_compress_alg_parse(const char *name, dts_compress_alg *out);

// dts_compress compresses in when len >= threshold (0: the default) and
// the result, prefix included, is smaller than len. When it compresses,
// *out is a new framed buffer (caller frees with dts_codec_free) and *outlen its
// length; otherwise *out is NULL and the payload should travel as it is.
// level 0 picks the algorithm's default (zstd 3, lz4 1, blosc 5); else zstd
// takes its levels (negative ones faster, up to 22), lz4 an acceleration
// (1 and up: higher is faster and compresses less), blosc 1 to 9. Errors:
// DTS_ENOTSUP (algorithm, or blosc not installed), DTS_EINVAL (a level out
// of range, checked before the threshold, so a call with len 0 checks the
// options), DTS_ETOOBIG (len above UINT32_MAX), DTS_ENOMEM.
dts_err dts_compress(dts_compress_alg alg, int level, size_t threshold, const void *in, size_t len,
                     void **out, size_t *outlen);

// dts_decompress undoes dts_compress. The original size in the prefix is
// checked against limits->max_decompressed (limits may be NULL) before any
// allocation, and the decompressed size must equal it exactly. The caller
// owns *out (dts_codec_free; never NULL on success). Errors: DTS_EMALFORMED,
// DTS_ETOOBIG, DTS_ENOTSUP, DTS_ENOMEM.
dts_err dts_decompress(const void *in, size_t len, const dts_codec_limits *limits, void **out,
                       size_t *outlen, char *err, size_t errcap);

// dts_codec_compressor returns the compressor a node uses for types with
// compression (dts_node_config.compressor): zstd, lz4 and blosc through the
// functions above, decompression capped at the node's payload_max.
const dts_compressor *dts_codec_compressor(void);

// ---------------------------------------------------------------------------
// Instrumentation

// dts_codec_set_alloc_funcs replaces the allocator of the codec layer and of
// jansson (json_set_alloc_funcs) process-wide, for tests that measure the
// allocation high-water mark. Call it before any codec is used and never
// while one runs. NULL restores malloc and free.
void dts_codec_set_alloc_funcs(void *(*malloc_fn)(size_t), void (*free_fn)(void *));
// dts_codec_free frees a buffer or JSON text returned by this header's
// functions (with the allocator in force). NULL is ignored.
void dts_codec_free(void *p);

#ifdef __cplusplus
}
#endif
#endif

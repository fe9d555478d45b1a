// schema.c: the schema a `dts pub` type travels with (docs/spec/codecs.md):
// a protobuf message from a .proto (compiled by protoc through
// dts_codec_protobuf_schema_from_proto) or from a descriptor set, or a JSON
// Schema document for json, or a capnp struct from a .capnp (compiled by
// `capnp compile`). Every failure says what was wrong and how to
// fix it.
#include "cli.h"

#include <dts/codec.h>
#include <errno.h>

#include "codec/capnp/dyn.h"
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// The largest --schema file read: a descriptor set may hold unused imports
// that make it larger than the schema that finally travels.
#define SCHEMA_FILE_MAX (16u << 20)

// schema_slurp reads a whole file of at most max bytes into a new buffer.
// Returns NULL after printing why.
// json_schema_is_object says whether json schema bytes are a JSON object,
// that is a JSON Schema that values are checked against.
static int
json_schema_is_object(const void *schema, size_t n)
{
    json_t *v = json_loadb(schema, n, 0, NULL);
    int obj = json_is_object(v);
    json_decref(v);
    return obj;
}

static char *
schema_slurp(const cli_ctx *ctx, const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_usage(ctx, "cannot read --schema %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > max) {
        cli_usage(ctx, "cannot use --schema %s: %s", path,
                  !buf  ? "out of memory"
                  : bad ? "read error"
                        : "it is too large for a schema");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

// schema_is_text says whether a file is text (a .proto) rather than a
// serialized descriptor set, whose length prefixes are control bytes.
static int
schema_is_text(const char *path, const unsigned char *d, size_t n)
{
    size_t pl = strlen(path);
    if (pl > 6 && strcmp(path + pl - 6, ".proto") == 0) return 1;
    for (size_t i = 0; i < n; i++)
        if (d[i] < 0x20 && d[i] != '\t' && d[i] != '\n' && d[i] != '\r') return 0;
    return n > 0;
}

// schema_pb_build makes the travelling protobuf schema for one message
// name from a .proto (protoc) or a descriptor set.
static dts_err
schema_pb_build(const char *path, int text, const void *fds, size_t fds_len, const char *message,
                void **out, size_t *outlen, char *err, size_t errcap)
{
    err[0] = '\0';
    if (text)
        return dts_codec_protobuf_schema_from_proto(path, NULL, message, out, outlen, err, errcap);
    return dts_codec_protobuf_schema_make(message, fds, fds_len, out, outlen, err, errcap);
}

// schema_protoc_again runs protoc once more on a .proto it refused, with
// its output going to our stderr: the codec keeps only the first line of
// protoc's messages, which may be a warning rather than the error.
static void
schema_protoc_again(const char *path)
{
    char inc[4200];
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(inc, sizeof inc, "-I%.*s", (int)(slash - path), path);
    else
        snprintf(inc, sizeof inc, "-I.");
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execlp("protoc", "protoc", inc, "--descriptor_set_out=/dev/null", path, (char *)NULL);
        _exit(127);
    }
    int status;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

// schema_pb_not_found explains that no message matched, listing the
// messages of a descriptor set (a .proto would need protoc again).
static int
schema_pb_not_found(const cli_ctx *ctx, const char *path, int text, const void *fds, size_t fds_len,
                    const char *tried)
{
    char *list = text ? NULL : cli_pb_messages(fds, fds_len);
    cli_usage(ctx,
              "no message %s in %s. Name the message with --message NAME (with its package, "
              "as in --message brewery.Reading, or the short name when it is unique)%s%s",
              tried, path, list ? "; messages there: " : "", list ? list : "");
    free(list);
    return CLI_EXIT_USAGE;
}

// schema_protobuf builds the schema of a protobuf type. Without --message
// the type name is tried as a message name, then its last part.
static int
schema_protobuf(const cli_ctx *ctx, const char *type, const char *path, const char *message,
                void **out, size_t *outlen)
{
    size_t n;
    char *file = schema_slurp(ctx, path, SCHEMA_FILE_MAX, &n), err[512];
    if (!file) return CLI_EXIT_USAGE;
    int text = schema_is_text(path, (const unsigned char *)file, n);
    const char *last = strrchr(type, '.');
    const char *names[2] = {message ? message : type, message || !last ? NULL : last + 1};
    char tried[2 * DTS_NAME_MAX + 16];
    snprintf(tried, sizeof tried, "%s%s%s", names[0], names[1] ? " or " : "",
             names[1] ? names[1] : "");
    dts_err e = DTS_ENOENT;
    for (int i = 0; i < 2 && names[i] && e == DTS_ENOENT; i++)
        e = schema_pb_build(path, text, file, n, names[i], out, outlen, err, sizeof err);
    int rc = 0;
    if (e == DTS_ENOENT)
        rc = schema_pb_not_found(ctx, path, text, file, n, tried);
    else if (e == DTS_ESYS && text)
        rc = cli_error(ctx,
                       "cannot compile %s: %s. Install protoc (Debian: apt install "
                       "protobuf-compiler), or compile it elsewhere with 'protoc "
                       "--include_imports --descriptor_set_out=%s.pb %s' and pass "
                       "--schema %s.pb",
                       path, err[0] ? err : dts_strerror(e), path, path, path);
    else if (e != DTS_OK && text) {
        fprintf(stderr, "dts %s: protoc cannot compile %s; it says:\n", ctx->verb, path);
        schema_protoc_again(path);
        rc = cli_usage(ctx,
                       "fix %s (or give a descriptor set made by 'protoc --include_imports "
                       "--descriptor_set_out=FILE')",
                       path);
    } else if (e != DTS_OK)
        rc = cli_usage(ctx,
                       "%s is neither a .proto file nor a descriptor set from 'protoc "
                       "--include_imports --descriptor_set_out=FILE': %s",
                       path, err[0] ? err : dts_strerror(e));
    free(file);
    return rc;
}

// schema_capnp builds the schema of a capnp type by running `capnp
// compile` on the .capnp file (docs/spec/capnp.md, "Schema bytes").
// Without --message the last part of the type name is tried as the struct
// name, then the whole type name.
static int
schema_capnp(const cli_ctx *ctx, const char *type, const char *path, const char *message,
             void **out, size_t *outlen)
{
    const char *last = strrchr(type, '.');
    const char *names[2] = {message ? message
                            : last  ? last + 1
                                    : type,
                            message || !last ? NULL : type};
    char err[1024] = "";
    dts_err e = DTS_ENOENT;
    for (int i = 0; i < 2 && names[i] && e == DTS_ENOENT; i++) {
        err[0] = '\0';
        e = dts_codec_capnp_schema_from_file(path, names[i], out, outlen, err, sizeof err);
    }
    if (e == DTS_OK) return 0;
    if (e == DTS_ENOENT) {
        char *list = strstr(err, "; structs: ");
        if (list) *list = '\0';
        return cli_usage(ctx,
                         "%s in %s. Name the struct with --message STRUCT (Name, or "
                         "Outer.Inner for a nested one)%s%s",
                         err, path, list ? "; structs there: " : "",
                         list ? list + strlen("; structs: ") : "");
    }
    if (e == DTS_ESYS)
        return cli_error(ctx,
                         "cannot compile %s: %s. Install the Cap'n Proto compiler (Debian: "
                         "apt install capnproto)",
                         path, err[0] ? err : dts_strerror(e));
    if (e == DTS_EINVAL)
        return cli_usage(ctx, "cannot use --schema %s: %s", path, err[0] ? err : "capnp failed");
    return cli_usage(ctx, "cannot use --schema %s: %s", path, err[0] ? err : dts_strerror(e));
}

// cli_pub_schema: the built schema is copied into a malloc buffer so that
// the caller frees it the same way whatever made it.
int
cli_pub_schema(const cli_ctx *ctx, const char *type, dts_format format, const char *path,
               const char *message, void **schema, size_t *len, dts_codec_schema **codec)
{
    void *built = NULL;
    size_t n = 0;
    int rc = 0;
    *schema = NULL, *len = 0, *codec = NULL;
    if (format == DTS_FORMAT_PROTOBUF || format == DTS_FORMAT_CAPNP) {
        rc = format == DTS_FORMAT_CAPNP ? schema_capnp(ctx, type, path, message, &built, &n)
                                        : schema_protobuf(ctx, type, path, message, &built, &n);
        if (rc != 0) return rc;
        *schema = malloc(n);
        if (*schema) memcpy(*schema, built, n);
        dts_codec_free(built);
        if (!*schema) return cli_error(ctx, "out of memory");
    } else if (path && !(*schema = schema_slurp(ctx, path, DTS_SCHEMA_MAX, &n))) {
        return CLI_EXIT_USAGE;
    }
    *len = n;
    if (n > DTS_SCHEMA_MAX) {
        rc = cli_usage(ctx,
                       "the schema built from %s is %zu bytes; a schema travels through "
                       "discovery, at most %d bytes. %s",
                       path, n, DTS_SCHEMA_MAX,
                       format == DTS_FORMAT_CAPNP
                           ? "Only the declarations the struct uses travel: split the struct"
                           : "Split the .proto or trim its imports");
    } else if (format != DTS_FORMAT_RAW) {
        char err[256] = "";
        dts_err e = dts_codec_schema_alloc(format, *schema, n, NULL, codec, err, sizeof err);
        if (e != DTS_OK)
            rc = cli_usage(ctx, "--schema %s is not a valid %s schema: %s", path ? path : "",
                           dts_format_name(format), err[0] ? err : dts_strerror(e));
        else if (format == DTS_FORMAT_JSON && !json_schema_is_object(*schema, n)) {
            dts_codec_schema_free(*codec); // not a JSON Schema: values go as typed
            *codec = NULL;
        }
    }
    if (rc != 0) {
        dts_codec_schema_free(*codec);
        *codec = NULL;
        free(*schema);
        *schema = NULL;
    }
    return rc;
}

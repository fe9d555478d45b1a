// cli.h: what the files of the dts command share: the verb table entry, the
// global options, option parsing helpers, the node loop helper and the JSON
// rendering of a received message.
//
// Conventions of the command: results go to stdout, errors and log lines to
// stderr; exit status CLI_EXIT_OK (0) on success, CLI_EXIT_FAIL (1) when the
// verb ran but did not get what it wanted (timeout, nobody answered, a
// problem found), CLI_EXIT_USAGE (2) when the command line is wrong.
#ifndef DTS_CLI_H
#define DTS_CLI_H

#include <dts/dts.h>
#include <jansson.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

// The longest poll the loop helper does before looking at the stop flag
// again; it bounds the delay between Ctrl-C and a clean exit.
#define CLI_POLL_MAX_MS 100

// Global options, parsed by main.c before the verb runs. cfg holds the node
// configuration (defaults, then DTS_IFACE/DTS_PORT/DTS_TTL, then the
// command line).
typedef struct cli_ctx {
    dts_node_config cfg;
    int verbose;      // 0, 1 (-v) or 2 (-vv)
    const char *verb; // the verb's name as typed ("sub" for echo)
} cli_ctx;

// One verb: its name, a one-line summary for `dts --help`, the help text
// printed by `dts help VERB` and `dts VERB --help` (with an example), and
// the function that runs it with argv[0] being the verb.
typedef struct cli_verb {
    const char *name;
    const char *summary;
    const char *help;
    int (*run)(cli_ctx *ctx, int argc, char **argv);
} cli_verb;

extern const cli_verb cli_verb_ls;
extern const cli_verb cli_verb_pub;
extern const cli_verb cli_verb_echo;
extern const cli_verb cli_verb_sub;
extern const cli_verb cli_verb_query;
extern const cli_verb cli_verb_hz;
extern const cli_verb cli_verb_bw;
extern const cli_verb cli_verb_spy;
extern const cli_verb cli_verb_doctor;

// ---------------------------------------------------------------------------
// Errors and option values (util.c)

// cli_usage prints "dts VERB: " and the formatted message to stderr, then
// "Run 'dts help VERB' for the syntax and an example.", and returns
// CLI_EXIT_USAGE so callers can `return cli_usage(...)`.
int cli_usage(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// cli_error prints "dts VERB: " and the message to stderr; returns
// CLI_EXIT_FAIL.
int cli_error(const cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// cli_bad_option reports what getopt_long (with an optstring starting with
// ':') complained about: c is '?' for an unknown option, ':' for a missing
// value; arg is argv[optind - 1]. Global options placed after the verb are
// pointed out, and an unknown one close to one of opts (the verb's table,
// or NULL) is suggested. Returns CLI_EXIT_USAGE.
struct option;
int cli_bad_option(const cli_ctx *ctx, const char *arg, int optopt_char, const struct option *opts);
// cli_edit_distance is the Levenshtein distance between a and b (cut at 63
// characters); cli_close_enough says whether a guess that far from what
// was typed is worth suggesting: one edit for up to four letters, else two.
size_t cli_edit_distance(const char *a, const char *b);
int cli_close_enough(const char *typed, size_t distance);

// cli_subscribers counts the other nodes that node knows to subscribe to
// type (0 when it knows no such type).
unsigned cli_subscribers(dts_node *node, const char *type);

// cli_name_too_long reports a type name or pattern longer than DTS_NAME_MAX
// (whose characters may all be fine) and returns CLI_EXIT_USAGE; -1 when it
// is not too long.
int cli_name_too_long(const cli_ctx *ctx, const char *name);

// cli_parse_double parses a decimal number within [min, max] for option
// opt; on error prints what was expected (with `example`) and returns -1.
int cli_parse_double(const cli_ctx *ctx, const char *opt, const char *s, double min, double max,
                     const char *example, double *out);
// cli_parse_long is cli_parse_double for integers.
int cli_parse_long(const cli_ctx *ctx, const char *opt, const char *s, long min, long max,
                   const char *example, long *out);

// cli_ifaces_list writes "lo (127.0.0.1), eth0 (10.0.0.2)" (every interface
// with its IPv4 addresses) into buf.
void cli_ifaces_list(char *buf, size_t size);
// cli_iface_exists says whether name is an interface name or an IPv4
// address of one (1) or not (0).
int cli_iface_exists(const char *name);

// ---------------------------------------------------------------------------
// Nodes and the loop (util.c)

// cli_node_open opens a node with ctx->cfg in DTS_RUN_CALLER mode (or mode),
// checking the interface first. On failure it prints why and how to fix it
// and returns CLI_EXIT_USAGE (unknown interface) or CLI_EXIT_FAIL; on
// success returns 0 and the caller owns *out.
int cli_node_open(const cli_ctx *ctx, dts_run_mode mode, dts_node **out);

// cli_signals_install makes SIGINT and SIGTERM set the stop flag (read with
// cli_stopped) and ignores SIGPIPE.
void cli_signals_install(void);
int cli_stopped(void);
// cli_interrupt_node makes SIGINT and SIGTERM also interrupt node (NULL:
// none), for a verb blocked in a library call such as dts_query.
void cli_interrupt_node(dts_node *node);
// cli_stop sets the stop flag from normal code (output closed, `q` typed).
void cli_stop(void);

// cli_step waits up to max_ms (at most CLI_POLL_MAX_MS) for work on the node
// (DTS_RUN_CALLER mode) or for extra_fd (-1 for none) to become readable,
// then runs the node's ready work. Returns 1 when extra_fd is readable, 0
// otherwise, -1 when the node failed.
int cli_step(dts_node *node, int max_ms, int extra_fd);
// cli_run_until runs the node until deadline_ns (dts_now_ns clock; 0 means
// no deadline), the stop flag, or *done becoming non-zero (done may be NULL).
void cli_run_until(dts_node *node, int64_t deadline_ns, const int *done);

// cli_deadline converts seconds from now into a dts_now_ns deadline;
// s <= 0 gives 0 (no deadline).
int64_t cli_deadline(double s);

// cli_out_flush flushes stdout and sets the stop flag when the reader is
// gone (broken pipe). Returns 0, or -1 when output failed.
int cli_out_flush(void);

// ---------------------------------------------------------------------------
// Rendering messages (render.c)

// cli_hex64 writes a 64-bit id as 16 lowercase hex digits into buf[17].
const char *cli_hex64(uint64_t id, char buf[17]);
// cli_value_json decodes a payload to JSON: the document for the json
// format (falling back like raw when it does not parse), a string for
// printable UTF-8, else {"base64": "..."}. Returns a new reference.
json_t *cli_value_json(dts_format format, const void *data, size_t len);
// cli_msg_format returns msg->format, or the format recognised from the
// schema id of an empty schema while discovery has not told it yet.
dts_format cli_msg_format(const dts_msg *msg);
// cli_msg_json returns the object printed by echo --json and query --json
// (keys type, format, schema_id, seq, sender, sent_ns, received_ns, is_reply,
// value).
json_t *cli_msg_json(const dts_msg *msg);
// cli_value_text renders a payload for people: compact JSON for json,
// the text itself when printable, else "base64:...". Caller frees.
char *cli_value_text(dts_format format, const void *data, size_t len);
// cli_type_name writes the message's type name, or "#" and the type id in
// hex when discovery has not told the name yet, into buf.
const char *cli_type_name(const dts_msg *msg, char *buf, size_t size);
// cli_utf8_printable says whether data is valid UTF-8 without control
// characters other than tab (1) or not (0).
int cli_utf8_printable(const void *data, size_t len);

// cli_base64 encodes data (standard alphabet, padded) into a new
// NUL-terminated string the caller frees, or NULL when out of memory.
char *cli_base64(const void *data, size_t len);
// cli_msg_json_value is cli_msg_json with the format and value already
// decided (by the decoder below); it takes the reference to value.
json_t *cli_msg_json_value(const dts_msg *msg, dts_format format, json_t *value);
// cli_print_json_line prints obj (a reference it takes) as one line of
// compact JSON for programs, reals in their shortest exact form (18.15, not
// 18.149999999999999).
void cli_print_json_line(json_t *obj);
// cli_json_text renders a value on one line for people (compact JSON); the
// caller frees. NULL when out of memory.
char *cli_json_text(const json_t *value);

// ---------------------------------------------------------------------------
// Decoding by schema (decode.c)
//
// The decoder turns each received message into JSON with the schema that
// discovery carries (DESIGN.md decision 3): parsed schemas are cached per
// schema id (at most CLI_SCHEMAS_MAX, least recently used evicted). A
// message whose schema is not known yet is held (at most CLI_HOLD_MAX_MSGS
// messages and CLI_HOLD_MAX_BYTES bytes) while the decoder asks the network,
// and released in arrival order (per schema) when the schema comes, or after
// CLI_SCHEMA_WAIT_MS as base64 with a note on stderr. Main thread only
// (the loop thread in DTS_RUN_CALLER mode).

#define CLI_SCHEMAS_MAX 64
#define CLI_SCHEMA_WAIT_MS 2000
#define CLI_SCHEMA_RETRY_MS 5000 // asking again for a schema that never came
#define CLI_HOLD_MAX_MSGS 1024
#define CLI_HOLD_MAX_BYTES (16u << 20)

// The outcome for one message.
typedef enum cli_value_kind {
    CLI_VALUE_OK = 0,          // value is the decoded value
    CLI_VALUE_UNDECODABLE = 1, // {"undecodable": why, "base64": ...}; why in note
    CLI_VALUE_NO_SCHEMA = 2,   // {"base64": ...}: the schema never came; why in note
} cli_value_kind;

typedef struct cli_value {
    dts_format format; // as the schema says (msg->format may still be raw)
    json_t *value;     // owned by the decoder during the emit call
    cli_value_kind kind;
    char note[256];
} cli_value;

// Called for every message, in order per schema, once its value is known.
typedef void (*cli_emit_fn)(void *ud, const dts_msg *msg, const cli_value *v);

typedef struct cli_decoder cli_decoder;

// cli_decoder_alloc makes a decoder asking node for schemas; emit may be
// NULL when only cli_decoder_try is used. NULL when out of memory.
cli_decoder *cli_decoder_alloc(dts_node *node, cli_emit_fn emit, void *ud);
// cli_decoder_free releases every message still held (as without schema,
// with a note) and frees the decoder. NULL is ignored.
void cli_decoder_free(cli_decoder *d);
// cli_decoder_msg decodes msg and emits it, or holds a copy until its
// schema comes (or the wait ends). Call it from a subscription callback.
void cli_decoder_msg(cli_decoder *d, const dts_msg *msg);
// cli_decoder_pump asks again for missing schemas (with backoff) and
// releases the held messages that can go. Call it after each cli_step.
// Returns the number of messages still held.
size_t cli_decoder_pump(cli_decoder *d);
// cli_decoder_try decodes msg into *v without holding: 1 when *v is filled
// (the caller json_decref's v->value), 0 when the schema is still awaited.
int cli_decoder_try(cli_decoder *d, const dts_msg *msg, cli_value *v);

// cli_decoded_text renders a decoder's value on one line for text mode;
// the caller frees (NULL when out of memory).
char *cli_decoded_text(const dts_msg *msg, const cli_value *v);

// ---------------------------------------------------------------------------
// Schemas for `dts pub` (schema.c)

struct dts_codec_schema;

// cli_pub_schema builds the schema bytes of a type from --schema and
// --message: for protobuf, FILE is a .proto compiled with protoc (a .proto
// name, or text) or a serialized FileDescriptorSet, and NAME the message
// (default: the type name, then its last part); for json, FILE is an
// optional JSON document sent as it is; other formats take none. For cbor,
// msgpack and protobuf *codec receives the parsed schema that encodes JSON
// values. On success returns 0 and the caller owns *schema (free; NULL
// when empty) and *codec (dts_codec_schema_free); otherwise prints what
// was wrong and how to fix it and returns an exit status.
int cli_pub_schema(const cli_ctx *ctx, const char *type, dts_format format, const char *path,
                   const char *message, void **schema, size_t *len,
                   struct dts_codec_schema **codec);

// ---------------------------------------------------------------------------
// Protobuf schemas explained (pbinfo.c), for error messages of `dts pub`

// cli_pb_messages lists the messages of a serialized FileDescriptorSet
// ("pkg.A, pkg.B"); the caller frees. NULL when it does not parse.
char *cli_pb_messages(const void *fds, size_t len);
// cli_pb_unknown_field finds the first key of value, at any depth, that is
// not a field of its message under the travelling protobuf schema (name,
// NUL, descriptor set), and explains it with the valid field names
// ("message pkg.M has no field \"x\"; its fields are: a, b"). The caller
// frees; NULL when every key is a field.
char *cli_pb_unknown_field(const void *schema, size_t len, const json_t *value);

// cli_fmt_bytes writes a byte count (or rate) for people: "512 B",
// "1.5 KiB", "3.2 MiB", "1.1 GiB" (suffix appended by the caller).
const char *cli_fmt_bytes(double bytes, char *buf, size_t size);

#endif

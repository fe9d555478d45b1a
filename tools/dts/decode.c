// decode.c: printing any type as JSON from the schema the network carries
// (DESIGN.md decision 3; docs/spec/codecs.md). echo, query and spy give
// each received message to one decoder; it finds the type's format and
// schema by schema id, parses the schema once (dts_codec_schema_alloc) and
// keeps it in a small cache, and decodes the payload.
//
// A schema travels through discovery on request: the first dts_schema_get
// of an unknown id returns DTS_ENOENT and asks the network. Messages of that
// schema are then held, in order, while the decoder asks again with backoff
// (each dts_schema_get of a missing id sends one request, so asking is
// paced here). They go out decoded when the schema arrives, or as base64
// with a note on stderr once CLI_SCHEMA_WAIT_MS has passed. Holding is
// bounded in messages and bytes; past the bound the oldest goes out
// undecoded rather than being dropped.
#include "cli.h"

#include <dts/codec.h>
#include <stdlib.h>
#include <string.h>

#define DECODE_ASK_FIRST_MS 100 // first retry of a missing schema
#define DECODE_ASK_MAX_MS 500   // retries back off up to this

typedef enum decode_state {
    DECODE_WAIT,    // asked, not arrived yet
    DECODE_READY,   // format known; s parsed when the format has a codec
    DECODE_BAD,     // arrived but does not parse: why in err
    DECODE_MISSING, // never came within CLI_SCHEMA_WAIT_MS (asked again slowly)
} decode_state;

typedef struct decode_entry {
    uint64_t id;
    decode_state state;
    dts_format format;
    dts_codec_schema *s; // NULL for raw and json (rendered without a codec)
    char err[256];
    int64_t first_ns, next_ask_ns, used_ns;
    int64_t backoff_ms;
} decode_entry;

// A copy of a message waiting for its schema.
typedef struct decode_held {
    struct decode_held *next;
    dts_msg msg;
    char type[DTS_NAME_MAX + 1];
    unsigned char data[]; // msg.len bytes
} decode_held;

struct cli_decoder {
    dts_node *node;
    cli_emit_fn emit;
    void *ud;
    decode_entry ents[CLI_SCHEMAS_MAX];
    size_t n;
    decode_held *head, *tail;
    size_t held, held_bytes;
};

cli_decoder *
cli_decoder_alloc(dts_node *node, cli_emit_fn emit, void *ud)
{
    cli_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->node = node;
    d->emit = emit;
    d->ud = ud;
    return d;
}

// decode_entry_clear frees what an entry holds.
static void
decode_entry_clear(decode_entry *e)
{
    dts_codec_schema_free(e->s);
    memset(e, 0, sizeof *e);
}

// decode_no_codec says whether a format is rendered without a codec: raw and json as the CLI always
// did (json falls back to text when it does not parse).
static int
decode_no_codec(dts_format f)
{
    return f == DTS_FORMAT_RAW || f == DTS_FORMAT_JSON || !dts_codec_find(f);
}

// decode_set_schema parses schema bytes of a format into a ready (or bad)
// entry.
static void
decode_set_schema(decode_entry *e, dts_format format, const void *schema, size_t len)
{
    e->format = format;
    e->state = DECODE_READY;
    if (decode_no_codec(format)) return;
    char err[160];
    err[0] = '\0';
    dts_err r = dts_codec_schema_alloc(format, schema, len, NULL, &e->s, err, sizeof err);
    if (r != DTS_OK) {
        e->s = NULL;
        e->state = DECODE_BAD;
        snprintf(e->err, sizeof e->err, "the %s schema of this type does not parse: %s",
                 dts_format_name(format), err[0] ? err : dts_strerror(r));
    }
}

// decode_ask calls dts_schema_get once (which asks the network when the
// node lacks the schema) and makes the entry ready when it is there.
static void
decode_ask(cli_decoder *d, decode_entry *e, int64_t now)
{
    dts_format f;
    void *schema = NULL;
    size_t len = 0;
    dts_err r = dts_schema_get(d->node, e->id, &f, &schema, &len);
    if (r == DTS_OK) {
        decode_set_schema(e, f, schema, len);
        dts_free(schema);
        return;
    }
    e->next_ask_ns = now + e->backoff_ms * 1000000;
    e->backoff_ms = e->backoff_ms * 2 > DECODE_ASK_MAX_MS ? DECODE_ASK_MAX_MS : e->backoff_ms * 2;
}

// decode_slot returns the entry of schema id, or a fresh one (evicting the
// least recently used when the cache is full).
static decode_entry *
decode_slot(cli_decoder *d, uint64_t id, int *fresh)
{
    decode_entry *lru = NULL;
    *fresh = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (d->ents[i].id == id) return &d->ents[i];
        if (!lru || d->ents[i].used_ns < lru->used_ns) lru = &d->ents[i];
    }
    decode_entry *e = d->n < CLI_SCHEMAS_MAX ? &d->ents[d->n++] : lru;
    decode_entry_clear(e);
    e->id = id;
    *fresh = 1;
    return e;
}

// decode_resolve finds the entry for a message: a type declared without a
// schema is recognised from its schema id alone; json needs no schema to
// print; anything else is looked up, and asked for, by id.
static decode_entry *
decode_resolve(cli_decoder *d, const dts_msg *msg, int64_t now)
{
    int fresh;
    dts_format f = cli_msg_format(msg);
    decode_entry *e = decode_slot(d, msg->schema_id, &fresh);
    e->used_ns = now;
    if (!fresh) return e;
    e->first_ns = now;
    e->backoff_ms = DECODE_ASK_FIRST_MS;
    if (dts_schema_id(f, NULL, 0) == msg->schema_id || f == DTS_FORMAT_JSON) {
        decode_set_schema(e, f, NULL, 0);
        return e;
    }
    e->state = DECODE_WAIT;
    decode_ask(d, e, now);
    return e;
}

// decode_tick moves a waiting entry on: ask again when its backoff ran
// out, give up (once, with a note) after CLI_SCHEMA_WAIT_MS.
static void
decode_tick(cli_decoder *d, decode_entry *e, int64_t now)
{
    if ((e->state != DECODE_WAIT && e->state != DECODE_MISSING) || now < e->next_ask_ns) return;
    decode_ask(d, e, now);
    if (e->state == DECODE_MISSING && e->next_ask_ns > now)
        e->next_ask_ns = now + (int64_t)CLI_SCHEMA_RETRY_MS * 1000000;
    if (e->state == DECODE_WAIT && now - e->first_ns >= (int64_t)CLI_SCHEMA_WAIT_MS * 1000000) {
        char hex[17];
        e->state = DECODE_MISSING;
        e->next_ask_ns = now + (int64_t)CLI_SCHEMA_RETRY_MS * 1000000;
        snprintf(e->err, sizeof e->err,
                 "schema %s did not arrive within %d ms (its publisher is gone or "
                 "unreachable); printing the bytes as base64",
                 cli_hex64(e->id, hex), CLI_SCHEMA_WAIT_MS);
        fprintf(stderr, "dts: note: %s\n", e->err);
    }
}

// decode_undecodable fills v with {"undecodable": why, "base64": ...}.
static void
decode_undecodable(cli_value *v, const dts_msg *msg, const char *why)
{
    char *b64 = cli_base64(msg->data, msg->len);
    v->kind = CLI_VALUE_UNDECODABLE;
    snprintf(v->note, sizeof v->note, "%s", why);
    v->value = json_pack("{s:s, s:s}", "undecodable", why, "base64", b64 ? b64 : "");
    free(b64);
}

// decode_value renders msg with a settled entry.
static void
decode_value(const decode_entry *e, const dts_msg *msg, cli_value *v)
{
    memset(v, 0, sizeof *v);
    v->format = e->format;
    if (e->state == DECODE_MISSING || e->state == DECODE_WAIT) {
        char *b64 = cli_base64(msg->data, msg->len);
        v->kind = CLI_VALUE_NO_SCHEMA;
        snprintf(v->note, sizeof v->note, "%s", e->err[0] ? e->err : "schema not known");
        v->format = cli_msg_format(msg);
        v->value = json_pack("{s:s}", "base64", b64 ? b64 : "");
        free(b64);
    } else if (e->state == DECODE_BAD) {
        decode_undecodable(v, msg, e->err);
    } else if (!e->s) {
        v->value = cli_value_json(e->format, msg->data, msg->len);
    } else {
        char err[160], why[256];
        err[0] = '\0';
        dts_err r = dts_codec_decode(e->s, msg->data, msg->len, &v->value, err, sizeof err);
        if (r != DTS_OK) {
            v->value = NULL;
            snprintf(why, sizeof why, "%s payload refused by its codec: %s",
                     dts_format_name(e->format), err[0] ? err : dts_strerror(r));
            decode_undecodable(v, msg, why);
        }
    }
}

int
cli_decoder_try(cli_decoder *d, const dts_msg *msg, cli_value *v)
{
    int64_t now = dts_now_ns();
    decode_entry *e = decode_resolve(d, msg, now);
    decode_tick(d, e, now);
    if (e->state == DECODE_WAIT) return 0;
    decode_value(e, msg, v);
    return 1;
}

// decode_emit renders and emits one message with its entry (NULL: as
// without schema, because it cannot wait any longer).
static void
decode_emit(cli_decoder *d, const dts_msg *msg, const decode_entry *e, const char *why)
{
    cli_value v;
    decode_entry forced = {.state = DECODE_MISSING};
    if (!e) {
        snprintf(forced.err, sizeof forced.err, "%s", why);
        e = &forced;
    }
    decode_value(e, msg, &v);
    if (d->emit && v.value) d->emit(d->ud, msg, &v);
    json_decref(v.value);
}

// decode_hold_pop unlinks the oldest held message (the caller frees it).
static decode_held *
decode_hold_pop(cli_decoder *d)
{
    decode_held *h = d->head;
    d->head = h->next;
    if (!d->head) d->tail = NULL;
    d->held--;
    d->held_bytes -= h->msg.len;
    return h;
}

// decode_force releases the oldest held message undecoded (the hold is
// full, or the decoder ends), with a note on stderr.
static void
decode_force(cli_decoder *d, const char *why)
{
    decode_held *h = decode_hold_pop(d);
    char name[DTS_NAME_MAX + 20];
    fprintf(stderr, "dts: note: %s #%llu printed as base64: %s\n",
            cli_type_name(&h->msg, name, sizeof name), (unsigned long long)h->msg.seq, why);
    decode_emit(d, &h->msg, NULL, why);
    free(h);
}

// decode_hold keeps a copy of msg; returns -1 when out of memory.
static int
decode_hold(cli_decoder *d, const dts_msg *msg)
{
    if (msg->len > CLI_HOLD_MAX_BYTES) return -1;
    while (d->head &&
           (d->held >= CLI_HOLD_MAX_MSGS || d->held_bytes + msg->len > CLI_HOLD_MAX_BYTES))
        decode_force(d, "too many messages waiting for their schema");
    decode_held *h = malloc(sizeof *h + msg->len);
    if (!h) return -1;
    h->next = NULL;
    h->msg = *msg;
    snprintf(h->type, sizeof h->type, "%s", msg->type ? msg->type : "");
    h->msg.type = h->type;
    if (msg->len) memcpy(h->data, msg->data, msg->len);
    h->msg.data = h->data;
    if (d->tail)
        d->tail->next = h;
    else
        d->head = h;
    d->tail = h;
    d->held++;
    d->held_bytes += msg->len;
    return 0;
}

// decode_is_held says whether a message of this schema id is waiting, so
// that a later one does not overtake it.
static int
decode_is_held(const cli_decoder *d, uint64_t schema_id)
{
    for (const decode_held *h = d->head; h; h = h->next)
        if (h->msg.schema_id == schema_id) return 1;
    return 0;
}

void
cli_decoder_msg(cli_decoder *d, const dts_msg *msg)
{
    int64_t now = dts_now_ns();
    decode_entry *e = decode_resolve(d, msg, now);
    if (e->state != DECODE_WAIT && !decode_is_held(d, msg->schema_id)) {
        decode_emit(d, msg, e, NULL);
        return;
    }
    if (decode_hold(d, msg) != 0) {
        const char *why = "too large (or no memory) to hold while its schema is awaited";
        char name[DTS_NAME_MAX + 20];
        fprintf(stderr, "dts: note: %s #%llu printed as base64: %s\n",
                cli_type_name(msg, name, sizeof name), (unsigned long long)msg->seq, why);
        decode_emit(d, msg, NULL, why);
    }
}

// cli_decoder_pump walks the held messages in arrival order, emitting
// every one whose schema is settled. An entry evicted from the cache while
// its messages wait is simply resolved again.
size_t
cli_decoder_pump(cli_decoder *d)
{
    int64_t now = dts_now_ns();
    for (size_t i = 0; i < d->n; i++) decode_tick(d, &d->ents[i], now);
    decode_held **pp = &d->head, *prev = NULL;
    while (*pp) {
        decode_held *h = *pp;
        decode_entry *e = decode_resolve(d, &h->msg, now);
        if (e->state == DECODE_WAIT) {
            prev = h;
            pp = &h->next;
            continue;
        }
        *pp = h->next;
        if (d->tail == h) d->tail = prev;
        d->held--;
        d->held_bytes -= h->msg.len;
        decode_emit(d, &h->msg, e, NULL);
        free(h);
    }
    return d->held;
}

// cli_decoded_text renders a decoded value for text mode: compact JSON, a
// printable raw value as itself (as always), "base64:..." for bytes, and
// an undecodable payload as "undecodable (WHY) base64:...".
char *
cli_decoded_text(const dts_msg *msg, const cli_value *v)
{
    int decoded = v->format == DTS_FORMAT_CBOR || v->format == DTS_FORMAT_MSGPACK ||
                  v->format == DTS_FORMAT_PROTOBUF || v->format == DTS_FORMAT_CAPNP;
    if (v->kind == CLI_VALUE_OK)
        return decoded ? cli_json_text(v->value) : cli_value_text(v->format, msg->data, msg->len);
    char *b64 = cli_base64(msg->data, msg->len);
    size_t n = (b64 ? strlen(b64) : 0) + strlen(v->note) + 40;
    char *out = malloc(n);
    if (out && v->kind == CLI_VALUE_UNDECODABLE)
        snprintf(out, n, "undecodable (%s) base64:%s", v->note, b64 ? b64 : "");
    else if (out)
        snprintf(out, n, "base64:%s", b64 ? b64 : "");
    free(b64);
    return out;
}

void
cli_decoder_free(cli_decoder *d)
{
    if (!d) return;
    cli_decoder_pump(d);
    while (d->head) decode_force(d, "the command ended before its schema arrived");
    for (size_t i = 0; i < d->n; i++) decode_entry_clear(&d->ents[i]);
    free(d);
}

// render.c: turning received messages into JSON and text for people, the
// same way in every verb (echo, query, spy).
#include "cli.h"

#include <dts/codec.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *
cli_hex64(uint64_t id, char buf[17])
{
    snprintf(buf, 17, "%016" PRIx64, id);
    return buf;
}

const char *
cli_type_name(const dts_msg *msg, char *buf, size_t size)
{
    if (msg->type && msg->type[0]) {
        snprintf(buf, size, "%s", msg->type);
    } else {
        char hex[17];
        snprintf(buf, size, "#%s", cli_hex64(msg->type_id, hex));
    }
    return buf;
}

// render_utf8_len returns the length of the valid UTF-8 sequence starting
// at p (at most n bytes), or 0 when it is not valid (overlong forms,
// surrogates and code points past U+10FFFF are refused).
static size_t
render_utf8_len(const unsigned char *p, size_t n)
{
    size_t len;
    uint32_t cp;
    if (p[0] < 0x80) return 1;
    if ((p[0] & 0xe0) == 0xc0)
        len = 2, cp = p[0] & 0x1f;
    else if ((p[0] & 0xf0) == 0xe0)
        len = 3, cp = p[0] & 0x0f;
    else if ((p[0] & 0xf8) == 0xf0)
        len = 4, cp = p[0] & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

// cli_utf8_printable refuses control characters (except tab) and DEL so
// that printing the text cannot move the cursor or change the terminal.
int
cli_utf8_printable(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    while (i < len) {
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) return 0;
        size_t n = render_utf8_len(p + i, len - i);
        if (n == 0) return 0;
        i += n;
    }
    return 1;
}

char *
cli_base64(const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        *o++ = abc[(v >> 18) & 63];
        *o++ = abc[(v >> 12) & 63];
        *o++ = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

// cli_value_json: a json payload that does not parse (or a payload of a
// format the CLI cannot decode) is shown like raw bytes rather than lost.
json_t *
cli_value_json(dts_format format, const void *data, size_t len)
{
    if (format == DTS_FORMAT_JSON) {
        json_t *v = json_loadb(data, len, JSON_DECODE_ANY, NULL);
        if (v) return v;
    }
    if (len == 0) return json_string("");
    if (cli_utf8_printable(data, len)) return json_stringn(data, len);
    char *b64 = cli_base64(data, len);
    json_t *obj = json_pack("{s:s}", "base64", b64 ? b64 : "");
    free(b64);
    return obj;
}

// cli_msg_format returns the message's format. Before discovery has told
// the format the library reports raw; a type declared without a schema is
// still recognised, because its schema id is the fixed id of the empty
// schema of its format.
dts_format
cli_msg_format(const dts_msg *msg)
{
    if (msg->format != DTS_FORMAT_RAW) return msg->format;
    for (int f = 0; f < DTS_FORMAT_COUNT_; f++)
        if (dts_schema_id((dts_format)f, NULL, 0) == msg->schema_id) return (dts_format)f;
    return msg->format;
}

// cli_msg_json builds the echo --json object; ids as 16 hex digits because
// JSON numbers lose precision past 2^53. json_pack's "o" takes the value's
// reference even when packing fails.
json_t *
cli_msg_json(const dts_msg *msg)
{
    dts_format f = cli_msg_format(msg);
    return cli_msg_json_value(msg, f, cli_value_json(f, msg->data, msg->len));
}

json_t *
cli_msg_json_value(const dts_msg *msg, dts_format format, json_t *value)
{
    char name[DTS_NAME_MAX + 20], schema[17], inst[17], host[17];
    if (!value) return NULL;
    return json_pack("{s:s, s:s, s:s, s:I, s:{s:s, s:s, s:s}, s:I, s:I, s:b, s:o}", "type",
                     cli_type_name(msg, name, sizeof name), "format", dts_format_name(format),
                     "schema_id", cli_hex64(msg->schema_id, schema), "seq", (json_int_t)msg->seq,
                     "sender", "instance", cli_hex64(msg->sender_instance, inst), "host",
                     cli_hex64(msg->sender_host, host), "addr", msg->sender_addr, "sent_ns",
                     (json_int_t)msg->sent_ns, "received_ns", (json_int_t)msg->received_ns,
                     "is_reply", msg->is_reply != 0, "value", value);
}

void
cli_print_json_line(json_t *obj)
{
    char *line = NULL;
    if (obj) dts_codec_json_text(obj, &line);
    printf("%s\n", line ? line : "{\"error\":\"out of memory\"}");
    dts_codec_free(line);
    json_decref(obj);
}

// cli_json_text: the precision matches what text mode always printed for
// json payloads.
char *
cli_json_text(const json_t *value)
{
    return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
}

// cli_value_text: JSON values are printed compact on one line; printable
// text as itself; anything else as base64 with a "base64:" prefix.
char *
cli_value_text(dts_format format, const void *data, size_t len)
{
    if (format == DTS_FORMAT_JSON) {
        json_t *v = json_loadb(data, len, JSON_DECODE_ANY, NULL);
        if (v) {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
            json_decref(v);
            if (s) return s;
        }
    }
    if (len == 0) return strdup("");
    if (cli_utf8_printable(data, len)) return strndup(data, len);
    char *b64 = cli_base64(data, len);
    char *out = b64 ? malloc(strlen(b64) + 8) : NULL;
    if (out) sprintf(out, "base64:%s", b64);
    free(b64);
    return out;
}

const char *
cli_fmt_bytes(double bytes, char *buf, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (bytes >= 1024 && u + 1 < sizeof units / sizeof units[0]) bytes /= 1024, u++;
    if (u == 0)
        snprintf(buf, size, "%.0f %s", bytes, units[u]);
    else
        snprintf(buf, size, "%.1f %s", bytes, units[u]);
    return buf;
}

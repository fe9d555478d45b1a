// jsonmap.c: the parts of the JSON mapping every format shares, and
// bounded parsing of JSON text (docs/spec/codecs.md, "JSON mapping" and
// "Limits").
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_int.h"

json_t *
dtsi_json_u64(uint64_t v)
{
    if (v <= (uint64_t)INT64_MAX) return json_integer((json_int_t)v);
    char s[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)v);
    return json_string(s);
}

// dtsi_json_neg renders -1 - n: a JSON integer when it fits int64 (n up to
// INT64_MAX), else the decimal string (down to -18446744073709551616).
json_t *
dtsi_json_neg(uint64_t n)
{
    if (n <= (uint64_t)INT64_MAX) return json_integer(-1 - (json_int_t)n);
    char s[32];
    unsigned __int128 m = (unsigned __int128)n + 1;
    char digits[24];
    int k = 0;
    while (m) {
        digits[k++] = (char)('0' + (int)(m % 10));
        m /= 10;
    }
    s[0] = '-';
    for (int i = 0; i < k; i++) s[1 + i] = digits[k - 1 - i];
    s[1 + k] = 0;
    return json_string(s);
}

json_t *
dtsi_json_double(double d)
{
    if (isnan(d)) return json_string("NaN");
    if (isinf(d)) return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

json_t *
dtsi_json_bytes(const uint8_t *d, size_t n)
{
    size_t len;
    char *s = dtsi_b64_encode(d, n, &len);
    if (!s) return NULL;
    json_t *o = json_object();
    json_t *str = json_stringn_nocheck(s, len);
    dtsi_cfree(s);
    if (!o || !str || json_object_set_new(o, "base64", str)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int
dtsi_json_is_bytes(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1 &&
           json_is_string(json_object_get(v, "base64"));
}

int
dtsi_json_bytes_get(const json_t *v, uint8_t **out, size_t *n)
{
    const json_t *s = json_object_get(v, "base64");
    size_t len = json_string_length(s);
    uint8_t *b = dtsi_cmalloc(len / 4 * 3 + 3);
    if (!b) return -1;
    if (dtsi_b64_decode(json_string_value(s), len, b, n)) {
        dtsi_cfree(b);
        return -1;
    }
    *out = b;
    return 0;
}

int
dtsi_json_special_double(const json_t *v, double *d)
{
    const char *s = json_string_value(v);
    if (!s) return 0;
    if (!strcmp(s, "NaN"))
        *d = NAN;
    else if (!strcmp(s, "Infinity"))
        *d = INFINITY;
    else if (!strcmp(s, "-Infinity"))
        *d = -INFINITY;
    else
        return 0;
    return 1;
}

// dec_parse reads n decimal digits (1..20, no sign) into a 128-bit value;
// -1 if anything else is there.
static int
dec_parse(const char *s, size_t n, unsigned __int128 *out)
{
    unsigned __int128 v = 0;
    if (n == 0 || n > 20) return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int
dtsi_parse_u64(const char *s, size_t n, uint64_t *out)
{
    unsigned __int128 v;
    if (dec_parse(s, n, &v) || v > UINT64_MAX) return -1;
    *out = (uint64_t)v;
    return 0;
}

int
dtsi_parse_i64(const char *s, size_t n, int64_t *out)
{
    unsigned __int128 v;
    int neg = n > 0 && s[0] == '-';
    if (dec_parse(s + neg, n - (size_t)neg, &v)) return -1;
    if (v > (unsigned __int128)INT64_MAX + (unsigned)neg) return -1;
    *out = neg ? (int64_t)(0 - (uint64_t)v) : (int64_t)v;
    return 0;
}

// dtsi_json_bigint only accepts canonical decimals (no '+', no leading
// zero) so that ordinary strings are rarely mistaken for numbers.
int
dtsi_json_bigint(const json_t *v, int *neg, uint64_t *mag)
{
    const char *s = json_string_value(v);
    if (!s) return 0;
    size_t n = json_string_length(v);
    int ng = n > 0 && s[0] == '-';
    unsigned __int128 m;
    if (n - (size_t)ng > 1 && s[ng] == '0') return 0;
    if (dec_parse(s + ng, n - (size_t)ng, &m)) return 0;
    if (!ng && m > (unsigned __int128)INT64_MAX && m <= UINT64_MAX) {
        *neg = 0;
        *mag = (uint64_t)m;
        return 1;
    }
    if (ng && m > (unsigned __int128)INT64_MAX + 1 && m <= (unsigned __int128)UINT64_MAX + 1) {
        *neg = 1;
        *mag = (uint64_t)(m - 1);
        return 1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
// Parsing JSON text

// json_prescan bounds what jansson will allocate: it counts containers
// (depth) and value separators (elements) outside strings in one pass.
// The element count is an upper bound: every value but the first is
// announced by '[', '{', ',' or ':'.
static dts_err
json_prescan(const dts_codec_ctx *cx, const char *s, size_t n)
{
    unsigned depth = 0;
    size_t elements = 1;
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > cx->limits->max_depth)
                return dtsi_cerr(cx, DTS_ETOOBIG, "JSON nested deeper than %u at byte %zu",
                                 cx->limits->max_depth, i);
            elements++;
        } else if (c == ']' || c == '}') {
            if (depth) depth--;
        } else if (c == ',' || c == ':') {
            elements++;
        } else
            continue;
        if (elements > cx->limits->max_elements)
            return dtsi_cerr(cx, DTS_ETOOBIG, "JSON has more than %zu values (at byte %zu)",
                             cx->limits->max_elements, i);
    }
    return DTS_OK;
}

dts_err
dtsi_json_parse(const dts_codec_ctx *cx, const char *s, size_t n, json_t **out)
{
    if (n > cx->limits->max_bytes)
        return dtsi_cerr(cx, DTS_ETOOBIG, "JSON text of %zu bytes exceeds %zu", n,
                         cx->limits->max_bytes);
    dts_err e = json_prescan(cx, s, n);
    if (e) return e;
    json_error_t je;
    json_t *v = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v)
        return dtsi_cerr(cx, DTS_EMALFORMED, "JSON line %d column %d (byte %d): %s", je.line,
                         je.column, je.position, je.text);
    e = dtsi_json_check(cx, v);
    if (e) {
        json_decref(v);
        return e;
    }
    *out = v;
    return DTS_OK;
}

// json_walk checks depth, element count and string sizes of a tree,
// descending no deeper than the limit (so the recursion is bounded).
static dts_err
json_walk(const dts_codec_ctx *cx, const json_t *v, unsigned depth, dtsi_budget *b)
{
    dts_err e = dtsi_budget_take(cx, b, 0);
    if (e) return e;
    if (json_is_string(v) && json_string_length(v) > cx->limits->max_string)
        return dtsi_cerr(cx, DTS_ETOOBIG, "string of %zu bytes exceeds %zu", json_string_length(v),
                         cx->limits->max_string);
    if (!json_is_array(v) && !json_is_object(v)) return DTS_OK;
    if (depth + 1 > cx->limits->max_depth)
        return dtsi_cerr(cx, DTS_ETOOBIG, "value nested deeper than %u", cx->limits->max_depth);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if ((e = json_walk(cx, json_array_get(v, i), depth + 1, b))) return e;
        return DTS_OK;
    }
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)v, k, m)
    {
        if ((e = dtsi_budget_take(cx, b, 0))) return e;
        // {"base64": TEXT} is a byte string of 3/4 of TEXT's length: bounded
        // as the bytes are (a decoded byte string of up to max_string bytes
        // encodes again).
        if (json_object_size(v) == 1 && !strcmp(k, "base64") && json_is_string(m)) {
            size_t n = json_string_length(m);
            size_t bytes = n / 4 * 3 + (n % 4 == 2 ? 1 : n % 4 == 3 ? 2 : 0);
            if (n % 4 == 0 && n >= 2 && json_string_value(m)[n - 1] == '=')
                bytes -= json_string_value(m)[n - 2] == '=' ? 2 : 1;
            if (bytes > cx->limits->max_string)
                return dtsi_cerr(cx, DTS_ETOOBIG, "byte string of %zu bytes exceeds %zu", bytes,
                                 cx->limits->max_string);
            continue;
        }
        if ((e = json_walk(cx, m, depth + 1, b))) return e;
    }
    return DTS_OK;
}

dts_err
dtsi_json_check(const dts_codec_ctx *cx, const json_t *v)
{
    dtsi_budget b = {0};
    return json_walk(cx, v, 0, &b);
}

// ---------------------------------------------------------------------------
// Rendering JSON text. Our own writer rather than json_dumps so that reals
// get their shortest round-trip form (0.1, not 0.10000000000000001) and
// the output is bounded by max_bytes.

// dump_real writes the shortest %g form that reads back as the same
// double, with ".0" added to integral values so they stay reals.
static void
dump_real(dtsi_cbuf *b, double d)
{
    char s[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, d);
        if (strtod(s, NULL) == d) break;
    }
    if (!strpbrk(s, ".eE")) strcat(s, ".0");
    dtsi_cbuf_put(b, s, strlen(s));
}

static void
dump_string(dtsi_cbuf *b, const char *s, size_t n)
{
    dtsi_cbuf_byte(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        dtsi_cbuf_put(b, s + run, i - run);
        run = i + 1;
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else if (c == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (c == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else if (c == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        dtsi_cbuf_put(b, esc, strlen(esc));
    }
    dtsi_cbuf_put(b, s + run, n - run);
    dtsi_cbuf_byte(b, '"');
}

// dump_value appends v; recursion is bounded by the depth checks every
// tree went through (decoders, dtsi_json_check).
static void
dump_value(dtsi_cbuf *b, const json_t *v)
{
    char num[24];
    const char *k;
    json_t *m;
    size_t i = 0;
    switch (json_typeof(v)) {
    case JSON_NULL:
        dtsi_cbuf_put(b, "null", 4);
        break;
    case JSON_TRUE:
        dtsi_cbuf_put(b, "true", 4);
        break;
    case JSON_FALSE:
        dtsi_cbuf_put(b, "false", 5);
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        dtsi_cbuf_put(b, num, strlen(num));
        break;
    case JSON_REAL:
        dump_real(b, json_real_value(v));
        break;
    case JSON_STRING:
        dump_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_ARRAY:
        dtsi_cbuf_byte(b, '[');
        for (i = 0; i < json_array_size(v) && !b->err; i++) {
            if (i) dtsi_cbuf_byte(b, ',');
            dump_value(b, json_array_get(v, i));
        }
        dtsi_cbuf_byte(b, ']');
        break;
    case JSON_OBJECT:
        dtsi_cbuf_byte(b, '{');
        json_object_foreach((json_t *)v, k, m)
        {
            if (b->err) break;
            if (i++) dtsi_cbuf_byte(b, ',');
            dump_string(b, k, strlen(k));
            dtsi_cbuf_byte(b, ':');
            dump_value(b, m);
        }
        dtsi_cbuf_byte(b, '}');
        break;
    }
}

dts_err
dtsi_json_dump(const dts_codec_ctx *cx, const json_t *v, char **out)
{
    dtsi_cbuf b;
    size_t len;
    // JSON text may be several times the payload (base64, escapes).
    size_t max = cx->limits->max_bytes;
    dtsi_cbuf_init(&b, max > SIZE_MAX / 8 ? SIZE_MAX : max * 8);
    dump_value(&b, v);
    dtsi_cbuf_byte(&b, 0);
    dts_err e = dtsi_cbuf_take(&b, (void **)out, &len);
    if (e) return dtsi_cerr(cx, e, "JSON text would exceed %zu bytes", b.max);
    return DTS_OK;
}

// jschema.c: a JSON Schema subset for the json codec (docs/spec/codecs.md,
// "JSON Schema"): when a json type's schema is a JSON Schema document,
// values are checked against it on publish (the CLI, dts_publish_json) and
// on validate. Supported keywords: type (a name or a list), enum, const,
// properties, required, additionalProperties (boolean or schema), items
// (one schema), minItems, maxItems, minLength, maxLength (in UTF-8 code
// points), minimum, maximum, exclusiveMinimum, exclusiveMaximum (numbers),
// allOf, anyOf, oneOf, not. Other keywords are ignored, as the
// specification allows for unknown ones. The schema came through
// dtsi_json_parse, so its depth is bounded by the codec limits; so is the
// recursion here. Pure, any thread.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec/json/jschema.h"

static int js_check(const json_t *v, const json_t *s, char *path, size_t plen, char *err,
                    size_t errcap);

static const char *
js_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static int
js_fail(char *err, size_t errcap, const char *path, const char *fmt, const char *a, double x)
{
    char what[160];
    snprintf(what, sizeof what, fmt, a ? a : "", x);
    if (err && errcap) snprintf(err, errcap, "%s: %s", path[0] ? path : "$", what);
    return -1;
}

// js_type_ok says whether v has the type named t ("integer" also matches a
// real with no fraction; "number" matches both).
static int
js_type_ok(const json_t *v, const char *t)
{
    const char *vt = js_type_name(v);
    if (!strcmp(t, vt)) return 1;
    if (!strcmp(t, "number") && json_is_number(v)) return 1;
    if (!strcmp(t, "integer") && json_is_real(v)) {
        double d = json_real_value(v);
        return isfinite(d) && d == floor(d);
    }
    return 0;
}

static int
js_check_type(const json_t *v, const json_t *t, char *path, char *err, size_t errcap)
{
    if (json_is_string(t)) {
        if (js_type_ok(v, json_string_value(t))) return 0;
        return js_fail(err, errcap, path, "expected %s", json_string_value(t), 0);
    }
    size_t i;
    const json_t *e;
    json_array_foreach(t, i,
                       e) if (json_is_string(e) && js_type_ok(v, json_string_value(e))) return 0;
    return json_is_array(t) ? js_fail(err, errcap, path, "a %s is not among the allowed types",
                                      js_type_name(v), 0)
                            : 0;
}

static int
js_check_number(const json_t *v, const json_t *s, char *path, char *err, size_t errcap)
{
    if (!json_is_number(v)) return 0;
    double x = json_number_value(v);
    const json_t *k;
    if ((k = json_object_get(s, "minimum")) && json_is_number(k) && x < json_number_value(k))
        return js_fail(err, errcap, path, "%sbelow the minimum %g", "", json_number_value(k));
    if ((k = json_object_get(s, "maximum")) && json_is_number(k) && x > json_number_value(k))
        return js_fail(err, errcap, path, "%sabove the maximum %g", "", json_number_value(k));
    if ((k = json_object_get(s, "exclusiveMinimum")) && json_is_number(k) &&
        x <= json_number_value(k))
        return js_fail(err, errcap, path, "%snot above %g", "", json_number_value(k));
    if ((k = json_object_get(s, "exclusiveMaximum")) && json_is_number(k) &&
        x >= json_number_value(k))
        return js_fail(err, errcap, path, "%snot below %g", "", json_number_value(k));
    return 0;
}

static size_t
js_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int
js_check_string(const json_t *v, const json_t *s, char *path, char *err, size_t errcap)
{
    if (!json_is_string(v)) return 0;
    double n = (double)js_utf8_len(json_string_value(v));
    const json_t *k;
    if ((k = json_object_get(s, "minLength")) && json_is_integer(k) &&
        n < (double)json_integer_value(k))
        return js_fail(err, errcap, path, "%sshorter than %g characters", "",
                       (double)json_integer_value(k));
    if ((k = json_object_get(s, "maxLength")) && json_is_integer(k) &&
        n > (double)json_integer_value(k))
        return js_fail(err, errcap, path, "%slonger than %g characters", "",
                       (double)json_integer_value(k));
    return 0;
}

// js_path_push appends ".key" or "[i]" to path for the duration of a
// nested check; returns the old length to restore.
static size_t
js_path_push(char *path, size_t plen, const char *key, size_t index)
{
    size_t old = strlen(path);
    if (key)
        snprintf(path + old, plen - old, ".%s", key);
    else
        snprintf(path + old, plen - old, "[%zu]", index);
    return old;
}

static int
js_check_array(const json_t *v, const json_t *s, char *path, size_t plen, char *err, size_t errcap)
{
    if (!json_is_array(v)) return 0;
    double n = (double)json_array_size(v);
    const json_t *k;
    if ((k = json_object_get(s, "minItems")) && json_is_integer(k) &&
        n < (double)json_integer_value(k))
        return js_fail(err, errcap, path, "%sfewer than %g items", "",
                       (double)json_integer_value(k));
    if ((k = json_object_get(s, "maxItems")) && json_is_integer(k) &&
        n > (double)json_integer_value(k))
        return js_fail(err, errcap, path, "%smore than %g items", "",
                       (double)json_integer_value(k));
    const json_t *items = json_object_get(s, "items");
    if (!json_is_object(items)) return 0;
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        size_t old = js_path_push(path, plen, NULL, i);
        int r = js_check(e, items, path, plen, err, errcap);
        path[old] = 0;
        if (r) return r;
    }
    return 0;
}

static int
js_check_object(const json_t *v, const json_t *s, char *path, size_t plen, char *err, size_t errcap)
{
    if (!json_is_object(v)) return 0;
    const json_t *req = json_object_get(s, "required"), *props = json_object_get(s, "properties");
    const json_t *extra = json_object_get(s, "additionalProperties");
    size_t i;
    const json_t *e;
    json_array_foreach(req, i, e)
    {
        if (json_is_string(e) && !json_object_get(v, json_string_value(e)))
            return js_fail(err, errcap, path, "missing required property \"%s\"",
                           json_string_value(e), 0);
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        const json_t *ps = json_is_object(props) ? json_object_get(props, key) : NULL;
        if (!ps && json_is_false(extra))
            return js_fail(err, errcap, path, "property \"%s\" is not allowed", key, 0);
        if (!ps && json_is_object(extra)) ps = extra;
        if (!json_is_object(ps)) continue;
        size_t old = js_path_push(path, plen, key, 0);
        int r = js_check(val, ps, path, plen, err, errcap);
        path[old] = 0;
        if (r) return r;
    }
    return 0;
}

// js_check_combinators applies allOf, anyOf, oneOf and not.
static int
js_check_combinators(const json_t *v, const json_t *s, char *path, size_t plen, char *err,
                     size_t errcap)
{
    size_t i, ok = 0;
    const json_t *e;
    json_array_foreach(json_object_get(s, "allOf"), i, e)
    {
        if (js_check(v, e, path, plen, err, errcap)) return -1;
    }
    const json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    json_array_foreach(any, i, e) ok += js_check(v, e, path, plen, NULL, 0) == 0;
    if (json_is_array(any) && ok == 0)
        return js_fail(err, errcap, path, "%smatches none of anyOf", "", 0);
    ok = 0;
    json_array_foreach(one, i, e) ok += js_check(v, e, path, plen, NULL, 0) == 0;
    if (json_is_array(one) && ok != 1)
        return js_fail(err, errcap, path, "%smatches %g of oneOf, not exactly one", "", (double)ok);
    const json_t *not = json_object_get(s, "not");
    if (json_is_object(not ) && js_check(v, not, path, plen, NULL, 0) == 0)
        return js_fail(err, errcap, path, "%smatches the schema under not", "", 0);
    return 0;
}

static int
js_check(const json_t *v, const json_t *s, char *path, size_t plen, char *err, size_t errcap)
{
    if (!json_is_object(s)) return 0; // true, or not a schema: anything goes
    const json_t *k;
    if ((k = json_object_get(s, "type")) && js_check_type(v, k, path, err, errcap)) return -1;
    if ((k = json_object_get(s, "const")) && !json_equal((json_t *)v, (json_t *)k))
        return js_fail(err, errcap, path, "%snot the constant value", "", 0);
    if ((k = json_object_get(s, "enum")) && json_is_array(k)) {
        size_t i, hit = 0;
        const json_t *e;
        json_array_foreach(k, i, e) hit |= json_equal((json_t *)v, (json_t *)e);
        if (!hit) return js_fail(err, errcap, path, "%snot one of the enum values", "", 0);
    }
    if (js_check_number(v, s, path, err, errcap) || js_check_string(v, s, path, err, errcap) ||
        js_check_array(v, s, path, plen, err, errcap) ||
        js_check_object(v, s, path, plen, err, errcap) ||
        js_check_combinators(v, s, path, plen, err, errcap))
        return -1;
    return 0;
}

int
dtsi_jschema_check(const json_t *value, const json_t *schema, char *err, size_t errcap)
{
    char path[512] = "$";
    return js_check(value, schema, path, sizeof path, err, errcap);
}

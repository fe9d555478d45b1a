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

// js_cmp compares a number with a bound: -1, 0 or 1; exactly when both are
// integers (as doubles, 2^63 - 1 and 2^63 - 2 are one number).
static int
js_cmp(const json_t *v, const json_t *bound)
{
    if (json_is_integer(v) && json_is_integer(bound)) {
        json_int_t a = json_integer_value(v), b = json_integer_value(bound);
        return (a > b) - (a < b);
    }
    double a = json_number_value(v), b = json_number_value(bound);
    return (a > b) - (a < b);
}

static int
js_check_number(const json_t *v, const json_t *s, char *path, char *err, size_t errcap)
{
    if (!json_is_number(v)) return 0;
    double x = json_number_value(v);
    const json_t *k;
    if ((k = json_object_get(s, "minimum")) && json_is_number(k) && js_cmp(v, k) < 0)
        return js_fail(err, errcap, path, "%sbelow the minimum %g", "", json_number_value(k));
    if ((k = json_object_get(s, "maximum")) && json_is_number(k) && js_cmp(v, k) > 0)
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

// ---------------------------------------------------------------------------
// The schema itself: the keywords checked above must have the forms they
// need, or values would be refused for nothing ("expected bogus") or the
// keyword silently ignored ("maximum": "ten"). Unknown keywords are
// ignored, as JSON Schema says. Recursion is bounded: the schema was parsed
// under the codec's depth limit.

static int
js_known_type(const json_t *t)
{
    static const char *const names[] = {"object", "array",   "string", "integer",
                                        "number", "boolean", "null"};
    if (!json_is_string(t)) return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(json_string_value(t), names[i])) return 1;
    return 0;
}

static int js_valid(const json_t *s, char *path, size_t plen, char *err, size_t errcap);

// js_valid_sub checks the schema under keyword key of s (at path.key).
static int
js_valid_sub(const json_t *sub, const char *key, char *path, size_t plen, char *err, size_t errcap)
{
    size_t old = js_path_push(path, plen, key, 0);
    int r = js_valid(sub, path, plen, err, errcap);
    path[old] = 0;
    return r;
}

static int
js_valid(const json_t *s, char *path, size_t plen, char *err, size_t errcap)
{
    if (json_is_boolean(s)) return 0;
    if (!json_is_object(s))
        return js_fail(err, errcap, path, "%sa schema is an object or a boolean", "", 0);
    const json_t *k, *e;
    size_t i;
    if ((k = json_object_get(s, "type"))) {
        const json_t *bad = js_known_type(k) ? NULL : k; // a name, or the first bad one of a list
        if (json_is_array(k)) {
            bad = NULL;
            json_array_foreach(k, i, e) if (!bad && !js_known_type(e)) bad = e;
        }
        if (bad)
            return js_fail(err, errcap, path,
                           "type %s is none of object, array, string, integer, number, boolean, "
                           "null",
                           json_is_string(bad) ? json_string_value(bad) : "(not a name)", 0);
    }
    static const char *const numbers[] = {"minimum", "maximum", "exclusiveMinimum",
                                          "exclusiveMaximum"};
    for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
        if ((k = json_object_get(s, numbers[i])) && !json_is_number(k))
            return js_fail(err, errcap, path, "%s must be a number", numbers[i], 0);
    static const char *const counts[] = {"minLength", "maxLength", "minItems", "maxItems"};
    for (i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if ((k = json_object_get(s, counts[i])) &&
            !(json_is_integer(k) && json_integer_value(k) >= 0))
            return js_fail(err, errcap, path, "%s must be a whole number", counts[i], 0);
    if ((k = json_object_get(s, "required"))) {
        int ok = json_is_array(k);
        json_array_foreach(k, i, e) ok &= json_is_string(e);
        if (!ok) return js_fail(err, errcap, path, "%srequired must be an array of names", "", 0);
    }
    if ((k = json_object_get(s, "enum")) && !json_is_array(k))
        return js_fail(err, errcap, path, "%senum must be an array", "", 0);
    if ((k = json_object_get(s, "properties"))) {
        if (!json_is_object(k))
            return js_fail(err, errcap, path, "%sproperties must be an object", "", 0);
        const char *key;
        json_object_foreach((json_t *)k, key, e)
        {
            if (js_valid_sub(e, key, path, plen, err, errcap)) return -1;
        }
    }
    static const char *const subs[] = {"items", "additionalProperties", "not"};
    for (i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if ((k = json_object_get(s, subs[i])) && js_valid_sub(k, subs[i], path, plen, err, errcap))
            return -1;
    static const char *const lists[] = {"allOf", "anyOf", "oneOf"};
    for (i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        if (!(k = json_object_get(s, lists[i]))) continue;
        if (!json_is_array(k) || json_array_size(k) == 0)
            return js_fail(err, errcap, path, "%s must be an array of schemas", lists[i], 0);
        size_t j;
        json_array_foreach(k, j,
                           e) if (js_valid_sub(e, lists[i], path, plen, err, errcap)) return -1;
    }
    return 0;
}

int
dtsi_jschema_valid(const json_t *schema, char *err, size_t errcap)
{
    char path[512] = "$";
    return js_valid(schema, path, sizeof path, err, errcap);
}

int
dtsi_jschema_check(const json_t *value, const json_t *schema, char *err, size_t errcap)
{
    char path[512] = "$";
    return js_check(value, schema, path, sizeof path, err, errcap);
}

// pbinfo.c: what `dts pub` says about a protobuf schema when a value does
// not fit it: the messages a descriptor set holds, and the fields of the
// message that has no field of a given name.
//
// include/dts/codec.h has no way to list the messages or fields of a
// descriptor set, so this file reads the codec's private model
// (src/codec/protobuf/pb.h). It only ever runs on an error path, on a
// schema this process built itself.
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "codec/protobuf/pb.h"

// pbinfo_parse reads the FileDescriptorSet of fds into *s under the
// default limits. Returns 0, or -1 (s is freed).
static int
pbinfo_parse(const void *fds, size_t len, pb_schema *s)
{
    dts_codec_limits lim;
    dts_codec_limits_init(&lim);
    lim.max_bytes = len + 1;
    dts_codec_ctx cx = {.limits = &lim};
    if (dtsi_pb_schema_parse(&cx, fds, len, s) == DTS_OK) return 0;
    dtsi_pb_schema_free(s);
    return -1;
}

// pbinfo_append adds ", item" (or "item" first) to a growing string.
static void
pbinfo_append(char **list, size_t *cap, const char *item, const char *alt)
{
    size_t used = *list ? strlen(*list) : 0, need = used + strlen(item) + strlen(alt) + 8;
    if (need > *cap) {
        char *p = realloc(*list, need * 2);
        if (!p) return;
        if (!*list) p[0] = '\0';
        *list = p;
        *cap = need * 2;
    }
    if (alt[0] && strcmp(alt, item) != 0)
        snprintf(*list + used, *cap - used, "%s%s (or %s)", used ? ", " : "", item, alt);
    else
        snprintf(*list + used, *cap - used, "%s%s", used ? ", " : "", item);
}

char *
cli_pb_messages(const void *fds, size_t len)
{
    pb_schema s;
    char *list = NULL;
    size_t cap = 0;
    if (pbinfo_parse(fds, len, &s) != 0) return NULL;
    for (size_t i = 0; i < s.nmsgs; i++)
        if (!s.msgs[i].map_entry) pbinfo_append(&list, &cap, s.msgs[i].full, "");
    dtsi_pb_schema_free(&s);
    return list;
}

// pbinfo_field finds a field by JSON name or proto name, as the encoder does.
static const pb_field *
pbinfo_field(const pb_msg *m, const char *k)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (!strcmp(m->fields[i].json_name, k) || !strcmp(m->fields[i].name, k))
            return &m->fields[i];
    return NULL;
}

// pbinfo_walk looks for the first key of value (a JSON object for message
// m) that names no field, descending into message fields, repeated
// messages and message-valued maps. Returns the key and sets *where, or
// NULL.
static const char *
pbinfo_walk(const pb_msg *m, const json_t *value, unsigned depth, const pb_msg **where)
{
    const char *k, *bad = NULL;
    json_t *v;
    if (!json_is_object(value) || depth > DTS_CODEC_MAX_DEPTH) return NULL;
    json_object_foreach((json_t *)value, k, v)
    {
        const pb_field *f = pbinfo_field(m, k);
        if (!f) {
            *where = m;
            return k;
        }
        const pb_msg *sub = f->msg;
        if (!sub) continue;
        if (sub->map_entry) {
            const pb_field *vf = NULL;
            for (size_t i = 0; i < sub->nfields; i++)
                if (sub->fields[i].number == 2) vf = &sub->fields[i];
            if (!vf || !vf->msg || !json_is_object(v)) continue;
            const char *mk;
            json_t *mv;
            json_object_foreach(v, mk, mv)
            {
                if ((bad = pbinfo_walk(vf->msg, mv, depth + 1, where))) return bad;
            }
        } else if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                if ((bad = pbinfo_walk(sub, e, depth + 1, where))) return bad;
            }
        } else if ((bad = pbinfo_walk(sub, v, depth + 1, where))) {
            return bad;
        }
    }
    return NULL;
}

char *
cli_pb_unknown_field(const void *schema, size_t len, const json_t *value)
{
    const char *nul = len ? memchr(schema, 0, len) : NULL;
    if (!nul) return NULL;
    size_t nl = (size_t)(nul - (const char *)schema);
    pb_schema s;
    if (pbinfo_parse(nul + 1, len - nl - 1, &s) != 0) return NULL;
    char *out = NULL, *list = NULL;
    size_t cap = 0;
    const pb_msg *root = dtsi_pb_find_msg(&s, schema, 0), *where = NULL;
    const char *bad = root ? pbinfo_walk(root, value, 1, &where) : NULL;
    if (bad) {
        for (size_t i = 0; i < where->nfields; i++)
            pbinfo_append(&list, &cap, where->fields[i].json_name, where->fields[i].name);
        size_t n = strlen(bad) + strlen(where->full) + (list ? strlen(list) : 0) + 96;
        if ((out = malloc(n)))
            snprintf(out, n, "message %s has no field \"%s\"; its fields are: %s", where->full, bad,
                     list ? list : "(none)");
    }
    free(list);
    dtsi_pb_schema_free(&s);
    return out;
}

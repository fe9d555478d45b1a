// consumer.c: a program built against an installed dts with nothing but
// `pkg-config --cflags --libs dts-codec` (tests/install/consumer.sh). Two
// nodes on the in-process mem:// transport (no sockets): one declares a
// JSON type with a schema and publishes values compressed with zstd, the
// other receives and decodes them; then CBOR and msgpack round trips
// through the one-shot codec helpers. Prints "consumer: ok" and exits 0
// when every step did what it should.
#include <dts/codec.h>
#include <dts/dts.h>
#include <dts/typed.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"

#define TYPE "install.Reading"

static double celsius;

static const char schema[] = "{\"type\":\"object\",\"required\":[\"celsius\"],"
                             "\"properties\":{\"celsius\":{\"type\":\"number\"}}}";

static void
on_msg(void *ud, const dts_msg *m)
{
    (void)ud;
    json_t *v = NULL;
    if (dts_msg_json(m, schema, strlen(schema), &v, NULL, 0) != DTS_OK) return;
    pthread_mutex_lock(&mu);
    received++;
    celsius = json_real_value(json_object_get(v, "celsius"));
    pthread_mutex_unlock(&mu);
    json_decref(v);
}

static int
fail(const char *what, dts_err e)
{
    fprintf(stderr, "consumer: %s: %s\n", what, dts_strerror(e));
    return 1;
}

// roundtrip encodes JSON text in a format without a schema and decodes it
// back, which must give the same text.
static int
roundtrip(dts_format f, const char *json)
{
    void *payload = NULL;
    size_t len = 0;
    char *back = NULL, err[200] = "";
    dts_err e = dts_codec_from_json(f, NULL, 0, NULL, json, strlen(json), NULL, &payload, &len, err,
                                    sizeof err);
    if (!e) e = dts_codec_to_json(f, NULL, 0, payload, len, NULL, &back, err, sizeof err);
    int bad = e || strcmp(back, json) != 0;
    if (bad)
        fprintf(stderr, "consumer: %s round trip: %s %s\n", dts_format_name(f), dts_strerror(e),
                back ? back : err);
    dts_codec_free(payload);
    dts_codec_free(back);
    return bad;
}

int
main(void)
{
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = "mem://install";
    cfg.compressor = dts_codec_compressor();
    dts_node *a, *b;
    dts_err e = dts_node_open(&cfg, &a);
    if (e) return fail("open", e);
    if ((e = dts_node_open(&cfg, &b))) return fail("open", e);
    char why[200] = "";
    if ((e = dts_type_declare_checked(a, TYPE, DTS_FORMAT_JSON, schema, strlen(schema), why,
                                      sizeof why)))
        return fail(why, e);
    dts_type_opts opts = {.compress = 1}; // zstd
    if ((e = dts_type_set_opts(a, TYPE, &opts))) return fail("set_opts", e);
    dts_sub *sub;
    if ((e = dts_subscribe(b, TYPE, on_msg, NULL, &sub))) return fail("subscribe", e);
    json_t *v = json_pack("{s:f}", "celsius", 18.25);
    int got = 0;
    for (int i = 0; i < 250 && !got; i++) { // the subscription joins within a few steps
        if ((e = dts_publish_json(a, TYPE, v))) return fail("publish", e);
        dts_flush(a, 1000);
        got = wait_received();
    }
    json_decref(v);
    dts_sub_close(sub);
    dts_node_close(a);
    dts_node_close(b);
    if (!got || celsius != 18.25) {
        fprintf(stderr, "consumer: received %d value(s), celsius %g\n", got, celsius);
        return 1;
    }
    if (roundtrip(DTS_FORMAT_CBOR, "{\"tank\":\"T1\",\"litres\":950}") ||
        roundtrip(DTS_FORMAT_MSGPACK, "[1,\"two\",3.5,null]"))
        return 1;
    printf("consumer: ok\n");
    return 0;
}

// codec_bench.c: encode and decode cost per format (ns per operation) for
// a small sensor record and a 64 KiB record, through the public API the
// CLI uses: JSON tree -> payload (encode), payload -> JSON tree (decode).
// Prints a table; figures belong in docs/PERFORMANCE.md.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <dts/codec.h>

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// A protobuf schema for both records, built by protoc at start (skipped
// when protoc is missing).
static const char bench_proto[] =
    "syntax = \"proto3\"; package bench;\n"
    "message Sensor { string sensor = 1; double celsius = 2; int64 ts = 3; bool ok = 4; }\n"
    "message Block { string sensor = 1; repeated double samples = 2; }\n";

static int
proto_schema(const char *msg, void **out, size_t *n)
{
    char dir[] = "/tmp/dts-bench-XXXXXX", path[64];
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/bench.proto", dir);
    FILE *f = fopen(path, "w");
    fputs(bench_proto, f);
    fclose(f);
    dts_err e = dts_codec_protobuf_schema_from_proto(path, NULL, msg, out, n, NULL, 0);
    remove(path);
    remove(dir);
    return e ? -1 : 0;
}

// bench_one times encode and decode of value in one format.
static void
bench_one(const char *label, dts_format fmt, const void *sch, size_t slen, json_t *value)
{
    dts_codec_schema *s;
    if (dts_codec_schema_alloc(fmt, sch, slen, NULL, &s, NULL, 0)) return;
    void *p = NULL;
    size_t n = 0;
    if (dts_codec_encode(s, value, &p, &n, NULL, 0)) return;
    int iters = n > 10000 ? 300 : 100000;
    double t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        void *q;
        size_t m;
        dts_codec_encode(s, value, &q, &m, NULL, 0);
        dts_codec_free(q);
    }
    double t1 = now_ns();
    for (int i = 0; i < iters; i++) {
        json_t *v;
        dts_codec_decode(s, p, n, &v, NULL, 0);
        json_decref(v);
    }
    double t2 = now_ns();
    printf("%-8s %-9s %8zu %12.0f %12.0f\n", label, dts_format_name(fmt), n, (t1 - t0) / iters,
           (t2 - t1) / iters);
    dts_codec_free(p);
    dts_codec_schema_free(s);
}

int
main(void)
{
    json_t *small = json_pack("{s:s, s:f, s:s, s:b}", "sensor", "tank-3", "celsius", 21.5, "ts",
                              "1700000000000000000", "ok", 1);
    json_t *samples = json_array();
    for (int i = 0; i < 8192; i++) json_array_append_new(samples, json_real(20 + (i % 100) * 0.01));
    json_t *large = json_pack("{s:s, s:o}", "sensor", "tank-3", "samples", samples);
    void *ps = NULL, *pl = NULL;
    size_t pns = 0, pnl = 0;
    int have_proto =
        !proto_schema("bench.Sensor", &ps, &pns) && !proto_schema("bench.Block", &pl, &pnl);
    printf("%-8s %-9s %8s %12s %12s\n", "record", "format", "bytes", "encode ns", "decode ns");
    for (int f = DTS_FORMAT_JSON; f <= DTS_FORMAT_MSGPACK; f++) {
        bench_one("sensor", (dts_format)f, NULL, 0, small);
        bench_one("64KiB", (dts_format)f, NULL, 0, large);
    }
    if (have_proto) {
        bench_one("sensor", DTS_FORMAT_PROTOBUF, ps, pns, small);
        bench_one("64KiB", DTS_FORMAT_PROTOBUF, pl, pnl, large);
    }
    json_t *raw = json_string("21.5");
    bench_one("sensor", DTS_FORMAT_RAW, "text/plain", 10, raw);
    json_decref(raw);
    dts_codec_free(ps);
    dts_codec_free(pl);
    json_decref(small);
    json_decref(large);
    return 0;
}

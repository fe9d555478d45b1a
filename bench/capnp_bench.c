// capnp_bench.c: Cap'n Proto runtime costs, ns per operation (issue 5,
// "Benchmark"; docs/PERFORMANCE.md). Encode = build the message with the
// runtime setters and write it with stream framing; decode = read the
// framing and every field. Cases: a 10-field sensor struct (the accessors
// capnpc-dts generates are these calls with constant offsets) and a 1 MiB
// Data message. Runtime only, so it builds without generated code.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dts/capnp.h>
#include "codec/codec_int.h"

static double
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile uint64_t sink;

// Sensor: 5 data words, 1 pointer: text name, f64 value, u64 time, u32 seq,
// u16 tank, i16 depth, bool ok, u8 unit, f32 min, f32 max.
static uint8_t *
sensor_encode(size_t *len, uint32_t i)
{
    dts_capnp_builder b;
    uint8_t *out = NULL;
    dts_capnp_builder_init(&b, NULL);
    dts_capnp_bstruct s = dts_capnp_init_struct(dts_capnp_broot(&b), 5, 1);
    dts_capnp_set_text(dts_capnp_bstruct_ptr(s, 0), "tank3/top", 9);
    dts_capnp_set_f64(s, 0, 18.25 + i, 0);
    dts_capnp_set_u64(s, 1, 1732500000123456789u + i, 0);
    dts_capnp_set_u32(s, 4, i, 0);
    dts_capnp_set_u16(s, 10, 3, 0);
    dts_capnp_set_u16(s, 11, (uint16_t)-20, 0);
    dts_capnp_set_bool(s, 192, true, true);
    dts_capnp_set_u8(s, 25, 2, 0);
    dts_capnp_set_f32(s, 7, -1.5f, 0);
    dts_capnp_set_f32(s, 8, 99.5f, 0);
    dts_capnp_builder_write(&b, false, &out, len);
    dts_capnp_builder_fini(&b);
    return out;
}

static void
sensor_decode(const uint8_t *buf, size_t len)
{
    dts_capnp_msg m;
    dts_capnp_struct s;
    const char *t;
    size_t tl;
    dts_capnp_msg_init_stream(&m, buf, len, NULL, NULL);
    dts_capnp_read_struct(dts_capnp_root(&m), &s);
    dts_capnp_read_text(dts_capnp_struct_ptr(&s, 0), &t, &tl);
    uint64_t acc = tl + (uint64_t)dts_capnp_get_f64(&s, 0, 0) + dts_capnp_get_u64(&s, 1, 0);
    acc += dts_capnp_get_u32(&s, 4, 0) + dts_capnp_get_u16(&s, 10, 0) +
           dts_capnp_get_u16(&s, 11, 0) + dts_capnp_get_bool(&s, 192, true) +
           dts_capnp_get_u8(&s, 25, 0) + (uint64_t)dts_capnp_get_f32(&s, 7, 0) +
           (uint64_t)dts_capnp_get_f32(&s, 8, 0);
    sink += acc;
    dts_capnp_msg_fini(&m);
}

static uint8_t *
blob_encode(const uint8_t *data, size_t n, size_t *len)
{
    dts_capnp_builder b;
    dts_capnp_builder_opts o = {.seg_words = (uint32_t)(n / 8 + 16)};
    uint8_t *out = NULL;
    dts_capnp_builder_init(&b, &o);
    dts_capnp_bstruct s = dts_capnp_init_struct(dts_capnp_broot(&b), 0, 1);
    dts_capnp_set_data(dts_capnp_bstruct_ptr(s, 0), data, n);
    dts_capnp_builder_write(&b, false, &out, len);
    dts_capnp_builder_fini(&b);
    return out;
}

static void
blob_decode(const uint8_t *buf, size_t len)
{
    dts_capnp_msg m;
    dts_capnp_struct s;
    const uint8_t *d;
    size_t dl;
    dts_capnp_msg_init_stream(&m, buf, len, NULL, NULL);
    dts_capnp_read_struct(dts_capnp_root(&m), &s);
    dts_capnp_read_data(dts_capnp_struct_ptr(&s, 0), &d, &dl);
    sink += dl + d[dl - 1];
    dts_capnp_msg_fini(&m);
}

int
main(void)
{
    enum { N_SMALL = 1000000, N_BIG = 2000 };
    size_t len = 0;
    double t0 = now_ns();
    for (uint32_t i = 0; i < N_SMALL; i++) dtsi_cfree(sensor_encode(&len, i));
    double enc = (now_ns() - t0) / N_SMALL;
    uint8_t *msg = sensor_encode(&len, 7);
    t0 = now_ns();
    for (uint32_t i = 0; i < N_SMALL; i++) sensor_decode(msg, len);
    double dec = (now_ns() - t0) / N_SMALL;
    printf("capnp sensor (10 fields, %zu bytes): encode %.0f ns/op, decode %.0f ns/op\n", len, enc,
           dec);
    dtsi_cfree(msg);

    size_t n = 1u << 20;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 31);
    t0 = now_ns();
    for (uint32_t i = 0; i < N_BIG; i++) dtsi_cfree(blob_encode(data, n, &len));
    enc = (now_ns() - t0) / N_BIG;
    msg = blob_encode(data, n, &len);
    t0 = now_ns();
    for (uint32_t i = 0; i < N_BIG; i++) blob_decode(msg, len);
    dec = (now_ns() - t0) / N_BIG;
    printf("capnp 1 MiB Data (%zu bytes): encode %.0f ns/op, decode %.0f ns/op\n", len, enc, dec);
    dtsi_cfree(msg);
    free(data);
    return 0;
}

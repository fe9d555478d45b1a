// consumer_cxx.cpp: the installed headers and capnpc-dts's generated header
// from C++ (tests/install/consumer.sh): each declares its functions
// extern "C", so a C++ program links against the C libraries. It builds a
// capnp message with the generated builder, reads it back, and opens and
// closes an in-process node.
#include <dts/capnp.h>
#include <dts/codec.h>
#include <dts/dts.h>
#include <dts/typed.h>

#include <cstdio>
#include <cstring>

#include "reading.capnp.h"

int
main()
{
    dts_capnp_builder b;
    if (dts_capnp_builder_init(&b, nullptr) != DTS_OK) return 1;
    reading_Reading_builder rb = reading_Reading_new_root(&b);
    reading_Reading_set_tank(rb, "T9", 2);
    reading_Reading_set_celsius(rb, 12.5);
    uint8_t *out = nullptr;
    size_t len = 0;
    dts_err e = dts_capnp_builder_write(&b, false, &out, &len);
    dts_capnp_builder_fini(&b);
    if (e != DTS_OK) return 1;
    dts_capnp_msg m;
    reading_Reading_reader r;
    int ok = dts_capnp_msg_init_stream(&m, out, len, nullptr, nullptr) == DTS_OK &&
             reading_Reading_read_root(&m, &r) == DTS_OK &&
             reading_Reading_get_celsius(r) == 12.5;
    dts_capnp_msg_fini(&m);
    dts_codec_free(out);
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = "mem://install-cxx";
    dts_node *n = nullptr;
    ok = ok && dts_node_open(&cfg, &n) == DTS_OK;
    if (n) dts_node_close(n);
    std::printf("consumer_cxx: %s\n", ok ? "ok" : "failed");
    return ok ? 0 : 1;
}

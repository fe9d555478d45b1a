// sensor.c: a tank thermometer with Cap'n Proto. Builds brewery.Temperature
// with the code capnpc-dts generated from brewery.capnp and publishes it
// once a second (or --hz N) until Ctrl-C or --count N.
//
//   build/examples/capnp_sensor [TANK] [--hz N] [--count N]
//
// The type is declared with its compiled schema (brewery_Temperature_schema,
// generated), so `dts echo brewery.Temperature --json` on any host prints it
// as JSON without generated code.
#include <dts/capnp.h>
#include <dts/codec.h>
#include <dts/dts.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brewery.capnp.h"

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

// temperature_encode builds one reading with the generated builder and
// serializes it (stream framing). The caller frees *out with dts_codec_free.
static dts_err
temperature_encode(const char *tank, double celsius, uint8_t **out, size_t *len)
{
    dts_capnp_builder b;
    dts_err err = dts_capnp_builder_init(&b, NULL);
    if (err == DTS_OK) {
        brewery_Temperature_builder t = brewery_Temperature_new_root(&b);
        brewery_Temperature_set_tank(t, tank, strlen(tank));
        brewery_Temperature_set_celsius(t, celsius);
        err = dts_capnp_builder_error(&b);
    }
    if (err == DTS_OK) err = dts_capnp_builder_write(&b, false, out, len);
    dts_capnp_builder_fini(&b);
    return err;
}

int
main(int argc, char **argv)
{
    const char *tank = "T1";
    double hz = 1;
    long count = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--hz") == 0 && i + 1 < argc)
            hz = atof(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = atol(argv[++i]);
        else if (argv[i][0] != '-')
            tank = argv[i];
        else
            return fprintf(stderr, "usage: capnp_sensor [TANK] [--hz N] [--count N]\n"), 2;
    }
    if (hz <= 0 || hz > 10000) hz = 1;
    // The schema that travels with the type, built from the compiler's nodes
    // the generated code carries: no capnp tool needed here.
    void *schema = NULL;
    size_t schema_len = 0;
    if (brewery_Temperature_schema(&schema, &schema_len) != DTS_OK) {
        fprintf(stderr, "capnp_sensor: cannot build the schema of brewery.Temperature\n");
        return 1;
    }
    dts_node *node;
    dts_err err = dts_node_open(NULL, &node);
    if (err != DTS_OK) return fprintf(stderr, "capnp_sensor: %s\n", dts_strerror(err)), 1;
    err = dts_type_declare(node, "brewery.Temperature", DTS_FORMAT_CAPNP, schema, schema_len);
    dts_codec_free(schema);
    if (err != DTS_OK) return fprintf(stderr, "capnp_sensor: declare: %s\n", dts_strerror(err)), 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    for (long i = 0; !stop && i != count; i++) {
        uint8_t *msg;
        size_t len;
        if (temperature_encode(tank, 18.0 + 1.5 * sin((double)i / 20.0), &msg, &len) == DTS_OK) {
            dts_publish(node, "brewery.Temperature", msg, len);
            dts_codec_free(msg);
        }
        usleep((useconds_t)(1e6 / hz));
    }
    dts_node_close(node);
    return 0;
}

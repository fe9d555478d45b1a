// sensor.c: a tank thermometer. Publishes brewery.Temperature as JSON,
// {"tank":"T1","celsius":18.25}, once a second (or --hz N), until Ctrl-C.
//
//   build/examples/sensor [TANK] [--hz N] [--count N]
//
// Any subscriber on the LAN receives it with no configuration: try
// `build/examples/logger` or `build/bin/dts echo 'brewery.*'` beside it.
#include <dts/dts.h>
#include <dts/typed.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
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
        else {
            fprintf(stderr, "usage: sensor [TANK] [--hz N] [--count N]\n");
            return 2;
        }
    }
    if (hz <= 0 || hz > 10000) hz = 1;
    dts_node *node;
    dts_err err = dts_node_open(NULL, &node); // defaults: udpm://, port 5555, TTL 1
    if (err != DTS_OK) {
        fprintf(stderr, "sensor: cannot open a node: %s\n", dts_strerror(err));
        return 1;
    }
    // A JSON Schema: it travels with the type, and dts_publish_json (or
    // dts pub) checks values against it. The checked declaration compiles
    // it first, so a mistake in it is reported here, not by every reader.
    const char *schema = "{\"type\":\"object\",\"required\":[\"tank\",\"celsius\"],"
                         "\"properties\":{\"tank\":{\"type\":\"string\"},"
                         "\"celsius\":{\"type\":\"number\"}}}";
    char why[200];
    err = dts_type_declare_checked(node, "brewery.Temperature", DTS_FORMAT_JSON, schema,
                                   strlen(schema), why, sizeof why);
    if (err != DTS_OK) {
        fprintf(stderr, "sensor: cannot declare brewery.Temperature: %s: %s\n", dts_strerror(err),
                why);
        dts_node_close(node);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    for (long i = 0; !stop && i != count; i++) {
        char value[96];
        double celsius = 18.0 + 1.5 * sin((double)i / 20.0);
        int len =
            snprintf(value, sizeof value, "{\"tank\":\"%s\",\"celsius\":%.2f}", tank, celsius);
        err = dts_publish(node, "brewery.Temperature", value, (size_t)len);
        if (err != DTS_OK) fprintf(stderr, "sensor: publish: %s\n", dts_strerror(err));
        usleep((useconds_t)(1e6 / hz));
    }
    dts_node_close(node);
    return 0;
}

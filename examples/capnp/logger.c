// logger.c: prints every brewery.Temperature, read with the code
// capnpc-dts generated from brewery.capnp (no JSON, no dynamic decoding):
// a typed reader over the bytes as they arrived, bounded by the runtime's
// limits.
//
//   build/examples/capnp_logger [--count N]
#include <dts/dts.h>

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brewery.capnp.h"

static volatile long received;

static void
on_temperature(void *ud, const dts_msg *m)
{
    (void)ud;
    dts_capnp_msg msg;
    brewery_Temperature_reader t;
    const char *tank = "";
    size_t tank_len = 0;
    if (dts_capnp_msg_init_stream(&msg, m->data, m->len, NULL, NULL) == DTS_OK &&
        brewery_Temperature_read_root(&msg, &t) == DTS_OK &&
        brewery_Temperature_get_tank(t, &tank, &tank_len) == DTS_OK) {
        printf("%s seq %" PRIu64 " tank %.*s celsius %.2f\n", m->type, m->seq, (int)tank_len, tank,
               brewery_Temperature_get_celsius(t));
    } else {
        printf("%s seq %" PRIu64 ": not a Temperature (%zu bytes)\n", m->type, m->seq, m->len);
    }
    fflush(stdout);
    dts_capnp_msg_fini(&msg);
    received++;
}

int
main(int argc, char **argv)
{
    long count = argc == 3 && strcmp(argv[1], "--count") == 0 ? atol(argv[2]) : -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    dts_node *node;
    if (dts_node_open(NULL, &node) != DTS_OK) return 1;
    dts_sub *sub;
    dts_subscribe(node, "brewery.Temperature", on_temperature, NULL, &sub);
    printf("listening for brewery.Temperature\n");
    fflush(stdout);
    struct timespec poll = {0, 20000000};
    int sig = 0;
    while (count < 0 || received < count) {
        if (sigtimedwait(&set, NULL, &poll) > 0) {
            sig = 1;
            break;
        }
    }
    (void)sig;
    dts_sub_close(sub);
    dts_node_close(node);
    return 0;
}

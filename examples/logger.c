// logger.c: prints every message of every type on the network, one line
// each: time, type, sender host and instance, sequence number, payload.
//
//   build/examples/logger [PATTERN]     (default "**", every type)
//
// It knows no type in advance: types are discovered as they appear.
#include <dts/codec.h> // dts_codec_compressor: read compressed types too
#include <dts/dts.h>

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void
on_msg(void *ud, const dts_msg *m)
{
    (void)ud;
    time_t secs = (time_t)(m->received_ns / 1000000000);
    struct tm tm;
    char when[32];
    strftime(when, sizeof when, "%H:%M:%S", localtime_r(&secs, &tm));
    printf("%s.%03d %-24s %-8s from %016" PRIx64 " seq %-6" PRIu64 " ", when,
           (int)(m->received_ns / 1000000 % 1000), m->type, dts_format_name(m->format),
           m->sender_instance, m->seq);
    const unsigned char *p = m->data;
    size_t shown = m->len < 200 ? m->len : 200;
    for (size_t i = 0; i < shown; i++) putchar(isprint(p[i]) ? p[i] : '.');
    printf("%s\n", shown < m->len ? "..." : "");
    fflush(stdout);
}

static void
on_event(void *ud, const dts_event *ev)
{
    (void)ud;
    if (ev->kind == DTS_EV_PEER_NEW)
        printf("# node %016" PRIx64 " on %s joined\n", ev->instance, ev->hostname);
    if (ev->kind == DTS_EV_PEER_LOST)
        printf("# node %016" PRIx64 " on %s lost\n", ev->instance, ev->hostname);
    if (ev->kind == DTS_EV_PEER_GONE)
        printf("# node %016" PRIx64 " on %s left\n", ev->instance, ev->hostname);
    if (ev->kind == DTS_EV_TYPE_MISMATCH)
        printf("# type-mismatch %s: %016" PRIx64 " vs %016" PRIx64 "\n", ev->type, ev->schema_id,
               ev->other_schema_id);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    const char *pattern = argc > 1 ? argv[1] : "**";
    // Block the signals before the node's thread starts, so that it
    // inherits the mask and sigwait below receives them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.compressor = dts_codec_compressor(); // without it, compressed types are dropped
    dts_node *node;
    dts_err err = dts_node_open(&cfg, &node);
    if (err != DTS_OK) {
        fprintf(stderr, "logger: cannot open a node: %s\n", dts_strerror(err));
        return 1;
    }
    dts_node_set_event_cb(node, on_event, NULL);
    dts_sub *sub;
    err = dts_subscribe(node, pattern, on_msg, NULL, &sub);
    if (err != DTS_OK) {
        fprintf(stderr, "logger: bad pattern '%s': %s (try 'brewery.*' or '**')\n", pattern,
                dts_strerror(err));
        dts_node_close(node);
        return 2;
    }
    int sig;
    sigwait(&set, &sig);
    dts_sub_close(sub);
    dts_node_close(node);
    return 0;
}

// transport_register_test.c: dts_transport_register (include/dts/
// transport.h). A plug-in transport "wrap" that forwards to the in-process
// one and counts what passes through it carries a message between two
// nodes opened with "wrap://NAME"; bad registrations are refused.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <dts/transport.h>

#include "open_nodes.h"

extern const dts_transport_ops dtsi_mem_ops; // what "wrap" forwards to

static unsigned long wrap_opens, wrap_sends;

static dts_err
wrap_open(const dts_transport_config *cfg, const dts_transport_host *host, void **tp)
{
    __atomic_add_fetch(&wrap_opens, 1, __ATOMIC_RELAXED);
    return dtsi_mem_ops.open(cfg, host, tp);
}

static dts_err
wrap_send(void *tp, uint64_t channel, const dts_dgram *d, size_t n, size_t *sent)
{
    __atomic_add_fetch(&wrap_sends, n, __ATOMIC_RELAXED);
    return dtsi_mem_ops.send(tp, channel, d, n, sent);
}

static dts_transport_ops wrap_ops; // dtsi_mem_ops with open and send wrapped

static int received;

static void
on_msg(void *ud, const dts_msg *m)
{
    (void)ud;
    if (m->len == 5 && memcmp(m->data, "hello", 5) == 0)
        __atomic_store_n(&received, 1, __ATOMIC_RELEASE);
}

static void
test_register_and_use(void **state)
{
    (void)state;
    wrap_ops = dtsi_mem_ops;
    wrap_ops.scheme = "wrap";
    wrap_ops.open = wrap_open;
    wrap_ops.send = wrap_send;
    assert_int_equal(dts_transport_register(&wrap_ops), DTS_OK);
    assert_int_equal(dts_transport_register(&wrap_ops), DTS_EEXIST);
    dts_node *a = open_mem("wrap://bus"), *b = open_mem("wrap://bus");
    assert_true(__atomic_load_n(&wrap_opens, __ATOMIC_RELAXED) >= 2);
    assert_int_equal(dts_type_declare(a, "reg.Hello", DTS_FORMAT_RAW, NULL, 0), DTS_OK);
    dts_sub *sub;
    assert_int_equal(dts_subscribe(b, "reg.Hello", on_msg, NULL, &sub), DTS_OK);
    for (int i = 0; i < 500 && !__atomic_load_n(&received, __ATOMIC_ACQUIRE); i++) {
        assert_int_equal(dts_publish(a, "reg.Hello", "hello", 5), DTS_OK);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(__atomic_load_n(&received, __ATOMIC_ACQUIRE));
    assert_true(__atomic_load_n(&wrap_sends, __ATOMIC_RELAXED) > 0);
    dts_sub_close(sub);
    node_close(a);
    node_close(b);
}

// The log lines of a given event, kept by on_log (under log_mu).
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_line[512];
static const char *log_want;

static void
on_log(void *ud, dts_log_level level, dts_log_cat cat, const char *event, const char *msg)
{
    (void)ud, (void)level, (void)cat;
    pthread_mutex_lock(&log_mu);
    if (log_want && strcmp(event, log_want) == 0) snprintf(log_line, sizeof log_line, "%s", msg);
    pthread_mutex_unlock(&log_mu);
}

static size_t
tiny_max_dgram(void *tp)
{
    (void)tp;
    return 100; // below DTS_TRANSPORT_DGRAM_MIN: fragments could not carry their headers
}

static void
test_bad_registrations(void **state)
{
    (void)state;
    dts_transport_ops o = dtsi_mem_ops;
    assert_int_equal(dts_transport_register(NULL), DTS_EINVAL);
    o.scheme = "mem"; // built in
    assert_int_equal(dts_transport_register(&o), DTS_EEXIST);
    o.scheme = "udpm";
    assert_int_equal(dts_transport_register(&o), DTS_EEXIST);
    const char *bad[] = {"", "Tcp", "1tcp", "tc p", "tcp:", "a23456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.scheme = bad[i];
        assert_int_equal(dts_transport_register(&o), DTS_EINVAL);
    }
    o.scheme = NULL;
    assert_int_equal(dts_transport_register(&o), DTS_EINVAL);
    o.scheme = "nosend";
    o.send = NULL;
    assert_int_equal(dts_transport_register(&o), DTS_EINVAL);
    // An unknown scheme still fails to open, with the known ones listed.
    dts_log_set_sink(on_log, NULL, DTS_LOG_ERROR);
    log_want = "unknown-transport";
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = "nosuch://x";
    dts_node *n = NULL;
    assert_int_equal(node_open(&cfg, &n), DTS_ENOTSUP);
    pthread_mutex_lock(&log_mu);
    assert_non_null(strstr(log_line, "udpm://, mem://"));
    if (__atomic_load_n(&wrap_opens, __ATOMIC_RELAXED))
        assert_non_null(strstr(log_line, "wrap://"));
    pthread_mutex_unlock(&log_mu);
    // A transport whose datagrams are too small to carry a fragment's
    // headers is refused when a node opens on it.
    static dts_transport_ops tiny;
    tiny = dtsi_mem_ops;
    tiny.scheme = "tiny";
    tiny.max_dgram = tiny_max_dgram;
    assert_int_equal(dts_transport_register(&tiny), DTS_OK);
    log_want = "transport-dgram";
    cfg.url = "tiny://x";
    assert_int_equal(node_open(&cfg, &n), DTS_ETRANSPORT);
    pthread_mutex_lock(&log_mu);
    assert_non_null(strstr(log_line, "100 bytes"));
    pthread_mutex_unlock(&log_mu);
    dts_log_set_sink(NULL, NULL, DTS_LOG_ERROR);
    // Up to DTS_TRANSPORT_REGISTER_MAX: "wrap" (if the test before ran) and
    // the ones made here.
    static char names[DTS_TRANSPORT_REGISTER_MAX + 1][8];
    o = dtsi_mem_ops;
    dts_err e = DTS_OK;
    int made = 0;
    for (int i = 0; i <= DTS_TRANSPORT_REGISTER_MAX && e == DTS_OK; i++) {
        snprintf(names[i], sizeof names[i], "t%d", i);
        o.scheme = names[i];
        static dts_transport_ops copies[DTS_TRANSPORT_REGISTER_MAX + 1];
        copies[i] = o;
        e = dts_transport_register(&copies[i]);
        made += e == DTS_OK;
    }
    assert_int_equal(e, DTS_ENOMEM);
    assert_true(made <= DTS_TRANSPORT_REGISTER_MAX);
}

static int
teardown(void **state)
{
    (void)state;
    close_open_nodes();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_register_and_use, teardown),
        cmocka_unit_test_teardown(test_bad_registrations, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

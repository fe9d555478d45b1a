// open_nodes.h: for the unit tests that open nodes (included once per test
// program). node_open and node_close open and close nodes as dts_node_open
// and dts_node_close do, and keep a list of the open ones: a failed
// assertion leaves the test at once, and close_open_nodes (in each test's
// teardown) closes what it left open, whose threads would otherwise go on
// calling back into the finished test's memory while the next tests run.
// What the callbacks write to is static for the same reason: until then, a
// node's thread may still deliver into it after the test has left.
// open_mem opens one with the defaults on the in-process bus (mem://NAME).
// Include after cmocka.h.
#ifndef DTS_TEST_OPEN_NODES_H
#define DTS_TEST_OPEN_NODES_H

#include <dts/dts.h>

static dts_node *open_nodes[16];

static dts_err
node_open(const dts_node_config *cfg, dts_node **out)
{
    dts_err err = dts_node_open(cfg, out);
    for (size_t i = 0; err == DTS_OK && i < sizeof open_nodes / sizeof open_nodes[0]; i++)
        if (!open_nodes[i]) {
            open_nodes[i] = *out;
            break;
        }
    return err;
}

static void
node_close(dts_node *n)
{
    for (size_t i = 0; i < sizeof open_nodes / sizeof open_nodes[0]; i++)
        if (open_nodes[i] == n) open_nodes[i] = NULL;
    dts_node_close(n);
}

// open_mem_mode opens one on the bus with its loop run as mode says.
static dts_node *
open_mem_mode(const char *bus, dts_run_mode mode)
{
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = bus;
    cfg.run_mode = mode;
    dts_node *n = NULL;
    assert_int_equal(node_open(&cfg, &n), DTS_OK);
    return n;
}

static dts_node *
open_mem(const char *bus)
{
    return open_mem_mode(bus, DTS_RUN_THREAD);
}

static void
close_open_nodes(void)
{
    for (size_t i = 0; i < sizeof open_nodes / sizeof open_nodes[0]; i++)
        if (open_nodes[i]) node_close(open_nodes[i]);
}

#endif

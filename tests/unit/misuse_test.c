// misuse_test: what the library does when an application breaks a rule of
// dts.h that it can see being broken. dts_node_close from a callback of the
// same node stops the process with a message (the loop would otherwise go
// on with the node freed under it: a use after free, found by a helper
// writing programs against the headers); run in a child process, whose
// death by SIGABRT and message the test checks. dts_node_fd and
// dts_node_timeout_ms say -1 outside DTS_RUN_CALLER mode; stepping a node
// from its own callback is refused.
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <dts/dts.h>

static void
close_in_callback(void *ud, const dts_msg *m)
{
    (void)m;
    dts_node_close(ud);
}

// child_close_in_callback opens a publisher and a subscriber of mode on an
// in-process bus; the subscriber's callback closes its own node. Exits 0
// if that returned (the bug), so the parent sees SIGABRT only from the
// library's check.
static void
child_close_in_callback(dts_run_mode mode)
{
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = "mem://misuse";
    dts_node *a, *b;
    if (dts_node_open(&cfg, &a) != DTS_OK) _exit(3);
    cfg.run_mode = mode;
    if (dts_node_open(&cfg, &b) != DTS_OK) _exit(3);
    dts_sub *s;
    if (dts_subscribe(b, "misuse.T", close_in_callback, b, &s) != DTS_OK) _exit(3);
    if (dts_type_declare(a, "misuse.T", DTS_FORMAT_RAW, NULL, 0) != DTS_OK) _exit(3);
    for (int i = 0; i < 500; i++) { // 5 s at most
        dts_publish(a, "misuse.T", "x", 1);
        if (mode == DTS_RUN_CALLER)
            dts_node_step_wait(b, 10);
        else
            usleep(10000);
    }
    _exit(0);
}

static void
expect_abort(dts_run_mode mode)
{
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        child_close_in_callback(mode);
    }
    close(pipefd[1]);
    char err[512] = "";
    size_t got = 0;
    ssize_t r;
    while (got < sizeof err - 1 && (r = read(pipefd[0], err + got, sizeof err - 1 - got)) > 0)
        got += (size_t)r;
    err[got] = 0;
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    assert_non_null(strstr(err, "dts_node_close called from a callback of the same node"));
}

static void
test_close_in_callback_thread(void **state)
{
    (void)state;
    expect_abort(DTS_RUN_THREAD);
}

static void
test_close_in_callback_caller(void **state)
{
    (void)state;
    expect_abort(DTS_RUN_CALLER);
}

static int nested_rc[2] = {-1, -1};

static void
step_in_callback(void *ud, const dts_msg *m)
{
    (void)m;
    nested_rc[0] = dts_node_step(ud);
    nested_rc[1] = dts_node_run(ud);
}

// test_step_in_callback: the loop does not nest (libuv forbids it): a
// callback that steps or runs its own node gets DTS_EBUSY. Before, the
// inner run delivered queued messages a second time.
static void
test_step_in_callback(void **state)
{
    (void)state;
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = "mem://nest";
    dts_node *a, *b;
    assert_int_equal(dts_node_open(&cfg, &a), DTS_OK);
    cfg.run_mode = DTS_RUN_CALLER;
    assert_int_equal(dts_node_open(&cfg, &b), DTS_OK);
    dts_sub *s;
    assert_int_equal(dts_subscribe(b, "nest.T", step_in_callback, b, &s), DTS_OK);
    assert_int_equal(dts_type_declare(a, "nest.T", DTS_FORMAT_RAW, NULL, 0), DTS_OK);
    for (int i = 0; i < 500 && nested_rc[0] == -1; i++) {
        dts_publish(a, "nest.T", "x", 1);
        dts_node_step_wait(b, 10);
    }
    assert_int_equal(nested_rc[0], DTS_EBUSY);
    assert_int_equal(nested_rc[1], DTS_EBUSY);
    dts_sub_close(s);
    dts_node_close(b);
    dts_node_close(a);
}

static void
test_fd_modes(void **state)
{
    (void)state;
    dts_node_config cfg;
    dts_node_config_init(&cfg);
    cfg.url = "mem://fd";
    dts_node *t, *c;
    assert_int_equal(dts_node_open(&cfg, &t), DTS_OK);
    cfg.run_mode = DTS_RUN_CALLER;
    assert_int_equal(dts_node_open(&cfg, &c), DTS_OK);
    assert_int_equal(dts_node_fd(t), -1);
    assert_int_equal(dts_node_timeout_ms(t), -1);
    assert_int_equal(dts_node_fd(NULL), -1);
    assert_true(dts_node_fd(c) >= 0);
    assert_int_equal(dts_node_step(t), DTS_EINVAL);
    assert_int_equal(dts_node_run(t), DTS_EINVAL);
    dts_node_close(c);
    dts_node_close(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_close_in_callback_thread),
        cmocka_unit_test(test_close_in_callback_caller),
        cmocka_unit_test(test_fd_modes),
        cmocka_unit_test(test_step_in_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

// bootstrap_test.c: the generator reads its input with code it generated
// (issue 5 item 2; docs/spec/capnp.md, "Bootstrap"). cgr.c reads every
// CodeGeneratorRequest through the schema.capnp accessors checked in under
// src/codec/capnp/gen/, which capnpc-dts generated. This test
//   1. checks that what the freshly built capnpc-dts generates from
//      /usr/include/capnp/schema.capnp now (DTS_BOOTSTRAP_FRESH, made by the
//      build) is byte for byte the checked-in copy, so a generator change
//      that would change its own reader cannot land unnoticed;
//   2. compares the checked-in layout table with the annotations of
//      `capnp compile -ocapnp schema.capnp` (every struct, field and tag).
// The conformance tests (capnp_conf_test, dyn_conf_test, capnpc_gen_test)
// then exercise the reader on every corpus schema.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "codec/capnp/capnp_testutil.h"
#include "codec/capnp/gen/schema.capnp.h"
#include "layout_testutil.h"

// same_file asserts that two files hold the same bytes, naming the first
// line where they differ.
static void
same_file(const char *fresh, const char *checked_in)
{
    size_t an, bn;
    uint8_t *a = ct_slurp(fresh, &an), *b = ct_slurp(checked_in, &bn);
    size_t i = 0, line = 1;
    while (i < an && i < bn && a[i] == b[i]) line += a[i++] == '\n';
    if (i != an || i != bn) {
        fprintf(stderr,
                "%s differs from the checked-in %s at line %zu: the generator changed the "
                "accessors it reads requests with. Check the change, then refresh the copy with "
                "`cmake --build build --target capnp-bootstrap` and commit it.\n",
                fresh, checked_in, line);
        fail();
    }
    free(a);
    free(b);
}

static void
test_fresh_equals_checked_in(void **state)
{
    (void)state;
    same_file(DTS_BOOTSTRAP_FRESH "/schema.capnp.h",
              DTS_SOURCE_DIR "/src/codec/capnp/gen/schema.capnp.h");
    same_file(DTS_BOOTSTRAP_FRESH "/schema.capnp.c",
              DTS_SOURCE_DIR "/src/codec/capnp/gen/schema.capnp.c");
}

static void
test_layout(void **state)
{
    (void)state;
    ct_layout_file(DTS_SCHEMA_CAPNP_DIR, "schema", dtsi_schema_layout, dtsi_schema_layout_count);
    // schema.capnp has some 30 structs and groups and 100 fields
    assert_true(ct_layout_rows > 100);
    printf("bootstrap: checked-in accessors equal fresh output; %u layout rows agree with "
           "capnp compile -ocapnp\n",
           ct_layout_rows);
}

static int
setup(void **state)
{
    (void)state;
    return ct_setup("/tmp/dts_bootstrap_XXXXXX");
}

static int
teardown(void **state)
{
    (void)state;
    return ct_teardown();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fresh_equals_checked_in),
                                       cmocka_unit_test(test_layout)};
    return cmocka_run_group_tests(tests, setup, teardown);
}

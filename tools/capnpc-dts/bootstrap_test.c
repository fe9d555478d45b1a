// bootstrap_test.c: the generator can replace its own bootstrap. capnpc-dts
// compiles /usr/include/capnp/schema.capnp into typed accessors at build
// time; for the compiler's request of every corpus schema (tests/capnp),
// those generated accessors must read the same nodes as the hand-written
// ones of src/codec/capnp/cgr.c: ids, display names, struct sizes,
// discriminants, and every field's name, discriminant and slot offset.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/capnp/cgr.h"
#include "schema.capnp.h"

// request reads `capnp compile -o- FILE` into a new buffer.
static uint8_t *
request(const char *file, size_t *len)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && capnp compile -o- '%s' 2>/dev/null",
             DTS_SOURCE_DIR "/tests/capnp", file);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, n = 0, got;
    uint8_t *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n, p)) > 0) n += got;
    assert_int_equal(pclose(p), 0);
    *len = n;
    return buf;
}

static void
check_fields(const dtsi_cgr_node *hn, schema_Node_struct_reader st)
{
    dtsi_capnp_list fl;
    assert_int_equal(schema_Node_struct_get_fields(st, &fl), DTS_OK);
    assert_int_equal(schema_Node_struct_fields_len(&fl), hn->nfields);
    for (uint32_t i = 0; i < hn->nfields; i++) {
        schema_Field_reader f;
        assert_int_equal(schema_Node_struct_fields_at(&fl, i, &f), DTS_OK);
        const char *name;
        size_t nlen;
        assert_int_equal(schema_Field_get_name(f, &name, &nlen), DTS_OK);
        assert_int_equal(nlen, strlen(hn->fields[i].name));
        assert_memory_equal(name, hn->fields[i].name, nlen);
        assert_int_equal(schema_Field_get_discriminantValue(f), hn->fields[i].discriminant);
        if (!hn->fields[i].is_group)
            assert_int_equal(schema_Field_slot_get_offset(schema_Field_get_slot(f)),
                             hn->fields[i].offset);
    }
}

static int
compare_file(const char *file)
{
    size_t len;
    uint8_t *buf = request(file, &len);
    char err[256] = "";
    dtsi_cgr *g = NULL;
    assert_int_equal(dtsi_cgr_parse(buf, len, NULL, &g, err, sizeof err), DTS_OK);
    dtsi_capnp_msg m;
    schema_CodeGeneratorRequest_reader req;
    assert_int_equal(dtsi_capnp_msg_init_stream(&m, buf, len, NULL, NULL), DTS_OK);
    assert_int_equal(schema_CodeGeneratorRequest_read_root(&m, &req), DTS_OK);
    dtsi_capnp_list nodes;
    assert_int_equal(schema_CodeGeneratorRequest_get_nodes(req, &nodes), DTS_OK);
    uint32_t count = schema_CodeGeneratorRequest_nodes_len(&nodes);
    assert_int_equal(count, dtsi_cgr_node_count(g));
    for (uint32_t i = 0; i < count; i++) {
        schema_Node_reader n;
        assert_int_equal(schema_CodeGeneratorRequest_nodes_at(&nodes, i, &n), DTS_OK);
        const dtsi_cgr_node *hn = dtsi_cgr_node_at(g, i);
        assert_int_equal(schema_Node_get_id(n), hn->id);
        const char *dn;
        size_t dlen;
        assert_int_equal(schema_Node_get_displayName(n, &dn, &dlen), DTS_OK);
        assert_int_equal(dlen, strlen(hn->display_name));
        assert_memory_equal(dn, hn->display_name, dlen);
        if (schema_Node_which(n) != schema_Node_TAG_struct) continue;
        schema_Node_struct_reader st = schema_Node_get_struct(n);
        assert_int_equal(schema_Node_struct_get_dataWordCount(st), hn->data_words);
        assert_int_equal(schema_Node_struct_get_pointerCount(st), hn->pointers);
        assert_int_equal(schema_Node_struct_get_discriminantCount(st), hn->discriminant_count);
        check_fields(hn, st);
    }
    dtsi_capnp_msg_fini(&m);
    dtsi_cgr_free(g);
    free(buf);
    return (int)count;
}

static void
test_corpus(void **state)
{
    DIR *d = opendir(DTS_SOURCE_DIR "/tests/capnp");
    assert_non_null(d);
    int files = 0, nodes = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 7 || strcmp(e->d_name + n - 6, ".capnp") != 0) continue;
        nodes += compare_file(e->d_name);
        files++;
    }
    closedir(d);
    assert_true(files >= 10);
    printf("bootstrap: %d schemas, %d nodes read alike by generated and hand-written accessors\n",
           files, nodes);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

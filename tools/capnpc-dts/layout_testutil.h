// layout_testutil.h: comparing the layout table of a file capnpc-dts
// generated (PREFIX_layout[], dtsc_layout rows) with the annotations
// `capnp compile -ocapnp` prints for the same schema: struct sizes, bits[a, b)
// of data fields, pointer indices and union tag bits. Include it in a test
// program after <cmocka.h>, capnp_testutil.h and a generated header.
#ifndef DTSI_CAPNPC_LAYOUT_TESTUTIL_H
#define DTSI_CAPNPC_LAYOUT_TESTUTIL_H

#include <stdio.h>
#include <string.h>

static unsigned ct_layout_rows; // rows matched so far

// ct_layout_row finds the row (path, kind) of the generated table and
// asserts its numbers.
static void
ct_layout_row(const char *stem, const dtsc_layout *layout, size_t count, const char *path,
              char kind, unsigned a, unsigned b)
{
    for (size_t i = 0; i < count; i++) {
        const dtsc_layout *r = &layout[i];
        if (r->kind == kind && strcmp(r->path, path) == 0) {
            if (r->a != a || r->b != b) {
                fprintf(stderr, "%s: %s %c: generated %u,%u, compiler %u,%u\n", stem, path, kind,
                        r->a, r->b, a, b);
                fail();
            }
            ct_layout_rows++;
            return;
        }
    }
    fprintf(stderr, "%s: %s (%c) missing from the generated layout\n", stem, path, kind);
    fail();
}

// ct_layout_path joins the named scopes of the stack and name.
static void
ct_layout_path(char *out, size_t cap, char stack[][64], int depth, const char *name)
{
    out[0] = 0;
    for (int i = 0; i < depth; i++) {
        if (!stack[i][0]) continue;
        if (out[0]) strncat(out, ".", cap - strlen(out) - 1);
        strncat(out, stack[i], cap - strlen(out) - 1);
    }
    if (name) {
        if (out[0]) strncat(out, ".", cap - strlen(out) - 1);
        strncat(out, name, cap - strlen(out) - 1);
    }
}

// ct_layout_file checks every annotation of `capnp compile -ocapnp
// DIR/STEM.capnp` against the table, and that every row was matched.
static void
ct_layout_file(const char *dir, const char *stem, const dtsc_layout *layout, size_t count)
{
    char out[256];
    snprintf(out, sizeof out, "%s/%s.ocapnp", ct_tmp, stem);
    assert_int_equal(ct_sh("cd '%s' && capnp compile -ocapnp %s.capnp > '%s'", dir, stem, out), 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[512], stack[32][64], path[512], name[64];
    int depth = 0;
    size_t seen = ct_layout_rows;
    while (fgets(line, sizeof line, f)) {
        char *p = line;
        while (*p == ' ') p++;
        unsigned a, b;
        if (*p == '}') {
            depth--;
            continue;
        }
        if (*p == '#' || *p == '@' || *p == '\n') continue;
        char *hash = strstr(p, "#");
        if (strstr(p, "{")) {
            assert_true(depth < 32);
            // a group first: schema.capnp has groups named struct and enum
            if (strstr(p, " :group {") && sscanf(p, "%63s :group", name) == 1)
                snprintf(stack[depth++], 64, "%s", name);
            else if (sscanf(p, "struct %63s", name) == 1 || sscanf(p, "enum %63s", name) == 1)
                snprintf(stack[depth++], 64, "%s", name);
            else if (strncmp(p, "union ", 6) == 0)
                stack[depth++][0] = 0;
            ct_layout_path(path, sizeof path, stack, depth, NULL);
            if (hash && sscanf(hash, "# %u bytes, %u ptrs", &a, &b) == 2)
                ct_layout_row(stem, layout, count, path, 's', a, b);
            if (hash && sscanf(hash, "# tag bits [%u, %u)", &a, &b) == 2)
                ct_layout_row(stem, layout, count, path, 't', a, b);
            continue;
        }
        if (!hash || strstr(p, ":Void;") || sscanf(p, "%63s @", name) != 1) continue;
        ct_layout_path(path, sizeof path, stack, depth, name);
        if (sscanf(hash, "# bits[%u, %u)", &a, &b) == 2)
            ct_layout_row(stem, layout, count, path, 'b', a, b);
        else if (sscanf(hash, "# ptr[%u]", &a) == 1)
            ct_layout_row(stem, layout, count, path, 'p', a, 0);
    }
    fclose(f);
    // every generated row was matched by one annotation
    assert_int_equal(ct_layout_rows - seen, count);
}

#endif

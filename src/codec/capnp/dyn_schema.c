// dyn_schema.c: building the travelling schema of a capnp type (dyn.h;
// docs/spec/capnp.md, "Schema bytes"): find the root struct in a
// CodeGeneratorRequest, trim the request to what the struct reaches, and
// put the struct's display name in front. dts_codec_capnp_schema_from_file runs
// `capnp compile -o-` for the CLI; it is the only code of the capnp codec
// that does I/O.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/capnp/dyn_int.h"

// schema_list appends the short names of the (non-group) structs of the
// request to err, after what is there: "structs: A, B, Outer.Inner".
static void
schema_list(dtsi_cgr *g, char *err, size_t errcap)
{
    size_t n = err ? strlen(err) : 0;
    const char *sep = "; structs: ";
    for (uint32_t i = 0; err && i < dtsi_cgr_node_count(g) && n + 1 < errcap; i++) {
        const dtsi_cgr_node *nd = dtsi_cgr_node_at(g, i);
        if (nd->kind != DTSI_CGR_NODE_STRUCT || nd->is_group) continue;
        int w = snprintf(err + n, errcap - n, "%s%s", sep, dtsi_cgr_short_name(nd));
        if (w < 0) break;
        n += (size_t)w < errcap - n ? (size_t)w : errcap - n - 1;
        sep = ", ";
    }
}

// schema_find looks up a struct by display name, then by the name after
// the colon (which must then be unique).
static const dtsi_cgr_node *
schema_find(dtsi_cgr *g, const char *name, int *ambiguous)
{
    const dtsi_cgr_node *hit = dtsi_cgr_find_name(g, name);
    *ambiguous = 0;
    if (hit) return hit->kind == DTSI_CGR_NODE_STRUCT && !hit->is_group ? hit : NULL;
    for (uint32_t i = 0; i < dtsi_cgr_node_count(g); i++) {
        const dtsi_cgr_node *nd = dtsi_cgr_node_at(g, i);
        if (nd->kind != DTSI_CGR_NODE_STRUCT || nd->is_group) continue;
        if (strcmp(dtsi_cgr_short_name(nd), name)) continue;
        if (hit) *ambiguous = 1;
        hit = nd;
    }
    return *ambiguous ? NULL : hit;
}

dts_err
dts_codec_capnp_schema_make(const char *strct, const void *cgr, size_t len, void **out,
                            size_t *outlen, char *err, size_t errcap)
{
    dtsi_cgr *g;
    dtsi_cgr_opts o = {.limits = {.max_words = DTSI_CAPNP_COMPILE_MAX / 8}};
    if (!strct || !out || !outlen) return DTS_EINVAL;
    dts_err e = dtsi_cgr_parse(cgr, len, &o, &g, err, errcap);
    if (e) return e;
    int amb;
    const dtsi_cgr_node *root = schema_find(g, strct, &amb);
    uint8_t *req = NULL;
    size_t reqlen = 0;
    if (!root) {
        dtsi_errbuf(err, errcap, "%s struct %s", amb ? "more than one" : "no", strct);
        schema_list(g, err, errcap);
        e = DTS_ENOENT;
    } else if (strlen(dtsi_cgr_base_name(root->display_name)) > DYN_NAME_MAX) {
        dtsi_errbuf(err, errcap, "struct name %s is too long", root->display_name);
        e = DTS_EINVAL;
    } else {
        e = dtsi_cgr_trim(g, root, &req, &reqlen, err, errcap);
    }
    if (!e) {
        // The name without the file's directories, as in the trimmed request.
        const char *name = dtsi_cgr_base_name(root->display_name);
        size_t nl = strlen(name);
        uint8_t *b = dtsi_cmalloc(nl + 1 + reqlen);
        if (!b)
            e = DTS_ENOMEM;
        else {
            memcpy(b, name, nl + 1);
            memcpy(b + nl + 1, req, reqlen);
            *out = b;
            *outlen = nl + 1 + reqlen;
        }
    }
    dtsi_cfree(req);
    dtsi_cgr_free(g);
    return e;
}

// compile_collect reads the child's stdout (bounded) and stderr (first
// 511 bytes kept) until both close.
static dts_err
compile_collect(int ofd, int efd, uint8_t **out, size_t *outlen, char *msg, size_t msgcap)
{
    size_t cap = 65536, n = 0, mn = 0;
    uint8_t *b = dtsi_cmalloc(cap);
    dts_err e = b ? DTS_OK : DTS_ENOMEM;
    struct pollfd pf[2] = {{.fd = ofd, .events = POLLIN}, {.fd = efd, .events = POLLIN}};
    char junk[512];
    while (pf[0].fd >= 0 || pf[1].fd >= 0) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR) continue;
            e = DTS_ESYS;
            break;
        }
        if (pf[0].fd >= 0 && pf[0].revents) {
            if (!e && n == cap && cap < DTSI_CAPNP_COMPILE_MAX) {
                uint8_t *nb = dtsi_cgrow(b, n, cap * 2);
                if (nb)
                    b = nb, cap *= 2;
                else
                    e = DTS_ENOMEM;
            }
            ssize_t r = !e && n < cap ? read(ofd, b + n, cap - n) : read(ofd, junk, sizeof junk);
            if (r > 0 && !e && n < cap)
                n += (size_t)r;
            else if (r > 0 && !e)
                e = DTS_ETOOBIG;
            if (r == 0 || (r < 0 && errno != EINTR)) pf[0].fd = -1;
        }
        if (pf[1].fd >= 0 && pf[1].revents) {
            ssize_t r = read(efd, mn + 1 < msgcap ? msg + mn : junk,
                             mn + 1 < msgcap ? msgcap - 1 - mn : sizeof junk);
            if (r > 0 && mn + 1 < msgcap) mn += (size_t)r;
            if (r == 0 || (r < 0 && errno != EINTR)) pf[1].fd = -1;
        }
    }
    msg[mn] = 0;
    if (e) {
        dtsi_cfree(b);
        return e;
    }
    *out = b;
    *outlen = n;
    return DTS_OK;
}

// compile_run runs `capnp compile -o- BASE` in DIR, collecting its output.
static dts_err
compile_run(const char *dir, const char *base, uint8_t **out, size_t *outlen, char *err,
            size_t errcap)
{
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC)) return DTS_ESYS;
    if (pipe2(pe, O_CLOEXEC)) {
        close(po[0]);
        close(po[1]);
        return DTS_ESYS;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (chdir(dir)) {
            dprintf(2, "cannot enter %s: %s\n", dir, strerror(errno));
            _exit(126);
        }
        execlp("capnp", "capnp", "compile", "-o-", base, (char *)NULL);
        dprintf(2, "cannot run capnp: %s\n", strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    char msg[512];
    dts_err e = pid < 0 ? DTS_ESYS : compile_collect(po[0], pe[0], out, outlen, msg, sizeof msg);
    close(po[0]);
    close(pe[0]);
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (e || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) return e;
    dtsi_cfree(*out);
    *out = NULL;
    // The first line that says "error", else the first that is not a
    // warning (capnp may warn first that PWD does not match the directory
    // it runs in, then say "FILE: no such file"), else the first line.
    char *line = msg, *plain = NULL;
    for (char *p = msg; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0)) {
        size_t n = strcspn(p, "\n");
        if (memmem(p, n, "error", 5)) {
            line = p;
            plain = NULL;
            break;
        }
        if (!plain && n && !memmem(p, n, "warning", 7)) plain = p;
    }
    if (plain) line = plain;
    line[strcspn(line, "\n")] = 0;
    dtsi_errbuf(err, errcap, "capnp compile failed: %s", line[0] ? line : "(no message)");
    return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? DTS_ESYS : DTS_EINVAL;
}

dts_err
dts_codec_capnp_schema_from_file(const char *path, const char *strct, void **out, size_t *outlen,
                                 char *err, size_t errcap)
{
    if (!path || !strct) return DTS_EINVAL;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = path;
    if (slash) {
        base = path + (slash - dir) + 1;
        if (slash == dir)
            slash[1] = 0;
        else
            *slash = 0;
    } else {
        snprintf(dir, sizeof dir, ".");
    }
    uint8_t *req = NULL;
    size_t len = 0;
    dts_err e = compile_run(dir, base, &req, &len, err, errcap);
    if (!e) e = dts_codec_capnp_schema_make(strct, req, len, out, outlen, err, errcap);
    dtsi_cfree(req);
    return e;
}

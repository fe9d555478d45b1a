// protoc.c: building the travelling schema of a protobuf type
// ("message name, NUL, FileDescriptorSet"; docs/spec/codecs.md). The
// second function runs `protoc`, the only code of the codec layer that
// does I/O; it exists for the CLI (`dts pub --schema x.proto`).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec/protobuf/pb.h"

// The largest descriptor set read back from protoc.
#define PROTOC_OUT_MAX (16u << 20)

dts_err
dts_codec_protobuf_schema_make(const char *message, const void *fds, size_t fds_len, void **out,
                               size_t *outlen, char *err, size_t errcap)
{
    dts_codec_limits lim;
    dts_codec_limits_init(&lim);
    lim.max_bytes = PROTOC_OUT_MAX;
    dts_codec_ctx cx = {.limits = &lim, .err = err, .errcap = errcap};
    pb_schema s;
    if (!message || !out || !outlen || (fds_len && !fds)) return DTS_EINVAL;
    dts_err e = dtsi_pb_schema_parse(&cx, fds, fds_len, &s);
    const pb_msg *m = e ? NULL : dtsi_pb_find_msg(&s, message, 1);
    if (!e && !m)
        e = dtsi_cerr(&cx, DTS_ENOENT, "message %s is not in the descriptor set (or ambiguous)",
                      message);
    if (!e && strlen(m->full) > DTS_NAME_MAX)
        e = dtsi_cerr(&cx, DTS_EINVAL, "message name %s is too long", m->full);
    if (!e) {
        size_t nl = strlen(m->full);
        uint8_t *b = dtsi_cmalloc(nl + 1 + fds_len);
        if (!b)
            e = DTS_ENOMEM;
        else {
            memcpy(b, m->full, nl + 1);
            if (fds_len) memcpy(b + nl + 1, fds, fds_len);
            *out = b;
            *outlen = nl + 1 + fds_len;
        }
    }
    dtsi_pb_schema_free(&s);
    return e;
}

// protoc_read reads a whole file of at most PROTOC_OUT_MAX bytes.
static dts_err
protoc_read(const char *path, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return DTS_ESYS;
    struct stat st;
    dts_err e = DTS_OK;
    uint8_t *b = NULL;
    if (fstat(fd, &st) || st.st_size < 0 || (size_t)st.st_size > PROTOC_OUT_MAX)
        e = DTS_ETOOBIG;
    else if (!(b = dtsi_cmalloc((size_t)st.st_size)))
        e = DTS_ENOMEM;
    size_t got = 0;
    while (!e && got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r <= 0 && errno != EINTR) e = DTS_ESYS;
        if (r > 0) got += (size_t)r;
    }
    close(fd);
    if (e) {
        dtsi_cfree(b);
        return e;
    }
    *out = b;
    *len = got;
    return DTS_OK;
}

// protoc_run runs protoc with stderr captured into a pipe, all of it read
// (a valid file may give kilobytes of warnings, and protoc killed by the
// pipe closing early failed it); when protoc fails, the first line that
// says "error" goes to err (else the first line).
static dts_err
protoc_run(char *const argv[], char *err, size_t errcap)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC)) return DTS_ESYS;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return DTS_ESYS;
    }
    if (pid == 0) {
        dup2(pfd[1], 2);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    char msg[512], rest[512];
    size_t n = 0;
    ssize_t r;
    for (;;) { // the first 511 bytes kept, the rest read and dropped
        r = n < sizeof msg - 1 ? read(pfd[0], msg + n, sizeof msg - 1 - n)
                               : read(pfd[0], rest, sizeof rest);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (n < sizeof msg - 1) n += (size_t)r;
    }
    close(pfd[0]);
    msg[n] = 0;
    char *line = msg; // the first line about an error, else the first
    for (char *p = msg; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != 0)) {
        if (memmem(p, strcspn(p, "\n"), "rror", 4)) {
            line = p;
            break;
        }
    }
    line[strcspn(line, "\n")] = 0;
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    // Without its status (SIGCHLD ignored: ECHILD), the output file, read
    // next, tells: protoc writes it only when it succeeds.
    if (w < 0 || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) return DTS_OK;
    dtsi_errbuf(err, errcap, "protoc failed: %s", line[0] ? line : "(no message)");
    return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? DTS_ESYS : DTS_EINVAL;
}

dts_err
dts_codec_protobuf_schema_from_proto(const char *proto_path, const char *include_dir,
                                     const char *message, void **out, size_t *outlen, char *err,
                                     size_t errcap)
{
    if (!proto_path || !message) return DTS_EINVAL;
    const char *tmp = getenv("TMPDIR");
    char dir[4096], outarg[4200], inc1[4200], inc2[4200], pdir[4096];
    snprintf(dir, sizeof dir, "%s/dts-protoc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return DTS_ESYS;
    snprintf(pdir, sizeof pdir, "%s", proto_path);
    char *slash = strrchr(pdir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf(pdir, sizeof pdir, ".");
    snprintf(outarg, sizeof outarg, "--descriptor_set_out=%s/set.pb", dir);
    snprintf(inc1, sizeof inc1, "-I%s", pdir);
    snprintf(inc2, sizeof inc2, "-I%s", include_dir ? include_dir : pdir);
    char *argv[] = {"protoc", "--include_imports", outarg, inc1, inc2, (char *)proto_path, NULL};
    dts_err e = protoc_run(argv, err, errcap);
    uint8_t *fds = NULL;
    size_t len = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/set.pb", dir);
    if (!e) e = protoc_read(path, &fds, &len);
    unlink(path);
    rmdir(dir);
    if (!e) e = dts_codec_protobuf_schema_make(message, fds, len, out, outlen, err, errcap);
    dtsi_cfree(fds);
    return e;
}

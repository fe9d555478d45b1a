// util.c: errors, logging, identifiers, names and globs: the small pure
// functions of the public API (docs/spec/wire.md, "Identifiers").
#include <dts/dts.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"

static const char *const err_text[] = {
    [DTS_OK] = "success",
    [DTS_EINVAL] = "invalid argument",
    [DTS_ENOMEM] = "out of memory",
    [DTS_ENOENT] = "no such type, interface, node or subscription",
    [DTS_EEXIST] = "already declared with another format or schema",
    [DTS_ETOOBIG] = "payload or schema too large",
    [DTS_EQUEUE] = "publish queue full; nothing was queued",
    [DTS_ETIMEDOUT] = "timed out",
    [DTS_ECLOSED] = "node is closed",
    [DTS_ETRANSPORT] = "transport failure (see the log)",
    [DTS_EMALFORMED] = "malformed data",
    [DTS_EMISMATCH] = "same type name, different schema",
    [DTS_ENOTSUP] = "not supported",
    [DTS_EBUSY] = "not allowed from this thread or in this state",
    [DTS_ESYS] = "system call failed (see the log)",
};

#define DTS_STR2(x) #x
#define DTS_STR(x) DTS_STR2(x)

const char *
dts_version(void)
{
    return DTS_STR(DTS_VERSION_MAJOR) "." DTS_STR(DTS_VERSION_MINOR) "." DTS_STR(DTS_VERSION_PATCH);
}

const char *
dts_strerror(dts_err err)
{
    if ((unsigned)err < sizeof err_text / sizeof err_text[0] && err_text[err]) return err_text[err];
    return "unknown error";
}

// ---------------------------------------------------------------------------
// Logging

__thread int dtsi_in_locked_cb;
static dts_log_sink log_sink;
static void *log_ud;
volatile int dtsi_log_max = -1;

void
dts_log_set_sink(dts_log_sink sink, void *ud, dts_log_level max_level)
{
    dtsi_log_max = -1;
    log_sink = sink;
    log_ud = ud;
    if (sink) dtsi_log_max = (int)max_level;
}

void
dtsi_log_emit(dts_log_level level, dts_log_cat cat, const char *event, const char *fmt, ...)
{
    dts_log_sink sink = log_sink;
    if (!sink) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    dtsi_in_locked_cb++; // a node's lock may be held
    sink(log_ud, level, cat, event ? event : "", buf);
    dtsi_in_locked_cb--;
}

const char *
dts_log_level_name(dts_log_level level)
{
    static const char *const n[] = {"error", "warn", "info", "debug"};
    return (unsigned)level < 4 ? n[level] : "?";
}

const char *
dts_log_cat_name(dts_log_cat cat)
{
    static const char *const n[] = {"core", "discovery", "wire", "transport", "security"};
    return (unsigned)cat < 5 ? n[cat] : "?";
}

// ---------------------------------------------------------------------------
// Formats

static const char *const format_names[DTS_FORMAT_COUNT_] = {"raw",     "json",     "cbor",
                                                            "msgpack", "protobuf", "capnp"};

const char *
dts_format_name(dts_format f)
{
    return (unsigned)f < DTS_FORMAT_COUNT_ ? format_names[f] : "unknown";
}

dts_err
dts_format_parse(const char *name, dts_format *out)
{
    if (!name || !out) return DTS_EINVAL;
    for (int i = 0; i < DTS_FORMAT_COUNT_; i++) {
        if (strcasecmp(name, format_names[i]) == 0) {
            *out = (dts_format)i;
            return DTS_OK;
        }
    }
    return DTS_ENOTSUP;
}

// ---------------------------------------------------------------------------
// Identifiers: FNV-1a 64 (docs/spec/wire.md, "Identifiers").

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t
fnv1a_update(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

uint64_t
dts_type_id(const char *name)
{
    return fnv1a_update(FNV_OFFSET, name, strlen(name));
}

uint64_t
dts_schema_id(dts_format format, const void *schema, size_t len)
{
    unsigned char f = (unsigned char)format;
    uint64_t h = fnv1a_update(FNV_OFFSET, &f, 1);
    return fnv1a_update(h, schema, len);
}

// dts_name_valid enforces the type name grammar: dot-separated non-empty
// parts of [A-Za-z0-9_-], 1..DTS_NAME_MAX bytes in all.
int
dts_name_valid(const char *name)
{
    if (!name) return 0;
    size_t n = strlen(name);
    if (n == 0 || n > DTS_NAME_MAX) return 0;
    size_t part = 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c == '.') {
            if (part == 0) return 0;
            part = 0;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        if (!ok) return 0;
        part++;
    }
    return part > 0;
}

// glob_match decides whether pattern p matches name s by dynamic
// programming over (pattern position, name position), so its time is
// O(len(p) x len(s)) whatever the pattern: a peer's pattern cannot make it
// backtrack exponentially. Row i holds whether p[i..] matches s[j..] for
// every j; '**' needs rows i+1 and i+2. A single '*' and '?' do not match
// '.'; "**" matches any run including '.'.
#define GLOB_MAX 1024
static int
glob_match(const char *p, const char *s)
{
    size_t m = strlen(p), n = strlen(s);
    if (m > GLOB_MAX || n > GLOB_MAX) return 0;
    static __thread unsigned char rows[3][GLOB_MAX + 1];
    unsigned char *r0 = rows[0], *r1 = rows[1], *r2 = rows[2]; // rows i, i+1, i+2
    memset(r1, 0, n + 1);
    r1[n] = 1; // row m: only the empty rest of the name matches
    memset(r2, 0, n + 1);
    for (size_t i = m; i-- > 0;) {
        int dstar = p[i] == '*' && i + 1 < m && p[i + 1] == '*';
        for (size_t j = n + 1; j-- > 0;) {
            int more = j < n;
            unsigned char v;
            if (dstar)
                v = r2[j] || (more && r0[j + 1]);
            else if (p[i] == '*')
                v = r1[j] || (more && s[j] != '.' && r0[j + 1]);
            else if (p[i] == '?')
                v = more && s[j] != '.' && r1[j + 1];
            else
                v = more && s[j] == p[i] && r1[j + 1];
            r0[j] = v;
        }
        unsigned char *t = r2;
        r2 = r1;
        r1 = r0;
        r0 = t;
    }
    return r1[0];
}

int
dts_glob_match(const char *pattern, const char *name)
{
    if (!pattern || !name) return 0;
    return glob_match(pattern, name);
}

int64_t
dts_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void
dts_free(void *p)
{
    free(p);
}

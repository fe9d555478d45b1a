// registry.c: the transports, looked up by URL scheme: the built-in ones
// (adding one means adding its folder and one line here) and those an
// application registers (dts_transport_register). The core only sees
// dts_transport_ops.
#include "transport/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern const dts_transport_ops dtsi_udpm_ops;
extern const dts_transport_ops dtsi_mem_ops;

static const dts_transport_ops *const builtin[] = {&dtsi_udpm_ops, &dtsi_mem_ops};
#define BUILTIN_COUNT (sizeof builtin / sizeof builtin[0])

// Registered transports: appended, never removed, so a pointer read under
// the lock stays valid.
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static const dts_transport_ops *registered[DTS_TRANSPORT_REGISTER_MAX];
static size_t nregistered;

// scheme_valid: [a-z][a-z0-9+.-]*, at most 31 characters (RFC 3986's
// scheme, lower case).
static int
scheme_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 31 || s[0] < 'a' || s[0] > 'z') return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' ||
              s[i] == '.' || s[i] == '-'))
            return 0;
    return 1;
}

// scheme_is says whether ops serves the scheme of n bytes at url.
static int
scheme_is(const dts_transport_ops *ops, const char *url, size_t n)
{
    return strlen(ops->scheme) == n && memcmp(ops->scheme, url, n) == 0;
}

dts_err
dts_transport_register(const dts_transport_ops *ops)
{
    if (!ops || !scheme_valid(ops->scheme) || !ops->open || !ops->close || !ops->join ||
        !ops->leave || !ops->send || !ops->max_dgram)
        return DTS_EINVAL;
    size_t n = strlen(ops->scheme);
    for (size_t i = 0; i < BUILTIN_COUNT; i++)
        if (scheme_is(builtin[i], ops->scheme, n)) return DTS_EEXIST;
    dts_err e = DTS_OK;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nregistered && !e; i++)
        if (scheme_is(registered[i], ops->scheme, n)) e = DTS_EEXIST;
    if (!e && nregistered == DTS_TRANSPORT_REGISTER_MAX) e = DTS_ENOMEM;
    if (!e) registered[nregistered++] = ops;
    pthread_mutex_unlock(&reg_mu);
    return e;
}

// schemes_add appends "SCHEME://" (after ", " unless first) to buf, cut to
// its capacity.
static void
schemes_add(char *buf, size_t cap, const char *scheme)
{
    size_t at = strlen(buf);
    if (at + 1 < cap) snprintf(buf + at, cap - at, "%s%s://", at ? ", " : "", scheme);
}

void
dtsi_transport_schemes(char *buf, size_t cap)
{
    if (!cap) return;
    buf[0] = 0;
    for (size_t i = 0; i < BUILTIN_COUNT; i++) schemes_add(buf, cap, builtin[i]->scheme);
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nregistered; i++) schemes_add(buf, cap, registered[i]->scheme);
    pthread_mutex_unlock(&reg_mu);
}

const dts_transport_ops *
dtsi_transport_find(const char *url)
{
    const char *scheme_end = url ? strstr(url, "://") : NULL;
    if (!url || !*url) return &dtsi_udpm_ops;
    if (!scheme_end) return NULL;
    size_t n = (size_t)(scheme_end - url);
    for (size_t i = 0; i < BUILTIN_COUNT; i++)
        if (scheme_is(builtin[i], url, n)) return builtin[i];
    const dts_transport_ops *found = NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nregistered && !found; i++)
        if (scheme_is(registered[i], url, n)) found = registered[i];
    pthread_mutex_unlock(&reg_mu);
    return found;
}

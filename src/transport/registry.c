// registry.c: the built-in transports, looked up by URL scheme. Adding a
// transport means adding its folder and one line here; the core only sees
// dts_transport_ops.
#include "transport/registry.h"

#include <string.h>

extern const dts_transport_ops dtsi_udpm_ops;
extern const dts_transport_ops dtsi_mem_ops;

static const dts_transport_ops *const builtin[] = {&dtsi_udpm_ops, &dtsi_mem_ops};

const dts_transport_ops *
dtsi_transport_find(const char *url)
{
    const char *scheme_end = url ? strstr(url, "://") : NULL;
    if (!url || !*url) return &dtsi_udpm_ops;
    if (!scheme_end) return NULL;
    size_t n = (size_t)(scheme_end - url);
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        if (strlen(builtin[i]->scheme) == n && memcmp(builtin[i]->scheme, url, n) == 0)
            return builtin[i];
    }
    return NULL;
}

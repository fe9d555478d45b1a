// bufkeep.c: see bufkeep.h.
#define _GNU_SOURCE
#include "wire/bufkeep.h"

#include <stdlib.h>
#include <sys/mman.h>

uint8_t *
dtsi_big_alloc(size_t len)
{
    if (len < DTSI_BIG_HUGE) return malloc(len);
    const size_t huge = 2u << 20;
    void *b = NULL;
    if (posix_memalign(&b, huge, len) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(b, len, MADV_HUGEPAGE); // advice only: without it, 4 KiB pages
#endif
    return b;
}

void
dtsi_bufkeep_remove(dtsi_bufkeep *k, size_t i)
{
    k->bytes -= k->cap[i];
    k->n--;
    k->buf[i] = k->buf[k->n];
    k->cap[i] = k->cap[k->n];
}

uint8_t *
dtsi_bufkeep_take(dtsi_bufkeep *k, size_t len, size_t *cap)
{
    return dtsi_bufkeep_take_within(k, len, SIZE_MAX, cap);
}

uint8_t *
dtsi_bufkeep_take_within(dtsi_bufkeep *k, size_t len, size_t max, size_t *cap)
{
    size_t best = k->n;
    for (size_t i = 0; i < k->n; i++)
        if (k->cap[i] >= len && k->cap[i] <= max && (best == k->n || k->cap[i] < k->cap[best]))
            best = i;
    if (best == k->n) return NULL;
    uint8_t *b = k->buf[best];
    *cap = k->cap[best];
    dtsi_bufkeep_remove(k, best);
    return b;
}

int
dtsi_bufkeep_put(dtsi_bufkeep *k, uint8_t *buf, size_t cap)
{
    if (cap > k->max_bytes) return 0;
    while (k->n && (k->n == k->max_n || k->bytes + cap > k->max_bytes)) {
        size_t small = 0;
        for (size_t i = 1; i < k->n; i++)
            if (k->cap[i] < k->cap[small]) small = i;
        if (k->cap[small] > cap) return 0; // the kept ones are all larger
        k->release(k->buf[small]);
        dtsi_bufkeep_remove(k, small);
    }
    if (k->n == k->max_n) return 0; // max_n 0
    dtsi_bufkeep_add(k, buf, cap);
    return 1;
}

void
dtsi_bufkeep_add(dtsi_bufkeep *k, uint8_t *buf, size_t cap)
{
    k->buf[k->n] = buf;
    k->cap[k->n++] = cap;
    k->bytes += cap;
}

void
dtsi_bufkeep_clear(dtsi_bufkeep *k)
{
    while (k->n) {
        k->release(k->buf[k->n - 1]);
        dtsi_bufkeep_remove(k, k->n - 1);
    }
}

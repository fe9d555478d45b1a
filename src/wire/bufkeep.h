// bufkeep.h: a few freed buffers kept for reuse, so that a stream of large
// messages costs no allocation and no page faults of fresh memory (the
// send side's large frames, src/core/node.c; the reassembly buffers,
// src/wire/frag.c). Bounded in count and bytes; not thread-safe.
#ifndef DTSI_BUFKEEP_H
#define DTSI_BUFKEEP_H

#include <stddef.h>
#include <stdint.h>

#define DTSI_BUFKEEP_MAX 40

typedef struct dtsi_bufkeep {
    uint8_t *buf[DTSI_BUFKEEP_MAX];
    size_t cap[DTSI_BUFKEEP_MAX];
    size_t n, bytes;
    size_t max_n, max_bytes;     // bounds (max_n at most DTSI_BUFKEEP_MAX)
    void (*release)(uint8_t *b); // frees a buffer
} dtsi_bufkeep;

// dtsi_bufkeep_take hands out the smallest kept buffer that holds len
// bytes (its size in *cap), or NULL.
uint8_t *dtsi_bufkeep_take(dtsi_bufkeep *k, size_t len, size_t *cap);
// dtsi_bufkeep_take_within is dtsi_bufkeep_take of a buffer of at most max
// bytes.
uint8_t *dtsi_bufkeep_take_within(dtsi_bufkeep *k, size_t len, size_t max, size_t *cap);

// dtsi_bufkeep_put keeps buf (cap bytes), making room by releasing smaller
// kept ones; returns 0 when it cannot be kept within the bounds (the
// caller still owns it).
int dtsi_bufkeep_put(dtsi_bufkeep *k, uint8_t *buf, size_t cap);

// dtsi_bufkeep_add keeps buf (cap bytes) with no bound checked and none
// released: the caller has checked that n < max_n. dtsi_bufkeep_remove takes
// buffer i out (the last one moves into its place), without releasing it.
void dtsi_bufkeep_add(dtsi_bufkeep *k, uint8_t *buf, size_t cap);
void dtsi_bufkeep_remove(dtsi_bufkeep *k, size_t i);

// dtsi_big_alloc allocates len bytes for a large message (free() frees
// them). From DTSI_BIG_HUGE bytes on, the memory is aligned to 2 MiB and
// marked for transparent huge pages (madvise), so that the first write to
// it takes one page fault per 2 MiB instead of one per 4 KiB: on this
// project's machines, whose page faults are slow, a fresh 64 MiB buffer
// took long enough to fault in that a subscriber's socket overflowed
// meanwhile.
#define DTSI_BIG_HUGE (4u << 20)
uint8_t *dtsi_big_alloc(size_t len);

// dtsi_bufkeep_clear releases every kept buffer.
void dtsi_bufkeep_clear(dtsi_bufkeep *k);

#endif

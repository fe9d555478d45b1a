// capnp.h: the Cap'n Proto runtime in C (issue 5 item 1; docs/spec/capnp.md).
//
// Internal to dts for now: the capnp codec, the code generator's output and
// tests use it. It implements the encoding of
// https://capnproto.org/encoding.html: framing (stream with a segment table,
// and flat), a reader for untrusted messages, a builder, packing and the
// canonical form. No RPC, no capabilities (a capability pointer is
// malformed), no generics beyond raw pointers.
//
// Reader. A message is read in place from the caller's bytes (borrowed until
// dtsi_capnp_msg_fini; any alignment). Views (dtsi_capnp_ptr, _struct, _list)
// are small values holding the message pointer, a segment index and word
// offsets. Every pointer followed is checked against its segment's bounds
// and charged to a traversal budget (at least one word per list element, so
// a list of 2^29 zero-sized elements costs 2^29); nesting is bounded. The
// first error is kept in the message (dtsi_capnp_msg_error) and also
// returned: DTS_EMALFORMED (bounds, bad pointer kind, text without NUL,
// incompatible list), DTS_ETOOBIG (a limit). After an error the view is a
// null/empty one, so callers that only check at the end read defaults.
//
// Builder. Segments are allocated by the builder (dtsi_cmalloc); views hold
// (segment, word offset), never raw pointers, so a single-segment builder may
// grow by moving its segment. Objects are allocated in the segment of the
// pointer when they fit, else elsewhere with a far pointer and a landing pad
// (one word in the target segment, or a two-word double-far pad when the
// target segment is full). Builder errors are sticky (dtsi_capnp_builder_error);
// a failed init leaves a null view whose setters do nothing.
//
// A message read from one segment allocates nothing (its segment table is
// inside dtsi_capnp_msg), so a dtsi_capnp_msg must not be copied or moved
// while views of it exist. Thread safety: a message or builder is used by
// one thread at a time.
#ifndef DTSI_CAPNP_H
#define DTSI_CAPNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dts/dts.h>

// ---------------------------------------------------------------------------
// Limits (named defaults; 0 in dtsi_capnp_limits means the default)

#define DTSI_CAPNP_MAX_SEGMENTS 512u          // segments in one message
#define DTSI_CAPNP_MAX_WORDS (512u * 1024u)   // total words: 4 MiB
#define DTSI_CAPNP_TRAVERSAL_WORDS (8u << 20) // words charged while reading
#define DTSI_CAPNP_NESTING 64u                // nested structs and lists
#define DTSI_CAPNP_HARD_MAX_WORDS (1u << 29)  // absolute cap (4 GiB), any option

typedef struct dtsi_capnp_limits {
    uint32_t max_segments;    // segment count accepted or produced
    uint64_t max_words;       // total words of all segments (also caps unpacking)
    uint64_t traversal_words; // reader budget, charged per pointer followed
    unsigned nesting;         // deepest struct/list nesting; the root is depth 1
} dtsi_capnp_limits;

// dtsi_capnp_limits_resolve returns l with each zero field set to its default
// (l may be NULL: all defaults).
dtsi_capnp_limits dtsi_capnp_limits_resolve(const dtsi_capnp_limits *l);

// Element sizes of list pointers (encoding spec, "Lists").
enum {
    DTSI_CAPNP_VOID = 0,
    DTSI_CAPNP_BIT = 1,
    DTSI_CAPNP_BYTE = 2,
    DTSI_CAPNP_TWO = 3,
    DTSI_CAPNP_FOUR = 4,
    DTSI_CAPNP_EIGHT = 5,
    DTSI_CAPNP_POINTER = 6,
    DTSI_CAPNP_COMPOSITE = 7,
    DTSI_CAPNP_ANY = 8, // dtsi_capnp_read_list: whatever the pointer says
};

// ---------------------------------------------------------------------------
// Reader

typedef struct dtsi_capnp_seg {
    const uint8_t *data; // borrowed (or owned when the message unpacked it)
    uint32_t words;
} dtsi_capnp_seg;

typedef struct dtsi_capnp_msg {
    dtsi_capnp_seg *segs;
    uint32_t nsegs;
    dtsi_capnp_limits limits;
    uint64_t budget;     // traversal words left
    dts_err err;         // first error, DTS_OK if none
    char errmsg[96];     // its explanation
    uint8_t *owned;      // bytes the message owns (unpacked input), or NULL
    dtsi_capnp_seg seg0; // the table of a one-segment message (no allocation)
} dtsi_capnp_msg;

// A pointer slot: where a pointer word lives. seg == UINT32_MAX is a slot
// outside any section (reads as null).
typedef struct dtsi_capnp_ptr {
    dtsi_capnp_msg *msg;
    uint32_t seg, off;
    unsigned depth; // nesting of the object holding the slot
} dtsi_capnp_ptr;

// A struct view. Data is data_bits long starting at bit data_bit of its
// segment (byte-aligned unless it is an element of a bit list); nptrs
// pointers start at word ptr_off.
typedef struct dtsi_capnp_struct {
    dtsi_capnp_msg *msg;
    uint32_t seg;
    uint64_t data_bit;
    uint32_t data_bits;
    uint32_t ptr_off;
    uint16_t nptrs;
    unsigned depth;
} dtsi_capnp_struct;

// A list view. Element i starts at bit start_bit + i * step_bits; as a struct
// it has elem_data_bits of data then elem_ptrs pointers.
typedef struct dtsi_capnp_list {
    dtsi_capnp_msg *msg;
    uint32_t seg;
    uint64_t start_bit;
    uint32_t count;
    uint8_t esize;
    uint64_t step_bits;
    uint32_t elem_data_bits;
    uint16_t elem_ptrs;
    unsigned depth;
} dtsi_capnp_list;

// dtsi_capnp_msg_init_stream reads a stream-framed message (segment table,
// then segments) from the first bytes of buf; *used (may be NULL) gets the
// bytes it spans, so several messages may be read one after the other.
// dtsi_capnp_msg_init_flat reads one segment without a table (len must be a
// multiple of 8). dtsi_capnp_msg_init_packed unpacks a packed stream message
// into memory the message owns (bounded by limits.max_words). limits may be
// NULL. The bytes are borrowed until dtsi_capnp_msg_fini (except packed).
// Errors: DTS_EMALFORMED, DTS_ETOOBIG, DTS_ENOMEM; *m must be finied anyway.
dts_err dtsi_capnp_msg_init_stream(dtsi_capnp_msg *m, const void *buf, size_t len,
                                   const dtsi_capnp_limits *limits, size_t *used);
dts_err dtsi_capnp_msg_init_flat(dtsi_capnp_msg *m, const void *buf, size_t len,
                                 const dtsi_capnp_limits *limits);
dts_err dtsi_capnp_msg_init_packed(dtsi_capnp_msg *m, const void *buf, size_t len,
                                   const dtsi_capnp_limits *limits);
// dtsi_capnp_msg_init_segments reads segments the caller describes (copied
// table; data borrowed). Used for generator default blobs and tests.
dts_err dtsi_capnp_msg_init_segments(dtsi_capnp_msg *m, const dtsi_capnp_seg *segs, uint32_t nsegs,
                                     const dtsi_capnp_limits *limits);
void dtsi_capnp_msg_fini(dtsi_capnp_msg *m);
// dtsi_capnp_msg_error returns the first error and its explanation.
dts_err dtsi_capnp_msg_error(const dtsi_capnp_msg *m, const char **why);

// dtsi_capnp_root returns the root pointer slot (word 0 of segment 0).
dtsi_capnp_ptr dtsi_capnp_root(dtsi_capnp_msg *m);
// dtsi_capnp_ptr_is_null says whether the slot holds a null pointer.
bool dtsi_capnp_ptr_is_null(dtsi_capnp_ptr p);
// dtsi_capnp_ptr_kind returns 0 null, 1 struct, 2 list, 3 other/capability
// after following far pointers; -1 on a bad far pointer.
int dtsi_capnp_ptr_kind(dtsi_capnp_ptr p);

// dtsi_capnp_read_struct follows a struct pointer. A null pointer gives an
// empty struct (every field reads as its default). A list pointer is an
// error (capnp never reads a list as a struct).
dts_err dtsi_capnp_read_struct(dtsi_capnp_ptr p, dtsi_capnp_struct *out);
// dtsi_capnp_read_list follows a list pointer expecting elements of esize
// (DTSI_CAPNP_COMPOSITE for a list of structs). Compatible encodings are
// accepted as the spec allows (a struct list read as a primitive list reads
// each element's first field; a primitive list read as a struct list gives
// structs with one field); a bit list is only compatible with a bit list. A
// null pointer gives an empty list.
dts_err dtsi_capnp_read_list(dtsi_capnp_ptr p, unsigned esize, dtsi_capnp_list *out);
// dtsi_capnp_read_text returns the bytes of a Text (without its NUL, which
// must be there). dtsi_capnp_read_data returns a Data. Null: *s = "" or
// NULL with *len 0. The bytes are borrowed from the message.
dts_err dtsi_capnp_read_text(dtsi_capnp_ptr p, const char **s, size_t *len);
dts_err dtsi_capnp_read_data(dtsi_capnp_ptr p, const uint8_t **d, size_t *len);

// Struct fields. off is in units of the field's own size (bits for bool,
// bytes for u8, ...) as the compiler assigns them; def is the default, XORed
// with the stored bits. Fields past the data section read as def.
bool dtsi_capnp_get_bool(const dtsi_capnp_struct *s, uint32_t off, bool def);
uint8_t dtsi_capnp_get_u8(const dtsi_capnp_struct *s, uint32_t off, uint8_t def);
uint16_t dtsi_capnp_get_u16(const dtsi_capnp_struct *s, uint32_t off, uint16_t def);
uint32_t dtsi_capnp_get_u32(const dtsi_capnp_struct *s, uint32_t off, uint32_t def);
uint64_t dtsi_capnp_get_u64(const dtsi_capnp_struct *s, uint32_t off, uint64_t def);
float dtsi_capnp_get_f32(const dtsi_capnp_struct *s, uint32_t off, float def);
double dtsi_capnp_get_f64(const dtsi_capnp_struct *s, uint32_t off, double def);
// dtsi_capnp_struct_ptr returns pointer slot i (outside the section: null).
dtsi_capnp_ptr dtsi_capnp_struct_ptr(const dtsi_capnp_struct *s, uint32_t i);

// List elements (i < count, else the default/null). Primitive getters read
// the element's first field, so they also work on struct lists.
dts_err dtsi_capnp_list_struct(const dtsi_capnp_list *l, uint32_t i, dtsi_capnp_struct *out);
dtsi_capnp_ptr dtsi_capnp_list_ptr(const dtsi_capnp_list *l, uint32_t i);
bool dtsi_capnp_list_bool(const dtsi_capnp_list *l, uint32_t i);
uint8_t dtsi_capnp_list_u8(const dtsi_capnp_list *l, uint32_t i);
uint16_t dtsi_capnp_list_u16(const dtsi_capnp_list *l, uint32_t i);
uint32_t dtsi_capnp_list_u32(const dtsi_capnp_list *l, uint32_t i);
uint64_t dtsi_capnp_list_u64(const dtsi_capnp_list *l, uint32_t i);

// ---------------------------------------------------------------------------
// Builder

typedef struct dtsi_capnp_bseg {
    uint8_t *data;      // owned, zeroed
    uint32_t used, cap; // words
} dtsi_capnp_bseg;

typedef struct dtsi_capnp_builder_opts {
    uint32_t seg_words;    // size of each new segment (0: 1024 words)
    bool single;           // one segment that grows (no far pointers)
    uint64_t max_words;    // total cap (0: DTSI_CAPNP_MAX_WORDS)
    uint32_t max_segments; // (0: DTSI_CAPNP_MAX_SEGMENTS)
} dtsi_capnp_builder_opts;

typedef struct dtsi_capnp_builder {
    dtsi_capnp_bseg *segs;
    uint32_t nsegs, segcap;
    uint64_t total;
    dtsi_capnp_builder_opts o;
    dts_err err;
} dtsi_capnp_builder;

// A builder pointer slot, struct and list. seg == UINT32_MAX: null view.
typedef struct dtsi_capnp_bptr {
    dtsi_capnp_builder *b;
    uint32_t seg, off;
} dtsi_capnp_bptr;

typedef struct dtsi_capnp_bstruct {
    dtsi_capnp_builder *b;
    uint32_t seg, off; // data section start
    uint16_t dwords, nptrs;
} dtsi_capnp_bstruct;

typedef struct dtsi_capnp_blist {
    dtsi_capnp_builder *b;
    uint32_t seg, off; // first element (after the tag of a composite list)
    uint32_t count;
    uint8_t esize;
    uint16_t dwords, nptrs; // composite element size
} dtsi_capnp_blist;

// dtsi_capnp_builder_init makes an empty message whose root slot is word 0
// of segment 0 (opts may be NULL). Errors: DTS_ENOMEM. fini frees it all.
dts_err dtsi_capnp_builder_init(dtsi_capnp_builder *b, const dtsi_capnp_builder_opts *opts);
void dtsi_capnp_builder_fini(dtsi_capnp_builder *b);
dts_err dtsi_capnp_builder_error(const dtsi_capnp_builder *b);
dtsi_capnp_bptr dtsi_capnp_broot(dtsi_capnp_builder *b);

// dtsi_capnp_init_struct allocates a zeroed struct and points slot p at it.
// dtsi_capnp_init_list allocates a list of count elements of esize (not
// COMPOSITE); dtsi_capnp_init_struct_list a list of structs. Text and data
// are copied (text gets its NUL). A slot that already points somewhere is
// overwritten (the old object stays as garbage, as in capnp).
dtsi_capnp_bstruct dtsi_capnp_init_struct(dtsi_capnp_bptr p, uint16_t dwords, uint16_t nptrs);
dtsi_capnp_blist dtsi_capnp_init_list(dtsi_capnp_bptr p, unsigned esize, uint32_t count);
dtsi_capnp_blist dtsi_capnp_init_struct_list(dtsi_capnp_bptr p, uint16_t dwords, uint16_t nptrs,
                                             uint32_t count);
dts_err dtsi_capnp_set_text(dtsi_capnp_bptr p, const char *s, size_t len);
dts_err dtsi_capnp_set_data(dtsi_capnp_bptr p, const void *d, size_t len);

// Struct fields, as the getters: the stored bits are value XOR def.
void dtsi_capnp_set_bool(dtsi_capnp_bstruct s, uint32_t off, bool v, bool def);
void dtsi_capnp_set_u8(dtsi_capnp_bstruct s, uint32_t off, uint8_t v, uint8_t def);
void dtsi_capnp_set_u16(dtsi_capnp_bstruct s, uint32_t off, uint16_t v, uint16_t def);
void dtsi_capnp_set_u32(dtsi_capnp_bstruct s, uint32_t off, uint32_t v, uint32_t def);
void dtsi_capnp_set_u64(dtsi_capnp_bstruct s, uint32_t off, uint64_t v, uint64_t def);
void dtsi_capnp_set_f32(dtsi_capnp_bstruct s, uint32_t off, float v, float def);
void dtsi_capnp_set_f64(dtsi_capnp_bstruct s, uint32_t off, double v, double def);
dtsi_capnp_bptr dtsi_capnp_bstruct_ptr(dtsi_capnp_bstruct s, uint32_t i);

// List elements (i < count, else ignored / null view).
dtsi_capnp_bstruct dtsi_capnp_blist_struct(dtsi_capnp_blist l, uint32_t i);
dtsi_capnp_bptr dtsi_capnp_blist_ptr(dtsi_capnp_blist l, uint32_t i);
void dtsi_capnp_blist_set(dtsi_capnp_blist l, uint32_t i, uint64_t bits); // primitive lists

// dtsi_capnp_copy deep-copies what the reader slot from points at into the
// builder slot to (structs, lists, text, data), within the reader's limits.
// With canonical set, it writes the canonical layout (truncated sections,
// preorder); a single-segment builder then holds the canonical message.
dts_err dtsi_capnp_copy(dtsi_capnp_ptr from, dtsi_capnp_bptr to, bool canonical);
// dtsi_capnp_canonicalize reads a message root and returns its canonical
// form as one flat segment (no table) in *out (dtsi_cfree).
dts_err dtsi_capnp_canonicalize(dtsi_capnp_msg *m, uint8_t **out, size_t *outlen);

// dtsi_capnp_builder_write serializes the message: stream framing (segment
// table then segments), or flat (no table; single segment only, else
// DTS_EINVAL). *out is owned by the caller (dtsi_cfree).
dts_err dtsi_capnp_builder_write(const dtsi_capnp_builder *b, bool flat, uint8_t **out,
                                 size_t *outlen);

// ---------------------------------------------------------------------------
// Packing (encoding spec, "Packing")

// dtsi_capnp_pack_bound is the largest packed size of len bytes.
size_t dtsi_capnp_pack_bound(size_t len);
// dtsi_capnp_pack packs len bytes (a multiple of 8) into out, which has room
// for dtsi_capnp_pack_bound(len); returns the packed size.
size_t dtsi_capnp_pack(const uint8_t *in, size_t len, uint8_t *out);
// dtsi_capnp_unpack unpacks in into a new buffer (dtsi_cfree) of at most
// max_out bytes; the size is computed before anything is allocated.
// Errors: DTS_EMALFORMED (truncated), DTS_ETOOBIG, DTS_ENOMEM.
dts_err dtsi_capnp_unpack(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                          size_t *outlen);

#endif

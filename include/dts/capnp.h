// capnp.h: the Cap'n Proto runtime in C (docs/spec/capnp.md), in the codec
// library (pkg-config dts-codec).
//
// The code capnpc-dts generates (typed readers and builders; docs/spec/
// capnp.md, "Code generator") calls it, and so does the capnp codec; a
// program may use it directly too. It implements the encoding of
// https://capnproto.org/encoding.html: framing (stream with a segment table,
// and flat), a reader for untrusted messages, a builder, packing and the
// canonical form. No RPC, no capabilities (a capability pointer is
// malformed), no generics beyond raw pointers.
//
// Reader. A message is read in place from the caller's bytes (borrowed until
// dts_capnp_msg_fini; any alignment). Views (dts_capnp_ptr, _struct, _list)
// are small values holding the message pointer, a segment index and word
// offsets. Every pointer followed is checked against its segment's bounds
// and charged to a traversal budget (at least one word per list element, so
// a list of 2^29 zero-sized elements costs 2^29); nesting is bounded. The
// first error is kept in the message (dts_capnp_msg_error) and also
// returned: DTS_EMALFORMED (bounds, bad pointer kind, text without NUL,
// incompatible list), DTS_ETOOBIG (a limit). After an error the view is a
// null/empty one, so callers that only check at the end read defaults.
//
// Builder. Segments are allocated by the builder (the codec library's allocator); views hold
// (segment, word offset), never raw pointers, so a single-segment builder may
// grow by moving its segment. Objects are allocated in the segment of the
// pointer when they fit, else elsewhere with a far pointer and a landing pad
// (one word in the target segment, or a two-word double-far pad when the
// target segment is full). Builder errors are sticky (dts_capnp_builder_error);
// a failed init leaves a null view whose setters do nothing.
//
// A message read from one segment allocates nothing (its segment table is
// inside dts_capnp_msg), so a dts_capnp_msg must not be copied or moved
// while views of it exist. Thread safety: a message or builder is used by
// one thread at a time.
#ifndef DTS_CAPNP_H
#define DTS_CAPNP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dts/codec.h> // dts_codec_free, for what the builder writes
#include <dts/dts.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Limits (named defaults; 0 in dts_capnp_limits means the default)

#define DTS_CAPNP_MAX_SEGMENTS 512u          // segments in one message
#define DTS_CAPNP_MAX_WORDS (512u * 1024u)   // total words: 4 MiB
#define DTS_CAPNP_TRAVERSAL_WORDS (8u << 20) // words charged while reading
#define DTS_CAPNP_NESTING 64u                // nested structs and lists
#define DTS_CAPNP_HARD_MAX_WORDS (1u << 29)  // absolute cap (4 GiB), any option

typedef struct dts_capnp_limits {
    uint32_t max_segments;    // segment count accepted or produced
    uint64_t max_words;       // total words of all segments (also caps unpacking)
    uint64_t traversal_words; // reader budget, charged per pointer followed
    unsigned nesting;         // deepest struct/list nesting; the root is depth 1
} dts_capnp_limits;

// dts_capnp_limits_resolve returns l with each zero field set to its default
// (l may be NULL: all defaults).
dts_capnp_limits dts_capnp_limits_resolve(const dts_capnp_limits *l);

// Element sizes of list pointers (encoding spec, "Lists").
enum {
    DTS_CAPNP_VOID = 0,
    DTS_CAPNP_BIT = 1,
    DTS_CAPNP_BYTE = 2,
    DTS_CAPNP_TWO = 3,
    DTS_CAPNP_FOUR = 4,
    DTS_CAPNP_EIGHT = 5,
    DTS_CAPNP_POINTER = 6,
    DTS_CAPNP_COMPOSITE = 7,
    DTS_CAPNP_ANY = 8, // dts_capnp_read_list: whatever the pointer says
};

// ---------------------------------------------------------------------------
// Reader

typedef struct dts_capnp_seg {
    const uint8_t *data; // borrowed (or owned when the message unpacked it)
    uint32_t words;
} dts_capnp_seg;

typedef struct dts_capnp_msg {
    dts_capnp_seg *segs;
    uint32_t nsegs;
    dts_capnp_limits limits;
    uint64_t budget;    // traversal words left
    dts_err err;        // first error, DTS_OK if none
    char errmsg[96];    // its explanation
    uint8_t *owned;     // bytes the message owns (unpacked input), or NULL
    dts_capnp_seg seg0; // the table of a one-segment message (no allocation)
} dts_capnp_msg;

// A pointer slot: where a pointer word lives. seg == UINT32_MAX is a slot
// outside any section (reads as null).
typedef struct dts_capnp_ptr {
    dts_capnp_msg *msg;
    uint32_t seg, off;
    unsigned depth; // nesting of the object holding the slot
} dts_capnp_ptr;

// A struct view. Data is data_bits long starting at bit data_bit of its
// segment (byte-aligned unless it is an element of a bit list); nptrs
// pointers start at word ptr_off.
typedef struct dts_capnp_struct {
    dts_capnp_msg *msg;
    uint32_t seg;
    uint64_t data_bit;
    uint32_t data_bits;
    uint32_t ptr_off;
    uint16_t nptrs;
    unsigned depth;
} dts_capnp_struct;

// A list view. Element i starts at bit start_bit + i * step_bits; as a struct
// it has elem_data_bits of data then elem_ptrs pointers.
typedef struct dts_capnp_list {
    dts_capnp_msg *msg;
    uint32_t seg;
    uint64_t start_bit;
    uint32_t count;
    uint8_t esize;
    uint64_t step_bits;
    uint32_t elem_data_bits;
    uint16_t elem_ptrs;
    unsigned depth;
} dts_capnp_list;

// dts_capnp_msg_init_stream reads a stream-framed message (segment table,
// then segments) from the first bytes of buf; *used (may be NULL) gets the
// bytes it spans, so several messages may be read one after the other.
// dts_capnp_msg_init_flat reads one segment without a table (len must be a
// multiple of 8). dts_capnp_msg_init_packed unpacks a packed stream message
// into memory the message owns (bounded by limits.max_words). limits may be
// NULL. The bytes are borrowed until dts_capnp_msg_fini (except packed).
// Errors: DTS_EMALFORMED, DTS_ETOOBIG, DTS_ENOMEM; *m must be finied anyway.
dts_err dts_capnp_msg_init_stream(dts_capnp_msg *m, const void *buf, size_t len,
                                  const dts_capnp_limits *limits, size_t *used);
dts_err dts_capnp_msg_init_flat(dts_capnp_msg *m, const void *buf, size_t len,
                                const dts_capnp_limits *limits);
dts_err dts_capnp_msg_init_packed(dts_capnp_msg *m, const void *buf, size_t len,
                                  const dts_capnp_limits *limits);
// dts_capnp_msg_init_segments reads segments the caller describes (copied
// table; data borrowed). Used for generator default blobs and tests.
dts_err dts_capnp_msg_init_segments(dts_capnp_msg *m, const dts_capnp_seg *segs, uint32_t nsegs,
                                    const dts_capnp_limits *limits);
void dts_capnp_msg_fini(dts_capnp_msg *m);
// dts_capnp_msg_error returns the first error and its explanation.
dts_err dts_capnp_msg_error(const dts_capnp_msg *m, const char **why);

// dts_capnp_root returns the root pointer slot (word 0 of segment 0).
dts_capnp_ptr dts_capnp_root(dts_capnp_msg *m);
// dts_capnp_ptr_is_null says whether the slot holds a null pointer.
bool dts_capnp_ptr_is_null(dts_capnp_ptr p);
// dts_capnp_ptr_kind returns 0 null, 1 struct, 2 list, 3 other/capability
// after following far pointers; -1 on a bad far pointer.
int dts_capnp_ptr_kind(dts_capnp_ptr p);

// dts_capnp_read_struct follows a struct pointer. A null pointer gives an
// empty struct (every field reads as its default). A list pointer is an
// error (capnp never reads a list as a struct).
dts_err dts_capnp_read_struct(dts_capnp_ptr p, dts_capnp_struct *out);
// dts_capnp_read_list follows a list pointer expecting elements of esize
// (DTS_CAPNP_COMPOSITE for a list of structs). Compatible encodings are
// accepted as the spec allows (a struct list read as a primitive list reads
// each element's first field; a primitive list read as a struct list gives
// structs with one field); a bit list is only compatible with a bit list. A
// null pointer gives an empty list.
dts_err dts_capnp_read_list(dts_capnp_ptr p, unsigned esize, dts_capnp_list *out);
// dts_capnp_read_text returns the bytes of a Text (without its NUL, which
// must be there). dts_capnp_read_data returns a Data. Null: *s = "" or
// NULL with *len 0. The bytes are borrowed from the message.
dts_err dts_capnp_read_text(dts_capnp_ptr p, const char **s, size_t *len);
dts_err dts_capnp_read_data(dts_capnp_ptr p, const uint8_t **d, size_t *len);

// Struct fields. off is in units of the field's own size (bits for bool,
// bytes for u8, ...) as the compiler assigns them; def is the default, XORed
// with the stored bits. Fields past the data section read as def.
bool dts_capnp_get_bool(const dts_capnp_struct *s, uint32_t off, bool def);
uint8_t dts_capnp_get_u8(const dts_capnp_struct *s, uint32_t off, uint8_t def);
uint16_t dts_capnp_get_u16(const dts_capnp_struct *s, uint32_t off, uint16_t def);
uint32_t dts_capnp_get_u32(const dts_capnp_struct *s, uint32_t off, uint32_t def);
uint64_t dts_capnp_get_u64(const dts_capnp_struct *s, uint32_t off, uint64_t def);
float dts_capnp_get_f32(const dts_capnp_struct *s, uint32_t off, float def);
double dts_capnp_get_f64(const dts_capnp_struct *s, uint32_t off, double def);
// dts_capnp_struct_ptr returns pointer slot i (outside the section: null).
dts_capnp_ptr dts_capnp_struct_ptr(const dts_capnp_struct *s, uint32_t i);

// List elements (i < count, else the default/null). Primitive getters read
// the element's first field, so they also work on struct lists.
dts_err dts_capnp_list_struct(const dts_capnp_list *l, uint32_t i, dts_capnp_struct *out);
dts_capnp_ptr dts_capnp_list_ptr(const dts_capnp_list *l, uint32_t i);
bool dts_capnp_list_bool(const dts_capnp_list *l, uint32_t i);
uint8_t dts_capnp_list_u8(const dts_capnp_list *l, uint32_t i);
uint16_t dts_capnp_list_u16(const dts_capnp_list *l, uint32_t i);
uint32_t dts_capnp_list_u32(const dts_capnp_list *l, uint32_t i);
uint64_t dts_capnp_list_u64(const dts_capnp_list *l, uint32_t i);

// ---------------------------------------------------------------------------
// Builder

typedef struct dts_capnp_bseg {
    uint8_t *data;      // owned, zeroed
    uint32_t used, cap; // words
} dts_capnp_bseg;

typedef struct dts_capnp_builder_opts {
    uint32_t seg_words;    // size of each new segment (0: 1024 words)
    bool single;           // one segment that grows (no far pointers)
    uint64_t max_words;    // total cap (0: DTS_CAPNP_MAX_WORDS)
    uint32_t max_segments; // (0: DTS_CAPNP_MAX_SEGMENTS)
} dts_capnp_builder_opts;

typedef struct dts_capnp_builder {
    dts_capnp_bseg *segs;
    uint32_t nsegs, segcap;
    uint64_t total;
    dts_capnp_builder_opts o;
    dts_err err;
} dts_capnp_builder;

// A builder pointer slot, struct and list. seg == UINT32_MAX: null view.
typedef struct dts_capnp_bptr {
    dts_capnp_builder *b;
    uint32_t seg, off;
} dts_capnp_bptr;

typedef struct dts_capnp_bstruct {
    dts_capnp_builder *b;
    uint32_t seg, off; // data section start
    uint16_t dwords, nptrs;
} dts_capnp_bstruct;

typedef struct dts_capnp_blist {
    dts_capnp_builder *b;
    uint32_t seg, off; // first element (after the tag of a composite list)
    uint32_t count;
    uint8_t esize;
    uint16_t dwords, nptrs; // composite element size
} dts_capnp_blist;

// dts_capnp_builder_init makes an empty message whose root slot is word 0
// of segment 0 (opts may be NULL). Errors: DTS_ENOMEM. fini frees it all.
dts_err dts_capnp_builder_init(dts_capnp_builder *b, const dts_capnp_builder_opts *opts);
void dts_capnp_builder_fini(dts_capnp_builder *b);
dts_err dts_capnp_builder_error(const dts_capnp_builder *b);
dts_capnp_bptr dts_capnp_broot(dts_capnp_builder *b);

// dts_capnp_init_struct allocates a zeroed struct and points slot p at it.
// dts_capnp_init_list allocates a list of count elements of esize (not
// COMPOSITE); dts_capnp_init_struct_list a list of structs. Text and data
// are copied (text gets its NUL). A slot that already points somewhere is
// overwritten (the old object stays as garbage, as in capnp).
dts_capnp_bstruct dts_capnp_init_struct(dts_capnp_bptr p, uint16_t dwords, uint16_t nptrs);
dts_capnp_blist dts_capnp_init_list(dts_capnp_bptr p, unsigned esize, uint32_t count);
dts_capnp_blist dts_capnp_init_struct_list(dts_capnp_bptr p, uint16_t dwords, uint16_t nptrs,
                                           uint32_t count);
dts_err dts_capnp_set_text(dts_capnp_bptr p, const char *s, size_t len);
dts_err dts_capnp_set_data(dts_capnp_bptr p, const void *d, size_t len);

// Struct fields, as the getters: the stored bits are value XOR def.
void dts_capnp_set_bool(dts_capnp_bstruct s, uint32_t off, bool v, bool def);
void dts_capnp_set_u8(dts_capnp_bstruct s, uint32_t off, uint8_t v, uint8_t def);
void dts_capnp_set_u16(dts_capnp_bstruct s, uint32_t off, uint16_t v, uint16_t def);
void dts_capnp_set_u32(dts_capnp_bstruct s, uint32_t off, uint32_t v, uint32_t def);
void dts_capnp_set_u64(dts_capnp_bstruct s, uint32_t off, uint64_t v, uint64_t def);
void dts_capnp_set_f32(dts_capnp_bstruct s, uint32_t off, float v, float def);
void dts_capnp_set_f64(dts_capnp_bstruct s, uint32_t off, double v, double def);
dts_capnp_bptr dts_capnp_bstruct_ptr(dts_capnp_bstruct s, uint32_t i);

// List elements (i < count, else ignored / null view).
dts_capnp_bstruct dts_capnp_blist_struct(dts_capnp_blist l, uint32_t i);
dts_capnp_bptr dts_capnp_blist_ptr(dts_capnp_blist l, uint32_t i);
void dts_capnp_blist_set(dts_capnp_blist l, uint32_t i, uint64_t bits); // primitive lists

// dts_capnp_copy deep-copies what the reader slot from points at into the
// builder slot to (structs, lists, text, data), within the reader's limits.
// With canonical set, it writes the canonical layout (truncated sections,
// preorder); a single-segment builder then holds the canonical message.
dts_err dts_capnp_copy(dts_capnp_ptr from, dts_capnp_bptr to, bool canonical);
// dts_capnp_canonicalize reads a message root and returns its canonical
// form as one flat segment (no table) in *out (dts_codec_free).
dts_err dts_capnp_canonicalize(dts_capnp_msg *m, uint8_t **out, size_t *outlen);

// dts_capnp_builder_write serializes the message: stream framing (segment
// table then segments), or flat (no table; single segment only, else
// DTS_EINVAL). *out is owned by the caller (dts_codec_free).
dts_err dts_capnp_builder_write(const dts_capnp_builder *b, bool flat, uint8_t **out,
                                size_t *outlen);

// ---------------------------------------------------------------------------
// Packing (encoding spec, "Packing")

// dts_capnp_pack_bound is the largest packed size of len bytes.
size_t dts_capnp_pack_bound(size_t len);
// dts_capnp_pack packs len bytes (a multiple of 8) into out, which has room
// for dts_capnp_pack_bound(len); returns the packed size.
size_t dts_capnp_pack(const uint8_t *in, size_t len, uint8_t *out);
// dts_capnp_unpack unpacks in into a new buffer (dts_codec_free) of at most
// max_out bytes; the size is computed before anything is allocated.
// Errors: DTS_EMALFORMED (truncated), DTS_ETOOBIG, DTS_ENOMEM.
dts_err dts_capnp_unpack(const uint8_t *in, size_t len, size_t max_out, uint8_t **out,
                         size_t *outlen);

#ifdef __cplusplus
}
#endif
#endif

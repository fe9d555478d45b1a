// fuzz_frag.c: libFuzzer target for fragment headers and reassembly.
//
// The input is a stream of records, each one fragment frame payload as a
// receiver sees it: 1 byte picks the sender (of 4), 1 byte the sequence
// number (of 8), 2 bytes the payload length, then the payload (fragment
// header and data). Every record goes through dtsi_frag_hdr_decode and, when
// valid, dtsi_reasm_add on a small table (4 slots, 64 KiB), with a clock
// that advances per record so timeouts fire. A record whose sender byte has
// bit 0x40 arrives as a transport that receives in place would hand it: its
// data written first where a guess of dtsi_reasm_plan said (bits 4-5 of the
// sequence byte pick the guess), right or wrong, then added by
// dtsi_reasm_add_placed when it matches. A record whose sender byte has
// bit 0x20 is a fragment of a control message (a cut SCHEMA_ANS, type id
// 0), added only when dtsi_reasm_room allows (budget 2), as node.c does.
// Invariants: memory held never exceeds the bound, a completed message has
// the length its header said, no write lands outside a buffer, nothing
// leaks (ASan), a control message never evicts another message nor holds
// more than its budget of slots, and placement never guesses into one.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/frag.h"

static int adding_control; // a control message's fragment is being added

static void
lost(void *ud, const dtsi_reasm_slot *s, dtsi_lost_reason why)
{
    (void)ud;
    if (s->got >= s->n_frags || (int)why < 0 || why > DTSI_LOST_SUPERSEDED) __builtin_trap();
    if (adding_control && why == DTSI_LOST_EVICTED) __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dtsi_reasm r;
    if (dtsi_reasm_init(&r, 4, 65536, 50, lost, NULL) != 0) return 0;
    int64_t now = 0;
    size_t off = 0;
    while (off + 4 <= size) {
        uint8_t who = data[off], seq = data[off + 1];
        size_t plen = (size_t)data[off + 2] | ((size_t)data[off + 3] << 8);
        off += 4;
        if (plen > size - off) plen = size - off;
        int control = who & 0x20;
        dtsi_hdr h = {.kind = control ? DTSI_KIND_SCHEMA_ANS : DTSI_KIND_DATA,
                      .type_id = control ? 0 : 1,
                      .instance = 1 + (who & 3),
                      .seq = 1 + (seq & 7)};
        dtsi_frag_hdr f;
        size_t dlen;
        if (!dtsi_frag_hdr_decode(data + off, plen, 60000, &f, &dlen) &&
            (!control || dtsi_reasm_room(&r, &h, f.msg_len, 2))) {
            uint8_t *out = NULL;
            dtsi_hdr oh;
            dtsi_reasm_rc rc;
            size_t g = (size_t)(seq >> 4) & 3;
            adding_control = control;
            if (!control && (who & 0x40) && dtsi_reasm_plan(&r, 4) > g) {
                const dtsi_reasm_place *p = &r.plan[g]; // the kernel writes, match or not
                memcpy(p->dst, data + off + DTSI_FRAG_HDR_SIZE, dlen < p->len ? dlen : p->len);
                if (dtsi_reasm_plan_match(&r, g, &h, &f, dlen))
                    rc = dtsi_reasm_add_placed(&r, g, &h, &f, now, who & 0x80, &out, &oh);
                else
                    rc = dtsi_reasm_add(&r, &h, &f, data + off + DTSI_FRAG_HDR_SIZE, dlen, now,
                                        who & 0x80, &out, &oh);
            } else {
                rc = dtsi_reasm_add(&r, &h, &f, data + off + DTSI_FRAG_HDR_SIZE, dlen, now,
                                    who & 0x80, &out, &oh);
            }
            adding_control = 0;
            if (rc == DTSI_REASM_DONE) {
                if (!out || oh.seq != h.seq) __builtin_trap();
                dtsi_reasm_recycle(&r, out, r.done_cap);
            }
        }
        if (r.bytes > r.max_bytes || r.n_slots > r.max_slots) __builtin_trap();
        size_t ctl = 0;
        for (size_t i = 0; i < r.n_slots; i++) ctl += r.slots[i].type_id == 0;
        if (ctl > 2 || (r.hint.gen && r.hint.type_id == 0)) __builtin_trap();
        off += plen;
        now += seq & 0x30;
        dtsi_reasm_expire(&r, now);
    }
    dtsi_reasm_fini(&r);
    return 0;
}

#ifndef BATON_CNATS_SHIM_H
#define BATON_CNATS_SHIM_H
#include <nats/nats.h>
#include <stdbool.h>
#include <malloc.h>  // mallinfo2: the tests see when a message's memory is freed

// nats.c's message filter: called on the connection's reading thread for every message of a
// known subscription, before the message is queued for that subscription's delivery thread; it
// may take the message (destroy it and set *msg to NULL). Not in nats.h: declared in nats.c's
// src/conn.h and exported by libnats (2.x through 3.11, Debian's 3.4.1 included), used by nats.c's
// own tests. Declared weak here, so a libnats without it still links and Baton falls back to
// delivery through the subscription (baton_natsConn_setFilter returns false).
typedef void (*baton_natsMsgFilter)(natsConnection *nc, natsMsg **msg, void *closure);
extern void natsConn_setFilterWithClosure(natsConnection *nc, baton_natsMsgFilter f, void *closure) __attribute__((weak));

static inline bool baton_natsConn_setFilter(natsConnection *nc, baton_natsMsgFilter f, void *closure) {
    if (natsConn_setFilterWithClosure == NULL) return false;
    natsConn_setFilterWithClosure(nc, f, closure);
    return true;
}

// nats.c's own message constructor: one allocation holding the subject, the reply subject, a
// header block already encoded (`hdrLen` bytes at the start of `buf`) and the payload, as the
// reading thread makes them for received messages. Publishing such a message copies the block
// as it is (`natsMsgHeader_encode`) instead of building a hash of the headers (`natsMsgHeader_Add`:
// ~17 allocations for 4 headers). Not in nats.h; exported by libnats, with this signature and
// that behaviour from 3.0 through 3.13 (checked in nats.c's sources; 2.x differs), so it is used
// only on a libnats 3.x (`nats_GetVersionNumber`), and declared weak.
extern natsStatus natsMsg_create(natsMsg **newMsg, const char *subject, int subjLen, const char *reply, int replyLen,
                                 const char *buf, int bufLen, int hdrLen) __attribute__((weak));

static inline bool baton_natsMsg_canCreateWithHeaderBlock(void) {
    int version = nats_GetVersionNumber();
    return natsMsg_create != NULL && version >= 0x030000 && version < 0x040000;
}

// The leading fields of nats.c's `struct __natsMsg` (src/msg.h), the same from 3.0 through 3.13:
// read only to find a received message's header block as it came over the wire, so that Baton
// parses it in one pass instead of nats.c building its header map (`natsMsgHeader_Keys`/`Values`
// lift it: a hash, a value object per field, arrays of keys and values).
typedef struct {
    void *gcNext;
    void *gcFreeCb;
    const char *subject;
    const char *reply;
    const char *hdr;
    const void *headers;
    const char *data;
    int dataLen;
    int hdrLen;
} baton_natsMsgLeadingFields;

// A received message's header block: its length in *length (0: no headers) and its bytes, or NULL
// when Baton must ask nats.c (a layout that does not match what the public accessors say, or
// headers nats.c has already parsed, which it does in place). Only for a libnats where
// baton_natsMsg_canCreateWithHeaderBlock() holds: the caller checks that once
// (`NATSMessage.headerBlockSupported`), not on every message.
static inline const char *baton_natsMsg_headerBlock(natsMsg *msg, int *length) {
    const baton_natsMsgLeadingFields *m = (const baton_natsMsgLeadingFields *) msg;
    // The fields around `hdr` must be where the accessors find them.
    if (m->subject != natsMsg_GetSubject(msg) || m->reply != natsMsg_GetReply(msg)
        || m->data != natsMsg_GetData(msg) || m->dataLen != natsMsg_GetDataLength(msg)) return NULL;
    if (m->headers != NULL) return NULL;
    if (m->hdr == NULL || m->hdrLen <= 0) {
        *length = 0;
        return "";
    }
    // In the message's own block: after its subject, ending before its payload.
    if (m->hdr <= m->subject || m->hdr + m->hdrLen >= m->data) return NULL;
    *length = m->hdrLen;
    return m->hdr;
}

// Frees a message on this thread, now. nats.c's natsMsg_Destroy hands every message that
// natsMsg_create made (every received one, and the ones Baton publishes with a header block) to
// the library's garbage-collector thread instead, and wakes that thread when it sleeps: under
// load, about one wake-up and one context switch per message — the busiest thread after the
// reading one in a worker running durable jobs (~2.4 switches and ~15 µs of CPU a job, perf and
// /proc). Clearing the message's collector callback (`gc.freeCb`, the second leading field)
// makes natsMsg_Destroy free it in place, as it frees messages natsMsg_Create made. Only for a
// libnats where baton_natsMsg_canCreateWithHeaderBlock() holds, and only when the message's
// fields are where the layout says (else the collector frees it, as before).
static inline void baton_natsMsg_destroyNow(natsMsg *msg) {
    if (msg == NULL) return;
    baton_natsMsgLeadingFields *m = (baton_natsMsgLeadingFields *) msg;
    if (m->subject == natsMsg_GetSubject(msg) && m->reply == natsMsg_GetReply(msg) && m->data == natsMsg_GetData(msg)) {
        m->gcFreeCb = NULL;
    }
    natsMsg_Destroy(msg);
}

#endif

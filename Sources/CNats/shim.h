#ifndef BATON_CNATS_SHIM_H
#define BATON_CNATS_SHIM_H
#include <nats/nats.h>
#include <stdbool.h>

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

#endif

/* The allow-list's flow table, as src/datapath/conntrack.ts keeps it in typed
 * arrays that C reads and moves on: C finds a packet's live flow and advances
 * it (the common case, every packet after a flow's first), JavaScript adds and
 * removes flows and decides everything else. The parity test
 * (test/unit/parity.test.ts) runs the same packets both ways. */
#ifndef CLOUDBRIDGE_CONNTRACK_H
#define CLOUDBRIDGE_CONNTRACK_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

typedef struct flows flows_t;

/* The table an external names, or NULL. */
flows_t *flows_from(napi_env env, napi_value v);

/* For an outlet or inlet taking `v` (a table, or null for none): lets go of
 * what *ref held, holds `v` instead, and returns its table or NULL. */
flows_t *flows_hold(napi_env env, napi_value v, napi_ref *ref);

/* For a framed packet going out (outbound 1) or coming in (0): the rule of the
 * live flow it belongs to, the flow advanced and the rule's hit counted; or -1
 * when JavaScript must decide (no live flow, not IPv4 TCP/UDP, a fragment). */
int flows_pass(flows_t *f, const uint8_t *framed, size_t len, int outbound);

/* Registers flowTable and flowCheck on `exports`. */
napi_status conntrack_init(napi_env env, napi_value exports);

#endif

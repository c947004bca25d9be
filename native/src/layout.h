/* The typed arrays JavaScript and C share, named once. Each list below
 * makes the C enum (OCTL_ENABLED, ...) and the object the addon exports as
 * `layout` (layout.outletCtl.ENABLED, ...), which src/native/addon.ts reads
 * at load time and checks against the names TypeScript expects; so the two
 * sides cannot drift apart silently. */
#ifndef CLOUDBRIDGE_LAYOUT_H
#define CLOUDBRIDGE_LAYOUT_H

#include <node_api.h>

/* outlet ctl: Int32Array written by JavaScript, read by ssh_out.c */
#define OUTLET_CTL(X) X(ENABLED) X(RECIPIENT) X(MAX_PACKET) X(DNS_ADDR) X(SYN_TO_JS) X(HIGH_WATER) X(OTHER_TO_JS) X(DNS6) X(DNS6_LOW)
/* outlet num: Float64Array, the peer's window (shared with ssh2) and what C sent */
#define OUTLET_NUM(X) X(WINDOW) X(PACKETS) X(BYTES)
/* inlet ctl: Int32Array written by JavaScript, read by ssh_in.c */
#define INLET_CTL(X) X(TUN_ON) X(RECIPIENT) X(PROBE) X(SYN_TO_JS)
/* inlet num: Float64Array, our window (shared with ssh2) and what C wrote or refused */
#define INLET_NUM(X) X(WINDOW) X(LOW_WATER) X(PACKETS) X(BYTES) X(MALFORMED) X(DROPPED) X(SPOOFED)

#define LAYOUT_OCTL(n) OCTL_##n,
#define LAYOUT_ONUM(n) ONUM_##n,
#define LAYOUT_ICTL(n) ICTL_##n,
#define LAYOUT_INUM(n) INUM_##n,
enum { OUTLET_CTL(LAYOUT_OCTL) OCTL_LEN };
enum { OUTLET_NUM(LAYOUT_ONUM) ONUM_LEN };
enum { INLET_CTL(LAYOUT_ICTL) ICTL_LEN };
enum { INLET_NUM(LAYOUT_INUM) INUM_LEN };

/* Sets exports.layout = { outletCtl, outletNum, inletCtl, inletNum }, each name -> index, plus LEN. */
napi_status layout_init(napi_env env, napi_value exports);

#endif

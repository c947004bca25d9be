/* Exports layout.h's lists to JavaScript, and the pure functions of the C
 * packet path that the parity tests (test/unit/parity.test.ts) hold
 * against their JavaScript twins. */
#include "layout.h"

#include "js_glue.h"
#include "packet.h"

static napi_status index_object(napi_env env, napi_value parent, const char *name, const char *const *names, int count) {
  napi_value obj, v;
  napi_status st = napi_create_object(env, &obj);
  for (int i = 0; st == napi_ok && i < count; i++) {
    st = napi_create_int32(env, i, &v);
    if (st == napi_ok) st = napi_set_named_property(env, obj, names[i], v);
  }
  if (st == napi_ok) st = napi_create_int32(env, count, &v);
  if (st == napi_ok) st = napi_set_named_property(env, obj, "LEN", v);
  if (st == napi_ok) st = napi_set_named_property(env, parent, name, obj);
  return st;
}

#define LAYOUT_NAME(n) #n,
static const char *const outlet_ctl[] = {OUTLET_CTL(LAYOUT_NAME)};
static const char *const outlet_num[] = {OUTLET_NUM(LAYOUT_NAME)};
static const char *const inlet_ctl[] = {INLET_CTL(LAYOUT_NAME)};
static const char *const inlet_num[] = {INLET_NUM(LAYOUT_NAME)};

/* A TCP handshake as the outlet and inlet tell it (or too short to tell):
 * what they hand to JavaScript when clamps are on. */
static int handshake(const uint8_t *b, size_t len) {
  if (!framed_ok(b, len)) return 0;
  if (b[3] == OPENBSD_AF_INET6) return tcp6_syn_or_short(b, len);
  return b[TUN_FRAME_HEADER + 9] == 6 && tcp_syn_or_short(b, len);
}

enum verdict { FRAMED_OK, TCP_HANDSHAKE, DNS6_CANDIDATE, PROBE6_CANDIDATE, SOURCE_OK };

/* framedOk(bytes), tcpHandshake(bytes), dns6Candidate(bytes, low) and
 * probe6Candidate(bytes) -> boolean, for the parity tests: framed_ok (the
 * inlet's check), the handshake test above, and the IPv6 filters that hand
 * packets to JavaScript (packet.h). */
static napi_value js_verdict(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  void *which;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, &which));
  void *data;
  size_t len;
  if (argc < 1 || !typed_array_view(env, argv[0], napi_uint8_array, &data, &len)) {
    napi_throw_type_error(env, NULL, "(bytes: Uint8Array)");
    return NULL;
  }
  uint32_t low = 0;
  void *table = NULL;
  size_t words = 0;
  if ((enum verdict)(uintptr_t)which == SOURCE_OK) {
    if (argc < 2 || !typed_array_view(env, argv[1], napi_uint32_array, &table, &words)) {
      napi_throw_type_error(env, NULL, "(bytes: Uint8Array, table: Uint32Array)");
      return NULL;
    }
    /* an empty array has no data: a table with nothing in it, not "no table" (which admits all) */
    static uint32_t none[1];
    if (!table) table = none;
  } else if (argc > 1 && napi_get_value_uint32(env, argv[1], &low) != napi_ok) {
    low = 0;
  }
  int v = 0;
  switch ((enum verdict)(uintptr_t)which) {
    case FRAMED_OK: v = framed_ok(data, len); break;
    case TCP_HANDSHAKE: v = handshake(data, len); break;
    case DNS6_CANDIDATE: v = udp6_to_low(data, len, low); break;
    case PROBE6_CANDIDATE: v = icmp6_or_fragment(data, len); break;
    /* framed_ok first, as the inlet asks it */
    case SOURCE_OK: v = framed_ok(data, len) && source_ok(table, words, data, len); break;
  }
  CHECK(napi_get_boolean(env, v != 0, &out));
  return out;
}

static napi_status export_verdict(napi_env env, napi_value exports, const char *name, enum verdict which) {
  napi_value fn;
  napi_status st = napi_create_function(env, name, NAPI_AUTO_LENGTH, js_verdict, (void *)(uintptr_t)which, &fn);
  return st == napi_ok ? napi_set_named_property(env, exports, name, fn) : st;
}

napi_status layout_init(napi_env env, napi_value exports) {
  napi_value layout;
  napi_status st = napi_create_object(env, &layout);
  if (st == napi_ok) st = index_object(env, layout, "outletCtl", outlet_ctl, OCTL_LEN);
  if (st == napi_ok) st = index_object(env, layout, "outletNum", outlet_num, ONUM_LEN);
  if (st == napi_ok) st = index_object(env, layout, "inletCtl", inlet_ctl, ICTL_LEN);
  if (st == napi_ok) st = index_object(env, layout, "inletNum", inlet_num, INUM_LEN);
  if (st == napi_ok) st = napi_set_named_property(env, exports, "layout", layout);
  if (st == napi_ok) st = export_verdict(env, exports, "framedOk", FRAMED_OK);
  if (st == napi_ok) st = export_verdict(env, exports, "tcpHandshake", TCP_HANDSHAKE);
  if (st == napi_ok) st = export_verdict(env, exports, "dns6Candidate", DNS6_CANDIDATE);
  if (st == napi_ok) st = export_verdict(env, exports, "probe6Candidate", PROBE6_CANDIDATE);
  if (st == napi_ok) st = export_verdict(env, exports, "sourceOk", SOURCE_OK);
  return st;
}

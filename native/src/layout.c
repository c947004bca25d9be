/* Exports layout.h's lists to JavaScript, and two pure functions of the C
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

/* framedOk(bytes) and tcpHandshake(bytes) -> boolean, for the parity test:
 * framed_ok (the inlet's check) and the handshake test above. */
static napi_value js_verdict(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  void *which;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, &which));
  void *data;
  size_t len;
  if (argc < 1 || !typed_array_view(env, argv[0], napi_uint8_array, &data, &len)) {
    napi_throw_type_error(env, NULL, "(bytes: Uint8Array)");
    return NULL;
  }
  int v = which ? handshake(data, len) : framed_ok(data, len);
  CHECK(napi_get_boolean(env, v != 0, &out));
  return out;
}

napi_status layout_init(napi_env env, napi_value exports) {
  napi_value layout, fn;
  napi_status st = napi_create_object(env, &layout);
  if (st == napi_ok) st = index_object(env, layout, "outletCtl", outlet_ctl, OCTL_LEN);
  if (st == napi_ok) st = index_object(env, layout, "outletNum", outlet_num, ONUM_LEN);
  if (st == napi_ok) st = index_object(env, layout, "inletCtl", inlet_ctl, ICTL_LEN);
  if (st == napi_ok) st = index_object(env, layout, "inletNum", inlet_num, INUM_LEN);
  if (st == napi_ok) st = napi_set_named_property(env, exports, "layout", layout);
  if (st == napi_ok) st = napi_create_function(env, "framedOk", NAPI_AUTO_LENGTH, js_verdict, NULL, &fn);
  if (st == napi_ok) st = napi_set_named_property(env, exports, "framedOk", fn);
  if (st == napi_ok) st = napi_create_function(env, "tcpHandshake", NAPI_AUTO_LENGTH, js_verdict, (void *)1, &fn);
  if (st == napi_ok) st = napi_set_named_property(env, exports, "tcpHandshake", fn);
  return st;
}

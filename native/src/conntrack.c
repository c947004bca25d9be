/* See conntrack.h. Every constant and step here has its twin in
 * src/datapath/conntrack.ts; change both, the parity test holds them equal. */
#include "conntrack.h"

#include <stdlib.h>

#include "js_glue.h"
#include "packet.h"

enum { TCP = 6, UDP = 17, FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10 };
enum { NEW = 1, REPLIED = 2, CLOSING = 3, CLOSED = 4 };
enum { META_HEAD = 0, META_TAIL = 1 };
#define SECOND 1000.0
#define TCP_NEW (120 * SECOND)
#define TCP_ESTABLISHED (5 * 24 * 3600 * SECOND)
#define TCP_CLOSING (120 * SECOND)
#define TCP_CLOSED (10 * SECOND)
#define UDP_NEW (30 * SECOND)
#define UDP_REPLIED (180 * SECOND)

/* the typed arrays, in this order, as FlowTable.shared() and AllowList's hits name them */
#define FLOW_ARRAYS(X)                                      \
  X(proto, uint8_t, napi_uint8_array)                       \
  X(state, uint8_t, napi_uint8_array)                       \
  X(local, uint32_t, napi_uint32_array)                     \
  X(remote, uint32_t, napi_uint32_array)                    \
  X(ports, uint32_t, napi_uint32_array)                     \
  X(ruleOf, int32_t, napi_int32_array)                      \
  X(buckets, int32_t, napi_int32_array)                     \
  X(chain, int32_t, napi_int32_array)                       \
  X(newer, int32_t, napi_int32_array)                       \
  X(older, int32_t, napi_int32_array)                       \
  X(meta, int32_t, napi_int32_array)                        \
  X(expires, double, napi_float64_array)                    \
  X(now, double, napi_float64_array)                        \
  X(hits, double, napi_float64_array)

#define FLOW_FIELD(name, ctype, ttype) ctype *name; size_t name##_len;
#define FLOW_REF(name, ctype, ttype) napi_ref name##_ref;
struct flows {
  FLOW_ARRAYS(FLOW_FIELD)
  FLOW_ARRAYS(FLOW_REF)
  uint32_t mask;
};

static uint32_t bucket_of(const flows_t *f, uint32_t proto, uint32_t local, uint32_t remote, uint32_t ports) {
  uint32_t h = ((local ^ 0x9e3779b9u) * 0x85ebca6bu) ^ (remote * 0xc2b2ae35u) ^ ((ports ^ (proto << 24)) * 0x27d4eb2fu);
  h ^= h >> 15;
  return h & f->mask;
}

static int find(const flows_t *f, uint32_t proto, uint32_t local, uint32_t lport, uint32_t remote, uint32_t rport) {
  uint32_t ports = (lport << 16) | rport;
  size_t n = f->proto_len;
  for (int32_t i = f->buckets[bucket_of(f, proto, local, remote, ports)]; i >= 0 && (size_t)i < n; i = f->chain[i]) {
    if (f->local[i] == local && f->remote[i] == remote && f->ports[i] == ports && f->proto[i] == proto) {
      return f->expires[i] <= f->now[0] ? -1 : i; /* expired: JavaScript removes it */
    }
  }
  return -1;
}

static void touch(flows_t *f, int32_t i) {
  int32_t *m = f->meta;
  if (m[META_HEAD] == i) return;
  int32_t n = f->newer[i], o = f->older[i];
  if (n >= 0) f->older[n] = o;
  else m[META_HEAD] = o;
  if (o >= 0) f->newer[o] = n;
  else m[META_TAIL] = n;
  f->newer[i] = -1;
  f->older[i] = m[META_HEAD];
  if (m[META_HEAD] >= 0) f->newer[m[META_HEAD]] = i;
  m[META_HEAD] = i;
  if (m[META_TAIL] < 0) m[META_TAIL] = i;
}

static void seen(flows_t *f, int32_t i, uint32_t proto, uint32_t flags, int from_remote) {
  uint8_t s = f->state[i];
  double timeout;
  if (proto == TCP) {
    if (flags & RST) s = CLOSED;
    else if ((flags & FIN) && s != CLOSED) s = CLOSING;
    else if (from_remote && s == NEW && (flags & (SYN | ACK)) == (SYN | ACK)) s = REPLIED;
    timeout = s == NEW ? TCP_NEW : s == REPLIED ? TCP_ESTABLISHED : s == CLOSING ? TCP_CLOSING : TCP_CLOSED;
  } else {
    if (from_remote) s = REPLIED;
    timeout = s == REPLIED ? UDP_REPLIED : UDP_NEW;
  }
  f->state[i] = s;
  f->expires[i] = f->now[0] + timeout;
  touch(f, i);
}

int flows_pass(flows_t *f, const uint8_t *b, size_t len, int outbound) {
  if (len < TUN_FRAME_HEADER + 20 || get32(b) != OPENBSD_AF_INET) return -1;
  const uint8_t *ip = b + TUN_FRAME_HEADER;
  uint32_t proto = ip[9];
  size_t l4 = TUN_FRAME_HEADER + (size_t)(ip[0] & 15) * 4;
  if ((proto != TCP && proto != UDP) || (((ip[6] & 0x1f) << 8) | ip[7]) != 0 || len < l4 + 4) return -1;
  uint32_t src = get32(ip + 12), dst = get32(ip + 16);
  uint32_t sport = ((uint32_t)b[l4] << 8) | b[l4 + 1], dport = ((uint32_t)b[l4 + 2] << 8) | b[l4 + 3];
  uint32_t flags = proto == TCP && len >= l4 + 14 ? b[l4 + 13] : 0;
  int i = outbound ? find(f, proto, src, sport, dst, dport) : find(f, proto, dst, dport, src, sport);
  if (i < 0) return -1;
  int32_t rule = f->ruleOf[i];
  if (rule < 0 || (size_t)rule >= f->hits_len) return -1;
  seen(f, i, proto, flags, !outbound);
  f->hits[rule] += 1;
  return rule;
}

flows_t *flows_from(napi_env env, napi_value v) {
  flows_t *f = NULL;
  if (napi_get_value_external(env, v, (void **)&f) != napi_ok) return NULL;
  return f;
}

flows_t *flows_hold(napi_env env, napi_value v, napi_ref *ref) {
  drop_ref(env, ref);
  flows_t *f = flows_from(env, v);
  if (f && napi_create_reference(env, v, 1, ref) != napi_ok) return NULL;
  return f;
}

static void flows_finalize(napi_env env, void *data, void *hint) {
  flows_t *f = data;
#define FLOW_UNREF(name, ctype, ttype) drop_ref(env, &f->name##_ref);
  FLOW_ARRAYS(FLOW_UNREF)
  free(f);
}

/* flowTable({ proto, state, local, ..., now, hits }) -> handle: FlowTable.shared() and AllowList.hits. */
static napi_value js_flow_table(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], handle;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  flows_t *f = calloc(1, sizeof *f);
  if (!f || argc < 1) {
    free(f);
    napi_throw_type_error(env, NULL, "flowTable(arrays)");
    return NULL;
  }
  int ok = 1;
#define FLOW_TAKE(name, ctype, ttype)                                                                  \
  if (ok) {                                                                                   \
    napi_value a;                                                                             \
    void *data = NULL;                                                                        \
    ok = napi_get_named_property(env, argv[0], #name, &a) == napi_ok &&                       \
         typed_array_view(env, a, ttype, &data, &f->name##_len) &&                            \
         napi_create_reference(env, a, 1, &f->name##_ref) == napi_ok;                         \
    f->name = data;                                                                           \
  }
  FLOW_ARRAYS(FLOW_TAKE)
  size_t n = f->proto_len, nb = f->buckets_len;
  ok = ok && n > 0 && nb > 0 && (nb & (nb - 1)) == 0 && f->state_len == n && f->local_len == n && f->remote_len == n &&
       f->ports_len == n && f->ruleOf_len == n && f->chain_len == n && f->newer_len == n && f->older_len == n &&
       f->expires_len == n && f->meta_len >= 2 && f->now_len >= 1;
  if (!ok) {
    flows_finalize(env, f, NULL);
    napi_throw_type_error(env, NULL, "flowTable: the arrays of a FlowTable (and the allow-list's hits)");
    return NULL;
  }
  f->mask = (uint32_t)(nb - 1);
  CHECK(napi_create_external(env, f, flows_finalize, NULL, &handle));
  return handle;
}

/* flowCheck(handle, bytes, outbound) -> rule or -1: flows_pass, for the parity test. */
static napi_value js_flow_check(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  flows_t *f = argc >= 3 ? flows_from(env, argv[0]) : NULL;
  void *data;
  size_t len;
  bool outbound = false;
  if (!f || !typed_array_view(env, argv[1], napi_uint8_array, &data, &len) || napi_get_value_bool(env, argv[2], &outbound) != napi_ok) {
    napi_throw_type_error(env, NULL, "flowCheck(flows, bytes: Uint8Array, outbound: boolean)");
    return NULL;
  }
  CHECK(napi_create_int32(env, flows_pass(f, data, len, outbound), &out));
  return out;
}

napi_status conntrack_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"flowTable", NULL, js_flow_table, NULL, NULL, NULL, napi_default, NULL},
      {"flowCheck", NULL, js_flow_check, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

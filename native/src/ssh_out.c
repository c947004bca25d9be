/*
 * Outbound tun packets without JavaScript. Between two pings the process
 * sleeps and its caches go cold; the JavaScript path from tun to socket
 * (channel bookkeeping, sealing, Node's stream machinery) then cost ~40 µs
 * per packet against a few µs in C, and that was most of what the tunnel
 * added to a round trip over `ssh -w`.
 *
 * Three pieces:
 * - Sealer: AES-GCM exactly as ssh2's own binding and OpenSSH do it. It
 *   replaces ssh2's AESGCMCipher class, so the one IV counter is shared by
 *   the packets ssh2 seals and those sealed here.
 * - writer (writer.c): owns the SSH connection's socket for sending once
 *   installed, so bytes sealed here and by ssh2 leave in sealing order.
 * - outlet: one tun channel's state as JavaScript keeps it (enabled,
 *   recipient, peer's maximum packet, peer's window, what must go through
 *   JavaScript), read at each tun wake-up.
 */
#include "ssh_out.h"
#include "writer.h"
#include "gcm.h"
#include "js_glue.h"
#include "conntrack.h"
#include "layout.h"
#include "packet.h"

#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define TAG_LEN GCM_TAG
#define MSG_CHANNEL_DATA 94
/* uint32 length, byte padding length, byte msg, uint32 recipient, uint32 data length */
#define CD_HEADER 14


/* ---- Sealer ----------------------------------------------------------- */

/* encrypt(packet): in place, as ssh2's binding (which throws on failure). */
static napi_value sealer_encrypt(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  gcm_t *s = gcm_this(env, info, &argc, argv);
  void *data;
  size_t len;
  if (!s || argc < 1 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok || len < 4 + GCM_TAG) {
    napi_throw_type_error(env, NULL, "encrypt(packet)");
    return NULL;
  }
  if (gcm_seal(s, data, len) != 0) napi_throw_error(env, NULL, "Failed to encrypt packet");
  return NULL;
}

/* ---- outlet ----------------------------------------------------------- */

struct outlet {
  napi_env env;
  int closed;
  gcm_t *sealer;
  writer_t *writer;
  int32_t *ctl;      /* Int32Array(OCTL_LEN) written by JavaScript (layout.h) */
  double *window;    /* Float64Array(ONUM_LEN): peer window, packets and bytes sent here (layout.h) */
  flows_t *flows;    /* with an allow-list: only packets of flows it let out already are sent here */
  napi_ref sealer_ref, writer_ref, ctl_ref, window_ref, flows_ref;
  uint8_t pad[4096]; /* random padding, refilled as it runs out */
  size_t pad_at;
};

outlet_t *outlet_from(napi_env env, napi_value v) {
  outlet_t *o = NULL;
  if (napi_get_value_external(env, v, (void **)&o) != napi_ok || !o || o->closed) return NULL;
  return o;
}

/* Packets that need what only JavaScript does: TCP handshakes may need
 * their MSS clamped or a line in the flow log, other protocols a flow log
 * line, and the in-tunnel DNS address answers UDP sent to it. */
static int needs_js(const outlet_t *o, const uint8_t *b, uint32_t len) {
  /* IPv6: handshakes to clamp or log, UDP that may be for the in-tunnel DNS
   * address (its low 32 bits match; JavaScript compares the rest and sends
   * on what is not), the rest for the flow log */
  if (len >= TUN_FRAME_HEADER + 40 && get32(b) == OPENBSD_AF_INET6) {
    uint8_t next = b[TUN_FRAME_HEADER + 6];
    if (next == 6) return o->ctl[OCTL_SYN_TO_JS] && tcp6_syn_or_short(b, len);
    if (o->ctl[OCTL_DNS6] && udp6_to_low(b, len, (uint32_t)o->ctl[OCTL_DNS6_LOW])) return 1;
    return o->ctl[OCTL_OTHER_TO_JS] != 0;
  }
  if (len < TUN_FRAME_HEADER + 20 || get32(b) != OPENBSD_AF_INET) return 0;
  const uint8_t *ip = b + TUN_FRAME_HEADER;
  uint8_t proto = ip[9];
  if (proto == 6) return o->ctl[OCTL_SYN_TO_JS] && tcp_syn_or_short(b, len);
  if (o->ctl[OCTL_OTHER_TO_JS]) return 1;
  return proto == 17 && o->ctl[OCTL_DNS_ADDR] != 0 && get32(ip + 16) == (uint32_t)o->ctl[OCTL_DNS_ADDR];
}

size_t outlet_send(outlet_t *o, const uint8_t *arena, const uint32_t *lengths, size_t count, size_t *taken_bytes) {
  writer_t *w = o->writer;
  if (o->closed || !o->ctl[OCTL_ENABLED] || !o->sealer || !o->sealer->ctx || !w || w->dead || w->io.closing) return 0;
  size_t i, off = 0;
  for (i = 0; i < count; i++) {
    uint32_t len = lengths[i];
    const uint8_t *pkt = arena + off;
    if (len > (uint32_t)o->ctl[OCTL_MAX_PACKET] || (double)len > o->window[ONUM_WINDOW] ||
        (double)(w->tail - w->head) > (double)o->ctl[OCTL_HIGH_WATER] || needs_js(o, pkt, len) ||
        (o->flows && flows_pass(o->flows, pkt, len, 1) < 0))
      break;
    /* RFC 4253 section 6: 4..19 bytes of padding make all but the length a multiple of 16. */
    size_t body = CD_HEADER + len;
    size_t pad = 16 - ((body - 4) & 15);
    if (pad < 4) pad += 16;
    size_t total = body + pad + TAG_LEN;
    uint8_t *out = writer_reserve(w, total);
    if (!out) break;
    put32(out, (uint32_t)(body + pad - 4));
    out[4] = (uint8_t)pad;
    out[5] = MSG_CHANNEL_DATA;
    put32(out + 6, (uint32_t)o->ctl[OCTL_RECIPIENT]);
    put32(out + 10, len);
    if (len > 0) memcpy(out + CD_HEADER, pkt, len); /* an empty packet may come with no arena at all */
    if (o->pad_at + pad > sizeof o->pad) {
      if (RAND_bytes(o->pad, sizeof o->pad) != 1) break;
      o->pad_at = 0;
    }
    memcpy(out + body, o->pad + o->pad_at, pad);
    o->pad_at += pad;
    if (gcm_seal(o->sealer, out, total) != 0) break;
    w->tail += total;
    o->window[ONUM_WINDOW] -= len;
    o->window[ONUM_PACKETS] += 1;
    o->window[ONUM_BYTES] += len;
    off += len;
  }
  if (i > 0 && !w->polling) writer_flush(w);
  else writer_sync_queued(w);
  *taken_bytes = off;
  return i;
}

/* The struct lives as long as its external: readers hold a reference to it. */
static void outlet_finalize(napi_env env, void *data, void *hint) {
  outlet_t *o = data;
  drop_ref(env, &o->sealer_ref);
  drop_ref(env, &o->writer_ref);
  drop_ref(env, &o->ctl_ref);
  drop_ref(env, &o->window_ref);
  drop_ref(env, &o->flows_ref);
  free(o);
}

/* outlet(writer, ctl: Int32Array(OCTL_LEN), num: Float64Array(ONUM_LEN)) -> handle; starts without a sealer. */
static napi_value js_outlet(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  writer_t *w = argc >= 3 ? writer_from(env, argv[0]) : NULL;
  int32_t *ctl = w ? typed_array_data(env, argv[1], napi_int32_array, OCTL_LEN) : NULL;
  double *window = w ? typed_array_data(env, argv[2], napi_float64_array, ONUM_LEN) : NULL;
  if (!ctl || !window) {
    napi_throw_type_error(env, NULL, "outlet(writer, ctl: Int32Array(layout.outletCtl.LEN), num: Float64Array(layout.outletNum.LEN))");
    return NULL;
  }
  outlet_t *o = calloc(1, sizeof *o);
  if (!o) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  o->env = env;
  o->writer = w;
  o->ctl = ctl;
  o->window = window;
  o->pad_at = sizeof o->pad;
  napi_value handle;
  CHECK(napi_create_reference(env, argv[0], 1, &o->writer_ref));
  CHECK(napi_create_reference(env, argv[1], 1, &o->ctl_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &o->window_ref));
  CHECK(napi_create_external(env, o, outlet_finalize, NULL, &handle));
  return handle;
}

/* outletSealer(handle, sealer | null): the cipher instance sealing now (null: none of ours). */
static napi_value js_outlet_sealer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  outlet_t *o = argc >= 2 ? outlet_from(env, argv[0]) : NULL;
  if (o) o->sealer = hold_wrapped(env, argv[1], &o->sealer_ref);
  return NULL;
}

/* outletClose(handle): sends nothing more; freed once no reader holds it. */
static napi_value js_outlet_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  outlet_t *o = argc >= 1 ? outlet_from(env, argv[0]) : NULL;
  if (!o) return NULL;
  o->closed = 1;
  o->sealer = NULL;
  o->writer = NULL;
  o->flows = NULL;
  drop_ref(env, &o->sealer_ref);
  drop_ref(env, &o->writer_ref);
  drop_ref(env, &o->ctl_ref);
  drop_ref(env, &o->window_ref);
  drop_ref(env, &o->flows_ref);
  return NULL;
}

/* outletFlows(handle, flows | null): the allow-list's flow table (conntrack.h), or none. */
static napi_value js_outlet_flows(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  outlet_t *o = argc >= 2 ? outlet_from(env, argv[0]) : NULL;
  if (o) o->flows = flows_hold(env, argv[1], &o->flows_ref);
  return NULL;
}

/* outletSend(handle, arena: Uint8Array, lengths: Uint32Array) -> packets taken: what the
 * tun reader hands the outlet with each batch, callable on its own for the parity test. */
static napi_value js_outlet_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  outlet_t *o = argc >= 3 ? outlet_from(env, argv[0]) : NULL;
  size_t arena_len, count;
  void *arena, *lengths;
  if (!o || !typed_array_view(env, argv[1], napi_uint8_array, &arena, &arena_len) ||
      !typed_array_view(env, argv[2], napi_uint32_array, &lengths, &count)) {
    napi_throw_type_error(env, NULL, "outletSend(outlet, arena: Uint8Array, lengths: Uint32Array)");
    return NULL;
  }
  size_t sum = 0;
  for (size_t i = 0; i < count; i++) sum += ((const uint32_t *)lengths)[i];
  if (sum > arena_len) {
    napi_throw_range_error(env, NULL, "outletSend: lengths run past the arena");
    return NULL;
  }
  size_t taken_bytes = 0;
  CHECK(napi_create_uint32(env, (uint32_t)outlet_send(o, arena, lengths, count, &taken_bytes), &out));
  return out;
}

napi_status ssh_out_init(napi_env env, napi_value exports) {
  napi_value sealer_class;
  napi_status st = gcm_define_class(env, "Sealer", 1, "encrypt", sealer_encrypt, &sealer_class);
  if (st != napi_ok) return st;
  napi_property_descriptor props[] = {
      {"Sealer", NULL, NULL, NULL, NULL, sealer_class, napi_default, NULL},
      {"outlet", NULL, js_outlet, NULL, NULL, NULL, napi_default, NULL},
      {"outletSealer", NULL, js_outlet_sealer, NULL, NULL, NULL, napi_default, NULL},
      {"outletClose", NULL, js_outlet_close, NULL, NULL, NULL, napi_default, NULL},
      {"outletSend", NULL, js_outlet_send, NULL, NULL, NULL, napi_default, NULL},
      {"outletFlows", NULL, js_outlet_flows, NULL, NULL, NULL, napi_default, NULL},
  };
  st = napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return st == napi_ok ? writer_init(env, exports) : st;
}

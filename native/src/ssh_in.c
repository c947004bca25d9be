/*
 * Inbound tun packets without JavaScript, the other half of ssh_out.c. Once
 * the tun channel is up, the SSH socket is read here instead of by Node:
 * every packet is opened with AES-GCM (Opener replaces ssh2's
 * AESGCMDecipher, so the IV counter is one); CHANNEL_DATA for the tun
 * channel is checked and written to the tun device at once; every other
 * message goes to ssh2 as the plaintext payload its decipher would have
 * handed on, synchronously, so that a NEWKEYS installs the next keys before
 * the bytes after it are opened.
 */
#include "ssh_in.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "gcm.h"
#include "js_glue.h"
#include "conntrack.h"
#include "layout.h"
#include "packet.h"

#define TAG_LEN GCM_TAG
#define MSG_CHANNEL_DATA 94
#define READ_SIZE (256 * 1024)
/* ssh2's limit on a packet's length field (MAX_PACKET_SIZE) */
#define MAX_PACKET 35000


/* ---- Opener ----------------------------------------------------------- */

/* decrypt(packet, length, tag): as ssh2's binding, `packet` being all after the length field. */
static napi_value opener_decrypt(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  gcm_t *o = gcm_this(env, info, &argc, argv);
  void *packet, *tag;
  size_t len, tag_len;
  uint32_t length;
  if (!o || argc < 3 || napi_get_buffer_info(env, argv[0], &packet, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &length) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &tag, &tag_len) != napi_ok || tag_len != GCM_TAG) {
    napi_throw_type_error(env, NULL, "decrypt(packet, length, tag)");
    return NULL;
  }
  uint8_t len_bytes[4] = {(uint8_t)(length >> 24), (uint8_t)(length >> 16), (uint8_t)(length >> 8), (uint8_t)length};
  if (gcm_open(o, len_bytes, packet, len, tag) != 0) napi_throw_error(env, NULL, "Failed to decrypt packet");
  return NULL;
}

/* ---- inlet ------------------------------------------------------------ */

struct inlet {
  watched_t io; /* our dup of the SSH socket; first, see js_glue.h */
  napi_env env;
  int tun_fd;
  int polling, stopped;
  gcm_t *opener;
  uint8_t *buf;
  size_t head, tail;
  int32_t *ctl;
  double *num;
  flows_t *flows; /* with an allow-list: its flow table (conntrack.h) */
  const uint32_t *sources; /* the sources the remote end may speak for (packet.h, source_ok) */
  size_t sources_len;
  napi_ref opener_ref, ctl_ref, num_ref, payload_ref, end_ref, window_ref, flows_ref, sources_ref;
};

/* Packets JavaScript must see: a probe's echo reply (ICMPv6 may come in
 * fragments), handshakes to clamp. */
static int needs_js(const inlet_t *in, const uint8_t *b, size_t len) {
  if (b[3] == OPENBSD_AF_INET6) {
    if (icmp6_or_fragment(b, len)) return in->ctl[ICTL_PROBE] != 0;
    return in->ctl[ICTL_SYN_TO_JS] && tcp6_syn_or_short(b, len);
  }
  if (b[3] != OPENBSD_AF_INET) return 0;
  const uint8_t *ip = b + TUN_FRAME_HEADER;
  if (ip[9] == 1) return in->ctl[ICTL_PROBE] != 0;
  return ip[9] == 6 && in->ctl[ICTL_SYN_TO_JS] && tcp_syn_or_short(b, len);
}

/* Calls `fn` with a copy of data[0..len), with the int `v`, or with nothing. */
static void inlet_call(inlet_t *in, napi_ref fn, const uint8_t *data, size_t len, int with_int, int32_t v) {
  napi_env env = in->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value arg;
  void *copy;
  size_t argc = 0;
  if (data) {
    if (napi_create_buffer_copy(env, len, data, &copy, &arg) == napi_ok) argc = 1;
  } else if (with_int) {
    if (napi_create_int32(env, v, &arg) == napi_ok) argc = 1;
  }
  call_from_loop(env, fn, argc, &arg);
  napi_close_handle_scope(env, scope);
}

static void inlet_stop_polling(inlet_t *in) {
  if (in->polling) {
    uv_poll_stop(&in->io.poll);
    in->polling = 0;
  }
}

/* Opens and dispatches every whole packet buffered. Returns 0, or an errno
 * that ends reading here (EPROTO: a bad packet; 0 with stopped set: the
 * keys went to a cipher that is not ours). */
static int inlet_process(inlet_t *in) {
  while (!in->stopped && !in->io.closing && in->tail - in->head >= 4) {
    uint8_t *p = in->buf + in->head;
    uint32_t len = get32(p);
    /* written so that no sum can wrap: len comes from the wire */
    if (len > MAX_PACKET - 20 || len < 16 || (len & 15) != 0) return EPROTO;
    if (in->tail - in->head < 4 + (size_t)len + TAG_LEN) break;
    if (!in->opener || gcm_open(in->opener, p, p + 4, len, p + 4 + len) != 0) return EPROTO;
    size_t pad = p[4];
    if ((size_t)pad + 1 > len) return EPROTO;
    uint8_t *payload = p + 5;
    size_t payload_len = len - pad - 1;
    in->head += 4 + (size_t)len + TAG_LEN;
    if (payload_len == 0) continue;
    if (payload[0] == MSG_CHANNEL_DATA && payload_len >= 9 && in->ctl[ICTL_TUN_ON] &&
        get32(payload + 1) == (uint32_t)in->ctl[ICTL_RECIPIENT] && 9 + (size_t)get32(payload + 5) <= payload_len) {
      uint32_t dlen = get32(payload + 5);
      const uint8_t *data = payload + 9;
      int ok = framed_ok(data, dlen);
      int spoofed = ok && !source_ok(in->sources, in->sources_len, data, dlen);
      /* with an allow-list, only packets of flows this side started are written here */
      if (!ok || spoofed || (!needs_js(in, data, dlen) && (!in->flows || flows_pass(in->flows, data, dlen, 0) >= 0))) {
        if (in->num[INUM_WINDOW] <= 0) continue; /* as ssh2: data beyond the window is ignored */
        in->num[INUM_WINDOW] -= dlen;
        if (!ok) {
          in->num[INUM_MALFORMED]++;
        } else if (spoofed) {
          in->num[INUM_SPOOFED]++;
        } else if (tun_write_framed(in->tun_fd, data, dlen) < 0) {
          in->num[INUM_DROPPED]++;
        } else {
          in->num[INUM_PACKETS]++;
          in->num[INUM_BYTES] += dlen;
        }
        if (in->num[INUM_WINDOW] < in->num[INUM_LOW_WATER]) inlet_call(in, in->window_ref, NULL, 0, 0, 0);
        continue;
      }
    }
    /* Synchronous: a NEWKEYS has the next keys installed (inletOpener) before the bytes after it are opened. */
    inlet_call(in, in->payload_ref, payload, payload_len, 0, 0);
  }
  /* what is left is less than one packet: move it to the front, leaving room for a whole read */
  if (in->head > 0) {
    memmove(in->buf, in->buf + in->head, in->tail - in->head);
    in->tail -= in->head;
    in->head = 0;
  }
  return 0;
}

static void inlet_end(inlet_t *in, int err) {
  inlet_stop_polling(in);
  in->stopped = 1;
  inlet_call(in, in->end_ref, NULL, 0, 1, err);
}

static void on_socket_readable(uv_poll_t *handle, int status, int events) {
  inlet_t *in = handle->data;
  if (in->io.closing || in->stopped) return;
  if (status < 0) {
    inlet_end(in, -status);
    return;
  }
  for (;;) {
    if (in->tail == READ_SIZE + MAX_PACKET + TAG_LEN + 4) {
      /* a whole packet always fits after compaction; this is a bad length */
      inlet_end(in, EPROTO);
      return;
    }
    ssize_t n = read(in->io.fd, in->buf + in->tail, READ_SIZE + MAX_PACKET + TAG_LEN + 4 - in->tail);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      /* EOF or an error: Node reads the socket again and sees it itself */
      inlet_end(in, n == 0 ? 0 : errno);
      return;
    }
    in->tail += (size_t)n;
    int err = inlet_process(in);
    if (err) {
      inlet_end(in, err);
      return;
    }
    if (in->stopped || in->io.closing) return;
    if ((size_t)n < READ_SIZE / 2) return; /* drained, most likely: wait for the next wake-up */
  }
}

/* The poll handle is closed: the buffer and references go now. */
static void inlet_release(watched_t *io) {
  inlet_t *in = (inlet_t *)io;
  napi_ref *refs[] = {&in->opener_ref, &in->ctl_ref, &in->num_ref, &in->payload_ref, &in->end_ref, &in->window_ref, &in->flows_ref, &in->sources_ref};
  in->flows = NULL;
  in->sources = NULL;
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) drop_ref(in->env, refs[i]);
  free(in->buf);
  in->buf = NULL;
}

static void inlet_start_close(inlet_t *in) {
  inlet_stop_polling(in);
  watched_close(&in->io);
}

static inlet_t *inlet_from(napi_env env, napi_value v) {
  return watched_from(env, v);
}

/* inlet(socketFd, tunFd, ctl: Int32Array(ICTL_LEN), num: Float64Array(INUM_LEN), onPayload(view), onEnd(errno), onWindow()) -> handle */
static napi_value js_inlet(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, tun_fd;
  int32_t *ctl = argc >= 7 ? typed_array_data(env, argv[2], napi_int32_array, ICTL_LEN) : NULL;
  double *num = argc >= 7 ? typed_array_data(env, argv[3], napi_float64_array, INUM_LEN) : NULL;
  if (!ctl || !num || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[1], &tun_fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "inlet(fd, tunFd, ctl, num, onPayload, onEnd, onWindow)");
    return NULL;
  }
  inlet_t *in = calloc(1, sizeof *in);
  uint8_t *buf = malloc(READ_SIZE + MAX_PACKET + TAG_LEN + 4);
  if (!in || !buf || watched_init(env, &in->io, fd, inlet_release) != 0) {
    free(in);
    free(buf);
    napi_throw_error(env, NULL, "inlet: cannot watch the socket");
    return NULL;
  }
  in->env = env;
  in->tun_fd = tun_fd;
  in->buf = buf;
  in->ctl = ctl;
  in->num = num;
  CHECK(napi_create_reference(env, argv[2], 1, &in->ctl_ref));
  CHECK(napi_create_reference(env, argv[3], 1, &in->num_ref));
  CHECK(napi_create_reference(env, argv[4], 1, &in->payload_ref));
  CHECK(napi_create_reference(env, argv[5], 1, &in->end_ref));
  CHECK(napi_create_reference(env, argv[6], 1, &in->window_ref));
  napi_value handle;
  CHECK(napi_create_external(env, in, watched_finalize, NULL, &handle));
  return handle;
}

/* inletFlows(handle, flows | null): the allow-list's flow table, or none. */
static napi_value js_inlet_flows(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  inlet_t *in = argc >= 2 ? inlet_from(env, argv[0]) : NULL;
  if (in) in->flows = flows_hold(env, argv[1], &in->flows_ref);
  return NULL;
}

/* inletSources(handle, table: Uint32Array): the sources the remote end may
 * speak for (sources.ts); held by reference, read on every packet. */
static napi_value js_inlet_sources(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  inlet_t *in = argc >= 2 ? inlet_from(env, argv[0]) : NULL;
  void *data;
  size_t len;
  if (!in || !typed_array_view(env, argv[1], napi_uint32_array, &data, &len)) {
    napi_throw_type_error(env, NULL, "inletSources(handle, table: Uint32Array)");
    return NULL;
  }
  drop_ref(env, &in->sources_ref);
  CHECK(napi_create_reference(env, argv[1], 1, &in->sources_ref));
  /* an empty array has no data: a table with nothing in it (NULL would admit all) */
  static uint32_t none[1];
  in->sources = data ? data : none;
  in->sources_len = len;
  return NULL;
}

/* inletOpener(handle, opener | null): the keys in force (null: not ours; reading stops). */
static napi_value js_inlet_opener(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  inlet_t *in = argc >= 2 ? inlet_from(env, argv[0]) : NULL;
  if (in) in->opener = hold_wrapped(env, argv[1], &in->opener_ref);
  return NULL;
}

/* inletStart(handle): reads the socket from here on (Node must have stopped reading it). */
static napi_value js_inlet_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  inlet_t *in = argc >= 1 ? inlet_from(env, argv[0]) : NULL;
  if (!in || in->polling || in->stopped) return NULL;
  if (uv_poll_start(&in->io.poll, UV_READABLE, on_socket_readable) == 0) in->polling = 1;
  return NULL;
}

/* inletStop(handle) -> the bytes read and not yet opened (a packet's start): for ssh2 to parse. */
static napi_value js_inlet_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  inlet_t *in = argc >= 1 ? inlet_from(env, argv[0]) : NULL;
  napi_value out;
  void *copy;
  if (!in) {
    CHECK(napi_create_buffer(env, 0, &copy, &out));
    return out;
  }
  inlet_stop_polling(in);
  in->stopped = 1;
  CHECK(napi_create_buffer_copy(env, in->tail - in->head, in->buf + in->head, &copy, &out));
  in->head = in->tail = 0;
  return out;
}

static napi_value js_inlet_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  inlet_t *in = argc >= 1 ? inlet_from(env, argv[0]) : NULL;
  if (in) inlet_start_close(in);
  return NULL;
}

napi_status ssh_in_init(napi_env env, napi_value exports) {
  napi_value opener_class;
  napi_status st = gcm_define_class(env, "Opener", 0, "decrypt", opener_decrypt, &opener_class);
  if (st != napi_ok) return st;
  napi_property_descriptor props[] = {
      {"Opener", NULL, NULL, NULL, NULL, opener_class, napi_default, NULL},
      {"inlet", NULL, js_inlet, NULL, NULL, NULL, napi_default, NULL},
      {"inletOpener", NULL, js_inlet_opener, NULL, NULL, NULL, napi_default, NULL},
      {"inletFlows", NULL, js_inlet_flows, NULL, NULL, NULL, napi_default, NULL},
      {"inletSources", NULL, js_inlet_sources, NULL, NULL, NULL, napi_default, NULL},
      {"inletStart", NULL, js_inlet_start, NULL, NULL, NULL, napi_default, NULL},
      {"inletStop", NULL, js_inlet_stop, NULL, NULL, NULL, napi_default, NULL},
      {"inletClose", NULL, js_inlet_close, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

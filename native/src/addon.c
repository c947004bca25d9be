/*
 * cloudbridge tun addon, N-API side: moves IP packets between a tun device
 * (tun_linux.c or tun_darwin.c, picked by binding.gyp) and JavaScript without a thread-pool round
 * trip per packet.
 *
 * Reads: the fd is non-blocking and watched with uv_poll on the Node loop.
 * One readable wake-up drains up to a batch of packets into an arena owned by
 * JavaScript, each framed with the 4-byte address family header that the
 * tun@openssh.com channel uses (OpenBSD numbering: 2 = IPv4, 24 = IPv6). A
 * tun channel's outlet (ssh_out.c), when set, seals and sends what it can
 * first; JavaScript is called back once with the count and where the rest
 * starts, and sends those framed packets as they are, so nothing is copied
 * or allocated here per packet.
 *
 * Writes: synchronous, straight from the buffer SSH handed us.
 */
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conntrack.h"
#include "js_glue.h"
#include "layout.h"
#include "ssh_in.h"
#include "ssh_out.h"
#include "tun.h"
#include "unixsock.h"

#define HDR TUN_FRAME_HEADER


static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error, errnum;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_string_utf8(env, err == EPERM || err == EACCES ? "EPERM" : "ETUN", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  napi_throw(env, error);
  return NULL;
}

/* open(name?: string) -> [fd, ifname] */
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char want[64] = {0};
  if (argc >= 1) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[0], &t));
    if (t == napi_string) {
      size_t n;
      CHECK(napi_get_value_string_utf8(env, argv[0], want, sizeof want, &n));
    }
  }
  char name[64] = {0};
  int err = 0;
  int fd = tun_open(want, name, sizeof name, &err);
  if (fd < 0) return throw_errno(env, "open tun device", err);
  napi_value result, vfd, vname;
  CHECK(napi_create_array_with_length(env, 2, &result));
  CHECK(napi_create_int32(env, fd, &vfd));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &vname));
  CHECK(napi_set_element(env, result, 0, vfd));
  CHECK(napi_set_element(env, result, 1, vname));
  return result;
}

/* ---- write ------------------------------------------------------------ */

/* write(fd, framed: Uint8Array) -> bytes written, or -errno.
 * `framed` starts with the 4-byte OpenBSD family header. EAGAIN means the
 * kernel queue is full: the packet is dropped, as a router would. */
static napi_value js_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  void *data;
  size_t len;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off));
  ssize_t n = tun_write_framed(fd, data, len);
  if (n < 0) n = -errno;
  napi_value out;
  CHECK(napi_create_int64(env, (int64_t)n, &out));
  return out;
}

/* close(fd) */
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  if (fd >= 0) close(fd);
  return NULL;
}

/* ---- reader ----------------------------------------------------------- */

typedef struct {
  uv_poll_t poll;
  napi_env env;
  int fd;
  int active;
  int closing, handle_closed, collected; /* lives until the handle is closed and the external collected */
  napi_ref arena_ref;
  napi_ref lengths_ref;
  napi_ref callback_ref;
  napi_ref self_ref;
  uint8_t *arena;
  size_t arena_len;
  uint32_t *lengths;
  size_t max_batch;
  size_t packet_max; /* largest packet the arena must still fit to read again */
  outlet_t *outlet;  /* sends what it can before JavaScript sees the batch */
  napi_ref outlet_ref;
} reader_t;

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = handle->data;
  if (r->closing) return;
  size_t count = 0, off = 0;
  int err = 0;
  if (status < 0) err = -status;
  while (!err && count < r->max_batch && r->arena_len - off >= r->packet_max + HDR) {
    ssize_t framed = tun_read_framed(r->fd, r->arena + off, r->arena_len - off);
    if (framed < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) err = errno;
      break;
    }
    if (framed == 0) continue;
    r->lengths[count++] = (uint32_t)framed;
    off += (size_t)framed;
  }
  size_t first = 0, first_off = 0;
  if (count > 0 && r->outlet) first = outlet_send(r->outlet, r->arena, r->lengths, count, &first_off);
  if (first == count && !err) return;

  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[4];
  napi_create_uint32(env, (uint32_t)count, &argv[0]);
  napi_create_int32(env, err, &argv[1]);
  napi_create_uint32(env, (uint32_t)first, &argv[2]);
  napi_create_uint32(env, (uint32_t)first_off, &argv[3]);
  call_from_loop(env, r->callback_ref, 4, argv);
  napi_close_handle_scope(env, scope);
}

/* The handle is closed: references go now; the struct once its external is collected too (a
 * call with the external after close then finds it closing, not freed: the lifetime the inlet
 * and writer have, js_glue.h). */
static void on_closed(uv_handle_t *handle) {
  reader_t *r = handle->data;
  napi_env env = r->env;
  napi_delete_reference(env, r->arena_ref);
  napi_delete_reference(env, r->lengths_ref);
  napi_delete_reference(env, r->callback_ref);
  napi_delete_reference(env, r->self_ref);
  drop_ref(env, &r->outlet_ref);
  r->handle_closed = 1;
  if (r->collected) free(r);
}

static void reader_finalize(napi_env env, void *data, void *hint) {
  reader_t *r = data;
  r->collected = 1;
  if (r->handle_closed) free(r);
}

static reader_t *get_reader(napi_env env, napi_value v) {
  reader_t *r = NULL;
  if (napi_get_value_external(env, v, (void **)&r) != napi_ok) return NULL;
  return r;
}

/* reader(fd, arena: Buffer, lengths: Uint32Array, packetMax, onPackets(count, errno, first, firstOffset)) -> handle
 * The reader starts stopped. Packets before `first` (at byte `firstOffset`) were sent by the outlet. */
static napi_value js_reader(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) { napi_throw_type_error(env, NULL, "reader(fd, arena, lengths, packetMax, cb)"); return NULL; }
  reader_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "reader", ENOMEM);
  r->env = env;
  CHECK(napi_get_value_int32(env, argv[0], &r->fd));
  napi_typedarray_type type;
  size_t len, off;
  napi_value ab;
  void *data;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off));
  r->arena = data;
  r->arena_len = len;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &len, &data, &ab, &off));
  if (type != napi_uint32_array) { free(r); napi_throw_type_error(env, NULL, "lengths must be a Uint32Array"); return NULL; }
  r->lengths = data;
  r->max_batch = len;
  uint32_t pm;
  CHECK(napi_get_value_uint32(env, argv[3], &pm));
  r->packet_max = pm;
  if (r->arena_len < r->packet_max + HDR) { free(r); napi_throw_range_error(env, NULL, "arena smaller than one packet"); return NULL; }
  CHECK(napi_create_reference(env, argv[1], 1, &r->arena_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &r->lengths_ref));
  CHECK(napi_create_reference(env, argv[4], 1, &r->callback_ref));
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int rc = uv_poll_init(loop, &r->poll, r->fd);
  if (rc < 0) { free(r); return throw_errno(env, "uv_poll_init", -rc); }
  r->poll.data = r;
  napi_value handle;
  CHECK(napi_create_external(env, r, reader_finalize, NULL, &handle));
  CHECK(napi_create_reference(env, handle, 1, &r->self_ref));
  return handle;
}

/* The live reader a call was given as its one argument, or NULL. */
static reader_t *reader_arg(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return NULL;
  reader_t *r = get_reader(env, argv[0]);
  return r && !r->closing ? r : NULL;
}

/* readerStart(handle): watch for packets; this keeps the loop alive. */
static napi_value js_reader_start(napi_env env, napi_callback_info info) {
  reader_t *r = reader_arg(env, info);
  if (!r) return NULL;
  if (!r->active) {
    int rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
    if (rc < 0) return throw_errno(env, "uv_poll_start", -rc);
    r->active = 1;
  }
  return NULL;
}

/* readerStop(handle): backpressure; the kernel queues and then drops. */
static napi_value js_reader_stop(napi_env env, napi_callback_info info) {
  reader_t *r = reader_arg(env, info);
  if (!r) return NULL;
  if (r->active) { uv_poll_stop(&r->poll); r->active = 0; }
  return NULL;
}

/* readerClose(handle): stop and free; the fd itself is closed by close(). */
static napi_value js_reader_close(napi_env env, napi_callback_info info) {
  reader_t *r = reader_arg(env, info);
  if (!r) return NULL;
  r->closing = 1;
  r->active = 0;
  uv_close((uv_handle_t *)&r->poll, on_closed);
  return NULL;
}

/* readerOutlet(handle, outlet | null): where the reader sends packets first. */
static napi_value js_reader_outlet(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_t *r = argc >= 2 ? get_reader(env, argv[0]) : NULL;
  if (!r || r->closing) return NULL;
  drop_ref(env, &r->outlet_ref);
  r->outlet = outlet_from(env, argv[1]);
  if (r->outlet) CHECK(napi_create_reference(env, argv[1], 1, &r->outlet_ref));
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_default, NULL},
      {"write", NULL, js_write, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL},
      {"reader", NULL, js_reader, NULL, NULL, NULL, napi_default, NULL},
      {"readerStart", NULL, js_reader_start, NULL, NULL, NULL, napi_default, NULL},
      {"readerStop", NULL, js_reader_stop, NULL, NULL, NULL, napi_default, NULL},
      {"readerClose", NULL, js_reader_close, NULL, NULL, NULL, napi_default, NULL},
      {"readerOutlet", NULL, js_reader_outlet, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  CHECK(ssh_out_init(env, exports));
  CHECK(ssh_in_init(env, exports));
  CHECK(layout_init(env, exports));
  CHECK(conntrack_init(env, exports));
  CHECK(unixsock_init(env, exports));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

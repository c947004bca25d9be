/*
 * The writer (writer.h): every byte sent on the SSH connection's socket
 * once installed, from JavaScript (writerWrite) and from the outlet.
 */
#include "writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

void writer_sync_queued(writer_t *w) {
  if (w->queued) *w->queued = (double)(w->tail - w->head);
}

static void writer_kill(writer_t *w) {
  w->dead = 1;
  w->head = w->tail = 0;
  writer_sync_queued(w);
  if (w->polling) {
    uv_poll_stop(&w->io.poll);
    w->polling = 0;
  }
}

/* Room for n more bytes at the tail, or NULL when memory runs out. */
uint8_t *writer_reserve(writer_t *w, size_t n) {
  if (w->cap - w->tail >= n) return w->buf + w->tail;
  if (w->head > 0) {
    memmove(w->buf, w->buf + w->head, w->tail - w->head);
    w->tail -= w->head;
    w->head = 0;
    if (w->cap - w->tail >= n) return w->buf + w->tail;
  }
  size_t cap = w->cap ? w->cap : 256 * 1024;
  while (cap - w->tail < n) cap *= 2;
  uint8_t *b = realloc(w->buf, cap);
  if (!b) return NULL;
  w->buf = b;
  w->cap = cap;
  return w->buf + w->tail;
}

static void on_writable(uv_poll_t *handle, int status, int events);

/* Writes what is queued; on EAGAIN waits for writability. */
void writer_flush(writer_t *w) {
  while (!w->dead && w->head < w->tail) {
    ssize_t n = write(w->io.fd, w->buf + w->head, w->tail - w->head);
    if (n > 0) {
      w->head += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!w->polling && uv_poll_start(&w->io.poll, UV_WRITABLE, on_writable) == 0) w->polling = 1;
      break;
    }
    /* The connection is gone; the read side reports it to ssh2. */
    writer_kill(w);
    return;
  }
  if (w->head == w->tail) w->head = w->tail = 0;
  writer_sync_queued(w);
}

static void on_writable(uv_poll_t *handle, int status, int events) {
  writer_t *w = handle->data;
  if (w->io.closing) return;
  if (status < 0) {
    writer_kill(w);
    return;
  }
  writer_flush(w);
  if (w->head != w->tail || w->dead) return;
  uv_poll_stop(&w->io.poll);
  w->polling = 0;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  call_from_loop(env, w->drain_ref, 0, NULL);
  napi_close_handle_scope(env, scope);
}

/* The poll handle is closed: the buffer and references go now. */
static void writer_release(watched_t *io) {
  writer_t *w = (writer_t *)io;
  napi_delete_reference(w->env, w->queued_ref);
  napi_delete_reference(w->env, w->drain_ref);
  free(w->buf);
  w->buf = NULL;
  w->queued = NULL;
}

static void writer_start_close(writer_t *w) {
  writer_kill(w);
  watched_close(&w->io);
}

writer_t *writer_from(napi_env env, napi_value v) {
  return watched_from(env, v);
}

/* writer(socketFd, queued: Float64Array(1), onDrain()) -> handle */
static napi_value js_writer(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  double *queued = argc >= 3 ? typed_array_data(env, argv[1], napi_float64_array, 1) : NULL;
  if (!queued || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "writer(fd, queued: Float64Array, onDrain)");
    return NULL;
  }
  writer_t *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  w->env = env;
  w->queued = queued;
  if (watched_init(env, &w->io, fd, writer_release) != 0) {
    free(w);
    napi_throw_error(env, NULL, "writer: cannot watch the socket");
    return NULL;
  }
  writer_sync_queued(w);
  napi_value handle;
  CHECK(napi_create_reference(env, argv[1], 1, &w->queued_ref));
  CHECK(napi_create_reference(env, argv[2], 1, &w->drain_ref));
  CHECK(napi_create_external(env, w, watched_finalize, NULL, &handle));
  return handle;
}

/* writerWrite(handle, bytes): queued behind what is waiting, written at once when nothing is. */
static napi_value js_writer_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  writer_t *w = argc >= 2 ? writer_from(env, argv[0]) : NULL;
  napi_typedarray_type type;
  size_t len, off;
  void *data;
  napi_value ab;
  if (!w || w->dead) return NULL;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &len, &data, &ab, &off));
  if (w->head == w->tail && !w->polling) {
    /* nothing queued: straight from the caller's bytes, and only what the
     * kernel does not take is copied (saves copying every byte once: the
     * jump process's upstream, ~300 MB/s, spent 18% of its time here) */
    ssize_t n;
    do n = write(w->io.fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      writer_kill(w);
      return NULL;
    }
    if (n > 0) {
      data = (uint8_t *)data + n;
      len -= (size_t)n;
    }
    if (len == 0) return NULL;
  }
  uint8_t *dst = writer_reserve(w, len);
  if (!dst) {
    writer_kill(w);
    return NULL;
  }
  memcpy(dst, data, len);
  w->tail += len;
  if (!w->polling) writer_flush(w);
  else writer_sync_queued(w);
  return NULL;
}

static napi_value js_writer_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  writer_t *w = argc >= 1 ? writer_from(env, argv[0]) : NULL;
  if (w) writer_start_close(w);
  return NULL;
}

napi_status writer_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"writer", NULL, js_writer, NULL, NULL, NULL, napi_default, NULL},
      {"writerWrite", NULL, js_writer_write, NULL, NULL, NULL, napi_default, NULL},
      {"writerClose", NULL, js_writer_close, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

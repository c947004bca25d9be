/* Small N-API helpers shared by the addon's files. */
#ifndef CLOUDBRIDGE_JS_GLUE_H
#define CLOUDBRIDGE_JS_GLUE_H

#include <node_api.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

/* In an N-API callback: a failed call throws and returns NULL. */
#define CHECK(call)                                                \
  do {                                                             \
    if ((call) != napi_ok) {                                       \
      napi_throw_error(env, NULL, "napi call failed: " #call);     \
      return NULL;                                                 \
    }                                                              \
  } while (0)

/* 1, with typed array `v`'s data and element count in *data and *len, if it
 * is of type `want`; else 0. An empty array's data may be NULL. */
static inline int typed_array_view(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type type;
  size_t off;
  napi_value ab;
  *data = NULL;
  *len = 0;
  return napi_get_typedarray_info(env, v, &type, len, data, &ab, &off) == napi_ok && type == want;
}

/* The data of typed array `v` if it is of type `want` with at least
 * `min_len` elements, else NULL. */
static inline void *typed_array_data(napi_env env, napi_value v, napi_typedarray_type want, size_t min_len) {
  void *data;
  size_t len;
  return typed_array_view(env, v, want, &data, &len) && len >= min_len ? data : NULL;
}

/* Deletes the reference *ref, if any. */
static inline void drop_ref(napi_env env, napi_ref *ref) {
  if (*ref) {
    napi_delete_reference(env, *ref);
    *ref = NULL;
  }
}

/* Makes *ref hold `v` instead, if `v` wraps a native object (napi_wrap),
 * and returns that object; otherwise leaves *ref empty and returns NULL. */
static inline void *hold_wrapped(napi_env env, napi_value v, napi_ref *ref) {
  napi_valuetype t;
  void *p = NULL;
  drop_ref(env, ref);
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object || napi_unwrap(env, v, &p) != napi_ok || !p) return NULL;
  return napi_create_reference(env, v, 1, ref) == napi_ok ? p : NULL;
}

/* Calls the function `fn` refers to from a libuv callback, inside a handle
 * scope the caller opened (the arguments live there), as Node calls back
 * after any I/O: microtasks run after it, and a throw is an uncaught
 * exception of the process. */
static inline void call_from_loop(napi_env env, napi_ref fn, size_t argc, const napi_value *argv) {
  napi_value cb, recv, result;
  napi_get_reference_value(env, fn, &cb);
  napi_get_global(env, &recv);
  if (napi_make_callback(env, NULL, recv, cb, argc, argv, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

/* A dup of a socket's fd watched with uv_poll, at the head of a struct that
 * lives until both the handle is closed and the JavaScript external naming
 * it is collected: whatever still points at it in between (an outlet, a
 * reader) finds it closing, not freed. */
typedef struct watched {
  uv_poll_t poll;
  int fd;
  int closing, handle_closed, collected;
  void (*release)(struct watched *); /* frees what the owner holds, once the handle is closed */
} watched_t;

static inline int watched_init(napi_env env, watched_t *w, int fd, void (*release)(watched_t *)) {
  uv_loop_t *loop;
  w->release = release;
  w->fd = dup(fd);
  if (w->fd < 0) return -1;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &w->poll, w->fd) != 0) {
    close(w->fd);
    return -1;
  }
  w->poll.data = w;
  return 0;
}

static inline void watched_closed(uv_handle_t *handle) {
  watched_t *w = handle->data;
  close(w->fd);
  w->release(w);
  w->handle_closed = 1;
  if (w->collected) free(w);
}

/* Closes the handle (stopping its poll); the struct stays until collected. */
static inline void watched_close(watched_t *w) {
  w->closing = 1;
  uv_close((uv_handle_t *)&w->poll, watched_closed);
}

/* The struct an external names, unless it is closing. */
static inline void *watched_from(napi_env env, napi_value v) {
  watched_t *w = NULL;
  if (napi_get_value_external(env, v, (void **)&w) != napi_ok || !w || w->closing) return NULL;
  return w;
}

/* The external's finalizer. */
static inline void watched_finalize(napi_env env, void *data, void *hint) {
  watched_t *w = data;
  w->collected = 1;
  if (!w->closing) watched_close(w);
  else if (w->handle_closed) free(w);
}

#endif

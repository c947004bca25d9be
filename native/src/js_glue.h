/* Small N-API helpers shared by the addon's files. */
#ifndef CLOUDBRIDGE_JS_GLUE_H
#define CLOUDBRIDGE_JS_GLUE_H

#include <node_api.h>
#include <stddef.h>

/* The data of typed array `v` if it is of type `want` with at least
 * `min_len` elements, else NULL. */
static inline void *typed_array_data(napi_env env, napi_value v, napi_typedarray_type want, size_t min_len) {
  napi_typedarray_type type;
  size_t len, off;
  void *data;
  napi_value ab;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, &ab, &off) != napi_ok) return NULL;
  return type == want && len >= min_len ? data : NULL;
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

#endif

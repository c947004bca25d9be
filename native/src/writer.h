/* The writer: owns the SSH connection's socket for sending once
 * installed (ssh2's onWrite goes through it too, so bytes leave in the
 * order they were sealed). Writes at once when it can, queues on EAGAIN
 * and watches a dup of the fd for writability. The outlet (ssh_out.c)
 * seals into its tail. */
#ifndef CLOUDBRIDGE_WRITER_H
#define CLOUDBRIDGE_WRITER_H

#include "js_glue.h"

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

typedef struct writer writer_t;

struct writer {
  watched_t io; /* our dup of the socket; first, see js_glue.h */
  napi_env env;
  uint8_t *buf;
  size_t head, tail, cap;
  int polling, dead;
  double *queued; /* Float64Array[0] shared with JavaScript: bytes waiting */
  napi_ref queued_ref, drain_ref;
};

/* Registers writer, writerWrite, writerClose on `exports`. */
napi_status writer_init(napi_env env, napi_value exports);

/* The writer an external value holds, or NULL. */
writer_t *writer_from(napi_env env, napi_value v);

/* Room for n more bytes at the tail (the caller then advances `tail`), or NULL when memory runs out. */
uint8_t *writer_reserve(writer_t *w, size_t n);

/* Writes what is queued; on EAGAIN waits for writability. */
void writer_flush(writer_t *w);

/* Tells JavaScript how many bytes wait (the shared Float64Array). */
void writer_sync_queued(writer_t *w);

#endif

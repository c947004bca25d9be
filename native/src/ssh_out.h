/* The outbound half of the tun channel in C: AES-GCM sealing as OpenSSH
 * does it (RFC 5647 with the 4-byte packet length as additional data), a
 * writer that owns every byte sent on the SSH connection's socket, and the
 * "outlet" that turns tun packets into sealed CHANNEL_DATA messages. */
#ifndef CLOUDBRIDGE_SSH_OUT_H
#define CLOUDBRIDGE_SSH_OUT_H

#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

typedef struct outlet outlet_t;

/* Registers Sealer, outlet* and (writer.c) writer* on `exports`. */
napi_status ssh_out_init(napi_env env, napi_value exports);

/* The outlet an external value holds, or NULL. */
outlet_t *outlet_from(napi_env env, napi_value v);

/* Seals and writes as many of `count` framed packets (back to back in
 * `arena`, lengths in `lengths`) as the outlet may send; returns how many
 * it took and adds their bytes to *taken_bytes. The rest are the caller's. */
size_t outlet_send(outlet_t *o, const uint8_t *arena, const uint32_t *lengths, size_t count, size_t *taken_bytes);

#endif

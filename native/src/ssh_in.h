/* The inbound half of the tun channel in C (see ssh_in.c). */
#ifndef CLOUDBRIDGE_SSH_IN_H
#define CLOUDBRIDGE_SSH_IN_H

#include <node_api.h>

typedef struct inlet inlet_t;

/* Registers Opener and inlet* on `exports`. */
napi_status ssh_in_init(napi_env env, napi_value exports);

#endif

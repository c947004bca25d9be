/* Unix datagram sockets for journald's native protocol (unixdgram.c). */
#ifndef CLOUDBRIDGE_UNIXDGRAM_H
#define CLOUDBRIDGE_UNIXDGRAM_H

#include <node_api.h>

napi_status unixdgram_init(napi_env env, napi_value exports);

#endif

/* Unix sockets Node cannot make: datagrams (journald), stream pairs, fd passing (unixsock.c). */
#ifndef CLOUDBRIDGE_UNIXSOCK_H
#define CLOUDBRIDGE_UNIXSOCK_H

#include <node_api.h>

napi_status unixsock_init(napi_env env, napi_value exports);

#endif

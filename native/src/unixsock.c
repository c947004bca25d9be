/*
 * Unix sockets Node cannot make:
 * - datagram sockets, for journald's native protocol
 *   (/run/systemd/journal/socket, sd_journal_sendv): Node's dgram module
 *   speaks only UDP. Made non-blocking, so that a stalled journald costs a
 *   dropped line rather than a stalled controller (the caller counts them);
 * - stream socket pairs, for a ProxyCommand or a jump hop in a process of
 *   its own: one end is the child's stdin and stdout, the other a real fd
 *   here that the C inlet and outlet read and write like a TCP socket;
 * - fds passed over a unix socket (SCM_RIGHTS): the privileged helper hands
 *   the controller its tun device and port 53 sockets (docs/privsep.md);
 * - and those port 53 sockets themselves: bound by root, used by the user,
 *   as an fd Node adopts (dgram bind({fd}), net listen({fd}));
 * - who is at the other end of a unix socket (SO_PEERCRED; getpeereid and
 *   LOCAL_PEERPID on macOS): the installed helper's callers.
 */
#ifdef __linux__
#define _GNU_SOURCE /* struct ucred */
#endif
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/types.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/ucred.h>
#endif

#include "js_glue.h"
#include "unixsock.h"

#define SOCKPAIR_BUFFER (4 * 1024 * 1024)

/* The one integer argument of a call: 1, or 0 with a TypeError thrown that says `usage`. */
static int int_arg(napi_env env, napi_callback_info info, int32_t *out, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], out) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

/* dgramOpen() -> fd, or -errno */
static napi_value js_dgram_open(napi_env env, napi_callback_info info) {
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  int result = fd;
  if (fd < 0) {
    result = -errno;
  } else if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
    result = -errno;
    close(fd);
  }
  napi_value out;
  CHECK(napi_create_int32(env, result, &out));
  return out;
}

/* dgramSend(fd, path, bytes: Uint8Array) -> bytes sent, or -errno */
static napi_value js_dgram_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd = -1;
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t plen = 0;
  void *data = NULL;
  size_t len = 0;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], addr.sun_path, sizeof addr.sun_path, &plen) != napi_ok ||
      plen + 1 >= sizeof addr.sun_path || !typed_array_view(env, argv[2], napi_uint8_array, &data, &len)) {
    napi_throw_type_error(env, NULL, "dgramSend(fd, path, Uint8Array)");
    return NULL;
  }
  ssize_t n = sendto(fd, data, len, 0, (struct sockaddr *)&addr, sizeof addr);
  napi_value out;
  CHECK(napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &out));
  return out;
}

/* socketPair() -> [fd, fd] (AF_UNIX stream, close-on-exec, blocking), or throws */
static napi_value js_socket_pair(napi_env env, napi_callback_info info) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "socketpair: %s", strerror(errno));
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  /* Larger buffers than the 208 KiB default: the outlet writes up to 64
   * packets of 32 KiB at once, and the reader (ssh -W reads 16 KiB at a
   * time) then wakes less often. The kernel caps it at wmem_max (as root,
   * SO_SNDBUFFORCE passes the cap). */
  for (int i = 0; i < 2; i++) {
    int size = SOCKPAIR_BUFFER;
#ifdef SO_SNDBUFFORCE
    if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
#endif
      setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  napi_value out, a, b;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, fds[0], &a));
  CHECK(napi_create_int32(env, fds[1], &b));
  CHECK(napi_set_element(env, out, 0, a));
  CHECK(napi_set_element(env, out, 1, b));
  return out;
}

/* fdSend(sock, fd) -> 0, or -errno: `fd` travels with one byte on the
 * unix socket `sock` (blocking: the peer reads it right after the reply
 * that announces it). The sender keeps its own copy; the caller closes it. */
static napi_value js_fd_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t sock = -1, fd = -1;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_get_value_int32(env, argv[1], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "fdSend(sock, fd)");
    return NULL;
  }
  char byte = 'F';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t n;
  do n = sendmsg(sock, &msg, 0);
  while (n < 0 && errno == EINTR);
  napi_value out;
  CHECK(napi_create_int32(env, n < 0 ? -errno : 0, &out));
  return out;
}

/* fdRecv(sock) -> the fd received (close-on-exec), or -errno; -EBADMSG when
 * the byte came without exactly one fd (any fds that did come are closed). */
static napi_value js_fd_recv(napi_env env, napi_callback_info info) {
  int32_t sock = -1;
  if (!int_arg(env, info, &sock, "fdRecv(sock)")) return NULL;
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(4 * sizeof(int))];
  } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n;
  int flags = 0;
#ifdef MSG_CMSG_CLOEXEC
  flags = MSG_CMSG_CLOEXEC;
#endif
  do n = recvmsg(sock, &msg, flags);
  while (n < 0 && errno == EINTR);
  int result = n < 0 ? -errno : -EBADMSG;
  int got = 0;
  for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (got++ == 0) result = fd;
      else close(fd);
    }
  }
  if (got > 1 || (msg.msg_flags & MSG_CTRUNC)) {
    if (result >= 0) close(result);
    result = -EBADMSG;
  }
  if (result >= 0) fcntl(result, F_SETFD, FD_CLOEXEC);
  napi_value out;
  CHECK(napi_create_int32(env, result, &out));
  return out;
}

/* bindInet(address, port, tcp) -> fd bound (not listening), close-on-exec, or -errno. */
static napi_value js_bind_inet(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char text[64];
  size_t tlen = 0;
  int32_t port = -1;
  bool tcp = false;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], text, sizeof text, &tlen) != napi_ok || napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_bool(env, argv[2], &tcp) != napi_ok || port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "bindInet(address, port, tcp)");
    return NULL;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t slen;
  int family;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    slen = sizeof *v4;
  } else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    slen = sizeof *v6;
  } else {
    napi_throw_type_error(env, NULL, "bindInet: not an IP address");
    return NULL;
  }
  int result;
  int fd = socket(family, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  int one = 1;
  if (fd < 0) {
    result = -errno;
  } else if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
             (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) || bind(fd, (struct sockaddr *)&ss, slen) < 0) {
    result = -errno;
    close(fd);
  } else {
    result = fd;
  }
  napi_value out;
  CHECK(napi_create_int32(env, result, &out));
  return out;
}


/* peerCred(fd) -> [pid, uid, gid] of the process at the other end of a unix stream socket, or -errno */
static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  int32_t fd = -1;
  if (!int_arg(env, info, &fd, "peerCred(fd)")) return NULL;
  int32_t pid = 0, uid = 0, gid = 0, err = 0;
#ifdef __linux__
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) err = errno;
  else {
    pid = (int32_t)cred.pid;
    uid = (int32_t)cred.uid;
    gid = (int32_t)cred.gid;
  }
#else
  uid_t u;
  gid_t g;
  pid_t p = 0;
  socklen_t len = sizeof p;
  if (getpeereid(fd, &u, &g) < 0 || getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &p, &len) < 0) err = errno;
  else {
    pid = (int32_t)p;
    uid = (int32_t)u;
    gid = (int32_t)g;
  }
#endif
  napi_value out;
  if (err) {
    CHECK(napi_create_int32(env, -err, &out));
    return out;
  }
  CHECK(napi_create_array_with_length(env, 3, &out));
  int32_t vals[3] = {pid, uid, gid};
  for (uint32_t i = 0; i < 3; i++) {
    napi_value v;
    CHECK(napi_create_int32(env, vals[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  return out;
}

napi_status unixsock_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"dgramOpen", NULL, js_dgram_open, NULL, NULL, NULL, napi_default, NULL},
      {"dgramSend", NULL, js_dgram_send, NULL, NULL, NULL, napi_default, NULL},
      {"socketPair", NULL, js_socket_pair, NULL, NULL, NULL, napi_default, NULL},
      {"fdSend", NULL, js_fd_send, NULL, NULL, NULL, napi_default, NULL},
      {"fdRecv", NULL, js_fd_recv, NULL, NULL, NULL, napi_default, NULL},
      {"bindInet", NULL, js_bind_inet, NULL, NULL, NULL, napi_default, NULL},
      {"peerCred", NULL, js_peer_cred, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}

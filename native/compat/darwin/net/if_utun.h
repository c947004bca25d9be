/* Stand-in for macOS's <net/if_utun.h>, for compile checks on Linux with
 * Zig's C compiler, whose macOS headers lack it (scripts/check-darwin.sh
 * passes this directory with -idirafter, so a real SDK's header always
 * wins). The values are XNU's public ones (bsd/net/if_utun.h). */
#ifndef CLOUDBRIDGE_COMPAT_IF_UTUN_H
#define CLOUDBRIDGE_COMPAT_IF_UTUN_H

#define UTUN_CONTROL_NAME "com.apple.net.utun_control"
#define UTUN_OPT_IFNAME 2

#endif

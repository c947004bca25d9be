/* Stand-in for macOS's <sys/sys_domain.h> (see ../net/if_utun.h for why);
 * XNU's public values (bsd/sys/sys_domain.h). The struct's size is checked
 * below, as the kernel expects it. */
#ifndef CLOUDBRIDGE_COMPAT_SYS_DOMAIN_H
#define CLOUDBRIDGE_COMPAT_SYS_DOMAIN_H

#include <stdint.h>
#include <sys/types.h>

#define SYSPROTO_EVENT 1
#define SYSPROTO_CONTROL 2
#define AF_SYS_CONTROL 2

struct sockaddr_sys {
  u_char ss_len;
  u_char ss_family;
  u_int16_t ss_sysaddr;
  u_int32_t ss_reserved[7];
};

_Static_assert(sizeof(struct sockaddr_sys) == 32, "struct sockaddr_sys is 32 bytes in XNU");

#endif

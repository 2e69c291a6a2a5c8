/* Thin shim for the socket timestamping API (SO_TIMESTAMPING) and control messages.
 * Only what Swift cannot import: the function-like CMSG_* macros. No logic, no allocation. */
#ifndef LOCKSTEP_NET_TIMESTAMP_H
#define LOCKSTEP_NET_TIMESTAMP_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/net_tstamp.h>
#include <linux/errqueue.h>
#include <linux/sockios.h>
#include <time.h>
/* eventfd (the ingest engine's doorbells) is not in Swift's Glibc module. */
#include <sys/eventfd.h>
/* The allocator's knobs (mallopt, malloc_trim) are not in it either (Platform.Memory). */
#include <malloc.h>
/* Hardware timestamping: interface capabilities (ethtool), SIOCSHWTSTAMP, PTP hardware clocks. */
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/ptp_clock.h>

/* ioctl is variadic; Swift cannot call variadic C functions. */
static inline int lockstep_ioctl(int fd, unsigned long request, void *argument)
{ return ioctl(fd, request, argument); }

/* PTP_SYS_OFFSET_EXTENDED is built by the function-like _IOWR macro. */
static inline unsigned long lockstep_ptp_sys_offset_extended(void) { return PTP_SYS_OFFSET_EXTENDED; }

/* CMSG_FIRSTHDR is a macro over struct msghdr; Swift cannot call it. */
static inline struct cmsghdr *lockstep_cmsg_firsthdr(const struct msghdr *msg)
{ return CMSG_FIRSTHDR(msg); }

/* CMSG_NXTHDR is a macro (and an inline in glibc with a different const profile). */
static inline struct cmsghdr *lockstep_cmsg_nxthdr(struct msghdr *msg, struct cmsghdr *cmsg)
{ return CMSG_NXTHDR(msg, cmsg); }

/* CMSG_DATA is a macro; callers copy out of it after an exact lockstep_cmsg_len check. */
static inline unsigned char *lockstep_cmsg_data(struct cmsghdr *cmsg)
{ return CMSG_DATA(cmsg); }

/* CMSG_LEN and CMSG_SPACE are macros computing aligned sizes. */
static inline size_t lockstep_cmsg_len(size_t length) { return CMSG_LEN(length); }
static inline size_t lockstep_cmsg_space(size_t length) { return CMSG_SPACE(length); }

#endif

/* Thin shim over liburing (Debian 12: liburing-dev 2.3). Swift calls liburing's own static inline
 * functions (get_sqe, prep_*, cqe_seen, wait_cqe) directly; this header only fixes the include order
 * and adds what Swift cannot import. No logic, no allocation, no globals. */
#ifndef LOCKSTEP_URING_H
#define LOCKSTEP_URING_H

#if !__has_include(<liburing.h>)
#error "liburing.h not found: install the Debian package liburing-dev (make deps does)"
#endif

/* sys/types.h must come first: liburing.h defines _XOPEN_SOURCE 500, which otherwise hides
 * fd_set's __fds_bits from glibc and breaks the module build (see STYLE-ANCHORS.md, "Checked"). */
#include <sys/types.h>
/* The kernel's uapi header before liburing's bundled copy (both guard with LINUX_IO_URING_H): swift-system's
 * CSystem module includes the kernel's, and two different definitions of struct io_uring_sqe in one
 * program fail the module build. Debian 12's uapi header (6.1) is a superset of liburing 2.3's copy. */
#include <linux/io_uring.h>
#include <liburing.h>

/* IOSQE_BUFFER_SELECT is built from an enum bit; Swift cannot import it. */
static inline void lockstep_sqe_select_buffer(struct io_uring_sqe *sqe, unsigned short group)
{ sqe->flags |= IOSQE_BUFFER_SELECT; sqe->buf_group = group; }

#endif

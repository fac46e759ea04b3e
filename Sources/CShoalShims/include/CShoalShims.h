// C shims for symbols and macros the Glibc module does not import into Swift
// (DESIGN.md, platform notes). Every function here is a thin pass-through with a
// `cshoal_` prefix; callers read errno immediately after a -1 return.
#ifndef CSHOAL_SHIMS_H
#define CSHOAL_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
// Addresses (sockaddr_in, inet_ntop) for the front end's sockets.
#include <netinet/in.h>
#include <arpa/inet.h>
#include <spawn.h>
// Not in the Glibc module: the upstream reactor's epoll and eventfd.
#include <sys/epoll.h>
#include <sys/eventfd.h>
// Nor getrandom (the random pool's refills).
#include <sys/random.h>
// Nor signalfd and poll (shoald's single-threaded loop).
#include <sys/signalfd.h>
#include <poll.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Named constants the Glibc module does not show Swift (they live in asm/ headers or are
/// newer than its map): use these, never the numbers.
/// setsockopt: SO_RCVBUF beyond net.core.rmem_max (needs CAP_NET_ADMIN).
extern const int CSHOAL_SO_RCVBUFFORCE;
/// madvise: back the range with transparent huge pages.
extern const int CSHOAL_MADV_HUGEPAGE;
/// madvise: fault the range in writable now (Linux 5.14), instead of page by page later.
extern const int CSHOAL_MADV_POPULATE_WRITE;

/// Mirror of `struct mmsghdr`, which Swift cannot see without _GNU_SOURCE.
struct cshoal_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

int cshoal_recvmmsg(int fd, struct cshoal_mmsghdr *vec, unsigned int vlen, int flags);
int cshoal_sendmmsg(int fd, struct cshoal_mmsghdr *vec, unsigned int vlen, int flags);

/// Asks the CPU to start loading the cache line at `p` for reading: a hint, with no effect on
/// any result, that never faults (the hit path's batch prefetch of shared-segment lines).
static inline void cshoal_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/// Pins the calling thread to one CPU. Returns 0 or -1 with errno set.
int cshoal_pin_to_cpu(int cpu);
/// The CPU the calling thread runs on, or -1 with errno set.
int cshoal_sched_getcpu(void);

int cshoal_setresuid(uid_t r, uid_t e, uid_t s);
int cshoal_setresgid(gid_t r, gid_t e, gid_t s);

/// prctl(PR_SET_KEEPCAPS, on).
int cshoal_set_keepcaps(int on);
/// prctl(PR_SET_NO_NEW_PRIVS, 1).
int cshoal_set_no_new_privs(void);
/// prctl(PR_SET_PDEATHSIG, sig).
int cshoal_set_pdeathsig(int sig);
/// prctl(PR_SET_NAME, name): the calling thread's name (at most 15 bytes are kept).
int cshoal_set_thread_name(const char *name);

/// Blocks `signals` (a 0-terminated list) for the calling thread and returns a close-on-exec,
/// non-blocking signalfd that reads them, or -1 with errno set.
int cshoal_signalfd_for(const int *signals);

/// Blocks `signals` (a 0-terminated list) in the calling thread, so that threads it starts
/// later block them too. Returns 0 or -1 with errno set.
int cshoal_block_signals(const int *signals);
/// Waits for one of `signals` (0-terminated; they must be blocked) and returns its number, or
/// -1 with errno set.
int cshoal_wait_signal(const int *signals);

/// The uid of the process at the other end of a Unix socket (SO_PEERCRED). Returns 0 or -1
/// with errno set.
int cshoal_peer_uid(int fd, uid_t *uid);

/// posix_spawn_file_actions_addclosefrom_np; returns the error code itself.
int cshoal_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);

/// Unblocks every signal for the calling thread and restores the default action of SIGTERM,
/// SIGINT and SIGHUP. A process spawned from a thread that blocks signals (test runners,
/// Dispatch) inherits that mask and would otherwise ignore `kill -TERM`. Call first thing in
/// main, before any thread starts. Returns 0 or -1 with errno set.
int cshoal_reset_signals(void);

/// Keeps freed heap memory mapped instead of trimming it back to the kernel (mallopt
/// M_TRIM_THRESHOLD and M_TOP_PAD). A worker that allocates and frees the same buffers all day
/// otherwise pays a page fault and a page clear each time the heap top grows again. Returns 1
/// on success, 0 when glibc refused a setting.
int cshoal_malloc_keep_heap(size_t trim_threshold, size_t top_pad);

/// Receives one datagram into `buf` with the descriptors it carries (SCM_RIGHTS, at most
/// `max_fds`, the rest closed). Returns the datagram's length (or -1 with errno), with the
/// number of descriptors in `*n_fds`. A listener on a notify socket (what systemd does with
/// FDSTORE=1) needs exactly this; the CMSG macros do not import into Swift.
ssize_t cshoal_recv_with_fds(int fd, void *buf, size_t len, int *fds, int max_fds, int *n_fds);

#ifdef __cplusplus
}
#endif
#endif

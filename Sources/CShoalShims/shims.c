#define _GNU_SOURCE
#include "CShoalShims.h"
#include <sched.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <spawn.h>
#include <signal.h>
#include <errno.h>
#include <pthread.h>
#include <malloc.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/socket.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

const int CSHOAL_SO_RCVBUFFORCE = SO_RCVBUFFORCE;
const int CSHOAL_MADV_HUGEPAGE = MADV_HUGEPAGE;
const int CSHOAL_MADV_POPULATE_WRITE = MADV_POPULATE_WRITE;

_Static_assert(sizeof(struct cshoal_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");

int cshoal_recvmmsg(int fd, struct cshoal_mmsghdr *vec, unsigned int vlen, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)vec, vlen, flags, NULL);
}

int cshoal_sendmmsg(int fd, struct cshoal_mmsghdr *vec, unsigned int vlen, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)vec, vlen, flags);
}

int cshoal_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

int cshoal_sched_getcpu(void) { return sched_getcpu(); }

int cshoal_peer_uid(int fd, uid_t *uid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *uid = cred.uid;
    return 0;
}

static void cshoal_fill_set(sigset_t *set, const int *signals) {
    sigemptyset(set);
    for (const int *s = signals; *s != 0; s++) sigaddset(set, *s);
}

int cshoal_block_signals(const int *signals) {
    sigset_t set;
    cshoal_fill_set(&set, signals);
    return pthread_sigmask(SIG_BLOCK, &set, NULL) == 0 ? 0 : -1;
}

int cshoal_wait_signal(const int *signals) {
    sigset_t set;
    cshoal_fill_set(&set, signals);
    int sig = 0;
    int r;
    do { r = sigwait(&set, &sig); } while (r == EINTR);
    if (r != 0) { errno = r; return -1; }
    return sig;
}

int cshoal_signalfd_for(const int *signals) {
    sigset_t set;
    sigemptyset(&set);
    for (const int *s = signals; *s != 0; s++) sigaddset(&set, *s);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int cshoal_setresuid(uid_t r, uid_t e, uid_t s) { return setresuid(r, e, s); }
int cshoal_setresgid(gid_t r, gid_t e, gid_t s) { return setresgid(r, e, s); }

int cshoal_set_keepcaps(int on) { return prctl(PR_SET_KEEPCAPS, on, 0, 0, 0); }
int cshoal_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int cshoal_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int cshoal_set_thread_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

int cshoal_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int cshoal_reset_signals(void) {
    sigset_t none;
    sigemptyset(&none);
    if (pthread_sigmask(SIG_SETMASK, &none, NULL) != 0) return -1;
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    return 0;
}

int cshoal_malloc_keep_heap(size_t trim_threshold, size_t top_pad) {
    int a = mallopt(M_TRIM_THRESHOLD, trim_threshold > INT_MAX ? INT_MAX : (int)trim_threshold);
    int b = mallopt(M_TOP_PAD, top_pad > INT_MAX ? INT_MAX : (int)top_pad);
    return a && b;
}

ssize_t cshoal_recv_with_fds(int fd, void *buf, size_t len, int *fds, int max_fds, int *n_fds) {
    char control[CMSG_SPACE(sizeof(int) * 253)];
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
    *n_fds = 0;
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *got = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            if (*n_fds < max_fds) fds[(*n_fds)++] = got[i]; else close(got[i]);
        }
    }
    return n;
}

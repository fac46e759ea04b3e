// Interposes the allocation entry points in the test binary (symbols of the executable take
// precedence over libc's for every library in the process) and counts the calls made on a
// thread while that thread counts. Every call goes on to glibc's allocator unchanged: the
// exported __libc_malloc/__libc_calloc/__libc_realloc/__libc_memalign, which glibc keeps for
// exactly this. Counting costs one thread-local test per call; nothing else changes.
//
// SHOAL_ALLOCATION_TRACE=1 prints the stacks of the first three counted allocations to
// stderr (addresses; `addr2line -f -e <test binary> +OFFSET` names them).
#include "CAllocationCounter.h"
#include <errno.h>
#include <execinfo.h>
#include <stddef.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Thread_local int counting;
static _Thread_local int tracing;
static _Thread_local uint64_t allocations;

static inline void note(void) {
    if (!counting) return;
    allocations++;
    if (allocations <= 3 && !tracing && getenv("SHOAL_ALLOCATION_TRACE")) {
        tracing = 1;   // backtrace may allocate the first time: not traced again
        void *frames[24];
        backtrace_symbols_fd(frames, backtrace(frames, 24), 2);
        tracing = 0;
    }
}

void *malloc(size_t n) { note(); return __libc_malloc(n); }
void *calloc(size_t n, size_t size) { note(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t n) { note(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t alignment, size_t n) { note(); return __libc_memalign(alignment, n); }
int posix_memalign(void **out, size_t alignment, size_t n) {
    note();
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, n);
    if (p == NULL && n != 0) return ENOMEM;
    *out = p;
    return 0;
}

void calloc_counter_start(void) { allocations = 0; counting = 1; }
uint64_t calloc_counter_stop(void) { counting = 0; return allocations; }

// Counts heap allocations made by the calling thread (issue #14's guard: "zero heap
// allocations per packet-cache hit"). The test binary defines malloc, calloc, realloc,
// posix_memalign and aligned_alloc, each counting when the calling thread has counting on and
// passing the call to glibc's own (`__libc_*`, or memalign underneath); free is not touched.
#ifndef CALLOCATION_COUNTER_H
#define CALLOCATION_COUNTER_H

#include <stdint.h>

/// Starts counting the calling thread's allocations from zero.
void calloc_counter_start(void);
/// Stops counting on the calling thread and returns how many allocations it made since start.
uint64_t calloc_counter_stop(void);

#endif

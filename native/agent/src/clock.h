/* Event time stamps. Reading CLOCK_MONOTONIC through the vDSO was the
 * largest single cost on the audit path (~13% of a hooked tight loop here),
 * so where the kernel itself trusts the TSC (invariant TSC, clocksource
 * "tsc") the hook stores the raw counter and the writer thread converts it
 * to CLOCK_MONOTONIC nanoseconds before a batch leaves the process. */
#ifndef HOOKSCOPE_CLOCK_H
#define HOOKSCOPE_CLOCK_H

#include <stdint.h>
#include <time.h>

extern int hs_clock_raw_tsc; /* 1: records hold TSC ticks until converted */

static inline uint64_t hs_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline uint64_t hs_clock_stamp(void) {
#if defined(__x86_64__)
    if (__builtin_expect(hs_clock_raw_tsc, 1))
        return __builtin_ia32_rdtsc();
#endif
    return hs_monotonic_ns();
}

/* Decides the mode and takes the first (ticks, ns) anchor. */
void hs_clock_init(void);

/* Writer thread: refreshes the calibration, then converts a stamp. */
void hs_clock_calibrate(void);
uint64_t hs_clock_to_ns(uint64_t stamp);

#endif

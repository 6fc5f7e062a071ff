#include "clock.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

int hs_clock_raw_tsc;

/* Anchor taken at start; latest pair taken by the writer. */
static uint64_t anchor_ticks, anchor_ns;
static uint64_t latest_ticks, latest_ns;
static double ns_per_tick;

static int kernel_uses_tsc(void) {
    char buf[32] = {0};
    int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 3 && strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || buf[3] == 0);
}

static void pair(uint64_t *ticks, uint64_t *ns) {
#if defined(__x86_64__)
    /* Bracket the clock read with two counter reads and take the middle. */
    uint64_t a = __builtin_ia32_rdtsc();
    *ns = hs_monotonic_ns();
    uint64_t b = __builtin_ia32_rdtsc();
    *ticks = a + (b - a) / 2;
#else
    *ticks = 0;
    *ns = hs_monotonic_ns();
#endif
}

void hs_clock_init(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    int invariant = __get_cpuid(0x80000007, &a, &b, &c, &d) && ((d >> 8) & 1);
    hs_clock_raw_tsc = invariant && kernel_uses_tsc();
#endif
    pair(&anchor_ticks, &anchor_ns);
    latest_ticks = anchor_ticks;
    latest_ns = anchor_ns;
    ns_per_tick = 0;
}

void hs_clock_calibrate(void) {
    if (!hs_clock_raw_tsc)
        return;
    uint64_t t, ns;
    pair(&t, &ns);
    /* Need a baseline of at least a millisecond for a good rate. */
    if (ns - anchor_ns < 1000000) {
        struct timespec ts = {0, (long)(1000000 - (ns - anchor_ns))};
        nanosleep(&ts, NULL);
        pair(&t, &ns);
    }
    if (t > anchor_ticks)
        ns_per_tick = (double)(ns - anchor_ns) / (double)(t - anchor_ticks);
    latest_ticks = t;
    latest_ns = ns;
}

uint64_t hs_clock_to_ns(uint64_t stamp) {
    if (!hs_clock_raw_tsc)
        return stamp;
    /* Relative to the latest pair: records are close to it, so the rate's
     * small error barely matters. */
    double delta = ((double)(int64_t)(stamp - latest_ticks)) * ns_per_tick;
    return (uint64_t)((int64_t)latest_ns + (int64_t)delta);
}

/* Process-wide state of the agent. One instance per process; reset in the
 * child after fork. */
#ifndef HOOKSCOPE_AGENT_H
#define HOOKSCOPE_AGENT_H

#include "ring.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define HS_AGENT_VERSION "0.1.0"
#define HS_RING_CAPACITY (8u << 20)

struct hs_agent {
    /* Hot path: read on every event. */
    _Atomic int capture;        /* 1 while records are taken */
    _Atomic int enforce;        /* 1 while a loaded policy is enforced */
    _Atomic int writer_wanted;  /* set after fork: start a writer on the next event */
    _Atomic uint64_t seq;       /* next sequence number, drops included */
    _Atomic uint64_t dropped;   /* records lost to a full ring */
    struct hs_ring ring;

    /* Configuration, fixed at start. */
    char socket_path[108];
    uint8_t token[32];
    uid_t server_uid;
    uint32_t hello_flags;
    uint64_t start_mono_ns;
    uint64_t start_real_ns;

    /* Writer thread life cycle. */
    _Atomic int stopping;
    _Atomic int writer_running;
    pthread_mutex_t done_mu;  /* guards writer_done and stopping hand-off */
    pthread_cond_t done_cv;   /* writer -> exiting thread: finished */
    pthread_cond_t wake_cv;   /* exiting thread -> idle writer: stop now */
    int writer_done;
    _Atomic int fd; /* the connection, -1 when none */

    /* Attach mode. */
    _Atomic int hooks_registered;
    _Atomic int arming; /* the arm thread has not connected yet (it may wait for the GIL) */
    int attach_ready; /* ring, clock and fork handler set up (by the arm thread) */
};

/* Results of hookscope_agent_attach (docs/protocol.md#attach). */
enum hs_attach_result {
    HS_ATTACH_STARTED = 0,
    HS_ATTACH_BUSY = 1,         /* another inspector is connected */
    HS_ATTACH_BAD_CONFIG = 2,
    HS_ATTACH_NOT_PYTHON = 3,   /* no CPython 3.8+ API in this process */
    HS_ATTACH_OTHER_COPY = 4,   /* another copy of the agent owns the process */
    HS_ATTACH_NO_RESOURCES = 5, /* memory or thread creation failed */
    HS_ATTACH_NOT_READY = 6,    /* interpreter not initialised, or finalising */
};

extern struct hs_agent hs_agent;

static inline uint64_t hs_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* channel.c */
void hs_channel_init_sync(void);
int hs_channel_start(void);
void hs_channel_stop(int timeout_ms);
int hs_channel_attach(void);
int hs_agent_attach_prepare(void);
void hs_after_fork_child(void);

/* hooks.c */
int hs_hooks_register(void);
void hs_hooks_after_fork_child(void);

#endif

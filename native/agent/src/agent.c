/* Entry points: the constructor that runs when the library is preloaded
 * (launch mode), the destructor that flushes at exit, and fork handling. */
#define _GNU_SOURCE
#include "agent.h"
#include "api.h"
#include "clock.h"
#include "wire.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hs_agent hs_agent = {
    .done_mu = PTHREAD_MUTEX_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
    .fd = -1,
};

/* Two copies of the agent in one process (say, a packaged and a development
 * build both preloaded) must not both register hooks: the first copy to
 * start claims the process. Every copy exports this function; dlsym with
 * RTLD_DEFAULT finds the first one loaded, and all copies ask it. */
__attribute__((visibility("default"))) int hookscope_agent_claim(void *who) {
    static void *_Atomic owner;
    void *expected = NULL;
    if (atomic_compare_exchange_strong(&owner, &expected, who))
        return 1;
    return expected == who;
}

static int parse_hex_token(const char *hex, uint8_t out[32]) {
    if (!hex || strlen(hex) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int read_config(void) {
    const char *sock = getenv("HOOKSCOPE_SOCKET");
    const char *token = getenv("HOOKSCOPE_TOKEN");
    const char *uid = getenv("HOOKSCOPE_SERVER_UID");
    if (!sock || sock[0] != '/' || strlen(sock) >= sizeof hs_agent.socket_path)
        return -1;
    if (parse_hex_token(token, hs_agent.token) != 0)
        return -1;
    strcpy(hs_agent.socket_path, sock);
    if (uid && *uid) {
        char *end;
        unsigned long v = strtoul(uid, &end, 10);
        if (*end)
            return -1;
        hs_agent.server_uid = (uid_t)v;
    } else {
        hs_agent.server_uid = getuid();
    }
    return 0;
}

static void after_fork_child(void) {
    /* Only async-signal-safe work here: the child of a fork from a threaded
     * process may go straight to exec. The writer thread did not survive
     * the fork; a new one starts (and connects as a new session) on the
     * child's first event. */
    if (!atomic_load(&hs_agent.writer_running) && !atomic_load(&hs_agent.capture))
        return;
    hs_hooks_after_fork_child();
    hs_ring_reset(&hs_agent.ring);
    atomic_store(&hs_agent.seq, 0);
    atomic_store(&hs_agent.dropped, 0);
    atomic_store(&hs_agent.stopping, 0);
    if (hs_agent.fd >= 0) {
        close(hs_agent.fd); /* the parent's connection stays the parent's */
        hs_agent.fd = -1;
    }
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    memcpy(&hs_agent.done_mu, &mu, sizeof mu);
    memcpy(&hs_agent.done_cv, &cv, sizeof cv);
    hs_agent.writer_done = 0;
    hs_agent.hello_flags &= ~(uint32_t)HS_HELLO_PRE_INIT;
    hs_agent.hello_flags |= HS_HELLO_INITIALIZED_AT_START;
    atomic_store(&hs_agent.writer_running, 0);
    atomic_store(&hs_agent.capture, 1);
    atomic_store(&hs_agent.writer_wanted, 1);
}

__attribute__((constructor)) static void hs_agent_load(void) {
    if (read_config() != 0)
        return; /* not launched by Hookscope: stay inert */
    if (!hs_api_resolve())
        return; /* not CPython 3.8+: stay inert (bash, coreutils, ...) */
    int (*claim)(void *) = (int (*)(void *))dlsym(RTLD_DEFAULT, "hookscope_agent_claim");
    if (claim && !claim((void *)&hs_agent))
        return; /* another copy of the agent owns this process */
    if (hs_py.Py_IsInitialized()) {
        /* Loaded into a running interpreter: registration then needs the
         * GIL, which the attach path provides; a plain preload cannot get
         * here. */
        return;
    }
    hs_api_check_layout();
    if (hs_ring_init(&hs_agent.ring, HS_RING_CAPACITY) != 0)
        return;
    hs_clock_init();
    hs_agent.start_mono_ns = hs_now_ns();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    hs_agent.start_real_ns = (uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec;
    hs_agent.hello_flags = HS_HELLO_PRE_INIT;
    atomic_store(&hs_agent.capture, 1);
    if (!hs_hooks_register()) {
        atomic_store(&hs_agent.capture, 0);
        return;
    }
    pthread_atfork(NULL, NULL, after_fork_child);
    hs_channel_start();
}

__attribute__((destructor)) static void hs_agent_unload(void) {
    /* exit(): ship what is left, but never hold the exit up for long. */
    hs_channel_stop(1000);
    atomic_store(&hs_agent.capture, 0);
}

/* Entry points: the constructor that runs when the library is preloaded
 * (launch mode), the destructor that flushes at exit, and fork handling. */
#define _GNU_SOURCE
#include "agent.h"
#include "api.h"
#include "clock.h"
#include "wire.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hs_agent hs_agent = {
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

/* ---- CPython's memory allocator ----------------------------------------
 *
 * PySys_AddAuditHook before Py_Initialize allocates the hook's entry with
 * the default raw allocator. If CPython then switches to its debug
 * allocator (dev mode, PYTHONMALLOC=debug, debug builds), it frees that
 * entry at exit with the debug free and aborts. So predict the allocator
 * exactly as CPython's pre-initialisation will choose it and, when it is a
 * debug one, install the debug hooks first. Where the prediction is not
 * certain, stay inert: a missing recording beats a crashed target. */

enum allocator_choice { ALLOC_DEFAULT, ALLOC_DEBUG, ALLOC_UNKNOWN };

static size_t read_cmdline(char *buf, size_t cap) {
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    ssize_t n;
    while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)n;
    close(fd);
    return len;
}

static enum allocator_choice predict_allocator(void) {
    static char cmdline[65536];
    size_t len = read_cmdline(cmdline, sizeof cmdline - 1);
    if (len == sizeof cmdline - 1)
        return ALLOC_UNKNOWN;
    cmdline[len] = 0;
    int ignore_env = 0, dev_flag = 0, malloc_flag = 0;
    /* Interpreter options come before the script, -c or -m. */
    const char *arg = cmdline + strlen(cmdline) + 1; /* skip argv[0] */
    while (arg < cmdline + len) {
        size_t n = strlen(arg);
        if (arg[0] != '-' || n < 2 || strcmp(arg, "-") == 0 || strcmp(arg, "--") == 0)
            break;
        if (arg[1] == '-') { /* --help, --version, --check-hash-based-pycs X */
            if (strcmp(arg, "--check-hash-based-pycs") == 0)
                arg += n + 1;
            arg += n + 1;
            continue;
        }
        int ends = 0;
        for (const char *c = arg + 1; *c; c++) {
            if (*c == 'E' || *c == 'I')
                ignore_env = 1;
            if (*c == 'c' || *c == 'm') {
                ends = 1;
                break;
            }
            if (*c == 'X' || *c == 'W') {
                const char *value = c[1] ? c + 1 : arg + n + 1;
                if (!c[1])
                    arg += n + 1; /* the value is the next argument */
                if (*c == 'X' && (strcmp(value, "dev") == 0 || strncmp(value, "dev=", 4) == 0))
                    dev_flag = 1;
                if (*c == 'X' && strncmp(value, "tracemalloc", 11) == 0)
                    malloc_flag = 1; /* tracemalloc wraps the allocators: not predicted */
                break;
            }
        }
        if (ends)
            break;
        arg += strlen(arg) + 1;
    }
    if (malloc_flag)
        return ALLOC_UNKNOWN;
    /* Debug builds (Py_REF_DEBUG) use the debug allocator by default. */
    int debug_build = dlsym(RTLD_DEFAULT, "_Py_NegativeRefcount") != NULL;
    const char *pymalloc = ignore_env ? NULL : getenv("PYTHONMALLOC");
    if (pymalloc && *pymalloc) {
        if (strcmp(pymalloc, "debug") == 0 || strcmp(pymalloc, "malloc_debug") == 0 ||
            strcmp(pymalloc, "pymalloc_debug") == 0 || strcmp(pymalloc, "mimalloc_debug") == 0)
            return ALLOC_DEBUG;
        if (strcmp(pymalloc, "default") == 0)
            return debug_build ? ALLOC_DEBUG : ALLOC_DEFAULT;
        if (strcmp(pymalloc, "malloc") == 0 || strcmp(pymalloc, "pymalloc") == 0 ||
            strcmp(pymalloc, "mimalloc") == 0)
            return ALLOC_DEFAULT;
        return ALLOC_UNKNOWN;
    }
    const char *devmode = ignore_env ? NULL : getenv("PYTHONDEVMODE");
    if (dev_flag || (devmode && *devmode) || debug_build)
        return ALLOC_DEBUG;
    if (!ignore_env && getenv("PYTHONTRACEMALLOC"))
        return ALLOC_UNKNOWN;
    return ALLOC_DEFAULT;
}

static void after_fork_child(void) {
    /* Only async-signal-safe work here: the child of a fork from a threaded
     * process may go straight to exec. The writer thread did not survive
     * the fork; a new one starts (and connects as a new session) on the
     * child's first event. */
    if (!atomic_load(&hs_agent.capture))
        return; /* the parent went pass-through (refused, offline): so does the child */
    hs_hooks_after_fork_child();
    hs_ring_reset(&hs_agent.ring);
    atomic_store(&hs_agent.seq, 0);
    atomic_store(&hs_agent.dropped, 0);
    atomic_store(&hs_agent.stopping, 0);
    int fd = atomic_exchange(&hs_agent.fd, -1);
    if (fd >= 0)
        close(fd); /* the parent's connection stays the parent's */
    /* The parent's writer may have held the mutex at fork time. */
    hs_channel_init_sync();
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
    switch (predict_allocator()) {
    case ALLOC_UNKNOWN:
        return;
    case ALLOC_DEBUG:
        hs_py.PyMem_SetupDebugHooks();
        break;
    case ALLOC_DEFAULT:
        break;
    }
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
    hs_channel_init_sync();
    pthread_atfork(NULL, NULL, after_fork_child);
    hs_channel_start();
}

__attribute__((destructor)) static void hs_agent_unload(void) {
    /* exit(): ship what is left. Bounded: 3 s at most, reached only when the
     * inspector is alive but not reading. */
    hs_channel_stop(3000);
    atomic_store(&hs_agent.capture, 0);
}

/* Entry points: the constructor that runs when the library is preloaded
 * (launch mode), the destructor that flushes at exit, and fork handling. */
#define _GNU_SOURCE
#include "agent.h"
#include "ask.h"
#include "api.h"
#include "clock.h"
#include "policy.h"
#include "wire.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hs_agent hs_agent = {
    .fd = -1,
};

static int attach_impl(const char *config);

/* Two copies of the agent in one process (say, a packaged and a development
 * build, or a copy per attach of another user's process) must not both
 * register hooks: the first copy to start claims the process. Every copy
 * exports this function; dlsym(RTLD_DEFAULT) finds the first one loaded
 * globally, and all copies ask it. It answers with the owner's attach entry
 * point (its static, non-interposable one), so a later copy can hand an
 * attach to the owner; NULL when the owner has not published it yet. */
__attribute__((visibility("default"))) void *hookscope_agent_owner(void *who, void *entry) {
    static void *_Atomic owner;
    static void *_Atomic owner_entry;
    void *expected = NULL;
    if (atomic_compare_exchange_strong(&owner, &expected, who)) {
        atomic_store(&owner_entry, entry);
        return entry;
    }
    return expected == who ? entry : atomic_load(&owner_entry);
}

/* 1 when this copy owns the process (or nobody else answers). */
static int owns_process(void **owner_entry) {
    void *(*ask)(void *, void *) =
        (void *(*)(void *, void *))dlsym(RTLD_DEFAULT, "hookscope_agent_owner");
    void *entry = ask ? ask((void *)&hs_agent, (void *)attach_impl) : (void *)attach_impl;
    if (owner_entry)
        *owner_entry = entry;
    return entry == (void *)attach_impl;
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

static int parse_uid(const char *s, size_t n, uid_t *out) {
    if (n == 0 || n > 10)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 0xFFFFFFFEul)
        return -1;
    *out = (uid_t)v;
    return 0;
}

/* Launch mode: the inspector put the configuration in our environment. */
static int read_config(void) {
    const char *sock = getenv("HOOKSCOPE_SOCKET");
    const char *token = getenv("HOOKSCOPE_TOKEN");
    const char *uid = getenv("HOOKSCOPE_SERVER_UID");
    if (!sock || sock[0] != '/' || strlen(sock) >= sizeof hs_agent.socket_path)
        return -1;
    if (parse_hex_token(token, hs_agent.token) != 0)
        return -1;
    strcpy(hs_agent.socket_path, sock);
    if (uid && *uid)
        return parse_uid(uid, strlen(uid), &hs_agent.server_uid);
    hs_agent.server_uid = getuid();
    return 0;
}

/* Attach mode: "socket=PATH\ntoken=HEX\nserver_uid=N\n", handed over by
 * the debugger or the bootstrap script — never through the environment,
 * which is the target's. Parsed without allocating: this may run on a
 * thread the debugger interrupted at an arbitrary point. */
static int parse_attach_config(const char *text) {
    char sock[sizeof hs_agent.socket_path] = {0};
    char token[65] = {0};
    uint8_t token_bytes[32];
    uid_t uid = 0;
    int have = 0;
    size_t total = strnlen(text, 4096);
    if (total == 4096)
        return -1;
    for (const char *line = text; line < text + total;) {
        const char *nl = memchr(line, '\n', (size_t)(text + total - line));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(text + total - line);
        const char *eq = memchr(line, '=', len);
        if (eq) {
            size_t klen = (size_t)(eq - line), vlen = len - klen - 1;
            const char *v = eq + 1;
            if (klen == 6 && memcmp(line, "socket", 6) == 0) {
                /* A path, or "@name" for the abstract namespace (targets in
                 * another root or mount namespace share no directory). */
                if (vlen < 2 || vlen >= sizeof sock || (v[0] != '/' && v[0] != '@') ||
                    memchr(v, 0, vlen))
                    return -1;
                memcpy(sock, v, vlen);
                have |= 1;
            } else if (klen == 5 && memcmp(line, "token", 5) == 0) {
                if (vlen != 64)
                    return -1;
                memcpy(token, v, 64);
                have |= 2;
            } else if (klen == 10 && memcmp(line, "server_uid", 10) == 0) {
                if (parse_uid(v, vlen, &uid) != 0)
                    return -1;
                have |= 4;
            }
        }
        line += len + 1;
    }
    if (have != 7 || parse_hex_token(token, token_bytes) != 0)
        return -1;
    memcpy(hs_agent.socket_path, sock, sizeof sock);
    memcpy(hs_agent.token, token_bytes, sizeof token_bytes);
    hs_agent.server_uid = uid;
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

void hs_after_fork_child(void) {
    /* Only async-signal-safe work here: the child of a fork from a threaded
     * process may go straight to exec. The parent's threads did not survive
     * the fork, so whatever they held is reset first, whatever the state:
     * the connection (the parent's, never the child's), the writer slot (an
     * attach may have been arming), the locks. */
    int fd = atomic_exchange(&hs_agent.fd, -1);
    if (fd >= 0)
        close(fd);
    hs_channel_init_sync();
    hs_agent.writer_done = 0;
    atomic_store(&hs_agent.stopping, 0);
    atomic_store(&hs_agent.writer_wanted, 0);
    atomic_store(&hs_agent.arming, 0);
    atomic_store(&hs_agent.writer_running, 0);
    hs_hooks_after_fork_child();
    hs_ask_after_fork();
    if (atomic_load(&hs_agent.enforce))
        hs_policy_after_fork(); /* rules on pid see the child's pid */
    if (!atomic_load(&hs_agent.capture))
        return; /* the parent was not recording: neither is the child */
    /* A new writer starts (and connects as a new session) on the child's
     * first event. */
    hs_ring_reset(&hs_agent.ring);
    atomic_store(&hs_agent.seq, 0);
    atomic_store(&hs_agent.dropped, 0);
    hs_agent.hello_flags &= ~(uint32_t)HS_HELLO_PRE_INIT;
    hs_agent.hello_flags |= HS_HELLO_INITIALIZED_AT_START;
    atomic_store(&hs_agent.writer_wanted, 1);
}

/* Once per process: the child of a fork must reset what the parent's
 * threads held (see hs_after_fork_child). */
static void ensure_fork_handler(void) {
    static _Atomic int registered;
    int expected = 0;
    if (atomic_compare_exchange_strong(&registered, &expected, 1))
        pthread_atfork(NULL, NULL, hs_after_fork_child);
}

__attribute__((constructor)) static void hs_agent_load(void) {
    if (read_config() != 0)
        return; /* not launched by Hookscope: stay inert */
    if (!hs_api_resolve())
        return; /* not CPython 3.8+: stay inert (bash, coreutils, ...) */
    if (!owns_process(NULL))
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
    /* A policy to enforce: loaded before any hook can run. If it cannot be
     * read, the agent records without it and HELLO says so; the inspector
     * then reports the process as unenforced. */
    const char *policy_file = getenv("HOOKSCOPE_POLICY");
    if (policy_file && *policy_file && hs_policy_load_file(policy_file) == 0) {
        atomic_store(&hs_agent.enforce, 1);
        hs_agent.hello_flags |= HS_HELLO_POLICY;
    }
    atomic_store(&hs_agent.capture, 1);
    if (!hs_hooks_register()) {
        atomic_store(&hs_agent.capture, 0);
        return;
    }
    hs_channel_init_sync();
    ensure_fork_handler();
    hs_agent.attach_ready = 1;
    atomic_store(&hs_agent.hooks_registered, 1);
    hs_channel_start();
}

/* Attach mode's entry point, called by the debugger (gdb: `call`) or by the
 * bootstrap script (ctypes) after loading the library into a running
 * interpreter. It only validates, claims the channel and starts the arm
 * thread; the thread takes the GIL and registers the hooks (or re-arms the
 * ones a previous attach or launch registered: hooks cannot be removed, and
 * a second dlopen does not rerun the constructor). Returns at once with an
 * hs_attach_result; the inspector then waits for the probe event. */
__attribute__((visibility("default"))) int hookscope_agent_attach(const char *config) {
    return attach_impl(config);
}

static int attach_impl(const char *config) {
    if (!config)
        return HS_ATTACH_BAD_CONFIG;
    if (!hs_py.PySys_AddAuditHook && !hs_api_resolve()) {
        hs_py.PySys_AddAuditHook = NULL; /* a partial resolve is retried, never used */
        return HS_ATTACH_NOT_PYTHON;
    }
    void *owner = NULL;
    if (!owns_process(&owner)) {
        /* Another copy owns this process (it was preloaded, or attached
         * first): hand the request to it, so hooks stay single. */
        if (owner)
            return ((int (*)(const char *))owner)(config);
        return HS_ATTACH_OTHER_COPY;
    }
    if (!hs_py.Py_IsInitialized() || (hs_py.is_finalizing && hs_py.is_finalizing()))
        return HS_ATTACH_NOT_READY;
    /* Before the writer slot is taken: a fork right after this call (the
     * debugger's interruption can end a sleep early) must find the handler
     * that frees the slot in the child. */
    ensure_fork_handler();
    /* The writer slot is the lock: whoever holds a live channel (a launch
     * inspector or an earlier attach) keeps it. */
    int expected = 0;
    if (!atomic_compare_exchange_strong(&hs_agent.writer_running, &expected, 1))
        return HS_ATTACH_BUSY;
    if (parse_attach_config(config) != 0) {
        atomic_store(&hs_agent.writer_running, 0);
        return HS_ATTACH_BAD_CONFIG;
    }
    return hs_channel_attach();
}

/* Arm-thread part of attach that belongs to the agent as a whole: ring,
 * clock and fork handler, once per process. Returns 0 when ready. */
int hs_agent_attach_prepare(void) {
    if (hs_agent.attach_ready)
        return 0;
    if (!hs_agent.ring.buf && hs_ring_init(&hs_agent.ring, HS_RING_CAPACITY) != 0)
        return -1;
    hs_clock_init();
    hs_channel_init_sync();
    hs_agent.attach_ready = 1;
    return 0;
}

__attribute__((destructor)) static void hs_agent_unload(void) {
    /* exit(): ship what is left. Bounded: 3 s at most, reached only when the
     * inspector is alive but not reading. */
    hs_channel_stop(3000);
    atomic_store(&hs_agent.capture, 0);
}

/* The writer thread: connects to the inspector, proves who it is, then
 * ships the ring in EVENTS frames. It is the only place the agent does I/O
 * on the socket; the hooked threads never wait for it. When anything goes
 * wrong (no server, refused, server of another uid, broken pipe) the agent
 * turns capture off and the target carries on untouched. */
#define _GNU_SOURCE
#include "agent.h"
#include "api.h"
#include "ask.h"
#include "policy.h"
#include "clock.h"
#include "wire.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BATCH_MAX (256u << 10)
#define WELCOME_TIMEOUT_MS 10000
#define SEND_TIMEOUT_S 10

static uint8_t *batch; /* frame header + records, BATCH_MAX + header */

static int send_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int send_frame(int fd, uint8_t type, const uint8_t *payload, uint32_t len) {
    uint8_t h[HS_FRAME_HEADER_SIZE];
    hs_frame_header(h, type, len);
    if (send_all(fd, h, sizeof h) != 0)
        return -1;
    return len ? send_all(fd, payload, len) : 0;
}

static int recv_exact(int fd, uint8_t *p, size_t n, int timeout_ms) {
    uint64_t deadline = hs_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
    while (n) {
        uint64_t now = hs_now_ns();
        if (now >= deadline)
            return -1;
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)((deadline - now) / 1000000ULL) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t got = recv(fd, p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Appends an lstr (u32 length + bytes), bounded by end. */
static uint8_t *put_lstr(uint8_t *p, uint8_t *end, const void *s, size_t n) {
    if (p + 4 + n > end)
        n = end - p > 4 ? (size_t)(end - p - 4) : 0;
    if (p + 4 > end)
        return p;
    hs_put_u32(p, (uint32_t)n);
    memcpy(p + 4, s, n);
    return p + 4 + n;
}

static size_t read_small_file(const char *path, char *buf, size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    return len;
}

static size_t build_hello(uint8_t *buf, size_t cap) {
    uint8_t *p = buf, *end = buf + cap;
    hs_put_u32(p, HS_PROTOCOL_VERSION);
    memcpy(p + 4, hs_agent.token, 32);
    hs_put_u32(p + 36, (uint32_t)getpid());
    hs_put_u32(p + 40, (uint32_t)getppid());
    hs_put_u32(p + 44, (uint32_t)getuid());
    hs_put_u32(p + 48, hs_agent.hello_flags);
    hs_put_u64(p + 52, hs_agent.start_mono_ns);
    hs_put_u64(p + 60, hs_agent.start_real_ns);
    p += 68;

    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path);
    p = put_lstr(p, end, path, n > 0 ? (size_t)n : 0);
    const char *cwd = getcwd(path, sizeof path);
    p = put_lstr(p, end, path, cwd ? strlen(path) : 0);
    const char *version = hs_py.Py_GetVersion ? hs_py.Py_GetVersion() : "";
    p = put_lstr(p, end, version, strlen(version));
    p = put_lstr(p, end, HS_AGENT_VERSION, strlen(HS_AGENT_VERSION));

    static char cmdline[32768];
    size_t len = read_small_file("/proc/self/cmdline", cmdline, sizeof cmdline);
    uint32_t count = 0;
    for (size_t i = 0; i < len; i++)
        if (cmdline[i] == 0)
            count++;
    if (len && cmdline[len - 1] != 0)
        count++; /* cut short: the last argument has no terminator */
    if (p + 4 > end)
        return (size_t)(p - buf);
    hs_put_u32(p, count);
    p += 4;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && cmdline[j])
            j++;
        p = put_lstr(p, end, cmdline + i, j - i);
        i = j + 1;
    }
    return (size_t)(p - buf);
}

/* Threads of this process that are still running (not zombies). A leader
 * thread that has exited stays in the thread count as a zombie, so count
 * /proc/self/task entries by state. */
static long live_thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    long live = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        size_t n = read_small_file(path, buf, sizeof buf - 1);
        buf[n] = 0;
        const char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X')
            live++;
    }
    closedir(d);
    return live;
}

/* Connects and authenticates. Returns the socket, or -1. */
static int connect_server(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Published at once: a fork from here on must close it in the child. */
    atomic_store(&hs_agent.fd, fd);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, hs_agent.socket_path, sizeof addr.sun_path - 1);
    /* "@name": the abstract namespace, padded with NULs to the full length,
     * as the inspector (libuv) binds it. */
    if (addr.sun_path[0] == '@')
        addr.sun_path[0] = 0;
    int r;
    do
        r = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        goto fail;
    /* A socket at that path owned by anyone but the expected uid could be a
     * squatter: it must never receive our token or our events. */
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.uid != hs_agent.server_uid)
        goto fail;
    struct timeval tv = {SEND_TIMEOUT_S, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    size_t hello_len = build_hello(batch + HS_FRAME_HEADER_SIZE, BATCH_MAX);
    if (send_frame(fd, HS_FRAME_HELLO, batch + HS_FRAME_HEADER_SIZE, (uint32_t)hello_len) != 0)
        goto fail;
    uint8_t welcome[HS_WELCOME_FRAME_SIZE];
    if (recv_exact(fd, welcome, sizeof welcome, WELCOME_TIMEOUT_MS) != 0)
        goto fail;
    if (!hs_welcome_accepted(welcome)) /* wire.h: pure, fuzzed */
        goto fail;
    return fd;
fail:
    if (atomic_exchange(&hs_agent.fd, -1) == fd)
        close(fd);
    return -1;
}

void hs_channel_init_sync(void) {
    pthread_mutex_init(&hs_agent.done_mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hs_agent.done_cv, &attr);
    pthread_cond_init(&hs_agent.wake_cv, &attr);
    pthread_condattr_destroy(&attr);
}

static struct timespec deadline_in(long ns) {
    struct timespec d;
    clock_gettime(CLOCK_MONOTONIC, &d);
    d.tv_sec += ns / 1000000000L;
    d.tv_nsec += ns % 1000000000L;
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec++;
        d.tv_nsec -= 1000000000L;
    }
    return d;
}

/* Idle wait that the exiting thread can cut short, so process exit never
 * waits for a sleeping writer. */
static void idle_wait(unsigned us) {
    struct timespec d = deadline_in((long)us * 1000L);
    pthread_mutex_lock(&hs_agent.done_mu);
    /* An asking thread sets the kick before it signals under done_mu, so
     * checking it here, under the lock, cannot miss its wake-up. */
    if (!atomic_load(&hs_agent.stopping) && !atomic_load(&hs_ask_kick))
        pthread_cond_timedwait(&hs_agent.wake_cv, &hs_agent.done_mu, &d);
    pthread_mutex_unlock(&hs_agent.done_mu);
}

static void writer_finished(void) {
    pthread_mutex_lock(&hs_agent.done_mu);
    hs_agent.writer_done = 1;
    pthread_cond_broadcast(&hs_agent.done_cv);
    pthread_mutex_unlock(&hs_agent.done_mu);
}

/* A POLICY frame after the handshake (docs/protocol.md, "Replacing the
 * policy"): its body is read whole (the length was checked against the
 * frame limit), judged, and answered with a POLICY_ACK. A body that does
 * not load is refused with the old policy kept; so is any policy for a
 * process that was started without one: a capture-only run stays capture
 * only. Returns 0, or -1 when the socket failed. */
static int live_policy(int fd, uint32_t len) {
    uint8_t *bytes = malloc(len ? len : 1);
    if (!bytes) {
        /* Out of memory: the body must still be consumed to stay in step,
         * and cannot be; stop talking (the agent goes pass-through). */
        return -1;
    }
    int r = recv_exact(fd, bytes, len, 1000);
    if (r == 0) {
        uint32_t status;
        if (!atomic_load(&hs_agent.enforce))
            status = HS_POLICY_NOT_ENFORCING;
        else
            status = (uint32_t)hs_policy_replace(bytes, len);
        if (status == HS_POLICY_APPLIED)
            hs_ask_forget();
        uint8_t ack[4];
        hs_put_u32(ack, status);
        r = send_frame(fd, HS_FRAME_POLICY_ACK, ack, sizeof ack);
    }
    free(bytes);
    return r;
}

/* Frames from the inspector, read without waiting for one to arrive.
 * Returns 0 when there was none or only ANSWERs, HOLDs and POLICYs (handed
 * to the waiting asks, or loaded), 1 for DETACH, -1 when the inspector is
 * gone (EOF, error) or sent anything else: either way the agent must stop
 * talking to it. */
static int check_control(int fd) {
    /* Bounded, so a flood of answers cannot keep the writer from its ring. */
    for (int frames = 0; frames < 256; frames++) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, 0);
        if (r <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            return 0;
        uint8_t h[HS_FRAME_HEADER_SIZE];
        /* The server writes a frame in one piece; a second is ample. */
        if (recv_exact(fd, h, sizeof h, 1000) != 0)
            return -1;
        /* Header checks are pure (wire.h) so the fuzz target runs them too.
         * Over a frame limit the stream itself is not to be trusted. */
        uint32_t len = 0;
        int type = hs_control_header(h, &len);
        if (type < 0)
            return -1;
        if (type == HS_FRAME_DETACH)
            return 1;
        if (type == HS_FRAME_POLICY) {
            if (live_policy(fd, len) != 0)
                return -1;
            continue;
        }
        uint8_t body[HS_CONTROL_BODY_MAX];
        if (recv_exact(fd, body, len, 1000) != 0)
            return -1;
        if ((type == HS_FRAME_ANSWER ? hs_ask_answer(body, len) : hs_ask_hold(body, len)) != 0)
            return -1;
    }
    return 0;
}

/* Waits up to 1 ms for a frame from the inspector: used instead of the
 * idle wait while asks are out, so an answer is handed over as it lands. */
static void wait_for_answer(int fd) {
    struct pollfd pfd = {fd, POLLIN, 0};
    poll(&pfd, 1, 1);
}

/* Ships the ring over an authenticated connection until the process
 * exits, the inspector detaches, or the inspector goes away. */
static void writer_loop(int fd) {
    uint64_t sent_drops = 0, records = 0;
    unsigned idle_us = 200;
    uint64_t last_thread_check = hs_now_ns();
    int ok = 1, detaching = 0;
    for (;;) {
        int stopping = atomic_load(&hs_agent.stopping);
        size_t n = hs_ring_drain(&hs_agent.ring, batch + HS_FRAME_HEADER_SIZE, BATCH_MAX);
        if (n) {
            /* Records hold raw clock stamps: convert them to CLOCK_MONOTONIC
             * ns (docs/protocol.md) and count them. */
            hs_clock_calibrate();
            for (size_t off = 0; off < n;) {
                uint8_t *rec = batch + HS_FRAME_HEADER_SIZE + off;
                uint64_t stamp;
                memcpy(&stamp, rec + 20, 8);
                hs_put_u64(rec + 20, hs_clock_to_ns(stamp));
                off += hs_get_u32(rec);
                records++;
            }
            hs_frame_header(batch, HS_FRAME_EVENTS, (uint32_t)n);
            if (send_all(fd, batch, HS_FRAME_HEADER_SIZE + n) != 0) {
                ok = 0;
                break;
            }
            idle_us = 200;
        }
        uint64_t drops = atomic_load_explicit(&hs_agent.dropped, memory_order_relaxed);
        if (drops != sent_drops) {
            uint8_t d[8];
            hs_put_u64(d, drops);
            if (send_frame(fd, HS_FRAME_DROPS, d, 8) != 0) {
                ok = 0;
                break;
            }
            sent_drops = drops;
        }
        if (!detaching) {
            /* Asks go after the records drained above, so the inspector
             * has seen everything the asking thread did before it asked. */
            atomic_store(&hs_ask_kick, 0);
            size_t a = hs_ask_take(batch, HS_FRAME_HEADER_SIZE + BATCH_MAX);
            if (a) {
                if (send_all(fd, batch, a) != 0) {
                    ok = 0;
                    break;
                }
                idle_us = 200;
            }
            int control = check_control(fd);
            if (control < 0) {
                ok = 0;
                break;
            }
            if (control > 0) {
                /* Hooks cannot be removed: pass-through from here on, one
                 * branch per event. What is already in the ring still goes. */
                atomic_store(&hs_agent.capture, 0);
                atomic_store(&hs_agent.enforce, 0);
                detaching = 1;
                continue;
            }
        }
        if (n)
            continue;
        if (stopping || detaching)
            break;
        /* If every other thread is gone (a forked child whose only thread
         * returned, or a main thread that called pthread_exit), this thread
         * alone would keep the process alive: finish instead, and the
         * process exits as it would have without us. */
        if (hs_now_ns() - last_thread_check > 100000000ULL) {
            last_thread_check = hs_now_ns();
            if (live_thread_count() == 1)
                break;
        }
        if (atomic_load(&hs_ask_kick))
            continue;
        if (hs_ask_waiting()) {
            wait_for_answer(fd);
            continue;
        }
        /* Poll: a wake-up per event would cost the hooked thread a syscall. */
        idle_wait(idle_us);
        if (idle_us < 5000)
            idle_us += idle_us / 2;
    }
    /* Nobody will answer from here on: waiting asks get the offline
     * answer now rather than at their timeout. */
    hs_ask_link_down();
    if (ok) {
        uint8_t bye[20];
        hs_put_u64(bye, records);
        hs_put_u64(bye + 8, atomic_load(&hs_agent.dropped));
        hs_put_u32(bye + 16, detaching ? 1 : 0);
        send_frame(fd, HS_FRAME_BYE, bye, sizeof bye);
    } else {
        /* The inspector is gone: go pass-through. */
        atomic_store(&hs_agent.capture, 0);
    }
    if (atomic_exchange(&hs_agent.fd, -1) == fd)
        close(fd);
}

static void writer_end(void) {
    atomic_store(&hs_agent.writer_running, 0);
    writer_finished();
}

static void *writer_main(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "hookscope-agent", 0, 0, 0);
    int fd = connect_server();
    if (fd < 0) {
        /* Nobody to talk to: stop capturing so the ring stays idle. */
        atomic_store(&hs_agent.capture, 0);
        hs_ask_link_down();
        writer_end();
        return NULL;
    }
    hs_ask_link_up();
    writer_loop(fd);
    writer_end();
    return NULL;
}

/* Takes the GIL from this (non-Python) thread, or returns -1 when the
 * interpreter is finalising: a thread that asks for the GIL then may be
 * ended inside CPython. */
static int take_gil(int *state) {
    if (!hs_py.Py_IsInitialized() || (hs_py.is_finalizing && hs_py.is_finalizing()))
        return -1;
    *state = hs_py.PyGILState_Ensure();
    return 0;
}

static void drop_gil(int state) {
    if (hs_py.PyErr_Occurred())
        hs_py.PyErr_Clear(); /* nothing of ours may leave an error behind */
    hs_py.PyGILState_Release(state);
}

/* Attach mode: the inspector follows WELCOME with a POLICY frame, the
 * compiled policy to enforce from now on (empty: none new). It is loaded
 * before the probe event, so everything the session records after
 * hooksActiveAt was judged. Returns 0, or -1 (the attach fails). */
static int receive_policy(int fd) {
    uint8_t h[HS_FRAME_HEADER_SIZE];
    uint32_t len = 0;
    if (recv_exact(fd, h, sizeof h, WELCOME_TIMEOUT_MS) != 0 || hs_control_header(h, &len) != HS_FRAME_POLICY)
        return -1;
    if (len == 0)
        return 0; /* none given: what is enforced already (a launch policy) stays */
    uint8_t *bytes = malloc(len);
    if (!bytes)
        return -1;
    int r = recv_exact(fd, bytes, len, WELCOME_TIMEOUT_MS);
    if (r == 0)
        r = hs_policy_load_bytes(bytes, len);
    free(bytes);
    if (r != 0)
        return -1;
    atomic_store(&hs_agent.enforce, 1);
    return 0;
}

/* The attach arm thread: sets the agent up for this attach, registers the
 * hooks on first use (with the GIL, from our own thread, so a main thread
 * asleep in time.sleep or blocked in I/O does not delay it), connects,
 * raises the probe event and then becomes the writer. */
static void *arm_main(void *arg) {
    (void)arg;
    prctl(PR_SET_NAME, "hookscope-agent", 0, 0, 0);
    int gil;
    if (!batch && !(batch = malloc(HS_FRAME_HEADER_SIZE + BATCH_MAX)))
        goto fail;
    if (hs_agent_attach_prepare() != 0)
        goto fail;
    /* Records left from before a detach belong to no session. */
    while (hs_ring_drain(&hs_agent.ring, batch + HS_FRAME_HEADER_SIZE, BATCH_MAX))
        ;
    atomic_store(&hs_agent.seq, 0);
    atomic_store(&hs_agent.dropped, 0);
    atomic_store(&hs_agent.stopping, 0);
    atomic_store(&hs_agent.writer_wanted, 0);
    hs_agent.start_mono_ns = hs_now_ns();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    hs_agent.start_real_ns = (uint64_t)rt.tv_sec * 1000000000ULL + (uint64_t)rt.tv_nsec;
    hs_agent.hello_flags = (hs_agent.hello_flags & (HS_HELLO_AUDIT_HOOK | HS_HELLO_OPEN_CODE_HOOK)) |
                           HS_HELLO_ATTACHED | HS_HELLO_INITIALIZED_AT_START |
                           (atomic_load(&hs_agent.enforce) ? HS_HELLO_POLICY : 0);
    if (!atomic_load(&hs_agent.hooks_registered)) {
        if (take_gil(&gil) != 0)
            goto fail;
        /* Retried by a later attach if CPython refused it outright. */
        if (hs_hooks_register())
            atomic_store(&hs_agent.hooks_registered, 1);
        drop_gil(gil);
        if (!atomic_load(&hs_agent.hooks_registered))
            goto fail;
    }
    hs_ask_link_connecting();
    int fd = connect_server();
    if (fd >= 0 && receive_policy(fd) != 0) {
        if (atomic_exchange(&hs_agent.fd, -1) == fd)
            close(fd);
        fd = -1;
    }
    atomic_store(&hs_agent.arming, 0);
    if (fd < 0)
        goto fail;
    hs_ask_link_up();
    atomic_store(&hs_agent.capture, 1);
    /* The probe: the inspector counts hooks as active once it has this
     * event from us (PySys_AddAuditHook reports success even when a hook
     * already in the target vetoed sys.addaudithook). */
    if (take_gil(&gil) == 0) {
        hs_py.PySys_Audit("hookscope.attached", NULL);
        drop_gil(gil);
    }
    writer_loop(fd);
    writer_end();
    return NULL;
fail:
    atomic_store(&hs_agent.arming, 0);
    atomic_store(&hs_agent.capture, 0);
    hs_ask_link_down();
    writer_end();
    return NULL;
}

/* A detached thread of ours, with every signal blocked: the target's
 * signals (SIGINT belongs to the main thread's Python handler) must never
 * land on it. Returns pthread_create's result. */
static int start_agent_thread(void *(*fn)(void *)) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int r = pthread_create(&t, &attr, fn, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

/* Starts the arm thread; the caller holds the writer slot. */
int hs_channel_attach(void) {
    hs_agent.writer_done = 0;
    atomic_store(&hs_agent.arming, 1);
    if (start_agent_thread(arm_main) != 0) {
        atomic_store(&hs_agent.arming, 0);
        atomic_store(&hs_agent.writer_running, 0);
        return HS_ATTACH_NO_RESOURCES;
    }
    return HS_ATTACH_STARTED;
}

int hs_channel_start(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&hs_agent.writer_running, &expected, 1))
        return 0;
    atomic_store(&hs_agent.writer_wanted, 0);
    if (!batch) {
        batch = malloc(HS_FRAME_HEADER_SIZE + BATCH_MAX);
        if (!batch) {
            atomic_store(&hs_agent.capture, 0);
            return -1;
        }
    }
    hs_agent.writer_done = 0;
    hs_ask_link_connecting();
    if (start_agent_thread(writer_main) != 0) {
        hs_ask_link_down();
        atomic_store(&hs_agent.capture, 0);
        atomic_store(&hs_agent.writer_running, 0);
        return -1;
    }
    return 0;
}

void hs_channel_stop(int timeout_ms) {
    /* An arm thread that never connected has nothing to flush; it may be
     * waiting for a GIL that exit will never hand over. */
    if (!atomic_load(&hs_agent.writer_running) || atomic_load(&hs_agent.arming))
        return;
    struct timespec deadline = deadline_in((long)timeout_ms * 1000000L);
    pthread_mutex_lock(&hs_agent.done_mu);
    atomic_store(&hs_agent.stopping, 1);
    pthread_cond_signal(&hs_agent.wake_cv);
    while (!hs_agent.writer_done)
        if (pthread_cond_timedwait(&hs_agent.done_cv, &hs_agent.done_mu, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&hs_agent.done_mu);
}

/* The audit hook and the open-code hook: the code that runs inside the
 * target on every event. Rules for this file: never run Python code that is
 * not CPython's own (no repr, no user attributes), never leave a Python
 * error set, never block, never allocate on the audit path (records are
 * built in a thread-local buffer and copied into the ring). */
#define _GNU_SOURCE
#include "agent.h"
#include "api.h"
#include "ask.h"
#include "clock.h"
#include "encode.h"
#include "policy.h"
#include "sha256.h"
#include "stack.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint32_t fork_generation;
static int layout_checked; /* 1: object header proven, 2: tuple layout too */

/* Per-thread state. Kept small and initial-exec: one TLS access per event
 * without a call into the dynamic loader. The record buffer is on the heap
 * (one per thread that raises events, freed when the thread exits), so a
 * thread with a small stack is never at risk. */
struct hs_thread {
    uint32_t tid;
    uint32_t tid_generation;
    int in_hook;
    uint8_t *record;
    uint64_t last_seq; /* sequence number of this thread's last event record */
    int ctypes_dlopen; /* a ctypes.dlopen event was just raised: the next dlopen is ctypes' */
    char dlerror[1280]; /* why our dlopen refused, for the caller's dlerror() */
    int dlerror_set;
};
static __thread struct hs_thread tls_thread __attribute__((tls_model("initial-exec")));
static pthread_key_t record_key;
static pthread_once_t record_key_once = PTHREAD_ONCE_INIT;

static void free_record(void *p) {
    /* Runs in the exiting thread: a later event on it (from another TLS
     * destructor) must find no buffer rather than a freed one. */
    tls_thread.record = NULL;
    free(p);
}
static void make_record_key(void) { pthread_key_create(&record_key, free_record); }

static struct hs_thread *current_thread(void) {
    struct hs_thread *t = &tls_thread;
    uint32_t gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    /* The cached id is stale in the child after fork. */
    if (__builtin_expect(t->tid == 0 || t->tid_generation != gen, 0)) {
        t->tid = (uint32_t)syscall(SYS_gettid);
        t->tid_generation = gen;
    }
    if (__builtin_expect(t->record == NULL, 0)) {
        pthread_once(&record_key_once, make_record_key);
        t->record = malloc(HS_RECORD_MAX);
        if (t->record)
            pthread_setspecific(record_key, t->record);
    }
    return t;
}

static uint8_t *begin_record(struct hs_thread *t, uint8_t kind, const char *event, size_t name_len) {
    uint8_t *r = t->record;
    r[4] = kind;
    r[5] = 0;
    hs_put_u16(r + 6, (uint16_t)name_len);
    hs_put_u32(r + 8, t->tid);
    hs_put_u64(r + 12, atomic_fetch_add_explicit(&hs_agent.seq, 1, memory_order_relaxed));
    hs_put_u64(r + 20, hs_clock_stamp());
    memcpy(r + HS_RECORD_HEADER_SIZE, event, name_len);
    return r + HS_RECORD_HEADER_SIZE + name_len;
}

static void finish_record(struct hs_thread *t, uint8_t *end, int cut) {
    uint8_t *r = t->record;
    uint32_t len = (uint32_t)(end - r);
    hs_put_u32(r, len);
    if (cut)
        r[5] |= HS_RECORD_FLAG_TRUNCATED;
    if (hs_ring_push(&hs_agent.ring, r, len) != 0)
        atomic_fetch_add_explicit(&hs_agent.dropped, 1, memory_order_relaxed);
}

/* A kind-3 record: what the policy decided about the record `event_seq`,
 * with the Python stack when the thread holds the GIL (`with_stack`). */
static void record_decision(struct hs_thread *t, const char *event, size_t name_len,
                            uint64_t event_seq, const struct hs_verdict *v, uint64_t waited_ns,
                            int with_stack) {
    if (!atomic_load_explicit(&hs_agent.capture, memory_order_relaxed))
        return;
    if (!t->record) {
        atomic_fetch_add_explicit(&hs_agent.seq, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hs_agent.dropped, 1, memory_order_relaxed);
        return;
    }
    uint8_t *p = begin_record(t, HS_RECORD_DECISION, event, name_len);
    hs_put_u64(p, event_seq);
    p[8] = v->deny ? 1 : 0;
    p[9] = v->action;
    p[10] = v->by;
    p[11] = 0;
    hs_put_u32(p + 12, v->rule);
    hs_put_u64(p + 16, waited_ns);
    p += 24;
    if (with_stack) {
        struct hs_out out = {p, t->record + HS_RECORD_MAX, 0};
        if (hs_stack_encode(&out) == 0) {
            t->record[5] |= HS_RECORD_FLAG_STACK;
            p = out.p;
        }
    }
    finish_record(t, p, 0);
}

/* Asks about the record just built (if any), with the thread's stack.
 * Call with the GIL held. */
static uint64_t ask_with_stack(struct hs_thread *t, struct hs_verdict *v) {
    const uint8_t *record = t->last_seq != UINT64_MAX ? t->record : NULL;
    /* Asks are rare: a heap buffer keeps the thread's stack small. */
    uint8_t *stack = malloc(HS_RECORD_MAX / 2);
    size_t stack_len = 0;
    if (stack && record) {
        struct hs_out out = {stack, stack + HS_RECORD_MAX / 2, 0};
        if (hs_stack_encode(&out) == 0)
            stack_len = (size_t)(out.p - stack);
    }
    uint64_t waited = hs_ask(record, stack, stack_len, v);
    free(stack);
    return waited;
}

/* Why something was refused, as the PermissionError says it. */
static void deny_reason(const struct hs_verdict *v, char *buf, size_t cap) {
    char rule[32];
    if (v->rule == HS_NO_RULE)
        snprintf(rule, sizeof rule, "the default");
    else
        snprintf(rule, sizeof rule, "rule %u", v->rule);
    switch (v->by) {
    case HS_BY_USER:
        snprintf(buf, cap, "denied in the Hookscope inspector (asked by %s)", rule);
        break;
    case HS_BY_REMEMBERED:
        snprintf(buf, cap, "denied by an earlier answer in the Hookscope inspector (asked by %s)", rule);
        break;
    case HS_BY_TIMEOUT:
        snprintf(buf, cap, "denied by the Hookscope policy: no answer in time (asked by %s)", rule);
        break;
    case HS_BY_OFFLINE:
        snprintf(buf, cap, "denied by the Hookscope policy: no inspector to ask (asked by %s)", rule);
        break;
    default:
        snprintf(buf, cap, "denied by the Hookscope policy (%s)", rule);
        break;
    }
}

/* Policy decisions only while the interpreter runs normally: an error
 * raised during initialisation or finalisation could abort the process. */
static int interpreter_running(void) {
    return hs_py.Py_IsInitialized() && !(hs_py.is_finalizing && hs_py.is_finalizing());
}

static int audit_hook(const char *event, PyObject *args, void *user_data) {
    (void)user_data;
    int capture = atomic_load_explicit(&hs_agent.capture, memory_order_relaxed);
    int enforce = atomic_load_explicit(&hs_agent.enforce, memory_order_relaxed);
    if (!capture && !enforce)
        return 0;
    struct hs_thread *t = current_thread();
    /* Events raised by our own encoding are not the program's: skip them
     * rather than recurse. */
    if (t->in_hook)
        return 0;
    t->last_seq = UINT64_MAX; /* no record of this event (yet) */
    /* ctypes raises this just before it calls dlopen on the same thread. */
    t->ctypes_dlopen = event[0] == 'c' && strcmp(event, "ctypes.dlopen") == 0;
    if (!capture)
        goto judge;
    if (__builtin_expect(t->record == NULL, 0)) {
        atomic_fetch_add_explicit(&hs_agent.seq, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hs_agent.dropped, 1, memory_order_relaxed);
        goto judge;
    }
    t->in_hook = 1;
    if (__builtin_expect(layout_checked < 2, 0) && hs_py.Py_IsInitialized()) {
        if (!layout_checked) {
            hs_api_check_layout();
            layout_checked = 1;
        }
        /* The argument tuple is always an exact tuple. */
        if (hs_type_of(args) == hs_py.tuple_type && hs_api_learn_tuple(args))
            layout_checked = 2;
    }
    if (__builtin_expect(atomic_load_explicit(&hs_agent.writer_wanted, memory_order_relaxed), 0))
        hs_channel_start();
    size_t name_len = strnlen(event, 1025);
    int name_cut = name_len > 1024;
    if (name_cut)
        name_len = 1024;
    uint8_t *p = begin_record(t, HS_RECORD_AUDIT, event, name_len);
    memcpy(&t->last_seq, t->record + 12, 8);
    struct hs_out out = {p, t->record + HS_RECORD_MAX, 0};
    hs_encode_value(&out, args, 0);
    finish_record(t, out.p, out.cut || name_cut);
    t->in_hook = 0;
judge:
    if (!enforce || !interpreter_running())
        return 0;
    t->in_hook = 1;
    struct hs_verdict v;
    hs_policy_judge_event(event, args, &v);
    uint64_t waited_ns = 0;
    if (v.ask)
        waited_ns = ask_with_stack(t, &v);
    if (v.record) {
        size_t n = strnlen(event, 1024);
        record_decision(t, event, n, t->last_seq, &v, waited_ns, 1);
    }
    t->in_hook = 0;
    if (!v.deny)
        return 0;
    char reason[128], message[1200];
    deny_reason(&v, reason, sizeof reason);
    snprintf(message, sizeof message, "%.1024s %s", event, reason);
    hs_py.PyErr_SetString(*hs_py.exc_permission_error, message);
    return -1;
}

/* ---- open-code ---------------------------------------------------------- */

#define HASH_CACHE_SIZE 1024
#define READ_INTO_MEMORY_MAX (64u << 20)
#define CHUNK_SIZE (256u << 10)

struct hash_entry {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    uint8_t digest[32];
    uint8_t intent;
    int used;
};

/* Taken with the GIL released (open-code does its I/O without the GIL). */
static pthread_mutex_t hash_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hash_entry hash_cache[HASH_CACHE_SIZE];

static int64_t ns_of(struct timespec ts) { return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec; }

static struct hash_entry *cache_slot(const struct stat *st) {
    uint64_t h = (uint64_t)st->st_ino * 0x9E3779B97F4A7C15ULL ^ (uint64_t)st->st_dev;
    return &hash_cache[(h >> 20) % HASH_CACHE_SIZE];
}

/* A file whose device, inode, size, mtime and ctime are unchanged has the
 * content we hashed: writing to it would change mtime and ctime, and ctime
 * cannot be set from user space. */
static int cache_lookup(const struct stat *st, uint8_t digest[32], uint8_t *intent) {
    int hit = 0;
    pthread_mutex_lock(&hash_cache_mu);
    struct hash_entry *e = cache_slot(st);
    if (e->used && e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino &&
        e->size == (uint64_t)st->st_size && e->mtime_ns == ns_of(st->st_mtim) && e->ctime_ns == ns_of(st->st_ctim)) {
        memcpy(digest, e->digest, 32);
        *intent = e->intent;
        hit = 1;
    }
    pthread_mutex_unlock(&hash_cache_mu);
    return hit;
}

static void cache_store(const struct stat *st, const uint8_t digest[32], uint8_t intent) {
    pthread_mutex_lock(&hash_cache_mu);
    struct hash_entry *e = cache_slot(st);
    e->dev = (uint64_t)st->st_dev;
    e->ino = (uint64_t)st->st_ino;
    e->size = (uint64_t)st->st_size;
    e->mtime_ns = ns_of(st->st_mtim);
    e->ctime_ns = ns_of(st->st_ctim);
    memcpy(e->digest, digest, 32);
    e->intent = intent;
    e->used = 1;
    pthread_mutex_unlock(&hash_cache_mu);
}

static int has_suffix(const char *s, size_t n, const char *suffix) {
    size_t m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static uint8_t classify(const char *path, size_t path_len, const uint8_t *head, size_t head_len) {
    /* Content first: a zip is a zip whatever its name. */
    if (head_len >= 4 && head[0] == 'P' && head[1] == 'K' &&
        ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
        return HS_INTENT_ZIPIMPORT;
    if (has_suffix(path, path_len, ".pyc"))
        return HS_INTENT_BYTECODE;
    if (has_suffix(path, path_len, ".py") || has_suffix(path, path_len, ".pyw") ||
        has_suffix(path, path_len, ".pth") || (head_len >= 2 && head[0] == '#' && head[1] == '!'))
        return HS_INTENT_PYTHONCODE;
    return HS_INTENT_UNKNOWN;
}

/* Everything about one open-code call. On the heap: the hook may run on a
 * thread with a small stack (threading.stack_size). */
struct opened_file {
    PyObject *path;
    const char *fs_path;
    size_t fs_path_len;
    int fd;
    struct stat st;
    int err;
    uint8_t intent;
    uint8_t digest[32];
    char real_path[4096];
    size_t real_path_len;
    int cached;
};

static int valid_utf8(const uint8_t *s, size_t n);

/* Records code about to run: CPython's open-code (`io.open_code`, the path
 * as the str CPython passed) or a native library load (`dlopen`, the path
 * as the bytes the caller passed: f->path is NULL). */
static void record_open_code(struct hs_thread *t, const struct opened_file *f) {
    t->last_seq = UINT64_MAX;
    if (!atomic_load_explicit(&hs_agent.capture, memory_order_relaxed))
        return;
    if (!t->record) {
        atomic_fetch_add_explicit(&hs_agent.seq, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hs_agent.dropped, 1, memory_order_relaxed);
        return;
    }
    static const char name[] = "io.open_code", native_name[] = "dlopen";
    uint8_t *p = f->path ? begin_record(t, HS_RECORD_OPEN_CODE, name, sizeof name - 1)
                         : begin_record(t, HS_RECORD_OPEN_CODE, native_name, sizeof native_name - 1);
    memcpy(&t->last_seq, t->record + 12, 8);
    uint8_t *end = t->record + HS_RECORD_MAX;
    p[0] = f->intent;
    p[1] = f->err ? 1 : 0;
    hs_put_u16(p + 2, 0);
    hs_put_u32(p + 4, (uint32_t)f->err);
    hs_put_u64(p + 8, f->err ? 0 : (uint64_t)f->st.st_size);
    hs_put_u64(p + 16, f->err ? 0 : (uint64_t)f->st.st_dev);
    hs_put_u64(p + 24, f->err ? 0 : (uint64_t)f->st.st_ino);
    hs_put_u64(p + 32, f->err ? 0 : (uint64_t)ns_of(f->st.st_mtim));
    memcpy(p + 40, f->digest, 32);
    p += 72;
    /* The real path is at most 4096 bytes: keep room for it behind the path. */
    struct hs_out out = {p, end - 4100, 0};
    if (f->path) {
        hs_encode_value(&out, f->path, 0);
    } else {
        /* A C path: a str value, UTF-8 when it is, else its raw bytes
         * (tag 7, as CPython's surrogateescape would give them). */
        size_t n = f->fs_path_len < HS_MAX_STR ? f->fs_path_len : HS_MAX_STR;
        out.p[0] = valid_utf8((const uint8_t *)f->fs_path, n) ? HS_TAG_STR : HS_TAG_STR_FS;
        hs_put_u32(out.p + 1, (uint32_t)f->fs_path_len);
        hs_put_u32(out.p + 5, (uint32_t)n);
        memcpy(out.p + 9, f->fs_path, n);
        out.p += 9 + n;
        out.cut = n < f->fs_path_len;
    }
    p = out.p;
    hs_put_u32(p, (uint32_t)f->real_path_len);
    memcpy(p + 4, f->real_path, f->real_path_len);
    finish_record(t, p + 4 + f->real_path_len, out.cut);
}

/* Policy bit of each wire intent (docs/protocol.md). */
static unsigned intent_class_bit(uint8_t intent) {
    switch (intent) {
    case HS_INTENT_PYTHONCODE:
        return 0;
    case HS_INTENT_BYTECODE:
        return 1;
    case HS_INTENT_ZIPIMPORT:
        return 2;
    case HS_INTENT_NATIVECODE:
        return 3;
    case HS_INTENT_CTYPES:
        return 4;
    default:
        return 5;
    }
}

/* Judges code about to run; 1 when the policy refuses it, with
 * PermissionError(EACCES, reason, path) set. A refused .pyc makes importlib
 * fall back to the source (it treats OSError as "no cache"), which is then
 * judged on its own bytes. */
static int refuse_code(struct hs_thread *t, const struct opened_file *f) {
    if (!atomic_load_explicit(&hs_agent.enforce, memory_order_relaxed) || !interpreter_running())
        return 0;
    struct hs_intent_subject s = {
        intent_class_bit(f->intent), f->fs_path, f->fs_path_len, f->real_path, f->real_path_len,
        f->digest, 1,
    };
    struct hs_verdict v;
    hs_policy_judge_intent(&s, &v);
    uint64_t waited_ns = 0;
    if (v.ask)
        waited_ns = ask_with_stack(t, &v);
    if (v.record)
        record_decision(t, "io.open_code", 12, t->last_seq, &v, waited_ns, 1);
    if (!v.deny)
        return 0;
    char reason[128];
    deny_reason(&v, reason, sizeof reason);
    PyObject *exc = hs_py.PyObject_CallFunction(*hs_py.exc_permission_error, "isO", EACCES, reason,
                                                f->path);
    if (exc) {
        hs_py.PyErr_SetObject(*hs_py.exc_permission_error, exc);
        hs_py.Py_DecRef(exc);
    } /* else the failed call left its own error set: still a refusal */
    return 1;
}

/* _io, imported per call as CPython's own default hook does: a module cached
 * in a static would be shared by sub-interpreters that each have their own
 * GIL. Returns a new reference to the attribute. */
static PyObject *io_attr(const char *name) {
    PyObject *io = hs_py.PyImport_ImportModule("_io");
    if (!io)
        return NULL;
    PyObject *attr = hs_py.PyObject_GetAttrString(io, name);
    hs_py.Py_DecRef(io);
    return attr;
}

/* What CPython does without a hook: _io.open(path, "rb"). Used once the
 * agent is off (offline, refused), so the target pays nothing extra. */
static PyObject *default_open_code(PyObject *path) {
    PyObject *open = io_attr("open");
    if (!open)
        return NULL;
    PyObject *f = hs_py.PyObject_CallFunction(open, "Os", path, "rb");
    hs_py.Py_DecRef(open);
    return f;
}

/* _io.open(fd, "rb"): the file object takes the descriptor over. */
static PyObject *open_descriptor(int fd) {
    PyObject *open = io_attr("open");
    PyObject *f = open ? hs_py.PyObject_CallFunction(open, "is", fd, "rb") : NULL;
    if (open)
        hs_py.Py_DecRef(open);
    /* On failure the descriptor is left open rather than risk closing it
     * twice (a FileIO that was created and dropped already closed it). */
    return f;
}

static PyObject *bytes_io(PyObject *bytes) {
    PyObject *cls = io_attr("BytesIO");
    PyObject *f = cls ? hs_py.PyObject_CallFunction(cls, "O", bytes) : NULL;
    if (cls)
        hs_py.Py_DecRef(cls);
    return f;
}

static PyObject *raise_errno(PyObject *path, int err) {
    errno = err;
    hs_py.PyErr_SetFromErrnoWithFilenameObject(*hs_py.exc_oserror, path);
    return NULL;
}

/* Reads up to n bytes; returns how many (fewer only at EOF or error). */
static size_t read_exact(int fd, uint8_t *buf, size_t n, int *err) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* Whether the descriptor has nothing more to read (the file did not grow). */
static int at_eof(int fd) {
    uint8_t probe;
    ssize_t r;
    do
        r = read(fd, &probe, 1);
    while (r < 0 && errno == EINTR);
    return r == 0;
}

/* Read everything from fd; returns a malloc'd buffer (the file may change
 * size between fstat and read: read to EOF, not to st_size). */
static uint8_t *read_all(int fd, size_t hint, size_t *out_len, int *err) {
    size_t cap = hint + 1, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        *err = ENOMEM;
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            size_t ncap = cap * 2;
            uint8_t *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                free(buf);
                *err = ENOMEM;
                return NULL;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            free(buf);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    *out_len = len;
    return buf;
}

/* The steps below run with the GIL released: opening a FIFO or a slow
 * network file must not stop the target's other threads (one of which may
 * be the FIFO's writer), and neither should hashing a large file. They
 * touch no Python object except the bytes buffer we own. */

static void open_and_identify(struct opened_file *f) {
    do
        f->fd = open(f->fs_path, O_RDONLY | O_CLOEXEC);
    while (f->fd < 0 && errno == EINTR);
    if (f->fd < 0) {
        f->err = errno;
        return;
    }
    if (fstat(f->fd, &f->st) != 0 || S_ISDIR(f->st.st_mode)) {
        f->err = S_ISDIR(f->st.st_mode) ? EISDIR : errno;
        close(f->fd);
        f->fd = -1;
        return;
    }
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", f->fd);
    ssize_t rl = readlink(link, f->real_path, sizeof f->real_path);
    f->real_path_len = rl > 0 && (size_t)rl < sizeof f->real_path ? (size_t)rl : 0;
    f->cached = S_ISREG(f->st.st_mode) && cache_lookup(&f->st, f->digest, &f->intent);
}

/* Fills `buf` (st_size bytes) and hashes it. Returns 0, or 1 when the file
 * is not the size fstat said (the caller starts over with read_all). */
static int read_and_hash(struct opened_file *f, uint8_t *buf) {
    size_t want = (size_t)f->st.st_size;
    size_t got = read_exact(f->fd, buf, want, &f->err);
    if (f->err)
        return 0;
    if (got != want || !at_eof(f->fd))
        return 1;
    hs_sha256(buf, want, f->digest);
    f->intent = classify(f->fs_path, f->fs_path_len, buf, want);
    cache_store(&f->st, f->digest, f->intent);
    return 0;
}

static void hash_through_descriptor(struct opened_file *f) {
    uint8_t *chunk = malloc(CHUNK_SIZE);
    if (!chunk) {
        f->err = ENOMEM;
        return;
    }
    struct hs_sha256 ctx;
    hs_sha256_init(&ctx);
    uint8_t head[4] = {0};
    size_t total = 0;
    for (;;) {
        ssize_t n = read(f->fd, chunk, CHUNK_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            f->err = errno;
            break;
        }
        if (n == 0)
            break;
        if (total < 4)
            memcpy(head + total, chunk, (size_t)n < 4 - total ? (size_t)n : 4 - total);
        hs_sha256_update(&ctx, chunk, (size_t)n);
        total += (size_t)n;
    }
    free(chunk);
    if (!f->err && lseek(f->fd, 0, SEEK_SET) != 0)
        f->err = errno;
    if (f->err)
        return;
    hs_sha256_final(&ctx, f->digest);
    f->st.st_size = (off_t)total;
    f->intent = classify(f->fs_path, f->fs_path_len, head, total < 4 ? total : 4);
}

/* Open once, name the file from the descriptor, hash exactly the bytes the
 * interpreter will get, hand those bytes over (io.BytesIO): what was
 * recorded is what runs. A file already hashed (same identity) is handed
 * over through its descriptor without reading it twice — zipimport reopens
 * an archive for every member it loads. */
static PyObject *open_code_hook(PyObject *path, void *user_data) {
    (void)user_data;
    if (!atomic_load_explicit(&hs_agent.capture, memory_order_relaxed) &&
        !atomic_load_explicit(&hs_agent.enforce, memory_order_relaxed))
        return default_open_code(path);
    PyObject *fs = hs_py.PyUnicode_EncodeFSDefault(path);
    if (!fs)
        return NULL; /* CPython's own error, as the default hook would raise */
    struct opened_file *f = calloc(1, sizeof *f);
    if (!f) {
        hs_py.Py_DecRef(fs);
        return hs_py.PyErr_NoMemory();
    }
    f->path = path;
    f->fd = -1;
    f->fs_path = hs_py.PyBytes_AsString(fs);
    f->fs_path_len = (size_t)hs_py.PyBytes_Size(fs);
    if (strlen(f->fs_path) != f->fs_path_len) {
        /* open() would stop at the NUL and open another file. */
        free(f);
        hs_py.Py_DecRef(fs);
        hs_py.PyErr_SetString(*hs_py.exc_value_error, "embedded null byte");
        return NULL;
    }
    struct hs_thread *t = current_thread();
    int was_in_hook = t->in_hook;
    t->in_hook = 1;
    PyObject *result = NULL;
    PyObject *bytes = NULL;

    void *ts = hs_py.PyEval_SaveThread();
    open_and_identify(f);
    hs_py.PyEval_RestoreThread(ts);

    if (f->err) {
        record_open_code(t, f);
        raise_errno(path, f->err);
    } else if (f->cached) {
        record_open_code(t, f);
        if (refuse_code(t, f))
            close(f->fd);
        else
            result = open_descriptor(f->fd);
    } else if ((uint64_t)f->st.st_size <= READ_INTO_MEMORY_MAX) {
        /* A regular file is read straight into the bytes object the
         * interpreter will get. A FIFO or device (size unknown), or a file
         * that changed size under us, is read to EOF into a buffer. */
        int regular = S_ISREG(f->st.st_mode);
        if (regular) {
            bytes = hs_py.PyBytes_FromStringAndSize(NULL, (Py_ssize_t)f->st.st_size);
            if (!bytes) {
                f->err = ENOMEM;
                hs_py.PyErr_Clear();
            }
        }
        if (!f->err) {
            uint8_t *buf = bytes ? (uint8_t *)hs_py.PyBytes_AsString(bytes) : NULL;
            ts = hs_py.PyEval_SaveThread();
            int again = regular ? read_and_hash(f, buf) : 1;
            uint8_t *heap = NULL;
            size_t len = 0;
            if (again && !f->err) {
                if (regular && lseek(f->fd, 0, SEEK_SET) != 0)
                    f->err = errno;
                else if ((heap = read_all(f->fd, (size_t)f->st.st_size, &len, &f->err)) != NULL) {
                    hs_sha256(heap, len, f->digest);
                    f->intent = classify(f->fs_path, f->fs_path_len, heap, len);
                    f->st.st_size = (off_t)len;
                }
            }
            hs_py.PyEval_RestoreThread(ts);
            if (again) {
                if (bytes)
                    hs_py.Py_DecRef(bytes);
                bytes = heap ? hs_py.PyBytes_FromStringAndSize((const char *)heap, (Py_ssize_t)len) : NULL;
                free(heap);
                if (!bytes && !f->err) {
                    f->err = ENOMEM;
                    hs_py.PyErr_Clear();
                }
            }
        }
        close(f->fd);
        f->fd = -1;
        record_open_code(t, f);
        if (f->err)
            f->err == ENOMEM ? hs_py.PyErr_NoMemory() : raise_errno(path, f->err);
        else if (!refuse_code(t, f))
            result = bytes_io(bytes);
    } else {
        /* Too large to hold in memory: hash through the descriptor, then
         * give the interpreter that same descriptor from the start. */
        ts = hs_py.PyEval_SaveThread();
        hash_through_descriptor(f);
        hs_py.PyEval_RestoreThread(ts);
        record_open_code(t, f);
        if (f->err) {
            close(f->fd);
            raise_errno(path, f->err);
        } else if (refuse_code(t, f)) {
            close(f->fd);
        } else {
            result = open_descriptor(f->fd);
        }
    }
    if (bytes)
        hs_py.Py_DecRef(bytes);
    hs_py.Py_DecRef(fs);
    free(f);
    t->in_hook = was_in_hook;
    return result;
}

/* ---- native code: dlopen ------------------------------------------------
 *
 * Launch mode preloads the agent, so this dlopen is the one every library
 * in the process calls: CPython's extension-module import and ctypes
 * included. For a path (a name with a '/'), the file is opened once,
 * identified and hashed through that descriptor, recorded as code about to
 * run (intent `nativecode`, or `ctypes` right after a ctypes.dlopen event)
 * and judged; a refusal returns NULL with the reason in dlerror(), which
 * CPython turns into ImportError (extension modules) and ctypes into
 * OSError. The library is then loaded by its real path, and the mapping
 * the loader made is checked to be the inode that was hashed.
 *
 * Why not load from /proc/self/fd/N: the loader takes that as the
 * library's name, so `$ORIGIN` in its RUNPATH points into /proc (wheels
 * like numpy's find their bundled libraries that way and would fail), and
 * once the descriptor is closed a later load through the same fd number
 * matches that name and gets the old library back.
 *
 * Bare names (`libz.so.1`) go through the loader's search unchanged: which
 * file it would pick is only known by loading it. ctypes' own event
 * (ctypes.dlopen, with the name) is where a policy sees those. */

#include <dlfcn.h>
#include <link.h>

static void *(*real_dlopen)(const char *, int);
static char *(*real_dlerror)(void);

static int valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n)
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* This thread holds the GIL of an interpreter that runs normally. Before
 * 3.12 the current thread state is process-wide (the GIL holder's), so it
 * must also be this thread's own. */
static int thread_holds_gil(void) {
    if (!hs_py.thread_state_unchecked || !hs_py.PyGILState_GetThisThreadState)
        return 0;
    void *current = hs_py.thread_state_unchecked();
    return current != NULL && current == hs_py.PyGILState_GetThisThreadState();
}

/* Device and inode of the file mapped at `addr`, from /proc/self/maps. */
static int mapped_file_id(uintptr_t addr, uint64_t *dev, uint64_t *ino) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[8192];
    size_t have = 0;
    int found = -1;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', (size_t)(buf + have - line))) != NULL) {
            *nl = 0;
            unsigned long lo, hi, major, minor, inode;
            if (sscanf(line, "%lx-%lx %*s %*s %lx:%lx %lu", &lo, &hi, &major, &minor, &inode) == 5 &&
                addr >= lo && addr < hi) {
                *dev = (uint64_t)makedev(major, minor);
                *ino = inode;
                found = 0;
                break;
            }
            line = nl + 1;
        }
        if (found == 0)
            break;
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have >= sizeof buf - 1)
            have = 0; /* a line longer than the buffer: skip it */
    }
    close(fd);
    return found;
}

__attribute__((visibility("default"))) char *dlerror(void) {
    struct hs_thread *t = &tls_thread;
    if (t->dlerror_set) {
        /* One report per failure, as dlerror itself does. */
        t->dlerror_set = 0;
        return t->dlerror;
    }
    if (!real_dlerror)
        real_dlerror = (char *(*)(void))dlsym(RTLD_NEXT, "dlerror");
    return real_dlerror ? real_dlerror() : NULL;
}

static void *judged_dlopen(const char *file, int mode, int ctypes) __attribute__((noinline));

/* Kept free of locals so the pass-through is a tail call: the loader then
 * sees the original caller as the caller, which is what decides the
 * RUNPATH searched for a bare name, `$ORIGIN` in the name, and the
 * namespace. Only names with a '/' (and no '$') are judged. */
__attribute__((visibility("default"))) void *dlopen(const char *file, int mode) {
    if (__builtin_expect(real_dlopen == NULL, 0))
        real_dlopen = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
    int ctypes = tls_thread.ctypes_dlopen;
    tls_thread.ctypes_dlopen = 0;
    if ((atomic_load_explicit(&hs_agent.capture, memory_order_relaxed) ||
         atomic_load_explicit(&hs_agent.enforce, memory_order_relaxed)) &&
        file && strchr(file, '/') && !strchr(file, '$') && !(mode & RTLD_NOLOAD) && !tls_thread.in_hook &&
        hs_py.Py_IsInitialized && interpreter_running())
        return judged_dlopen(file, mode, ctypes);
    return real_dlopen(file, mode);
}

static void *judged_dlopen(const char *file, int mode, int ctypes) {
    int enforce = atomic_load_explicit(&hs_agent.enforce, memory_order_relaxed);
    int gil = thread_holds_gil();
    struct hs_thread *t = current_thread();
    t->in_hook = 1;
    struct opened_file *f = calloc(1, sizeof *f);
    if (!f) {
        t->in_hook = 0;
        return real_dlopen(file, mode);
    }
    f->fd = -1;
    f->fs_path = file;
    f->fs_path_len = strlen(file);
    void *ts = gil ? hs_py.PyEval_SaveThread() : NULL;
    open_and_identify(f);
    if (!f->err && !S_ISREG(f->st.st_mode))
        f->err = EINVAL; /* a device or FIFO: nothing to hash; the loader refuses it itself */
    if (!f->err && !f->cached)
        hash_through_descriptor(f);
    if (!f->err && !f->cached && S_ISREG(f->st.st_mode))
        cache_store(&f->st, f->digest, HS_INTENT_NATIVECODE);
    f->intent = ctypes ? HS_INTENT_CTYPES : HS_INTENT_NATIVECODE;
    if (ts)
        hs_py.PyEval_RestoreThread(ts);
    if (f->err) {
        /* Nothing to load from: the loader reports its own error. */
        if (f->fd >= 0)
            close(f->fd);
        free(f);
        t->in_hook = 0;
        return real_dlopen(file, mode);
    }
    record_open_code(t, f);

    struct hs_verdict v = {0};
    uint64_t waited_ns = 0;
    if (enforce) {
        struct hs_intent_subject s = {
            intent_class_bit(f->intent), f->fs_path, f->fs_path_len, f->real_path, f->real_path_len,
            f->digest, gil,
        };
        hs_policy_judge_intent(&s, &v);
        /* An ask needs the GIL released while it waits; a thread without
         * it (ctypes loads with the GIL released) waits as it is. */
        if (v.ask)
            waited_ns = gil ? ask_with_stack(t, &v)
                            : hs_ask_nogil(t->last_seq != UINT64_MAX ? t->record : NULL, &v);
        if (v.record)
            record_decision(t, "dlopen", 6, t->last_seq, &v, waited_ns, gil);
    }
    void *handle = NULL;
    if (v.deny) {
        char reason[128];
        deny_reason(&v, reason, sizeof reason);
        snprintf(t->dlerror, sizeof t->dlerror, "%.1024s: %s", file, reason);
        t->dlerror_set = 1;
    } else {
        /* A library's constructors may load others: those are judged too. */
        t->in_hook = 0;
        handle = real_dlopen(f->real_path_len ? f->real_path : file, mode);
        t->in_hook = 1;
        /* What the loader mapped must be the file that was judged: a file
         * swapped in between is refused. */
        struct link_map *map = NULL;
        uint64_t dev = 0, ino = 0;
        if (handle && enforce && dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_ld &&
            mapped_file_id((uintptr_t)map->l_ld, &dev, &ino) == 0 &&
            (dev != (uint64_t)f->st.st_dev || ino != (uint64_t)f->st.st_ino)) {
            dlclose(handle);
            handle = NULL;
            snprintf(t->dlerror, sizeof t->dlerror,
                     "%.1024s: refused by Hookscope: the file changed between its check and its load", file);
            t->dlerror_set = 1;
        }
    }
    close(f->fd);
    free(f);
    t->in_hook = 0;
    return handle;
}

/* ---- registration ------------------------------------------------------ */

int hs_hooks_register(void) {
    int ok = 0;
    if (hs_py.PySys_AddAuditHook(audit_hook, NULL) == 0) {
        hs_agent.hello_flags |= HS_HELLO_AUDIT_HOOK;
        ok = 1;
    }
    /* Settable once per process: if someone else set it first, we keep
     * recording audit events but not code identity. */
    if (hs_py.PyFile_SetOpenCodeHook && hs_py.PyFile_SetOpenCodeHook(open_code_hook, NULL) == 0)
        hs_agent.hello_flags |= HS_HELLO_OPEN_CODE_HOOK;
    return ok;
}

void hs_hooks_after_fork_child(void) {
    atomic_fetch_add(&fork_generation, 1);
    tls_thread.in_hook = 0;
    /* Another thread may have held the cache lock at fork time. */
    pthread_mutex_t unlocked = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&hash_cache_mu, &unlocked, sizeof unlocked);
}

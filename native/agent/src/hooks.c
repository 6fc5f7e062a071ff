/* The audit hook and the open-code hook: the code that runs inside the
 * target on every event. Rules for this file: never run Python code that is
 * not CPython's own (no repr, no user attributes), never leave a Python
 * error set, never block, never allocate on the audit path (records are
 * built in a thread-local buffer and copied into the ring). */
#define _GNU_SOURCE
#include "agent.h"
#include "api.h"
#include "clock.h"
#include "encode.h"
#include "sha256.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
};
static __thread struct hs_thread tls_thread __attribute__((tls_model("initial-exec")));
static pthread_key_t record_key;
static pthread_once_t record_key_once = PTHREAD_ONCE_INIT;

static void free_record(void *p) { free(p); }
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

static int audit_hook(const char *event, PyObject *args, void *user_data) {
    (void)user_data;
    if (!atomic_load_explicit(&hs_agent.capture, memory_order_relaxed))
        return 0;
    struct hs_thread *t = current_thread();
    /* Events raised by our own encoding are not the program's: skip them
     * rather than recurse. */
    if (t->in_hook)
        return 0;
    if (__builtin_expect(t->record == NULL, 0)) {
        atomic_fetch_add_explicit(&hs_agent.seq, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hs_agent.dropped, 1, memory_order_relaxed);
        return 0;
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
    size_t name_len = strnlen(event, 1024);
    uint8_t *p = begin_record(t, HS_RECORD_AUDIT, event, name_len);
    struct hs_out out = {p, t->record + HS_RECORD_MAX, 0};
    hs_encode_value(&out, args, 0);
    finish_record(t, out.p, out.cut);
    t->in_hook = 0;
    return 0;
}

/* ---- open-code ---------------------------------------------------------- */

#define HASH_CACHE_SIZE 1024
#define READ_INTO_MEMORY_MAX (64u << 20)

struct hash_entry {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
    uint8_t digest[32];
    int used;
};

/* Open-code calls come with the GIL held on default builds; the lock keeps
 * free-threaded builds right. It is never taken on the audit path. */
static pthread_mutex_t hash_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hash_entry hash_cache[HASH_CACHE_SIZE];
static PyObject *io_module;

static struct hash_entry *cache_slot(const struct stat *st) {
    uint64_t h = (uint64_t)st->st_ino * 0x9E3779B97F4A7C15ULL ^ (uint64_t)st->st_dev;
    return &hash_cache[(h >> 20) % HASH_CACHE_SIZE];
}

static int cache_lookup(const struct stat *st, uint8_t digest[32]) {
    int hit = 0;
    pthread_mutex_lock(&hash_cache_mu);
    struct hash_entry *e = cache_slot(st);
    if (e->used && e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino &&
        e->size == (uint64_t)st->st_size &&
        e->mtime_ns == (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec &&
        e->ctime_ns == (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec) {
        memcpy(digest, e->digest, 32);
        hit = 1;
    }
    pthread_mutex_unlock(&hash_cache_mu);
    return hit;
}

static void cache_store(const struct stat *st, const uint8_t digest[32]) {
    pthread_mutex_lock(&hash_cache_mu);
    struct hash_entry *e = cache_slot(st);
    e->dev = (uint64_t)st->st_dev;
    e->ino = (uint64_t)st->st_ino;
    e->size = (uint64_t)st->st_size;
    e->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    e->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    memcpy(e->digest, digest, 32);
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

struct opened_file {
    PyObject *path;
    const char *fs_path;
    size_t fs_path_len;
    struct stat st;
    int err;
    uint8_t intent;
    uint8_t digest[32];
    char real_path[4096];
    size_t real_path_len;
};

static void record_open_code(struct hs_thread *t, const struct opened_file *f) {
    if (!atomic_load_explicit(&hs_agent.capture, memory_order_relaxed))
        return;
    if (!t->record) {
        atomic_fetch_add_explicit(&hs_agent.seq, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hs_agent.dropped, 1, memory_order_relaxed);
        return;
    }
    static const char name[] = "io.open_code";
    uint8_t *p = begin_record(t, HS_RECORD_OPEN_CODE, name, sizeof name - 1);
    uint8_t *end = t->record + HS_RECORD_MAX;
    p[0] = f->intent;
    p[1] = f->err ? 1 : 0;
    hs_put_u16(p + 2, 0);
    hs_put_u32(p + 4, (uint32_t)f->err);
    hs_put_u64(p + 8, f->err ? 0 : (uint64_t)f->st.st_size);
    hs_put_u64(p + 16, f->err ? 0 : (uint64_t)f->st.st_dev);
    hs_put_u64(p + 24, f->err ? 0 : (uint64_t)f->st.st_ino);
    hs_put_u64(p + 32, f->err ? 0 : (uint64_t)((int64_t)f->st.st_mtim.tv_sec * 1000000000LL + f->st.st_mtim.tv_nsec));
    memcpy(p + 40, f->digest, 32);
    p += 72;
    /* The real path is at most 4096 bytes: keep room for it behind the path. */
    struct hs_out out = {p, end - 4100, 0};
    hs_encode_value(&out, f->path, 0);
    p = out.p;
    hs_put_u32(p, (uint32_t)f->real_path_len);
    memcpy(p + 4, f->real_path, f->real_path_len);
    finish_record(t, p + 4 + f->real_path_len, out.cut);
}

static PyObject *io_attr(const char *name) {
    if (!io_module) {
        io_module = hs_py.PyImport_ImportModule("_io");
        if (!io_module)
            return NULL;
    }
    return hs_py.PyObject_GetAttrString(io_module, name);
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

static PyObject *raise_errno(PyObject *path, int err) {
    errno = err;
    hs_py.PyErr_SetFromErrnoWithFilenameObject(*hs_py.exc_oserror, path);
    return NULL;
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

/* Open once, name the file from the descriptor, hash exactly the bytes the
 * interpreter will get, hand those bytes over (io.BytesIO): what was
 * recorded is what runs. */
static PyObject *open_code_hook(PyObject *path, void *user_data) {
    (void)user_data;
    if (!atomic_load_explicit(&hs_agent.capture, memory_order_relaxed))
        return default_open_code(path);
    struct hs_thread *t = current_thread();
    int was_in_hook = t->in_hook;
    t->in_hook = 1;
    PyObject *result = NULL;
    PyObject *fs = hs_py.PyUnicode_EncodeFSDefault(path);
    if (!fs) {
        t->in_hook = was_in_hook;
        return NULL; /* CPython's own error, as the default hook would raise */
    }
    struct opened_file f;
    memset(&f, 0, sizeof f);
    f.path = path;
    f.fs_path = hs_py.PyBytes_AsString(fs);
    f.fs_path_len = (size_t)hs_py.PyBytes_Size(fs);

    int fd = open(f.fs_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &f.st) != 0 || S_ISDIR(f.st.st_mode)) {
        f.err = fd < 0 ? errno : (S_ISDIR(f.st.st_mode) ? EISDIR : errno);
        if (fd >= 0)
            close(fd);
        record_open_code(t, &f);
        hs_py.Py_DecRef(fs);
        t->in_hook = was_in_hook;
        return raise_errno(path, f.err);
    }
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t rl = readlink(link, f.real_path, sizeof f.real_path);
    f.real_path_len = rl > 0 && (size_t)rl < sizeof f.real_path ? (size_t)rl : 0;

    if ((uint64_t)f.st.st_size <= READ_INTO_MEMORY_MAX) {
        size_t len = 0;
        int err = 0;
        uint8_t *data = read_all(fd, (size_t)f.st.st_size, &len, &err);
        close(fd);
        if (!data) {
            f.err = err;
            record_open_code(t, &f);
            hs_py.Py_DecRef(fs);
            t->in_hook = was_in_hook;
            return err == ENOMEM ? hs_py.PyErr_NoMemory() : raise_errno(path, err);
        }
        if (len != (size_t)f.st.st_size || !cache_lookup(&f.st, f.digest)) {
            hs_sha256(data, len, f.digest);
            if (len == (size_t)f.st.st_size)
                cache_store(&f.st, f.digest);
        }
        f.st.st_size = (off_t)len;
        f.intent = classify(f.fs_path, f.fs_path_len, data, len);
        PyObject *bytes = hs_py.PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)len);
        free(data);
        record_open_code(t, &f);
        if (bytes) {
            PyObject *bytes_io = io_attr("BytesIO");
            if (bytes_io) {
                result = hs_py.PyObject_CallFunction(bytes_io, "O", bytes);
                hs_py.Py_DecRef(bytes_io);
            }
            hs_py.Py_DecRef(bytes);
        }
    } else {
        /* Too large to hold twice in memory: hash through the descriptor,
         * then give the interpreter that same descriptor from the start. */
        struct hs_sha256 ctx;
        hs_sha256_init(&ctx);
        uint8_t chunk[65536];
        uint8_t head[4] = {0};
        size_t total = 0;
        ssize_t n;
        while ((n = read(fd, chunk, sizeof chunk)) != 0) {
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                f.err = errno;
                break;
            }
            if (total == 0 && n >= 4)
                memcpy(head, chunk, 4);
            hs_sha256_update(&ctx, chunk, (size_t)n);
            total += (size_t)n;
        }
        if (f.err || lseek(fd, 0, SEEK_SET) != 0) {
            if (!f.err)
                f.err = errno;
            close(fd);
            record_open_code(t, &f);
            hs_py.Py_DecRef(fs);
            t->in_hook = was_in_hook;
            return raise_errno(path, f.err);
        }
        hs_sha256_final(&ctx, f.digest);
        f.st.st_size = (off_t)total;
        f.intent = classify(f.fs_path, f.fs_path_len, head, total >= 4 ? 4 : 0);
        record_open_code(t, &f);
        PyObject *open = io_attr("open");
        if (open) {
            result = hs_py.PyObject_CallFunction(open, "is", fd, "rb");
            hs_py.Py_DecRef(open);
        }
        if (!result)
            close(fd);
    }
    hs_py.Py_DecRef(fs);
    t->in_hook = was_in_hook;
    return result;
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
}

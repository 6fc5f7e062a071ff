/* The compiled policy: parser and matcher. Parsing happens once, before
 * the interpreter starts (launch mode), and allocates; judging an event
 * allocates nothing on the usual path and runs no Python code. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "policy.h"
#include "stack.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_POLICY_BYTES (1u << 20)
#define SMALL_GLOB_STATES 256

enum glob_token { TOK_LITERAL = 0, TOK_ONE = 1, TOK_DIRS_INSIDE = 2, TOK_STAR = 3, TOK_ANY = 4, TOK_DIRS = 5 };

struct hs_glob {
    uint32_t separator; /* '/' or 0 (none) */
    uint16_t n;
    uint8_t *kinds;
    uint32_t *points;
    /* Fast paths, as in main/core/policy/glob.ts. */
    char *literal;       /* UTF-8 of a wildcard-free pattern */
    size_t literal_len;
    int prefix_kind;     /* -1, or TOK_ANY / TOK_STAR: one trailing wildcard */
};

enum arg_op { OP_EXACT_STR = 0, OP_GLOB = 1, OP_PREFIX = 2, OP_INT = 3, OP_FLOAT = 4, OP_TRUE = 5, OP_FALSE = 6, OP_NONE = 7 };

struct arg_matcher {
    uint8_t depth, i0, i1, op;
    const char *str; /* exact / prefix, UTF-8 (points into the policy bytes) */
    uint32_t len;
    struct hs_glob glob;
    int64_t i;
    double f;
};

enum field_bit {
    F_PATH_GLOB = 1,
    F_PATH_PREFIX = 2,
    F_REAL_GLOB = 4,
    F_REAL_PREFIX = 8,
    F_SHA = 16,
    F_EXE_GLOB = 32,
    F_PIDS = 64,
    F_ORIGIN = 128,
};

struct rule {
    uint8_t action, scope;
    uint16_t intents; /* 0: an event rule */
    uint32_t index;
    uint16_t n_events;
    struct hs_glob *events;
    uint16_t n_args;
    struct arg_matcher *args;
    uint8_t fields;
    struct hs_glob path, real, exe;
    const char *path_prefix, *real_prefix;
    uint32_t path_prefix_len, real_prefix_len;
    uint8_t sha[32];
    uint16_t n_pids;
    uint32_t *pids;
    uint8_t origin_fields; /* bit 0: module glob, bit 1: package */
    struct hs_glob module;
    const char *package;
    uint32_t package_len;
    int process_match; /* executable / pid fields, for this process */
};

/* The raising module, found once per judgment and only when a rule asks. */
struct origin {
    int state; /* 0 not looked up, 1 none, 2 found */
    int may_walk;
    char name[256];
    size_t len;
};

static _Atomic uint32_t next_generation = 1;

struct policy_data {
    int loaded;
    uint32_t generation; /* bumped on every load: per-thread caches compare it */
    uint8_t *bytes;
    uint8_t default_action, offline, timeout_answer, ask_answer;
    uint32_t timeout_ms;
    uint32_t n_rules;
    struct rule *rules;
};

/* The policy in force. Judging threads take one snapshot of this pointer
 * per judgment; a new policy (an attach that brings one, or a live
 * replacement from the inspector) replaces it with a release store and the
 * old one is kept, never freed: a thread may still be judging with it.
 * Live replacements are counted and capped (hs_policy_replace), so what is
 * kept stays bounded. */
static struct policy_data empty_policy;
static struct policy_data *_Atomic current_policy = &empty_policy;

static struct policy_data *snapshot(void) {
    return atomic_load_explicit(&current_policy, memory_order_acquire);
}

/* ---- parsing ------------------------------------------------------------ */

struct reader {
    const uint8_t *p, *end;
    int bad;
};

static int need(struct reader *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}
static uint8_t u8(struct reader *r) { return need(r, 1) ? *r->p++ : 0; }
static uint16_t u16(struct reader *r) {
    uint16_t v = 0;
    if (need(r, 2)) { memcpy(&v, r->p, 2); r->p += 2; }
    return v;
}
static uint32_t u32(struct reader *r) {
    uint32_t v = 0;
    if (need(r, 4)) { memcpy(&v, r->p, 4); r->p += 4; }
    return v;
}
static uint64_t u64(struct reader *r) {
    uint64_t v = 0;
    if (need(r, 8)) { memcpy(&v, r->p, 8); r->p += 8; }
    return v;
}
static const char *lstr(struct reader *r, uint32_t *len) {
    *len = u32(r);
    if (!need(r, *len))
        return NULL;
    const char *s = (const char *)r->p;
    r->p += *len;
    return s;
}

static size_t utf8_put(char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int read_glob(struct reader *r, struct hs_glob *g) {
    uint8_t sep = u8(r);
    g->separator = sep ? '/' : 0;
    g->n = u16(r);
    g->prefix_kind = -1;
    if (r->bad || sep > 1 || !need(r, (size_t)g->n * 5))
        return (r->bad = 1, -1);
    g->kinds = malloc(g->n ? g->n : 1);
    g->points = malloc(sizeof(uint32_t) * (g->n ? g->n : 1));
    g->literal = malloc((size_t)g->n * 4 + 1);
    if (!g->kinds || !g->points || !g->literal)
        return (r->bad = 1, -1);
    unsigned wildcards = 0;
    for (uint16_t i = 0; i < g->n; i++) {
        g->kinds[i] = u8(r);
        g->points[i] = u32(r);
        if (g->kinds[i] > TOK_DIRS || (g->kinds[i] == TOK_LITERAL && g->points[i] > 0x10FFFF))
            return (r->bad = 1, -1);
        if (g->kinds[i] != TOK_LITERAL)
            wildcards++;
    }
    /* A DIRS token is always followed by its DIRS_INSIDE. */
    for (uint16_t i = 0; i < g->n; i++)
        if (g->kinds[i] == TOK_DIRS && (i + 1 >= g->n || g->kinds[i + 1] != TOK_DIRS_INSIDE))
            return (r->bad = 1, -1);
    size_t len = 0;
    uint16_t literal_count = g->n;
    if (wildcards == 1 && g->n && (g->kinds[g->n - 1] == TOK_ANY || g->kinds[g->n - 1] == TOK_STAR)) {
        g->prefix_kind = g->kinds[g->n - 1];
        literal_count = g->n - 1;
    }
    if (wildcards == 0 || g->prefix_kind >= 0) {
        for (uint16_t i = 0; i < literal_count; i++)
            len += utf8_put(g->literal + len, g->points[i]);
    }
    g->literal[len] = 0;
    g->literal_len = len;
    if (wildcards != 0 && g->prefix_kind < 0) {
        free(g->literal);
        g->literal = NULL;
    }
    return 0;
}

static int read_rule(struct reader *r, struct rule *rule) {
    rule->action = u8(r);
    rule->scope = u8(r);
    rule->intents = u16(r);
    rule->index = u32(r);
    if (rule->action > HS_ACT_ASK || rule->scope > 3)
        return (r->bad = 1, -1);
    rule->n_events = u16(r);
    if (r->bad)
        return -1;
    if (rule->n_events) {
        rule->events = calloc(rule->n_events, sizeof *rule->events);
        if (!rule->events)
            return (r->bad = 1, -1);
        for (uint16_t i = 0; i < rule->n_events; i++)
            if (read_glob(r, &rule->events[i]) != 0)
                return -1;
    }
    rule->n_args = u16(r);
    if (r->bad)
        return -1;
    if (rule->n_args) {
        rule->args = calloc(rule->n_args, sizeof *rule->args);
        if (!rule->args)
            return (r->bad = 1, -1);
        for (uint16_t i = 0; i < rule->n_args; i++) {
            struct arg_matcher *m = &rule->args[i];
            m->depth = u8(r);
            m->i0 = u8(r);
            m->i1 = u8(r);
            m->op = u8(r);
            if (m->depth < 1 || m->depth > 2)
                return (r->bad = 1, -1);
            switch (m->op) {
            case OP_EXACT_STR:
            case OP_PREFIX:
                m->str = lstr(r, &m->len);
                break;
            case OP_GLOB:
                if (read_glob(r, &m->glob) != 0)
                    return -1;
                break;
            case OP_INT:
                m->i = (int64_t)u64(r);
                break;
            case OP_FLOAT: {
                uint64_t bits = u64(r);
                memcpy(&m->f, &bits, 8);
                break;
            }
            case OP_TRUE:
            case OP_FALSE:
            case OP_NONE:
                break;
            default:
                return (r->bad = 1, -1);
            }
        }
    }
    rule->fields = u8(r);
    if ((rule->fields & F_PATH_GLOB) && read_glob(r, &rule->path) != 0)
        return -1;
    if (rule->fields & F_PATH_PREFIX)
        rule->path_prefix = lstr(r, &rule->path_prefix_len);
    if ((rule->fields & F_REAL_GLOB) && read_glob(r, &rule->real) != 0)
        return -1;
    if (rule->fields & F_REAL_PREFIX)
        rule->real_prefix = lstr(r, &rule->real_prefix_len);
    if ((rule->fields & F_SHA) && need(r, 32)) {
        memcpy(rule->sha, r->p, 32);
        r->p += 32;
    }
    if ((rule->fields & F_EXE_GLOB) && read_glob(r, &rule->exe) != 0)
        return -1;
    if (rule->fields & F_PIDS) {
        rule->n_pids = u16(r);
        if (!need(r, (size_t)rule->n_pids * 4))
            return -1;
        rule->pids = malloc(sizeof(uint32_t) * (rule->n_pids ? rule->n_pids : 1));
        if (!rule->pids)
            return (r->bad = 1, -1);
        for (uint16_t i = 0; i < rule->n_pids; i++)
            rule->pids[i] = u32(r);
    }
    if (rule->fields & F_ORIGIN) {
        rule->origin_fields = u8(r);
        if (rule->origin_fields == 0 || rule->origin_fields > 3)
            return (r->bad = 1, -1);
        if ((rule->origin_fields & 1) && read_glob(r, &rule->module) != 0)
            return -1;
        if (rule->origin_fields & 2)
            rule->package = lstr(r, &rule->package_len);
    }
    return r->bad ? -1 : 0;
}

static void match_process(struct rule *rule);

static void free_glob(struct hs_glob *g) {
    free(g->kinds);
    free(g->points);
    free(g->literal);
    memset(g, 0, sizeof *g);
}

static void free_policy(struct policy_data *pd) {
    for (uint32_t i = 0; pd->rules && i < pd->n_rules; i++) {
        struct rule *rule = &pd->rules[i];
        for (uint16_t e = 0; rule->events && e < rule->n_events; e++)
            free_glob(&rule->events[e]);
        free(rule->events);
        for (uint16_t a = 0; rule->args && a < rule->n_args; a++)
            free_glob(&rule->args[a].glob);
        free(rule->args);
        free_glob(&rule->path);
        free_glob(&rule->real);
        free_glob(&rule->exe);
        free_glob(&rule->module);
        free(rule->pids);
    }
    free(pd->rules);
    free(pd->bytes);
    free(pd);
}

void hs_policy_reset(void) {
    /* For the unit tests, before any hook runs: nobody else holds it. */
    struct policy_data *old = atomic_exchange(&current_policy, &empty_policy);
    if (old != &empty_policy)
        free_policy(old);
}

/* Parses a compiled policy held in `bytes` into `pd` (bytes taken over on success). */
static int parse_policy(struct policy_data *pd, uint8_t *bytes, size_t size) {
    struct reader r = {bytes, bytes + size, 0};
    if (!need(&r, 4) || memcmp(r.p, "HSP1", 4) != 0)
        return -1;
    r.p += 4;
    pd->default_action = u8(&r);
    pd->offline = u8(&r);
    pd->timeout_answer = u8(&r);
    pd->ask_answer = u8(&r);
    pd->timeout_ms = u32(&r);
    pd->n_rules = u32(&r);
    if (r.bad || pd->default_action > HS_ACT_ASK || pd->offline > 1 || pd->timeout_answer > 1 ||
        pd->ask_answer > HS_ASK_INTERACTIVE || pd->n_rules > (size_t)(r.end - r.p) / 8)
        return -1;
    pd->rules = calloc(pd->n_rules ? pd->n_rules : 1, sizeof *pd->rules);
    if (!pd->rules)
        return -1;
    for (uint32_t i = 0; i < pd->n_rules; i++) {
        /* Counted as it is read, so a free releases exactly what exists. */
        if (read_rule(&r, &pd->rules[i]) != 0) {
            pd->n_rules = i + 1;
            return -1;
        }
    }
    if (r.p != r.end)
        return -1;
    for (uint32_t i = 0; i < pd->n_rules; i++)
        match_process(&pd->rules[i]);
    pd->bytes = bytes;
    pd->loaded = 1;
    return 0;
}

int hs_policy_load_bytes(const uint8_t *data, size_t size) {
    struct policy_data *pd = calloc(1, sizeof *pd);
    uint8_t *copy = malloc(size ? size : 1);
    if (!pd || !copy) {
        free(pd);
        free(copy);
        return -1;
    }
    memcpy(copy, data, size);
    if (parse_policy(pd, copy, size) != 0) {
        if (!pd->bytes)
            free(copy);
        free_policy(pd);
        return -1;
    }
    pd->generation = atomic_fetch_add(&next_generation, 1);
    /* The one it replaces stays allocated (see current_policy). */
    atomic_store_explicit(&current_policy, pd, memory_order_release);
    return 0;
}

static _Atomic unsigned live_replacements;

int hs_policy_replace(const uint8_t *data, size_t size) {
    /* Only the writer thread calls this: the count cannot race past the cap. */
    if (atomic_load(&live_replacements) >= HS_POLICY_MAX_REPLACEMENTS)
        return HS_POLICY_TOO_MANY;
    if (!data || size == 0 || hs_policy_load_bytes(data, size) != 0)
        return HS_POLICY_MALFORMED;
    atomic_fetch_add(&live_replacements, 1);
    return HS_POLICY_APPLIED;
}

int hs_policy_load_file(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 16 ||
        (uint64_t)st.st_size > MAX_POLICY_BYTES) {
        close(fd);
        return -1;
    }
    uint8_t *bytes = malloc((size_t)st.st_size);
    size_t got = 0;
    while (bytes && got < (size_t)st.st_size) {
        ssize_t n = read(fd, bytes + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!bytes || got != (size_t)st.st_size) {
        free(bytes);
        return -1;
    }
    int r = hs_policy_load_bytes(bytes, got);
    free(bytes);
    return r;
}

int hs_policy_loaded(void) { return snapshot()->loaded; }

/* ---- matching ----------------------------------------------------------- */

/* Next code point of UTF-8 text; an invalid byte reads as U+FFFD, as the
 * inspector's lossy decoding does. */
static uint32_t next_point(const unsigned char **p, const unsigned char *end) {
    const unsigned char *s = *p;
    unsigned c = s[0];
    if (c < 0x80) {
        *p = s + 1;
        return c;
    }
    int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
    if (n < 0 || c > 0xF4 || end - s <= n) {
        *p = s + 1;
        return 0xFFFD;
    }
    uint32_t cp = c & (0x3F >> n);
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *p = s + 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *p = s + n + 1;
    return cp;
}

/* Adds the positions reachable without consuming a code point. */
static void close_states(const struct hs_glob *g, uint8_t *set) {
    for (int s = 0; s < g->n; s++) {
        if (!set[s])
            continue;
        switch (g->kinds[s]) {
        case TOK_STAR:
        case TOK_ANY:
            set[s + 1] = 1;
            break;
        case TOK_DIRS:
            set[s + 2] = 1; /* "**" + "/" may match nothing at all */
            break;
        default:
            break;
        }
    }
}

static int simulate(const struct hs_glob *g, const char *text, size_t len, uint8_t *cur, uint8_t *nxt) {
    int m = g->n;
    memset(cur, 0, (size_t)m + 1);
    cur[0] = 1;
    close_states(g, cur);
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        uint32_t point = next_point(&p, end);
        memset(nxt, 0, (size_t)m + 1);
        int alive = 0;
        for (int s = 0; s < m; s++) {
            if (!cur[s])
                continue;
            switch (g->kinds[s]) {
            case TOK_LITERAL:
                if (point == g->points[s])
                    nxt[s + 1] = 1;
                break;
            case TOK_ONE:
                if (point != g->separator)
                    nxt[s + 1] = 1;
                break;
            case TOK_STAR:
                if (point != g->separator)
                    nxt[s] = 1;
                break;
            case TOK_ANY:
                nxt[s] = 1;
                break;
            case TOK_DIRS:
                nxt[s + 1] = 1;
                if (point == g->separator)
                    nxt[s + 2] = 1;
                break;
            case TOK_DIRS_INSIDE:
                nxt[s] = 1;
                if (point == g->separator)
                    nxt[s + 1] = 1;
                break;
            }
        }
        close_states(g, nxt);
        for (int s = 0; s <= m && !alive; s++)
            alive = nxt[s];
        if (!alive)
            return 0;
        uint8_t *swap = cur;
        cur = nxt;
        nxt = swap;
    }
    return cur[m];
}

int hs_glob_match(const struct hs_glob *g, const char *text, size_t len) {
    if (g->literal) {
        if (g->prefix_kind < 0)
            return len == g->literal_len && memcmp(text, g->literal, len) == 0;
        if (len < g->literal_len || memcmp(text, g->literal, g->literal_len) != 0)
            return 0;
        return g->prefix_kind == TOK_ANY || !memchr(text + g->literal_len, '/', len - g->literal_len);
    }
    if (g->n < SMALL_GLOB_STATES) {
        uint8_t cur[SMALL_GLOB_STATES], nxt[SMALL_GLOB_STATES];
        return simulate(g, text, len, cur, nxt);
    }
    uint8_t *buf = malloc(2 * ((size_t)g->n + 1));
    if (!buf)
        return 0;
    int r = simulate(g, text, len, buf, buf + g->n + 1);
    free(buf);
    return r;
}

static void match_process(struct rule *rule) {
    rule->process_match = 1;
    if (rule->fields & F_EXE_GLOB) {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe);
        if (n <= 0 || !hs_glob_match(&rule->exe, exe, (size_t)n))
            rule->process_match = 0;
    }
    if (rule->fields & F_PIDS) {
        uint32_t pid = (uint32_t)getpid();
        int found = 0;
        for (uint16_t i = 0; i < rule->n_pids && !found; i++)
            found = rule->pids[i] == pid;
        if (!found)
            rule->process_match = 0;
    }
}

void hs_policy_after_fork(void) {
    /* Only the forking thread exists in the child: nobody else reads it. */
    struct policy_data *pd = snapshot();
    if (pd == &empty_policy)
        return;
    for (uint32_t i = 0; i < pd->n_rules; i++)
        match_process(&pd->rules[i]);
    /* Rules on pid may now match differently: cached candidates are stale. */
    pd->generation = atomic_fetch_add(&next_generation, 1);
}

/* Three-valued: an argument that cannot be compared (a string with lone
 * surrogates) "might" match: deny and ask rules then apply, allow rules do
 * not, so no argument shape slips past a deny. */
enum tri { NO = 0, YES = 1, MAYBE = 2 };

static enum tri match_arg(const struct arg_matcher *m, PyObject *args) {
    if (hs_type_of(args) != hs_py.tuple_type)
        return NO;
    Py_ssize_t n = hs_tuple_size(args);
    if (m->i0 >= n)
        return NO;
    PyObject *v = hs_tuple_item(args, m->i0);
    if (m->depth == 2) {
        unsigned long flags = hs_type_flags(hs_type_of(v));
        if (flags & HS_TPFLAGS_TUPLE_SUBCLASS) {
            if (m->i1 >= hs_tuple_size(v))
                return NO;
            v = hs_tuple_item(v, m->i1);
        } else if (flags & HS_TPFLAGS_LIST_SUBCLASS) {
            if (m->i1 >= hs_py.PyList_Size(v))
                return NO;
            v = hs_py.PyList_GetItem(v, m->i1);
            if (!v) {
                hs_py.PyErr_Clear();
                return NO;
            }
        } else {
            return NO;
        }
    }
    switch (m->op) {
    case OP_TRUE:
        return v == hs_py.true_obj ? YES : NO;
    case OP_FALSE:
        return v == hs_py.false_obj ? YES : NO;
    case OP_NONE:
        return v == hs_py.none ? YES : NO;
    case OP_FLOAT:
        return hs_type_of(v) == hs_py.float_type && hs_py.PyFloat_AsDouble(v) == m->f ? YES : NO;
    case OP_INT: {
        if (v == hs_py.true_obj || v == hs_py.false_obj)
            return NO;
        /* 42 == 42.0 in Python, and in the inspector's evaluation. */
        if (hs_type_of(v) == hs_py.float_type)
            return hs_py.PyFloat_AsDouble(v) == (double)m->i ? YES : NO;
        if (!(hs_type_flags(hs_type_of(v)) & HS_TPFLAGS_LONG_SUBCLASS))
            return NO;
        int overflow = 0;
        long long x = hs_py.PyLong_AsLongLongAndOverflow(v, &overflow);
        if (hs_py.PyErr_Occurred()) {
            hs_py.PyErr_Clear();
            return NO;
        }
        return !overflow && x == m->i ? YES : NO;
    }
    default:
        break;
    }
    if (!(hs_type_flags(hs_type_of(v)) & HS_TPFLAGS_UNICODE_SUBCLASS))
        return NO;
    Py_ssize_t len = 0;
    const char *s = hs_py.PyUnicode_AsUTF8AndSize(v, &len);
    if (!s) {
        hs_py.PyErr_Clear();
        return MAYBE;
    }
    switch (m->op) {
    case OP_EXACT_STR:
        return (size_t)len == m->len && memcmp(s, m->str, m->len) == 0 ? YES : NO;
    case OP_PREFIX:
        return (size_t)len >= m->len && memcmp(s, m->str, m->len) == 0 ? YES : NO;
    case OP_GLOB:
        return hs_glob_match(&m->glob, s, (size_t)len) ? YES : NO;
    }
    return NO;
}

static void decide(const struct policy_data *P, const struct rule *rule, struct hs_verdict *out) {
    out->action = rule ? rule->action : P->default_action;
    out->rule = rule ? rule->index : HS_NO_RULE;
    out->by = rule ? HS_BY_RULE : HS_BY_DEFAULT;
    out->deny = out->action == HS_ACT_DENY;
    out->record = out->action != HS_ACT_ALLOW;
    out->ask = 0;
    out->scope = rule ? rule->scope : 0;
    if (out->action == HS_ACT_ASK) {
        if (P->ask_answer == HS_ASK_INTERACTIVE) {
            /* The caller asks the inspector (ask.c); until it has an
             * answer, the outcome is the offline one. */
            out->ask = 1;
            out->by = HS_BY_OFFLINE;
            out->deny = P->offline == HS_ACT_DENY;
        } else {
            /* Headless: the run's --ask answer. */
            out->by = HS_BY_HEADLESS;
            out->deny = P->ask_answer == HS_ACT_DENY;
        }
    }
}

int hs_policy_offline_denies(void) { return snapshot()->offline == HS_ACT_DENY; }
int hs_policy_timeout_denies(void) { return snapshot()->timeout_answer == HS_ACT_DENY; }
uint32_t hs_policy_ask_timeout_ms(void) { return snapshot()->timeout_ms; }

/* ---- per-thread cache of the rules an event name can reach --------------
 *
 * Which rules an event can match depends, for everything but argument
 * matchers, on its name alone. Each thread keeps, per name it has seen, the
 * short list of candidate rules in order (or "none": the default applies),
 * so an event usually costs a hash, one compare and the argument checks of
 * its candidates, instead of a pass over every rule. Per thread, so no lock;
 * tagged with the policy generation, so a new policy empties it. */

#define CACHE_SLOTS 256
#define CACHE_NAME_MAX 63
#define CACHE_CANDIDATES 6

struct cache_slot {
    uint32_t generation;
    uint8_t name_len;
    uint8_t count; /* candidates; CACHE_CANDIDATES + 1 means "too many: scan" */
    uint16_t candidates[CACHE_CANDIDATES];
    char name[CACHE_NAME_MAX + 1];
};

static __thread struct cache_slot *tls_cache __attribute__((tls_model("initial-exec")));
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static void free_cache(void *p) {
    tls_cache = NULL;
    free(p);
}
static void make_cache_key(void) { pthread_key_create(&cache_key, free_cache); }

static struct cache_slot *thread_cache(void) {
    if (__builtin_expect(tls_cache == NULL, 0)) {
        pthread_once(&cache_key_once, make_cache_key);
        tls_cache = calloc(CACHE_SLOTS, sizeof *tls_cache);
        if (tls_cache)
            pthread_setspecific(cache_key, tls_cache);
    }
    return tls_cache;
}

/* Rules on the raising module: they match only when it is known. */
static int origin_matches(const struct rule *rule, struct origin *o) {
    if (!(rule->fields & F_ORIGIN))
        return 1;
    if (o->state == 0) {
        int n = o->may_walk ? hs_stack_origin(o->name, sizeof o->name) : -1;
        o->state = n < 0 ? 1 : 2;
        o->len = n < 0 ? 0 : (size_t)n;
    }
    if (o->state != 2)
        return 0;
    if ((rule->origin_fields & 1) && !hs_glob_match(&rule->module, o->name, o->len))
        return 0;
    if (rule->origin_fields & 2) {
        const char *dot = memchr(o->name, '.', o->len);
        size_t top = dot ? (size_t)(dot - o->name) : o->len;
        if (top != rule->package_len || memcmp(o->name, rule->package, top) != 0)
            return 0;
    }
    return 1;
}

static int rule_names(const struct rule *rule, const char *event, size_t len) {
    if (rule->intents || !rule->process_match)
        return 0;
    for (uint16_t e = 0; e < rule->n_events; e++)
        if (hs_glob_match(&rule->events[e], event, len))
            return 1;
    return 0;
}

/* First rule among `rule` whose arguments match; 1 when one decided. */
static int try_rule(const struct policy_data *P, const struct rule *rule, PyObject *args, struct origin *o,
                    struct hs_verdict *out) {
    enum tri all = YES;
    for (uint16_t a = 0; a < rule->n_args && all != NO; a++) {
        enum tri t = match_arg(&rule->args[a], args);
        if (t == NO || (t == MAYBE && all == YES))
            all = t;
    }
    if ((all == YES || (all == MAYBE && rule->action != HS_ACT_ALLOW)) && origin_matches(rule, o)) {
        decide(P, rule, out);
        return 1;
    }
    return 0;
}

void hs_policy_judge_event(const char *event, PyObject *args, struct hs_verdict *out) {
    const struct policy_data *P = snapshot();
    size_t len = strlen(event);
    struct origin o = {0, 1, {0}, 0};
    struct cache_slot *slot = NULL;
    if (len <= CACHE_NAME_MAX) {
        struct cache_slot *cache = thread_cache();
        if (cache) {
            uint32_t h = 2166136261u;
            for (size_t i = 0; i < len; i++)
                h = (h ^ (uint8_t)event[i]) * 16777619u;
            slot = &cache[h % CACHE_SLOTS];
            if (slot->generation != P->generation || slot->name_len != len ||
                memcmp(slot->name, event, len) != 0) {
                /* Fill: the candidates for this name, in rule order. */
                slot->generation = 0;
                uint8_t n = 0;
                for (uint32_t i = 0; i < P->n_rules && n <= CACHE_CANDIDATES; i++) {
                    if (!rule_names(&P->rules[i], event, len))
                        continue;
                    if (n < CACHE_CANDIDATES)
                        slot->candidates[n] = (uint16_t)i;
                    n++;
                    if (P->rules[i].n_args == 0 && !(P->rules[i].fields & F_ORIGIN))
                        break; /* it always decides: later rules are unreachable */
                }
                if (P->n_rules > 0xFFFF)
                    n = CACHE_CANDIDATES + 1;
                slot->count = n;
                slot->name_len = (uint8_t)len;
                memcpy(slot->name, event, len);
                slot->generation = P->generation;
            }
            if (slot->count <= CACHE_CANDIDATES) {
                for (uint8_t c = 0; c < slot->count; c++)
                    if (try_rule(P, &P->rules[slot->candidates[c]], args, &o, out))
                        return;
                decide(P, NULL, out);
                return;
            }
        }
    }
    for (uint32_t i = 0; i < P->n_rules; i++)
        if (rule_names(&P->rules[i], event, len) && try_rule(P, &P->rules[i], args, &o, out))
            return;
    decide(P, NULL, out);
}

void hs_policy_judge_intent(const struct hs_intent_subject *s, struct hs_verdict *out) {
    const struct policy_data *P = snapshot();
    struct origin o = {0, s->may_walk_stack, {0}, 0};
    for (uint32_t i = 0; i < P->n_rules; i++) {
        const struct rule *rule = &P->rules[i];
        if (!(rule->intents & (1u << s->intent_class)) || !rule->process_match)
            continue;
        if ((rule->fields & F_PATH_GLOB) && !hs_glob_match(&rule->path, s->path, s->path_len))
            continue;
        if ((rule->fields & F_PATH_PREFIX) &&
            (s->path_len < rule->path_prefix_len ||
             memcmp(s->path, rule->path_prefix, rule->path_prefix_len) != 0))
            continue;
        if ((rule->fields & F_REAL_GLOB) && !hs_glob_match(&rule->real, s->real_path, s->real_path_len))
            continue;
        if ((rule->fields & F_REAL_PREFIX) &&
            (s->real_path_len < rule->real_prefix_len ||
             memcmp(s->real_path, rule->real_prefix, rule->real_prefix_len) != 0))
            continue;
        if ((rule->fields & F_SHA) && memcmp(rule->sha, s->sha256, 32) != 0)
            continue;
        if (!origin_matches(rule, &o))
            continue;
        decide(P, rule, out);
        return;
    }
    decide(P, NULL, out);
}

__attribute__((visibility("default"))) int hookscope_agent_policy_version(void) { return 1; }

/* Unit tests for the agent's pure-C parts, built with ASan and UBSan:
 * the ring (single and concurrent producers, wrap-around, full ring),
 * SHA-256 (known vectors; hardware path equal to the portable one) and the
 * compiled-policy parser and intent matcher (with a mutation fuzz). */
#include "policy.h"
#include "wire.h"
#include "ring.h"
#include "sha256.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

static void hex(const uint8_t *d, char *out) {
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_vectors(void) {
    struct { const char *in; const char *out; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    for (int portable = 0; portable < 2; portable++) {
        hs_sha256_force_portable(portable);
        for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
            uint8_t d[32];
            char h[65];
            hs_sha256(v[i].in, strlen(v[i].in), d);
            hex(d, h);
            CHECK(strcmp(h, v[i].out) == 0);
        }
    }
    hs_sha256_force_portable(0);
}

static void test_sha256_hw_matches_portable(void) {
    size_t n = 5000;
    uint8_t *buf = malloc(n);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t len = 0; len < n; len += 37) {
        uint8_t a[32], b[32];
        hs_sha256_force_portable(0);
        hs_sha256(buf, len, a);
        hs_sha256_force_portable(1);
        /* Also through odd-sized updates. */
        struct hs_sha256 c;
        hs_sha256_init(&c);
        for (size_t off = 0; off < len; off += 13)
            hs_sha256_update(&c, buf + off, len - off < 13 ? len - off : 13);
        hs_sha256_final(&c, b);
        CHECK(memcmp(a, b, 32) == 0);
    }
    hs_sha256_force_portable(0);
    free(buf);
    printf("sha256: hardware path %s\n", hs_sha256_hardware() ? "used" : "not available");
}

static void make_record(uint8_t *rec, uint32_t len, uint32_t id) {
    memcpy(rec, &len, 4);
    memcpy(rec + 4, &id, 4);
    for (uint32_t i = 8; i < len; i++)
        rec[i] = (uint8_t)(id + i);
}

static int record_ok(const uint8_t *rec, uint32_t *id_out) {
    uint32_t len, id;
    memcpy(&len, rec, 4);
    memcpy(&id, rec + 4, 4);
    for (uint32_t i = 8; i < len; i++)
        if (rec[i] != (uint8_t)(id + i))
            return 0;
    *id_out = id;
    return 1;
}

static void test_ring_order_wrap_and_full(void) {
    struct hs_ring r;
    CHECK(hs_ring_init(&r, 4096) == 0);
    uint8_t rec[600], out[8192];
    uint32_t next_id = 0, expect_id = 0;
    int drops = 0;
    for (int round = 0; round < 200; round++) {
        /* Push until full, then drain: exercises padding at the end. */
        for (;;) {
            uint32_t len = 8 + (uint32_t)((round * 7 + next_id * 13) % 500);
            make_record(rec, len, next_id);
            if (hs_ring_push(&r, rec, len) != 0) {
                drops++;
                break;
            }
            next_id++;
        }
        size_t n = hs_ring_drain(&r, out, sizeof out);
        for (size_t off = 0; off < n;) {
            uint32_t len, id;
            memcpy(&len, out + off, 4);
            CHECK(record_ok(out + off, &id));
            CHECK(id == expect_id);
            expect_id++;
            off += len;
        }
    }
    CHECK(expect_id == next_id);
    CHECK(drops == 200);
}

struct producer_arg {
    struct hs_ring *r;
    uint32_t base;
    uint32_t count;
    _Atomic uint32_t *dropped;
};

static void *producer(void *p) {
    struct producer_arg *a = p;
    uint8_t rec[64];
    for (uint32_t i = 0; i < a->count; i++) {
        make_record(rec, 8 + (i % 56), a->base + i);
        if (hs_ring_push(a->r, rec, 8 + (i % 56)) != 0)
            atomic_fetch_add(a->dropped, 1);
    }
    return NULL;
}

static void test_ring_concurrent_producers(void) {
    struct hs_ring r;
    CHECK(hs_ring_init(&r, 1 << 16) == 0);
    enum { THREADS = 4, PER = 200000 };
    _Atomic uint32_t dropped = 0;
    pthread_t t[THREADS];
    struct producer_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (struct producer_arg){&r, (uint32_t)i * 1000000u, PER, &dropped};
        pthread_create(&t[i], NULL, producer, &args[i]);
    }
    static uint8_t out[1 << 16];
    uint32_t last[THREADS];
    for (int i = 0; i < THREADS; i++)
        last[i] = UINT32_MAX;
    uint64_t got = 0;
    int joined[THREADS] = {0};
    int done = 0;
    while (!done) {
        done = 1;
        for (int i = 0; i < THREADS; i++) {
            if (!joined[i] && pthread_tryjoin_np(t[i], NULL) == 0)
                joined[i] = 1;
            done &= joined[i];
        }
        size_t n;
        while ((n = hs_ring_drain(&r, out, sizeof out)) > 0) {
            for (size_t off = 0; off < n;) {
                uint32_t len, id;
                memcpy(&len, out + off, 4);
                CHECK(record_ok(out + off, &id));
                int th = (int)(id / 1000000u);
                /* Per producer, records arrive in the order pushed. */
                CHECK(last[th] == UINT32_MAX || id > last[th]);
                last[th] = id;
                got++;
                off += len;
            }
        }
    }
    CHECK(got + atomic_load(&dropped) == (uint64_t)THREADS * PER);
    printf("ring: %llu records through, %u dropped\n", (unsigned long long)got, (unsigned)atomic_load(&dropped));
}

/* ---- compiled policy ---------------------------------------------------- */

struct buf {
    uint8_t d[4096];
    size_t n;
};
static void put(struct buf *b, const void *p, size_t n) {
    memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void put8(struct buf *b, uint8_t v) { put(b, &v, 1); }
static void put16(struct buf *b, uint16_t v) { put(b, &v, 2); }
static void put32(struct buf *b, uint32_t v) { put(b, &v, 4); }

/* A glob from a mini-language: '*' STAR, '#' ANY ("**" at the end), '?' ONE,
 * '%' DIRS + DIRS_INSIDE ("**" + "/"), anything else a literal. */
static void put_glob(struct buf *b, int slash, const char *pattern) {
    uint16_t n = 0;
    for (const char *c = pattern; *c; c++)
        n += *c == '%' ? 2 : 1;
    put8(b, (uint8_t)slash);
    put16(b, n);
    for (const char *c = pattern; *c; c++) {
        switch (*c) {
        case '*': put8(b, 3); put32(b, 0); break;
        case '#': put8(b, 4); put32(b, 0); break;
        case '?': put8(b, 1); put32(b, 0); break;
        case '%': put8(b, 5); put32(b, 0); put8(b, 2); put32(b, 0); break;
        default: put8(b, 0); put32(b, (uint8_t)*c); break;
        }
    }
}

/* Intent rules only (events need a live interpreter). */
static void build_policy(struct buf *b) {
    b->n = 0;
    put(b, "HSP1", 4);
    put8(b, 0); /* default allow */
    put8(b, 0);
    put8(b, 1);
    put8(b, 1);
    put32(b, 30000);
    put32(b, 4);
    /* rule 0: deny pythoncode under /srv/app/%.py  (path glob with "**" + "/") */
    put8(b, 1); put8(b, 0); put16(b, 1); put32(b, 10);
    put16(b, 0); put16(b, 0);
    put8(b, 1); put_glob(b, 1, "/srv/%*.py");
    /* rule 1: allow bytecode with this real-path prefix */
    put8(b, 0); put8(b, 0); put16(b, 2); put32(b, 11);
    put16(b, 0); put16(b, 0);
    put8(b, 8); put32(b, 5); put(b, "/opt/", 5);
    /* rule 2: deny any intent with a given SHA-256 */
    put8(b, 1); put8(b, 0); put16(b, 0x3F); put32(b, 12);
    put16(b, 0); put16(b, 0);
    uint8_t sha[32];
    memset(sha, 0xAB, 32);
    put8(b, 16); put(b, sha, 32);
    /* rule 3: ask for zipimport with a single-segment star */
    put8(b, 2); put8(b, 1); put16(b, 4); put32(b, 13);
    put16(b, 0); put16(b, 0);
    put8(b, 4); put_glob(b, 1, "/z/?ip*");
}

static struct hs_verdict judge(unsigned cls, const char *path, const char *real, uint8_t sha_byte) {
    uint8_t sha[32];
    memset(sha, sha_byte, 32);
    struct hs_intent_subject s = {cls, path, strlen(path), real, strlen(real), sha, 0};
    struct hs_verdict v;
    hs_policy_judge_intent(&s, &v);
    return v;
}

static void test_policy_intents(void) {
    struct buf b;
    build_policy(&b);
    CHECK(hs_policy_load_bytes(b.d, b.n) == 0);
    CHECK(hs_policy_loaded());
    struct hs_verdict v = judge(0, "/srv/app/x/m.py", "/srv/app/x/m.py", 0);
    CHECK(v.deny && v.rule == 10 && v.by == HS_BY_RULE && v.record);
    v = judge(0, "/srv/m.py", "/srv/m.py", 0); /* "**" + "/" may match nothing */
    CHECK(v.deny && v.rule == 10);
    v = judge(0, "/srv/app/m.pyc", "/srv/app/m.pyc", 0);
    CHECK(!v.deny && v.rule == HS_NO_RULE && v.by == HS_BY_DEFAULT && !v.record);
    v = judge(1, "/srv/app/m.pyc", "/opt/m.pyc", 0);
    CHECK(!v.deny && v.rule == 11);
    v = judge(1, "/x.pyc", "/x.pyc", 0xAB);
    CHECK(v.deny && v.rule == 12);
    v = judge(2, "/z/zipfile.zip", "/z/zipfile.zip", 0); /* ask: headless answer deny */
    CHECK(v.deny && v.rule == 13 && v.by == HS_BY_HEADLESS && v.action == HS_ACT_ASK);
    v = judge(2, "/z/zip/a.zip", "/z/zip/a.zip", 0); /* '*' does not cross '/' */
    CHECK(!v.deny && v.rule == HS_NO_RULE);
    v = judge(0, "/srv/\xc3\xa9/m.py", "/srv/\xc3\xa9/m.py", 0); /* UTF-8 segment */
    CHECK(v.deny);
    v = judge(0, "/srv/\xff/m.py", "/srv/\xff/m.py", 0); /* invalid byte reads as U+FFFD */
    CHECK(v.deny);
    hs_policy_reset();
    CHECK(!hs_policy_loaded());
}

/* Every mutation of a valid policy is refused or loads; never a crash or a
 * leak (ASan/LSan watch). */
static void test_policy_fuzz(void) {
    struct buf good;
    build_policy(&good);
    uint32_t seed = 12345;
    int loaded = 0;
    for (int i = 0; i < 20000; i++) {
        struct buf m = good;
        seed = seed * 1103515245u + 12345u;
        int edits = 1 + (int)(seed >> 28);
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % m.n;
            seed = seed * 1103515245u + 12345u;
            m.d[at] = (uint8_t)(seed >> 16);
        }
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 20) % 4 == 0)
            m.n = (seed >> 4) % m.n; /* truncated */
        if (hs_policy_load_bytes(m.d, m.n) == 0) {
            loaded++;
            judge(0, "/srv/a.py", "/srv/a.py", 0);
            judge(2, "/z/zipx", "/z/zipx", 0xAB);
        }
        hs_policy_reset();
    }
    CHECK(loaded > 0); /* some mutations (e.g. of literal code points) stay valid */
}

/* A live replacement that does not load (cut at every length, or with a
 * byte too many) is refused and leaves the policy in force untouched.
 * (An applied one would leave the old policy allocated by design, which
 * LeakSanitizer would report; the integration test covers those.) */
static void test_policy_replace_refused(void) {
    struct buf good;
    build_policy(&good);
    CHECK(hs_policy_load_bytes(good.d, good.n) == 0);
    for (size_t n = 0; n < good.n; n++)
        CHECK(hs_policy_replace(good.d, n) == HS_POLICY_MALFORMED);
    struct buf longer = good;
    longer.d[longer.n++] = 0;
    CHECK(hs_policy_replace(longer.d, longer.n) == HS_POLICY_MALFORMED);
    CHECK(hs_policy_replace(NULL, 0) == HS_POLICY_MALFORMED);
    struct hs_verdict v = judge(0, "/srv/app/x/m.py", "/srv/app/x/m.py", 0);
    CHECK(v.deny && v.rule == 10);
    hs_policy_reset();
}

int main(void) {
    test_policy_intents();
    test_policy_fuzz();
    test_policy_replace_refused();
    test_sha256_vectors();
    test_sha256_hw_matches_portable();
    test_ring_order_wrap_and_full();
    test_ring_concurrent_producers();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("agent unit tests: all passed\n");
    return 0;
}

/* Fuzz target: the compiled-policy loader and judge (src/policy.c). The
 * input is a compiled policy (docs/protocol.md, "Compiled policy"); when it
 * loads, it is judged against intents and audit events whose paths, names
 * and arguments are cut from the input itself (so the policy's own strings
 * show up and rules match), with fake Python argument tuples
 * (fake-python.h). Checks: no crash, no leak, no read past the input, no
 * Python reference leaked, no error left set, deterministic verdicts. */
#include "fake-python.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void same(const struct hs_verdict *a, const struct hs_verdict *b) {
    if (a->deny != b->deny || a->action != b->action || a->rule != b->rule || a->by != b->by) {
        fprintf(stderr, "judging the same event twice gave two verdicts (cache)\n");
        abort();
    }
}

/* A window of the input: text for names, paths and argument strings. */
static size_t window(const uint8_t *data, size_t size, unsigned i, size_t max, const uint8_t **out) {
    size_t off = size ? (size_t)i * 2654435761u % size : 0;
    size_t n = size - off < max ? size - off : max;
    *out = data + off;
    return n;
}

static PyObject *build_args(const uint8_t *data, size_t size, unsigned i) {
    const uint8_t *w;
    size_t n = window(data, size, i + 7, 300, &w);
    /* A synthetic object description (fake_build's format): a tuple of 6,
     * item 0 the window as a str (path-like arguments), item 1 an int,
     * the rest built from the window's bytes. */
    uint8_t syn[1 + 1 + 600];
    size_t s = 0;
    syn[s++] = 10;
    syn[s++] = 6;
    size_t sl = n < 250 ? n : 250;
    syn[s++] = 6;
    syn[s++] = (uint8_t)sl;
    memcpy(syn + s, w, sl);
    s += sl;
    syn[s++] = 3;
    for (int b = 0; b < 8; b++)
        syn[s++] = n > (size_t)b ? w[b] : 0;
    size_t rest = n - sl < sizeof syn - s ? n - sl : sizeof syn - s;
    memcpy(syn + s, w + sl, rest);
    s += rest;
    const uint8_t *sp = syn;
    return fake_build(&sp, syn + s, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fake_python_init();
    if (hs_policy_load_bytes(data, size) != 0)
        return 0;
    char name[128];
    for (unsigned i = 0; i < 8; i++) {
        const uint8_t *w;
        size_t n = window(data, size, i, 96, &w);
        /* Intents, every class. */
        for (unsigned cls = 0; cls < 6; cls++) {
            const uint8_t *rw;
            size_t rn = window(data, size, i + cls + 1, 200, &rw);
            uint8_t sha[32] = {0};
            if (size >= 32)
                memcpy(sha, data + (i * 7u) % (size - 31), 32);
            struct hs_intent_subject s = {cls, (const char *)w, n, (const char *)rw, rn, sha, 0};
            struct hs_verdict v;
            hs_policy_judge_intent(&s, &v);
        }
        /* Audit events: NUL-terminated names, short (cached) and long. */
        size_t nn = n < sizeof name - 1 ? n : sizeof name - 1;
        memcpy(name, w, nn);
        name[nn] = 0;
        PyObject *args = build_args(data, size, i);
        struct hs_verdict a, b;
        hs_policy_judge_event(name, args, &a);
        hs_policy_judge_event(name, args, &b);
        same(&a, &b);
        if (fake_live_new() != 0 || fake_error_set()) {
            fprintf(stderr, "judge leaked a Python reference or left an error set\n");
            abort();
        }
        fake_free_all();
    }
    hs_policy_reset();
    return 0;
}

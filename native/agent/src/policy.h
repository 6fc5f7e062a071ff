/* Policy enforcement inside the target (docs/protocol.md, "Compiled
 * policy"): the inspector compiles the policy file; the agent loads the
 * compiled form once and judges every audit event and every open-code
 * intent locally, with no round trip. */
#ifndef HOOKSCOPE_POLICY_H
#define HOOKSCOPE_POLICY_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

enum hs_action { HS_ACT_ALLOW = 0, HS_ACT_DENY = 1, HS_ACT_ASK = 2 };
enum hs_decided_by {
    HS_BY_RULE = 0,
    HS_BY_DEFAULT = 1,
    HS_BY_USER = 2,
    HS_BY_TIMEOUT = 3,
    HS_BY_OFFLINE = 4,
    HS_BY_HEADLESS = 5,
    HS_BY_REMEMBERED = 6, /* an earlier answer, kept for the rule's scope */
};
#define HS_NO_RULE 0xFFFFFFFFu
/* Compiled-policy value of "answer to ask rules": ask the inspector. */
#define HS_ASK_INTERACTIVE 2

struct hs_verdict {
    int deny;          /* 1: refuse the operation */
    uint8_t action;    /* action of the rule (or default) that applied */
    uint8_t by;        /* enum hs_decided_by */
    uint32_t rule;     /* rule index in the file, HS_NO_RULE for the default */
    int record;        /* 1: write a decision record (denied, or asked) */
    int ask;           /* 1: an interactive ask: the inspector must answer (ask.c) */
    uint8_t scope;     /* the rule's scope: 0 once, 1 process, 2 session, 3 always */
};

/* What an open-code intent is, for intent rules. */
struct hs_intent_subject {
    unsigned intent_class; /* bit index: 0 pythoncode ... 5 unknown */
    const char *path;
    size_t path_len;
    const char *real_path;
    size_t real_path_len;
    const uint8_t *sha256;
    int may_walk_stack; /* 1: the GIL is held, rules on the raising module can be checked */
};

/* Loads the compiled policy from `path` (launch mode). Returns 0 on
 * success; -1 leaves no policy loaded. Not thread-safe: call before any
 * hook can run. */
int hs_policy_load_file(const char *path);

/* The same from bytes in memory (copied). Replaces any loaded policy. */
int hs_policy_load_bytes(const uint8_t *data, size_t size);

/* A live replacement (a POLICY frame after the handshake): loads it like
 * hs_policy_load_bytes, at most HS_POLICY_MAX_REPLACEMENTS times per
 * process, since each replaced policy stays allocated. Returns an
 * enum hs_policy_ack status (wire.h); on any refusal the policy in force
 * stays. */
#define HS_POLICY_MAX_REPLACEMENTS 256
int hs_policy_replace(const uint8_t *data, size_t size);

/* Frees the loaded policy, if any. */
void hs_policy_reset(void);

/* 1 once a policy is loaded. */
int hs_policy_loaded(void);

/* Judges an audit event. Never raises; may take the arguments' UTF-8 form
 * (CPython caches it in the string). Call with the GIL held. */
void hs_policy_judge_event(const char *event, PyObject *args, struct hs_verdict *out);

/* Judges code about to run. Pure C: no Python calls, no GIL needed. */
void hs_policy_judge_intent(const struct hs_intent_subject *s, struct hs_verdict *out);

/* The policy's offline and ask-timeout answers (1: deny), and the ask
 * timeout. */
int hs_policy_offline_denies(void);
int hs_policy_timeout_denies(void);
uint32_t hs_policy_ask_timeout_ms(void);

/* After fork: the pid changed, rules keyed on it must be re-evaluated. */
void hs_policy_after_fork(void);

/* Glob matching over UTF-8 text (exported for the unit tests). */
struct hs_glob;
int hs_glob_match(const struct hs_glob *g, const char *text, size_t len);

#endif

/* Interactive asks. Everything here is bounded, because it runs on the
 * target's own threads: a fixed table of waiting asks (a thread that finds
 * it full gets the timeout answer at once), a fixed table of remembered
 * answers, and every wait has the policy's deadline. The asking thread
 * never touches the socket (the writer thread owns it) and never holds
 * ask_mu while it takes the GIL back, so no lock order can deadlock with
 * the interpreter. */
#define _GNU_SOURCE
#include "ask.h"

#include "agent.h"
#include "api.h"
#include "sha256.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ASK_SLOTS 64
#define REMEMBERED 256
#define ASK_HEADER 16 /* id, rule, scope, reserved, timeout (docs/protocol.md) */
#define ANSWER_SIZE 8
#define HOLD_SIZE 8
/* One HOLD keeps an ask at most this much longer; the inspector repeats it
 * while the person is looking, so a vanished UI releases the thread soon. */
#define HOLD_MAX_MS 10000

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_SENT, SLOT_ANSWERED };
enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_UP };

struct ask_slot {
    enum slot_state state;
    uint32_t id;
    uint8_t *frame; /* while QUEUED: the whole ASK frame */
    uint32_t frame_len;
    int deny;
    uint8_t by;
    int remember;
    struct timespec deadline; /* CLOCK_MONOTONIC; a HOLD moves it out */
};

struct remembered {
    uint8_t key[32];
    uint8_t used, deny;
};

static pthread_mutex_t ask_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t answered_cv; /* CLOCK_MONOTONIC; broadcast on every answer */
static pthread_once_t cv_once = PTHREAD_ONCE_INIT;
static struct ask_slot slots[ASK_SLOTS];
static struct remembered memory[REMEMBERED];
static unsigned memory_next;
static uint32_t next_id = 1;
static enum link_state link_state = LINK_DOWN;
static _Atomic int waiting; /* slots QUEUED or SENT */
_Atomic int hs_ask_kick;

static void init_cv(void) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&answered_cv, &attr);
    pthread_condattr_destroy(&attr);
}

/* What a remembered answer is keyed by: the rule and the whole record body
 * after its header (event name and arguments, or the file's identity:
 * intent, size, device, inode, mtime, SHA-256, path and real path), so a
 * changed file or other arguments are asked about again. */
static void answer_key(const uint8_t *record, uint32_t rule, uint8_t key[32]) {
    uint32_t len = hs_get_u32(record);
    uint8_t *buf = malloc(4 + len);
    if (!buf) {
        memset(key, 0, 32);
        return;
    }
    hs_put_u32(buf, rule);
    memcpy(buf + 4, record + HS_RECORD_HEADER_SIZE, len - HS_RECORD_HEADER_SIZE);
    hs_sha256(buf, 4 + len - HS_RECORD_HEADER_SIZE, key);
    free(buf);
}

static const struct remembered *recall(const uint8_t key[32]) {
    for (unsigned i = 0; i < REMEMBERED; i++)
        if (memory[i].used && memcmp(memory[i].key, key, 32) == 0)
            return &memory[i];
    return NULL;
}

static void remember(const uint8_t key[32], int deny) {
    struct remembered *m = (struct remembered *)recall(key);
    if (!m) {
        m = &memory[memory_next];
        memory_next = (memory_next + 1) % REMEMBERED;
    }
    memcpy(m->key, key, 32);
    m->used = 1;
    m->deny = (uint8_t)deny;
}

static struct timespec deadline_after_ms(uint32_t ms) {
    struct timespec d;
    clock_gettime(CLOCK_MONOTONIC, &d);
    d.tv_sec += ms / 1000;
    d.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (d.tv_nsec >= 1000000000L) {
        d.tv_sec++;
        d.tv_nsec -= 1000000000L;
    }
    return d;
}

static void kick_writer(void) {
    atomic_store(&hs_ask_kick, 1);
    pthread_mutex_lock(&hs_agent.done_mu);
    pthread_cond_signal(&hs_agent.wake_cv);
    pthread_mutex_unlock(&hs_agent.done_mu);
}

static uint64_t ask(const uint8_t *record, const uint8_t *stack, size_t stack_len,
                    struct hs_verdict *v, int release_gil);

uint64_t hs_ask(const uint8_t *record, const uint8_t *stack, size_t stack_len, struct hs_verdict *v) {
    /* Without a thread state the GIL cannot be released: not asked. */
    if (!hs_py.thread_state_unchecked || !hs_py.thread_state_unchecked())
        return 0;
    return ask(record, stack, stack_len, v, 1);
}

uint64_t hs_ask_nogil(const uint8_t *record, struct hs_verdict *v) { return ask(record, NULL, 0, v, 0); }

static uint64_t ask(const uint8_t *record, const uint8_t *stack, size_t stack_len,
                    struct hs_verdict *v, int release_gil) {
    /* v holds the offline answer: what applies when nobody can be asked. */
    if (!record)
        return 0;
    pthread_once(&cv_once, init_cv);
    uint32_t rec_len = hs_get_u32(record);
    uint8_t key[32];
    answer_key(record, v->rule, key);

    pthread_mutex_lock(&ask_mu);
    const struct remembered *m = recall(key);
    if (m) {
        v->deny = m->deny;
        v->by = HS_BY_REMEMBERED;
        pthread_mutex_unlock(&ask_mu);
        return 0;
    }
    if (link_state == LINK_DOWN) {
        pthread_mutex_unlock(&ask_mu);
        return 0;
    }
    struct ask_slot *slot = NULL;
    for (int i = 0; i < ASK_SLOTS && !slot; i++)
        if (slots[i].state == SLOT_FREE)
            slot = &slots[i];
    if (!stack)
        stack_len = 0;
    uint32_t frame_len = HS_FRAME_HEADER_SIZE + ASK_HEADER + rec_len + (uint32_t)stack_len;
    uint8_t *frame = slot ? malloc(frame_len) : NULL;
    if (!frame) {
        /* Too many asks at once (or no memory): this one is not put to
         * anyone, so it gets what an unanswered ask gets. */
        pthread_mutex_unlock(&ask_mu);
        v->deny = hs_policy_timeout_denies();
        v->by = HS_BY_TIMEOUT;
        return 0;
    }
    uint32_t timeout_ms = hs_policy_ask_timeout_ms();
    uint32_t id = next_id++;
    if (next_id == 0)
        next_id = 1;
    hs_frame_header(frame, HS_FRAME_ASK, ASK_HEADER + rec_len + (uint32_t)stack_len);
    uint8_t *p = frame + HS_FRAME_HEADER_SIZE;
    hs_put_u32(p, id);
    hs_put_u32(p + 4, v->rule);
    p[8] = v->scope;
    p[9] = stack_len ? 1 : 0; /* flags: bit 0, a stack value follows the record */
    hs_put_u16(p + 10, 0);
    hs_put_u32(p + 12, timeout_ms);
    memcpy(p + ASK_HEADER, record, rec_len);
    if (stack_len)
        memcpy(p + ASK_HEADER + rec_len, stack, stack_len);
    /* The record's stamp may be raw TSC ticks that only the writer can
     * convert: the ASK carries the moment it was made instead. */
    hs_put_u64(p + ASK_HEADER + 20, hs_now_ns());
    slot->state = SLOT_QUEUED;
    slot->id = id;
    slot->deadline = deadline_after_ms(timeout_ms);
    slot->frame = frame;
    slot->frame_len = frame_len;
    atomic_fetch_add(&waiting, 1);
    pthread_mutex_unlock(&ask_mu);
    kick_writer();

    /* Wait with the GIL released: the program's other threads keep running. */
    uint64_t started = hs_now_ns();
    void *ts = release_gil ? hs_py.PyEval_SaveThread() : NULL;
    pthread_mutex_lock(&ask_mu);
    int timed_out = 0;
    while (slot->state != SLOT_ANSWERED && !timed_out) {
        /* Re-read on every wake-up: a HOLD may have moved it. */
        struct timespec deadline = slot->deadline;
        int r = pthread_cond_timedwait(&answered_cv, &ask_mu, &deadline);
        if (r == ETIMEDOUT) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            timed_out = now.tv_sec > slot->deadline.tv_sec ||
                        (now.tv_sec == slot->deadline.tv_sec && now.tv_nsec >= slot->deadline.tv_nsec);
        }
    }
    if (slot->state == SLOT_ANSWERED) {
        v->deny = slot->deny;
        v->by = slot->by;
        if (slot->remember)
            remember(key, slot->deny);
    } else {
        /* The timeout answers this one intent; it is never remembered. */
        v->deny = hs_policy_timeout_denies();
        v->by = HS_BY_TIMEOUT;
        free(slot->frame);
        atomic_fetch_sub(&waiting, 1);
    }
    slot->frame = NULL;
    slot->state = SLOT_FREE;
    pthread_mutex_unlock(&ask_mu);
    if (ts)
        hs_py.PyEval_RestoreThread(ts);
    return hs_now_ns() - started;
}

void hs_ask_link_connecting(void) {
    pthread_mutex_lock(&ask_mu);
    if (link_state == LINK_DOWN)
        link_state = LINK_CONNECTING;
    pthread_mutex_unlock(&ask_mu);
}

void hs_ask_link_up(void) {
    pthread_mutex_lock(&ask_mu);
    link_state = LINK_UP;
    pthread_mutex_unlock(&ask_mu);
}

/* Gives every waiting ask `deny`/`by`, under ask_mu. */
static void answer_all(int deny, uint8_t by) {
    for (int i = 0; i < ASK_SLOTS; i++) {
        struct ask_slot *s = &slots[i];
        if (s->state != SLOT_QUEUED && s->state != SLOT_SENT)
            continue;
        free(s->frame);
        s->frame = NULL;
        s->state = SLOT_ANSWERED;
        s->deny = deny;
        s->by = by;
        s->remember = 0;
        atomic_fetch_sub(&waiting, 1);
    }
}

void hs_ask_forget(void) {
    pthread_mutex_lock(&ask_mu);
    memset(memory, 0, sizeof memory);
    memory_next = 0;
    pthread_mutex_unlock(&ask_mu);
}

void hs_ask_link_down(void) {
    pthread_once(&cv_once, init_cv);
    pthread_mutex_lock(&ask_mu);
    link_state = LINK_DOWN;
    answer_all(hs_policy_offline_denies(), HS_BY_OFFLINE);
    pthread_cond_broadcast(&answered_cv);
    pthread_mutex_unlock(&ask_mu);
}

size_t hs_ask_take(uint8_t *buf, size_t cap) {
    if (!atomic_load(&waiting))
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&ask_mu);
    for (int i = 0; i < ASK_SLOTS; i++) {
        struct ask_slot *s = &slots[i];
        if (s->state != SLOT_QUEUED || n + s->frame_len > cap)
            continue;
        memcpy(buf + n, s->frame, s->frame_len);
        n += s->frame_len;
        free(s->frame);
        s->frame = NULL;
        s->state = SLOT_SENT;
    }
    pthread_mutex_unlock(&ask_mu);
    return n;
}

int hs_ask_waiting(void) { return atomic_load(&waiting) > 0; }

int hs_ask_answer(const uint8_t *payload, size_t len) {
    if (len != ANSWER_SIZE)
        return -1;
    uint32_t id = hs_get_u32(payload);
    uint8_t outcome = payload[4], by = payload[5], keep = payload[6];
    if (outcome > 1 || (by != HS_BY_USER && by != HS_BY_REMEMBERED) || keep > 1 || payload[7] != 0)
        return -1;
    pthread_once(&cv_once, init_cv);
    pthread_mutex_lock(&ask_mu);
    for (int i = 0; i < ASK_SLOTS; i++) {
        struct ask_slot *s = &slots[i];
        if (s->state == SLOT_SENT && s->id == id) {
            s->state = SLOT_ANSWERED;
            s->deny = outcome;
            s->by = by;
            s->remember = keep;
            atomic_fetch_sub(&waiting, 1);
            pthread_cond_broadcast(&answered_cv);
            break;
        }
    }
    pthread_mutex_unlock(&ask_mu);
    return 0;
}

int hs_ask_hold(const uint8_t *payload, size_t len) {
    if (len != HOLD_SIZE)
        return -1;
    uint32_t id = hs_get_u32(payload);
    uint32_t ms = hs_get_u32(payload + 4);
    if (ms > HOLD_MAX_MS)
        ms = HOLD_MAX_MS;
    struct timespec until = deadline_after_ms(ms);
    pthread_once(&cv_once, init_cv);
    pthread_mutex_lock(&ask_mu);
    for (int i = 0; i < ASK_SLOTS; i++) {
        struct ask_slot *s = &slots[i];
        if ((s->state == SLOT_SENT || s->state == SLOT_QUEUED) && s->id == id) {
            if (until.tv_sec > s->deadline.tv_sec ||
                (until.tv_sec == s->deadline.tv_sec && until.tv_nsec > s->deadline.tv_nsec))
                s->deadline = until;
            break;
        }
    }
    pthread_mutex_unlock(&ask_mu);
    return 0;
}

void hs_ask_after_fork(void) {
    /* Only the forking thread exists here; whatever the others held is
     * gone with them. Frames queued by the parent's threads are dropped
     * (their memory is the parent's to free; leaking a few here is the
     * safe choice, as their owners do not exist in this process). */
    pthread_mutex_t unlocked = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&ask_mu, &unlocked, sizeof unlocked);
    memset(&answered_cv, 0, sizeof answered_cv);
    init_cv();
    memset(slots, 0, sizeof slots);
    memset(memory, 0, sizeof memory);
    memory_next = 0;
    link_state = LINK_DOWN;
    atomic_store(&waiting, 0);
    atomic_store(&hs_ask_kick, 0);
}

/* Interactive asks (docs/protocol.md, "Asks"): a thread whose event or
 * intent an `ask` rule caught sends the inspector an ASK through the writer
 * thread and waits, with the GIL released and never past the policy's ask
 * timeout, for its ANSWER. */
#ifndef HOOKSCOPE_ASK_H
#define HOOKSCOPE_ASK_H

#include "policy.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the asking thread ---- */

/* Asks the inspector about the record just built in `record` (its length in
 * the first 4 bytes; NULL when none was built), with the thread's Python
 * stack (an encoded value, or NULL), and updates `v` (which comes
 * in with v->ask set and the offline answer) with the outcome and who
 * decided it. Returns the ns the thread waited. Call with the GIL held and
 * a thread state current: it is released while waiting and taken back. */
uint64_t hs_ask(const uint8_t *record, const uint8_t *stack, size_t stack_len, struct hs_verdict *v);

/* The same for a thread that does not hold the GIL (it waits as it is). */
uint64_t hs_ask_nogil(const uint8_t *record, struct hs_verdict *v);

/* ---- the writer thread ---- */

/* Set by an asking thread when it queued an ASK; the writer clears it
 * before it takes the queue, and does not idle while it is set. */
extern _Atomic int hs_ask_kick;

/* The connection is being made (asks queue) or is up (asks are sent). */
void hs_ask_link_connecting(void);
void hs_ask_link_up(void);

/* The connection is gone: every waiting ask gets the offline answer at
 * once, and later asks get it without waiting. */
void hs_ask_link_down(void);

/* Moves queued ASK frames (headers included) into `buf`, up to `cap`
 * bytes, marking them sent. Returns the bytes written. */
size_t hs_ask_take(uint8_t *buf, size_t cap);

/* 1 while any ask waits for its answer. */
int hs_ask_waiting(void);

/* An ANSWER frame's payload; 0 if well formed (an unknown or late id is
 * well formed and ignored: its asker timed out), -1 if not. */
int hs_ask_answer(const uint8_t *payload, size_t len);

/* A HOLD frame's payload: keeps an ask waiting at least that much longer
 * (someone is reading it). 0 if well formed (an unknown id is ignored),
 * -1 if not. */
int hs_ask_hold(const uint8_t *payload, size_t len);

/* A new policy is in force: answers remembered for this process were
 * given to rules by their index, which may now name other rules, so they
 * are forgotten (the next identical ask is asked again). Waiting asks keep
 * waiting for their answers. */
void hs_ask_forget(void);

/* In the child after fork: no asks wait there; answers remembered for the
 * parent process do not hold for the child. */
void hs_ask_after_fork(void);

#endif

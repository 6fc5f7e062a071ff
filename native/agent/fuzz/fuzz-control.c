/* Fuzz target: what the agent reads from the inspector (docs/protocol.md,
 * "Frames"), as channel.c reads it: a WELCOME frame first
 * (hs_welcome_accepted), then control frames (hs_control_header) whose
 * bodies go where the writer sends them: ANSWER to hs_ask_answer, HOLD to
 * hs_ask_hold, POLICY to the compiled-policy loader. The input is the byte
 * stream from the socket; a short read ends it as recv_exact's timeout
 * would, a protocol error or DETACH ends it as check_control does.
 *
 * Not covered here: the socket I/O itself (recv_exact, poll), and answers
 * reaching a thread that really waits (that needs a thread blocked in
 * hs_ask; the ask tests in main/core/intent-broker*.test.ts cover it with a
 * real CPython). A POLICY body goes to hs_policy_load_bytes, which is what
 * hs_policy_replace calls after its replacement count (a counter that
 * would stop every run after the 256th), and is freed after each frame:
 * replaced policies are kept for ever by design, which LeakSanitizer would
 * report. */
#include "agent.h"
#include "ask.h"
#include "policy.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>

/* ask.c signals the writer through this; nothing else of agent.c is used. */
struct hs_agent hs_agent = {.done_mu = PTHREAD_MUTEX_INITIALIZER, .wake_cv = PTHREAD_COND_INITIALIZER};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    if ((size_t)(end - p) < HS_WELCOME_FRAME_SIZE || !hs_welcome_accepted(p))
        return 0;
    p += HS_WELCOME_FRAME_SIZE;
    for (int frames = 0; frames < 256; frames++) {
        if ((size_t)(end - p) < HS_FRAME_HEADER_SIZE)
            return 0;
        uint32_t len = 0;
        int type = hs_control_header(p, &len);
        p += HS_FRAME_HEADER_SIZE;
        if (type < 0 || type == HS_FRAME_DETACH)
            return 0;
        if (len > (size_t)(end - p))
            return 0; /* the body never came: recv_exact times out */
        if (type == HS_FRAME_POLICY) {
            /* As live_policy: an empty or malformed body is refused. */
            if (len && hs_policy_load_bytes(p, len) == 0)
                hs_policy_reset();
        } else {
            /* The body is read into a buffer of exactly HS_CONTROL_BODY_MAX
             * bytes in check_control; a copy of exactly len bytes here lets
             * ASan see any read past what was received. */
            uint8_t *body = malloc(len ? len : 1);
            if (!body)
                abort();
            memcpy(body, p, len);
            int r = type == HS_FRAME_ANSWER ? hs_ask_answer(body, len) : hs_ask_hold(body, len);
            free(body);
            if (r != 0)
                return 0;
        }
        p += len;
    }
    return 0;
}

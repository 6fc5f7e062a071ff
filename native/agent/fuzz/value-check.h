/* Reads back one wire value (docs/protocol.md, "Values") and checks what
 * the agent promises about it; aborts with a message when it is broken. */
#ifndef HOOKSCOPE_VALUE_CHECK_H
#define HOOKSCOPE_VALUE_CHECK_H

#include <stdint.h>

/* Returns the end of the value starting at p, never reading past end. */
const uint8_t *check_value(const uint8_t *p, const uint8_t *end, int depth);

#endif

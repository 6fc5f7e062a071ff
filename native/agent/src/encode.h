/* Encodes Python objects into the wire's value format (docs/protocol.md)
 * without ever running Python code: no repr, no __str__, no __fspath__.
 * Unknown types are recorded by type name and address. */
#ifndef HOOKSCOPE_ENCODE_H
#define HOOKSCOPE_ENCODE_H

#include "api.h"

#include <stdint.h>

struct hs_out {
    uint8_t *p;
    uint8_t *end;
    int cut; /* something was left out to respect the size limit */
};

/* Encodes one value; always leaves a well-formed value in out when at least
 * HS_VALUE_MIN bytes are free. Clears any Python error it causes. */
void hs_encode_value(struct hs_out *out, PyObject *obj, int depth);

/* The smallest room in which hs_encode_value still writes a valid value. */
#define HS_VALUE_MIN 48

#endif

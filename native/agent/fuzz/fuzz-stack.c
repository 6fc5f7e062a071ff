/* Fuzz target: encoding the Python stack into decision records and ASK
 * frames (src/stack.c, hs_stack_encode), over fake frames built from the
 * input (fake-python.h), into an input-chosen amount of room. Same checks
 * as fuzz-encode: nothing written past the room (an exact heap block), a
 * well-formed tuple value, every new reference released, no error set. */
#include "encode.h"
#include "fake-python.h"
#include "stack.h"
#include "value-check.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fake_python_init();
    if (size < 2)
        return 0;
    /* Room as the hooks give it: what is left of a 16 KiB record, or an
     * 8 KiB ask buffer. */
    size_t cap = ((size_t)data[0] | (size_t)data[1] << 8) % (16u << 10);
    const uint8_t *p = data + 2, *end = data + size;
    fake_build_stack(&p, end);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf)
        abort();
    struct hs_out out = {buf, buf + cap, 0};
    if (hs_stack_encode(&out) == 0) {
        if (out.p > out.end) {
            fprintf(stderr, "stack encoder wrote past its room\n");
            abort();
        }
        if (check_value(buf, out.p, 0) != out.p) {
            fprintf(stderr, "stack encoder left bytes after the value\n");
            abort();
        }
    } else if (out.p != buf) {
        fprintf(stderr, "stack encoder failed but wrote\n");
        abort();
    }
    if (fake_live_new() != 0) {
        fprintf(stderr, "stack encoder leaked %ld Python reference(s)\n", fake_live_new());
        abort();
    }
    if (fake_error_set()) {
        fprintf(stderr, "stack encoder left a Python error set\n");
        abort();
    }
    free(buf);
    fake_free_all();
    return 0;
}

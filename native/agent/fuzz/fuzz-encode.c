/* Fuzz target: the argument encoder (src/encode.c) over fake Python
 * objects built from the input (fake-python.h explains the fakes), into an
 * output buffer of an input-chosen size. Checks: no write past the buffer
 * (ASan: the buffer is a heap block of exactly that size), a well-formed
 * value that keeps the limits (value-check.c), every new reference
 * released, no Python error left set. */
#include "encode.h"
#include "fake-python.h"
#include "value-check.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fake_python_init();
    if (size < 2)
        return 0;
    /* Room as the hooks give it: at least HS_VALUE_MIN, up to a whole record. */
    size_t cap = HS_VALUE_MIN + ((size_t)data[0] | (size_t)data[1] << 8) % (16u << 10);
    const uint8_t *p = data + 2, *end = data + size;
    PyObject *obj = fake_build(&p, end, 0);
    uint8_t *buf = malloc(cap);
    if (!buf)
        abort();
    struct hs_out out = {buf, buf + cap, 0};
    hs_encode_value(&out, obj, 0);
    if (out.p > out.end) {
        fprintf(stderr, "encoder wrote past its room\n");
        abort();
    }
    if (check_value(buf, out.p, 0) != out.p) {
        fprintf(stderr, "encoder left bytes after the value\n");
        abort();
    }
    if (fake_live_new() != 0) {
        fprintf(stderr, "encoder leaked %ld Python reference(s)\n", fake_live_new());
        abort();
    }
    if (fake_error_set()) {
        fprintf(stderr, "encoder left a Python error set\n");
        abort();
    }
    free(buf);
    fake_free_all();
    return 0;
}

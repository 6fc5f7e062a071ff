/* Walking the Python stack from a hook. Only CPython's own accessors are
 * used (frame back/code/line/globals, attribute reads on the built-in code
 * type, a dict lookup of "__name__" with a str key), so no user code runs.
 * CPython 3.8 has no PyFrame_GetBack/GetCode: there the frame's fixed
 * header (f_back, f_code, f_globals after the variable-size object head) is
 * read, and only after each pointer is checked to be of the right type. */
#include "stack.h"

#include "api.h"
#include "wire.h"

#include <string.h>

/* PyFrameObject in 3.8-3.10, after PyObject_VAR_HEAD (24 bytes on a
 * 64-bit release build): f_back, f_code, f_builtins, f_globals. */
#define FRAME_F_BACK 24
#define FRAME_F_CODE 32
#define FRAME_F_GLOBALS 48

static int frame_layout_ok(void) { return hs_layout.ob_type == 8 && sizeof(void *) == 8; }

static PyObject *field(PyObject *frame, int offset) { return *(PyObject **)((char *)frame + offset); }

/* New reference to the caller's frame, or NULL. */
static PyObject *frame_back(PyObject *frame) {
    if (hs_py.PyFrame_GetBack)
        return hs_py.PyFrame_GetBack(frame);
    if (!frame_layout_ok())
        return NULL;
    PyObject *back = field(frame, FRAME_F_BACK);
    if (!back || hs_type_of(back) != hs_type_of(frame))
        return NULL;
    hs_py.Py_IncRef(back);
    return back;
}

/* New reference to the frame's code object, or NULL. */
static PyObject *frame_code(PyObject *frame) {
    PyObject *code = NULL;
    if (hs_py.PyFrame_GetCode) {
        code = hs_py.PyFrame_GetCode(frame);
    } else if (frame_layout_ok()) {
        code = field(frame, FRAME_F_CODE);
        if (code)
            hs_py.Py_IncRef(code);
    }
    if (code && hs_type_of(code) != hs_py.code_type) {
        hs_py.Py_DecRef(code);
        return NULL;
    }
    return code;
}

/* Borrowed `__name__` of the frame's module (a str), or NULL. */
static PyObject *frame_module(PyObject *frame) {
    PyObject *globals = NULL;
    int owned = 0;
    if (hs_py.PyFrame_GetGlobals) {
        globals = hs_py.PyFrame_GetGlobals(frame);
        owned = 1;
    } else if (frame_layout_ok()) {
        globals = field(frame, FRAME_F_GLOBALS);
    }
    PyObject *name = NULL;
    /* An exact dict only: its lookup of a str key compares str keys. */
    if (globals && hs_py.dict_type && hs_type_of(globals) == hs_py.dict_type && hs_py.PyDict_GetItemString)
        name = hs_py.PyDict_GetItemString(globals, "__name__");
    if (name && !(hs_type_flags(hs_type_of(name)) & HS_TPFLAGS_UNICODE_SUBCLASS))
        name = NULL;
    /* Still referenced by the module dict; the frame keeps its globals alive. */
    if (owned && globals)
        hs_py.Py_DecRef(globals);
    return name;
}

static void release(PyObject *obj) {
    if (obj)
        hs_py.Py_DecRef(obj);
}

/* Moves to the caller's frame, dropping our reference to this one; leaves
 * no error set behind what the step may have raised. */
static PyObject *step_out(PyObject *frame) {
    if (hs_py.PyErr_Occurred())
        hs_py.PyErr_Clear();
    PyObject *back = frame_back(frame);
    hs_py.Py_DecRef(frame);
    return back;
}

static void put_tuple_head(struct hs_out *o, uint32_t full, uint32_t n) {
    o->p[0] = HS_TAG_TUPLE;
    hs_put_u32(o->p + 1, full);
    hs_put_u32(o->p + 5, n);
    o->p += 9;
}

/* Room one frame needs at least: its tuple head, then HS_VALUE_MIN (what
 * hs_encode_value needs to stay inside its room) for each of the file
 * name, the function name and the module, and the line (9). The loop
 * keeps HS_VALUE_MIN + 9 + HS_VALUE_MIN back while it encodes the file
 * name, so the file name must still get HS_VALUE_MIN of its own. (Found by
 * fuzz/fuzz-stack.c: this was one HS_VALUE_MIN short, so a frame begun
 * with 115-161 bytes left gave the file name under 9 bytes, put_sized's
 * room - 9 wrapped around, and a long file name was copied up to 4 KiB
 * past the end of the record or ask buffer.) */
#define FRAME_MIN (9 + HS_VALUE_MIN + HS_VALUE_MIN + 9 + HS_VALUE_MIN)

int hs_stack_encode(struct hs_out *o) {
    if (!hs_py.PyEval_GetFrame || !hs_py.PyFrame_GetLineNumber || (size_t)(o->end - o->p) < 9 + FRAME_MIN)
        return -1;
    PyObject *top = hs_py.PyEval_GetFrame(); /* borrowed */
    if (!top)
        return -1;
    uint8_t *head = o->p;
    put_tuple_head(o, 0, 0);
    uint32_t kept = 0, total = 0;
    PyObject *frame = top;
    hs_py.Py_IncRef(frame);
    while (frame && total < 1024) {
        total++;
        if (kept < HS_STACK_DEPTH && (size_t)(o->end - o->p) >= FRAME_MIN) {
            PyObject *code = frame_code(frame);
            PyObject *filename = code ? hs_py.PyObject_GetAttrString(code, "co_filename") : NULL;
            PyObject *name = filename ? hs_py.PyObject_GetAttrString(code, "co_name") : NULL;
            if (name) {
                put_tuple_head(o, 4, 4);
                /* Keep room for what follows the file name. */
                uint8_t *end = o->end;
                o->end = end - (HS_VALUE_MIN + 9 + HS_VALUE_MIN);
                hs_encode_value(o, filename, 1);
                o->end = end - (9 + HS_VALUE_MIN);
                hs_encode_value(o, name, 1);
                o->end = end;
                o->p[0] = HS_TAG_INT;
                hs_put_u64(o->p + 1, (uint64_t)(int64_t)hs_py.PyFrame_GetLineNumber(frame));
                o->p += 9;
                PyObject *module = frame_module(frame);
                if (module) {
                    o->end = end;
                    hs_encode_value(o, module, 1);
                } else {
                    *o->p++ = HS_TAG_NONE;
                }
                kept++;
            }
            release(filename);
            release(name);
            release(code);
        }
        frame = step_out(frame);
    }
    if (frame) {
        /* More than 1024 frames: the count stops there. */
        hs_py.Py_DecRef(frame);
        total++;
    }
    hs_put_u32(head + 1, total);
    hs_put_u32(head + 5, kept);
    if (kept < total)
        o->cut = 1;
    return 0;
}

static int has_prefix(const char *s, size_t n, const char *prefix) {
    size_t m = strlen(prefix);
    return n >= m && memcmp(s, prefix, m) == 0;
}

/* ".../lib/python3.X/..." or ".../lib64/python3/..." but not their
 * site-packages/dist-packages; or ".../lib/python3NN.zip/...". */
static int stdlib_file(const char *f, size_t n) {
    for (size_t i = 0; i + 12 <= n; i++) {
        if (f[i] != '/')
            continue;
        size_t j = i + 1;
        if (has_prefix(f + j, n - j, "lib64/python3"))
            j += 13;
        else if (has_prefix(f + j, n - j, "lib/python3"))
            j += 11;
        else
            continue;
        if (j < n && f[j] == '.') {
            j++;
            while (j < n && f[j] >= '0' && f[j] <= '9')
                j++;
        } else {
            size_t digits = j;
            while (j < n && f[j] >= '0' && f[j] <= '9')
                j++;
            if (j > digits && has_prefix(f + j, n - j, ".zip/"))
                return 1;
        }
        if (j >= n || f[j] != '/')
            continue;
        j++;
        if (has_prefix(f + j, n - j, "site-packages/") || has_prefix(f + j, n - j, "dist-packages/"))
            continue;
        return 1;
    }
    return 0;
}

static int machinery_module(const char *m, size_t n) {
    static const char *const names[] = {"importlib", "_frozen_importlib", "_frozen_importlib_external",
                                        "runpy", "zipimport"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t k = strlen(names[i]);
        if (n >= k && memcmp(m, names[i], k) == 0 && (n == k || m[k] == '.'))
            return 1;
    }
    return 0;
}

int hs_stack_origin(char *out, size_t cap) {
    if (!hs_py.PyEval_GetFrame || cap == 0)
        return -1;
    PyObject *frame = hs_py.PyEval_GetFrame();
    if (!frame)
        return -1;
    hs_py.Py_IncRef(frame);
    int found = -1;
    for (int depth = 0; frame && depth < 64 && found < 0; depth++) {
        PyObject *module = frame_module(frame);
        PyObject *code = module ? frame_code(frame) : NULL;
        PyObject *filename = code ? hs_py.PyObject_GetAttrString(code, "co_filename") : NULL;
        Py_ssize_t mlen = 0, flen = 0;
        const char *m = module ? hs_py.PyUnicode_AsUTF8AndSize(module, &mlen) : NULL;
        const char *f = filename && (hs_type_flags(hs_type_of(filename)) & HS_TPFLAGS_UNICODE_SUBCLASS)
                            ? hs_py.PyUnicode_AsUTF8AndSize(filename, &flen)
                            : NULL;
        if (m && f && !has_prefix(f, (size_t)flen, "<frozen") && !stdlib_file(f, (size_t)flen) &&
            !machinery_module(m, (size_t)mlen)) {
            size_t n = (size_t)mlen < cap - 1 ? (size_t)mlen : cap - 1;
            memcpy(out, m, n);
            out[n] = 0;
            found = (int)n;
        }
        release(filename);
        release(code);
        frame = step_out(frame);
    }
    release(frame);
    return found;
}

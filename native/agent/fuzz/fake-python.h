/* A tiny stand-in for the CPython C API, for the fuzz targets only.
 *
 * libFuzzer cannot drive a real interpreter (one process, millions of runs,
 * objects built from bytes), so the agent's encoder and argument matchers
 * are run against fake objects reached through the same hs_py function
 * pointers the agent resolves at run time, with every hs_layout offset at
 * -1 (the "use the function" path). The fakes keep the contracts the agent
 * relies on from CPython: UTF-8 from PyUnicode_AsUTF8AndSize is
 * NUL-terminated and has at least one byte per character, strings with
 * lone surrogates fail it (and set an error) but encode through
 * PyUnicode_EncodeFSDefault, new references are new. They also check what
 * the agent promises CPython: every new reference is released
 * (fake_live_new() back to 0) and no error is left set. */
#ifndef HOOKSCOPE_FAKE_PYTHON_H
#define HOOKSCOPE_FAKE_PYTHON_H

#include "api.h"

#include <stddef.h>
#include <stdint.h>

/* Installs the fakes into hs_py / hs_layout (idempotent). */
void fake_python_init(void);

/* Builds a fake object from fuzz bytes (consumed from *p). Every object
 * built lives until fake_free_all(). */
PyObject *fake_build(const uint8_t **p, const uint8_t *end, int depth);

/* Builds a chain of fake frames from fuzz bytes; the innermost becomes
 * what PyEval_GetFrame returns (NULL when none was built). */
PyObject *fake_build_stack(const uint8_t **p, const uint8_t *end);

/* Frees every object built since the last call. */
void fake_free_all(void);

/* New references handed out and not yet released. */
long fake_live_new(void);

/* 1 when an error is set (PyErr_Occurred). */
int fake_error_set(void);

#endif

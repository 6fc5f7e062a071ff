#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api.h"

#include <dlfcn.h>
#include <string.h>

struct hs_api hs_py;
struct hs_layout hs_layout = {-1, -1, -1, -1, -1};

#define RESOLVE(field, name) (hs_py.field = (__typeof__(hs_py.field))dlsym(RTLD_DEFAULT, name))

int hs_api_resolve(void) {
    memset(&hs_py, 0, sizeof hs_py);
    /* Py_IsInitialized tells whether CPython is in this process at all:
     * bash, coreutils and every other non-Python child stop here. */
    if (!RESOLVE(Py_IsInitialized, "Py_IsInitialized"))
        return 0;
    /* PySys_AddAuditHook exists from 3.8: older interpreters stay untouched. */
    if (!RESOLVE(PySys_AddAuditHook, "PySys_AddAuditHook"))
        return 0;
    RESOLVE(Py_GetVersion, "Py_GetVersion");
    RESOLVE(PySys_Audit, "PySys_Audit");
    RESOLVE(PyFile_SetOpenCodeHook, "PyFile_SetOpenCodeHook");
    RESOLVE(PyType_GetFlags, "PyType_GetFlags");
    RESOLVE(PyObject_Type, "PyObject_Type");
    RESOLVE(PyTuple_Size, "PyTuple_Size");
    RESOLVE(PyTuple_GetItem, "PyTuple_GetItem");
    RESOLVE(PyList_Size, "PyList_Size");
    RESOLVE(PyList_GetItem, "PyList_GetItem");
    RESOLVE(PyUnicode_AsUTF8AndSize, "PyUnicode_AsUTF8AndSize");
    RESOLVE(PyUnicode_EncodeFSDefault, "PyUnicode_EncodeFSDefault");
    RESOLVE(PyBytes_AsString, "PyBytes_AsString");
    RESOLVE(PyBytes_Size, "PyBytes_Size");
    RESOLVE(PyBytes_FromStringAndSize, "PyBytes_FromStringAndSize");
    RESOLVE(PyByteArray_AsString, "PyByteArray_AsString");
    RESOLVE(PyByteArray_Size, "PyByteArray_Size");
    RESOLVE(PyLong_AsLongLongAndOverflow, "PyLong_AsLongLongAndOverflow");
    RESOLVE(PyLong_AsDouble, "PyLong_AsDouble");
    RESOLVE(PyFloat_AsDouble, "PyFloat_AsDouble");
    RESOLVE(PyLong_AsLong, "PyLong_AsLong");
    RESOLVE(PyObject_GetAttrString, "PyObject_GetAttrString");
    RESOLVE(PyObject_CallFunction, "PyObject_CallFunction");
    RESOLVE(PyImport_ImportModule, "PyImport_ImportModule");
    RESOLVE(Py_IncRef, "Py_IncRef");
    RESOLVE(Py_DecRef, "Py_DecRef");
    RESOLVE(PyErr_Occurred, "PyErr_Occurred");
    RESOLVE(PyErr_Clear, "PyErr_Clear");
    RESOLVE(PyErr_SetString, "PyErr_SetString");
    RESOLVE(PyErr_SetObject, "PyErr_SetObject");
    RESOLVE(PyErr_SetFromErrnoWithFilenameObject, "PyErr_SetFromErrnoWithFilenameObject");
    RESOLVE(PyErr_NoMemory, "PyErr_NoMemory");
    RESOLVE(PyType_GetName, "PyType_GetName");
    RESOLVE(PyEval_SaveThread, "PyEval_SaveThread");
    RESOLVE(PyEval_RestoreThread, "PyEval_RestoreThread");
    RESOLVE(PyUnicode_Substring, "PyUnicode_Substring");
    RESOLVE(PyUnicode_GetLength, "PyUnicode_GetLength");
    RESOLVE(PyMem_SetupDebugHooks, "PyMem_SetupDebugHooks");
    RESOLVE(PyGILState_Ensure, "PyGILState_Ensure");
    RESOLVE(PyGILState_Release, "PyGILState_Release");
    if (!RESOLVE(is_finalizing, "Py_IsFinalizing"))
        RESOLVE(is_finalizing, "_Py_IsFinalizing");
    if (!RESOLVE(thread_state_unchecked, "PyThreadState_GetUnchecked"))
        RESOLVE(thread_state_unchecked, "_PyThreadState_UncheckedGet");
    RESOLVE(PyGILState_GetThisThreadState, "PyGILState_GetThisThreadState");
    RESOLVE(PyEval_GetFrame, "PyEval_GetFrame");
    RESOLVE(PyFrame_GetBack, "PyFrame_GetBack");
    RESOLVE(PyFrame_GetCode, "PyFrame_GetCode");
    RESOLVE(PyFrame_GetGlobals, "PyFrame_GetGlobals");
    RESOLVE(PyFrame_GetLineNumber, "PyFrame_GetLineNumber");
    RESOLVE(PyDict_GetItemString, "PyDict_GetItemString");
    RESOLVE(exc_value_error, "PyExc_ValueError");
    RESOLVE(none, "_Py_NoneStruct");
    RESOLVE(true_obj, "_Py_TrueStruct");
    RESOLVE(false_obj, "_Py_FalseStruct");
    RESOLVE(float_type, "PyFloat_Type");
    RESOLVE(unicode_type, "PyUnicode_Type");
    RESOLVE(long_type, "PyLong_Type");
    RESOLVE(tuple_type, "PyTuple_Type");
    RESOLVE(list_type, "PyList_Type");
    RESOLVE(bytes_type, "PyBytes_Type");
    RESOLVE(bytearray_type, "PyByteArray_Type");
    RESOLVE(dict_type, "PyDict_Type");
    RESOLVE(code_type, "PyCode_Type");
    RESOLVE(exc_oserror, "PyExc_OSError");
    RESOLVE(exc_permission_error, "PyExc_PermissionError");

    /* Everything the hooks call must be there; a partial API means an
     * interpreter we do not understand, so stay out of its way. */
    void *required[] = {
        (void *)hs_py.PyType_GetFlags, (void *)hs_py.PyObject_Type, (void *)hs_py.PyTuple_Size,
        (void *)hs_py.PyTuple_GetItem, (void *)hs_py.PyList_Size, (void *)hs_py.PyList_GetItem,
        (void *)hs_py.PyUnicode_AsUTF8AndSize, (void *)hs_py.PyUnicode_EncodeFSDefault,
        (void *)hs_py.PyBytes_AsString, (void *)hs_py.PyBytes_Size,
        (void *)hs_py.PyBytes_FromStringAndSize, (void *)hs_py.PyByteArray_AsString,
        (void *)hs_py.PyByteArray_Size, (void *)hs_py.PyLong_AsLongLongAndOverflow,
        (void *)hs_py.PyLong_AsDouble, (void *)hs_py.PyFloat_AsDouble, (void *)hs_py.PyLong_AsLong,
        (void *)hs_py.PyObject_GetAttrString, (void *)hs_py.PyObject_CallFunction,
        (void *)hs_py.PyImport_ImportModule, (void *)hs_py.Py_IncRef, (void *)hs_py.Py_DecRef,
        (void *)hs_py.PyErr_Occurred, (void *)hs_py.PyErr_Clear, (void *)hs_py.PyErr_SetString,
        (void *)hs_py.PyErr_SetObject,
        (void *)hs_py.PyErr_SetFromErrnoWithFilenameObject, (void *)hs_py.PyErr_NoMemory,
        (void *)hs_py.Py_GetVersion, (void *)hs_py.none, (void *)hs_py.true_obj,
        (void *)hs_py.false_obj, (void *)hs_py.float_type, (void *)hs_py.unicode_type,
        (void *)hs_py.long_type, (void *)hs_py.tuple_type, (void *)hs_py.list_type, (void *)hs_py.bytes_type, (void *)hs_py.bytearray_type,
        (void *)hs_py.code_type, (void *)hs_py.exc_oserror, (void *)hs_py.exc_permission_error,
        (void *)hs_py.exc_value_error, (void *)hs_py.PyEval_SaveThread, (void *)hs_py.PyEval_RestoreThread,
        (void *)hs_py.PyUnicode_Substring, (void *)hs_py.PyUnicode_GetLength,
        (void *)hs_py.PyMem_SetupDebugHooks, (void *)hs_py.PyGILState_Ensure,
        (void *)hs_py.PyGILState_Release,
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!required[i])
            return 0;
    return 1;
}

/* Reading ob_type and tp_flags directly saves two indirect calls per
 * argument on the hot path, but the header differs between builds (the
 * free-threaded build puts ob_type at 24, the default build at 8). Prove the
 * offsets on static objects (None, True, float) with the API functions
 * first; anything that does not match keeps the slow, always-correct path.
 * Call it once the interpreter is initialised: static types get their
 * inherited flag bits (bool's int bit) from PyType_Ready during start-up. */
void hs_api_check_layout(void) {
    PyObject *samples[] = {hs_py.none, hs_py.true_obj, hs_py.false_obj};
    PyObject *types[3];
    for (int i = 0; i < 3; i++) {
        types[i] = hs_py.PyObject_Type(samples[i]);
        hs_py.Py_DecRef(types[i]);
    }
    const int candidates[] = {8, 24, 16, 32};
    int ob_type = -1;
    for (size_t c = 0; c < sizeof candidates / sizeof candidates[0] && ob_type < 0; c++) {
        int ok = 1;
        for (int i = 0; i < 3; i++)
            if (*(PyObject **)((char *)samples[i] + candidates[c]) != types[i])
                ok = 0;
        if (ok)
            ob_type = candidates[c];
    }
    if (ob_type < 0)
        return;
    hs_layout.ob_type = ob_type;

    /* PyTypeObject starts with a PyVarObject (header + ob_size), then
     * tp_name, then 17 pointer-sized slots, then tp_flags. */
    int tp_name = ob_type + 16;
    int tp_flags = tp_name + 18 * (int)sizeof(void *);
    PyObject *none_type = types[0];
    PyObject *bool_type = types[1];
    const char *none_name = *(const char **)((char *)none_type + tp_name);
    const char *bool_name = *(const char **)((char *)bool_type + tp_name);
    if (none_name && bool_name && strcmp(none_name, "NoneType") == 0 && strcmp(bool_name, "bool") == 0)
        hs_layout.tp_name = tp_name;
    PyObject *flag_types[] = {none_type, bool_type, hs_py.float_type, hs_py.bytearray_type};
    int flags_ok = 1;
    for (size_t i = 0; i < sizeof flag_types / sizeof flag_types[0]; i++)
        if (*(unsigned long *)((char *)flag_types[i] + tp_flags) != hs_py.PyType_GetFlags(flag_types[i]))
            flags_ok = 0;
    /* bool subclasses int: a proven offset must show that bit. */
    if (flags_ok && (*(unsigned long *)((char *)bool_type + tp_flags) & HS_TPFLAGS_LONG_SUBCLASS))
        hs_layout.tp_flags = tp_flags;
}

int hs_api_learn_tuple(PyObject *tuple) {
    if (hs_layout.ob_type < 0)
        return 1; /* header not proven: keep the functions */
    Py_ssize_t n = hs_py.PyTuple_Size(tuple);
    if (n < 2)
        return 0; /* not enough to tell the layouts apart: try a later tuple */
    int size_off = hs_layout.ob_type + 8;
    if (*(Py_ssize_t *)((char *)tuple + size_off) != n)
        return 1;
    const int candidates[] = {size_off + 8, size_off + 16};
    for (size_t c = 0; c < sizeof candidates / sizeof candidates[0]; c++) {
        PyObject **items = (PyObject **)((char *)tuple + candidates[c]);
        int ok = 1;
        for (Py_ssize_t i = 0; i < n && i < 4; i++)
            if (items[i] != hs_py.PyTuple_GetItem(tuple, i))
                ok = 0;
        if (ok) {
            hs_layout.tuple_size = size_off;
            __atomic_store_n(&hs_layout.tuple_items, candidates[c], __ATOMIC_RELEASE);
            return 1;
        }
    }
    return 1;
}

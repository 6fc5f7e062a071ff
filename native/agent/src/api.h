/* CPython C API, resolved at run time.
 *
 * The agent is one library for every CPython from 3.8 on, so it must not
 * link libpython: each entry point is looked up with dlsym(RTLD_DEFAULT)
 * when the agent starts. Objects are opaque pointers here; object layout is
 * read directly only where a start-up self-check proved the offsets (see
 * layout in api.c). Reference counts go through Py_IncRef / Py_DecRef, the
 * functions, never the macros, because the macros differ between builds. */
#ifndef HOOKSCOPE_API_H
#define HOOKSCOPE_API_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct hs_pyobject PyObject;
typedef ssize_t Py_ssize_t;
typedef int (*hs_audit_hook_fn)(const char *event, PyObject *args, void *user_data);
typedef PyObject *(*hs_open_code_hook_fn)(PyObject *path, void *user_data);

/* Py_tp_flags bits, stable since Python 3.0. */
#define HS_TPFLAGS_LONG_SUBCLASS (1UL << 24)
#define HS_TPFLAGS_LIST_SUBCLASS (1UL << 25)
#define HS_TPFLAGS_TUPLE_SUBCLASS (1UL << 26)
#define HS_TPFLAGS_BYTES_SUBCLASS (1UL << 27)
#define HS_TPFLAGS_UNICODE_SUBCLASS (1UL << 28)
#define HS_TPFLAGS_DICT_SUBCLASS (1UL << 29)

struct hs_api {
    int (*Py_IsInitialized)(void);
    const char *(*Py_GetVersion)(void);
    int (*PySys_AddAuditHook)(hs_audit_hook_fn, void *);
    int (*PySys_Audit)(const char *, const char *, ...);
    int (*PyFile_SetOpenCodeHook)(hs_open_code_hook_fn, void *);
    unsigned long (*PyType_GetFlags)(PyObject *);
    PyObject *(*PyObject_Type)(PyObject *);
    Py_ssize_t (*PyTuple_Size)(PyObject *);
    PyObject *(*PyTuple_GetItem)(PyObject *, Py_ssize_t);
    Py_ssize_t (*PyList_Size)(PyObject *);
    PyObject *(*PyList_GetItem)(PyObject *, Py_ssize_t);
    const char *(*PyUnicode_AsUTF8AndSize)(PyObject *, Py_ssize_t *);
    PyObject *(*PyUnicode_EncodeFSDefault)(PyObject *);
    char *(*PyBytes_AsString)(PyObject *);
    Py_ssize_t (*PyBytes_Size)(PyObject *);
    PyObject *(*PyBytes_FromStringAndSize)(const char *, Py_ssize_t);
    char *(*PyByteArray_AsString)(PyObject *);
    Py_ssize_t (*PyByteArray_Size)(PyObject *);
    long long (*PyLong_AsLongLongAndOverflow)(PyObject *, int *);
    double (*PyLong_AsDouble)(PyObject *);
    double (*PyFloat_AsDouble)(PyObject *);
    long (*PyLong_AsLong)(PyObject *);
    PyObject *(*PyObject_GetAttrString)(PyObject *, const char *);
    PyObject *(*PyObject_CallFunction)(PyObject *, const char *, ...);
    PyObject *(*PyImport_ImportModule)(const char *);
    void (*Py_IncRef)(PyObject *);
    void (*Py_DecRef)(PyObject *);
    PyObject *(*PyErr_Occurred)(void);
    void (*PyErr_Clear)(void);
    void (*PyErr_SetString)(PyObject *, const char *);
    void (*PyErr_SetObject)(PyObject *, PyObject *);
    PyObject *(*PyErr_SetFromErrnoWithFilenameObject)(PyObject *, PyObject *);
    PyObject *(*PyErr_NoMemory)(void);
    PyObject *(*PyType_GetName)(PyObject *); /* 3.11+, may be NULL */
    void *(*PyEval_SaveThread)(void);
    void (*PyEval_RestoreThread)(void *);
    PyObject *(*PyUnicode_Substring)(PyObject *, Py_ssize_t, Py_ssize_t);
    Py_ssize_t (*PyUnicode_GetLength)(PyObject *);
    void (*PyMem_SetupDebugHooks)(void);
    /* Attach mode: a thread of ours takes the GIL to register the hooks. */
    int (*PyGILState_Ensure)(void);
    void (*PyGILState_Release)(int);
    int (*is_finalizing)(void); /* Py_IsFinalizing (3.13+) or _Py_IsFinalizing */
    /* The calling thread's thread state or NULL, never failing:
     * PyThreadState_GetUnchecked (3.13+) or _PyThreadState_UncheckedGet.
     * An audit hook can run on a thread without one; the GIL may be
     * released only when there is one. May be NULL (then asks are not made). */
    void *(*thread_state_unchecked)(void);
    void *(*PyGILState_GetThisThreadState)(void);
    /* Stack walking (stack.c); GetBack/GetCode from 3.9, GetGlobals from 3.11. */
    PyObject *(*PyEval_GetFrame)(void);
    PyObject *(*PyFrame_GetBack)(PyObject *);
    PyObject *(*PyFrame_GetCode)(PyObject *);
    PyObject *(*PyFrame_GetGlobals)(PyObject *);
    int (*PyFrame_GetLineNumber)(PyObject *);
    PyObject *(*PyDict_GetItemString)(PyObject *, const char *);

    /* Data symbols. */
    PyObject *none;
    PyObject *true_obj;
    PyObject *false_obj;
    PyObject *float_type;
    PyObject *unicode_type;
    PyObject *long_type;
    PyObject *tuple_type;
    PyObject *list_type;
    PyObject *bytes_type;
    PyObject *bytearray_type;
    PyObject *dict_type;
    PyObject *code_type;
    PyObject **exc_oserror;
    PyObject **exc_permission_error;
    PyObject **exc_value_error;
};

/* Offsets proven by hs_api_check_layout(); -1 means "use the function". */
struct hs_layout {
    int ob_type;       /* offset of ob_type in PyObject */
    int tp_name;       /* offset of tp_name in PyTypeObject */
    int tp_flags;      /* offset of tp_flags in PyTypeObject */
    int tuple_size;    /* offset of ob_size in a tuple */
    int tuple_items;   /* offset of ob_item[0] in a tuple */
};

extern struct hs_api hs_py;
extern struct hs_layout hs_layout;

/* Resolves every symbol. Returns 1 when this process runs a CPython with
 * audit hooks (3.8+), 0 otherwise (the agent then stays inert). */
int hs_api_resolve(void);

/* Verifies the object-header offsets against the API functions; safe before
 * Py_Initialize (it only touches static objects). */
void hs_api_check_layout(void);

/* Learns the tuple layout from a real tuple of at least two items, checked
 * against PyTuple_Size / PyTuple_GetItem (3.14 added a cached hash before
 * the items). Returns 1 once the layout is known or proven unusable. */
int hs_api_learn_tuple(PyObject *tuple);

static inline Py_ssize_t hs_tuple_size(PyObject *t) {
    /* Acquire pairs with the release store in hs_api_learn_tuple: a reader
     * that sees tuple_items also sees tuple_size. */
    if (__atomic_load_n(&hs_layout.tuple_items, __ATOMIC_ACQUIRE) >= 0)
        return *(Py_ssize_t *)((char *)t + hs_layout.tuple_size);
    return hs_py.PyTuple_Size(t);
}

/* Borrowed reference; i must be in range. */
static inline PyObject *hs_tuple_item(PyObject *t, Py_ssize_t i) {
    if (__atomic_load_n(&hs_layout.tuple_items, __ATOMIC_ACQUIRE) >= 0)
        return ((PyObject **)((char *)t + hs_layout.tuple_items))[i];
    return hs_py.PyTuple_GetItem(t, i);
}

static inline PyObject *hs_type_of(PyObject *o) {
    if (hs_layout.ob_type >= 0)
        return *(PyObject **)((char *)o + hs_layout.ob_type);
    PyObject *t = hs_py.PyObject_Type(o);
    /* Types outlive their instances; dropping the new reference at once is safe. */
    hs_py.Py_DecRef(t);
    return t;
}

static inline unsigned long hs_type_flags(PyObject *type) {
    if (hs_layout.tp_flags >= 0)
        return *(unsigned long *)((char *)type + hs_layout.tp_flags);
    return hs_py.PyType_GetFlags(type);
}

/* The type's tp_name, or NULL when the layout is not proven. Never runs
 * Python code. */
static inline const char *hs_type_name(PyObject *type) {
    if (hs_layout.tp_name >= 0)
        return *(const char **)((char *)type + hs_layout.tp_name);
    return NULL;
}

#endif

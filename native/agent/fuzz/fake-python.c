/* Fake CPython objects behind hs_py, for the fuzz targets (see
 * fake-python.h for why, and which contracts they keep). */
#include "fake-python.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_TYPE, K_NONE, K_BOOL, K_INT, K_FLOAT, K_STR, K_BYTES, K_BYTEARRAY, K_TUPLE, K_LIST, K_CODE, K_OTHER,
            K_DICT, K_FRAME };

struct fobj {
    struct fobj *type;
    enum kind kind;
    unsigned long flags; /* types */
    char *name;          /* types: tp_name */
    char *data;          /* str: UTF-8 (or raw bytes when surrogate); bytes; NUL-terminated */
    size_t size;
    size_t chars;   /* str: characters */
    int surrogate;  /* str: 1 AsUTF8 fails, FS encoding works; 2 both fail */
    struct fobj **items;
    size_t n;
    long long i;
    int overflow; /* int: beyond 64 bits, sign */
    double f;
    struct fobj *co_filename, *co_name;
    long co_firstlineno;
    int co_broken; /* an attribute read fails */
    struct fobj *f_back, *f_code, *f_globals; /* frames; f_code may be of another type */
    struct fobj *dict_name;                   /* dicts: the value of "__name__", or NULL */
    long new_refs; /* new references handed out and not yet released */
    struct fobj *next;
};

static struct fobj *all; /* every object built or handed out since fake_free_all */
static long outstanding;
static int error_set;
static size_t built;

static struct fobj t_type = {.kind = K_TYPE, .name = "type"};
static struct fobj t_none = {.type = &t_type, .kind = K_TYPE, .name = "NoneType"};
static struct fobj t_bool = {.type = &t_type, .kind = K_TYPE, .name = "bool", .flags = HS_TPFLAGS_LONG_SUBCLASS};
static struct fobj t_int = {.type = &t_type, .kind = K_TYPE, .name = "int", .flags = HS_TPFLAGS_LONG_SUBCLASS};
static struct fobj t_float = {.type = &t_type, .kind = K_TYPE, .name = "float"};
static struct fobj t_str = {.type = &t_type, .kind = K_TYPE, .name = "str", .flags = HS_TPFLAGS_UNICODE_SUBCLASS};
static struct fobj t_bytes = {.type = &t_type, .kind = K_TYPE, .name = "bytes", .flags = HS_TPFLAGS_BYTES_SUBCLASS};
static struct fobj t_bytearray = {.type = &t_type, .kind = K_TYPE, .name = "bytearray"};
static struct fobj t_tuple = {.type = &t_type, .kind = K_TYPE, .name = "tuple", .flags = HS_TPFLAGS_TUPLE_SUBCLASS};
static struct fobj t_list = {.type = &t_type, .kind = K_TYPE, .name = "list", .flags = HS_TPFLAGS_LIST_SUBCLASS};
static struct fobj t_dict = {.type = &t_type, .kind = K_TYPE, .name = "dict", .flags = HS_TPFLAGS_DICT_SUBCLASS};
static struct fobj t_code = {.type = &t_type, .kind = K_TYPE, .name = "code"};
static struct fobj t_frame = {.type = &t_type, .kind = K_TYPE, .name = "frame"};
static struct fobj *top_frame; /* PyEval_GetFrame */
/* Subclasses: the agent must go by the flags, never by the exact type. */
static struct fobj t_str_sub = {.type = &t_type, .kind = K_TYPE, .name = "MyStr", .flags = HS_TPFLAGS_UNICODE_SUBCLASS};
static struct fobj t_int_sub = {.type = &t_type, .kind = K_TYPE, .name = "IntEnum", .flags = HS_TPFLAGS_LONG_SUBCLASS};
static struct fobj t_tuple_sub = {.type = &t_type, .kind = K_TYPE, .name = "namedtuple", .flags = HS_TPFLAGS_TUPLE_SUBCLASS};
static struct fobj t_list_sub = {.type = &t_type, .kind = K_TYPE, .name = "UserList", .flags = HS_TPFLAGS_LIST_SUBCLASS};
static struct fobj t_bytes_sub = {.type = &t_type, .kind = K_TYPE, .name = "MyBytes", .flags = HS_TPFLAGS_BYTES_SUBCLASS};
static struct fobj o_none = {.type = &t_none, .kind = K_NONE};
static struct fobj o_true = {.type = &t_bool, .kind = K_BOOL, .i = 1};
static struct fobj o_false = {.type = &t_bool, .kind = K_BOOL, .i = 0};

#define O(x) ((struct fobj *)(x))
#define P(x) ((PyObject *)(x))

static void fail(const char *why) {
    fprintf(stderr, "fake-python: contract broken: %s\n", why);
    abort();
}

static struct fobj *new_obj(struct fobj *type, enum kind kind) {
    struct fobj *o = calloc(1, sizeof *o);
    if (!o)
        abort();
    o->type = type;
    o->kind = kind;
    o->next = all;
    all = o;
    return o;
}

/* A new reference to o, as an API function returning one would give. */
static PyObject *new_ref(struct fobj *o) {
    o->new_refs++;
    outstanding++;
    return P(o);
}

static void set_error(void) { error_set = 1; }

/* Strict UTF-8 (no surrogates, no overlongs): what CPython hands out.
 * Returns the number of characters, or -1. */
static long utf8_chars(const unsigned char *s, size_t n) {
    long chars = 0;
    for (size_t i = 0; i < n; chars++) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || i + k >= n)
            return -1;
        uint32_t cp = k ? c & (0x3F >> k) : c;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return -1;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        i += k + 1;
    }
    return chars;
}

static struct fobj *make_str(struct fobj *type, const uint8_t *s, size_t n, int force_surrogate) {
    struct fobj *o = new_obj(type, K_STR);
    o->data = malloc(n + 1);
    if (!o->data)
        abort();
    memcpy(o->data, s, n);
    o->data[n] = 0; /* CPython's UTF-8 and bytes buffers are NUL-terminated */
    o->size = n;
    long chars = utf8_chars(s, n);
    if (chars < 0 || force_surrogate) {
        /* As surrogateescape decoding makes it: one character per byte. */
        o->surrogate = force_surrogate == 2 ? 2 : 1;
        o->chars = n;
    } else {
        o->chars = (size_t)chars;
    }
    return o;
}

/* ---- the API ------------------------------------------------------------ */

static unsigned long f_type_flags(PyObject *t) {
    if (O(t)->kind != K_TYPE)
        fail("PyType_GetFlags on a non-type");
    return O(t)->flags;
}
static PyObject *f_object_type(PyObject *o) { return new_ref(O(o)->type); }
static Py_ssize_t f_tuple_size(PyObject *o) {
    if (O(o)->kind != K_TUPLE) {
        set_error();
        return -1;
    }
    return (Py_ssize_t)O(o)->n;
}
static PyObject *f_tuple_item(PyObject *o, Py_ssize_t i) {
    if (O(o)->kind != K_TUPLE || i < 0 || (size_t)i >= O(o)->n) {
        set_error();
        return NULL;
    }
    return P(O(o)->items[i]);
}
static Py_ssize_t f_list_size(PyObject *o) {
    if (O(o)->kind != K_LIST) {
        set_error();
        return -1;
    }
    return (Py_ssize_t)O(o)->n;
}
static PyObject *f_list_item(PyObject *o, Py_ssize_t i) {
    if (O(o)->kind != K_LIST || i < 0 || (size_t)i >= O(o)->n) {
        set_error();
        return NULL;
    }
    return P(O(o)->items[i]);
}
static const char *f_as_utf8(PyObject *o, Py_ssize_t *size) {
    if (O(o)->kind != K_STR || O(o)->surrogate) {
        set_error();
        return NULL;
    }
    if (size)
        *size = (Py_ssize_t)O(o)->size;
    return O(o)->data;
}
static PyObject *f_encode_fs(PyObject *o) {
    if (O(o)->kind != K_STR || O(o)->surrogate == 2) {
        set_error();
        return NULL;
    }
    struct fobj *b = new_obj(&t_bytes, K_BYTES);
    b->data = malloc(O(o)->size + 1);
    if (!b->data)
        abort();
    memcpy(b->data, O(o)->data, O(o)->size + 1);
    b->size = O(o)->size;
    return new_ref(b);
}
static char *f_bytes_string(PyObject *o) {
    if (O(o)->kind != K_BYTES) {
        set_error();
        return NULL;
    }
    return O(o)->data;
}
static Py_ssize_t f_bytes_size(PyObject *o) {
    if (O(o)->kind != K_BYTES) {
        set_error();
        return -1;
    }
    return (Py_ssize_t)O(o)->size;
}
static char *f_bytearray_string(PyObject *o) {
    if (O(o)->kind != K_BYTEARRAY) {
        set_error();
        return NULL;
    }
    return O(o)->data;
}
static Py_ssize_t f_bytearray_size(PyObject *o) {
    if (O(o)->kind != K_BYTEARRAY) {
        set_error();
        return -1;
    }
    return (Py_ssize_t)O(o)->size;
}
static long long f_as_long_long(PyObject *o, int *overflow) {
    *overflow = 0;
    if (O(o)->kind != K_INT && O(o)->kind != K_BOOL) {
        set_error();
        return -1;
    }
    if (O(o)->overflow) {
        *overflow = O(o)->overflow;
        return -1;
    }
    return O(o)->i;
}
static double f_long_as_double(PyObject *o) {
    if (O(o)->kind != K_INT && O(o)->kind != K_BOOL) {
        set_error();
        return -1.0;
    }
    if (O(o)->overflow) {
        if (isinf(O(o)->f) || isnan(O(o)->f)) { /* too large for a double: OverflowError */
            set_error();
            return -1.0;
        }
        return O(o)->f;
    }
    return (double)O(o)->i;
}
static double f_float_as_double(PyObject *o) {
    if (O(o)->kind != K_FLOAT) {
        set_error();
        return -1.0;
    }
    return O(o)->f;
}
static long f_as_long(PyObject *o) {
    if (O(o)->kind != K_INT || O(o)->overflow) {
        set_error();
        return -1;
    }
    return (long)O(o)->i;
}
static PyObject *f_getattr(PyObject *o, const char *name) {
    struct fobj *c = O(o);
    if (c->kind != K_CODE || c->co_broken == 1) {
        set_error();
        return NULL;
    }
    if (!strcmp(name, "co_filename"))
        return new_ref(c->co_filename);
    if (!strcmp(name, "co_name"))
        return new_ref(c->co_name);
    if (!strcmp(name, "co_firstlineno") && c->co_broken != 2) {
        struct fobj *line = new_obj(&t_int, K_INT);
        line->i = c->co_firstlineno;
        return new_ref(line);
    }
    set_error();
    return NULL;
}
static void f_incref(PyObject *o) {
    O(o)->new_refs++;
    outstanding++;
}
static void f_decref(PyObject *o) {
    if (!o)
        fail("Py_DecRef(NULL)");
    if (O(o)->new_refs <= 0)
        fail("Py_DecRef of a reference the agent does not own");
    O(o)->new_refs--;
    outstanding--;
}
static PyObject *f_err_occurred(void) { return error_set ? P(&t_type) : NULL; }
static void f_err_clear(void) { error_set = 0; }
static PyObject *f_type_name(PyObject *t) {
    if (O(t)->kind != K_TYPE)
        fail("PyType_GetName on a non-type");
    return new_ref(make_str(&t_str, (const uint8_t *)O(t)->name, strlen(O(t)->name), 0));
}
static PyObject *f_substring(PyObject *o, Py_ssize_t start, Py_ssize_t end) {
    struct fobj *s = O(o);
    if (s->kind != K_STR || start != 0 || end < 0) {
        set_error();
        return NULL;
    }
    size_t want = (size_t)end < s->chars ? (size_t)end : s->chars;
    size_t bytes = 0;
    if (s->surrogate) {
        bytes = want;
    } else {
        for (size_t c = 0; c < want; c++) {
            bytes++;
            while (bytes < s->size && ((unsigned char)s->data[bytes] & 0xC0) == 0x80)
                bytes++;
        }
    }
    struct fobj *part = make_str(s->type, (const uint8_t *)s->data, bytes, s->surrogate);
    part->type = &t_str;
    return new_ref(part);
}
static Py_ssize_t f_length(PyObject *o) {
    if (O(o)->kind != K_STR) {
        set_error();
        return -1;
    }
    return (Py_ssize_t)O(o)->chars;
}
static PyObject *f_get_frame(void) { return P(top_frame); } /* borrowed */
static PyObject *f_frame_back(PyObject *f) {
    if (O(f)->kind != K_FRAME)
        fail("PyFrame_GetBack on a non-frame");
    return O(f)->f_back ? new_ref(O(f)->f_back) : NULL;
}
static PyObject *f_frame_code(PyObject *f) {
    if (O(f)->kind != K_FRAME)
        fail("PyFrame_GetCode on a non-frame");
    return new_ref(O(f)->f_code);
}
static PyObject *f_frame_globals(PyObject *f) {
    if (O(f)->kind != K_FRAME)
        fail("PyFrame_GetGlobals on a non-frame");
    return new_ref(O(f)->f_globals);
}
static int f_frame_line(PyObject *f) {
    if (O(f)->kind != K_FRAME)
        fail("PyFrame_GetLineNumber on a non-frame");
    return (int)O(f)->co_firstlineno;
}
static PyObject *f_dict_get(PyObject *d, const char *key) {
    if (O(d)->kind != K_DICT)
        fail("PyDict_GetItemString on a non-dict");
    return strcmp(key, "__name__") == 0 && O(d)->dict_name ? P(O(d)->dict_name) : NULL; /* borrowed */
}

void fake_python_init(void) {
    hs_layout.ob_type = hs_layout.tp_name = hs_layout.tp_flags = -1;
    hs_layout.tuple_size = hs_layout.tuple_items = -1;
    hs_py.PyType_GetFlags = f_type_flags;
    hs_py.PyObject_Type = f_object_type;
    hs_py.PyTuple_Size = f_tuple_size;
    hs_py.PyTuple_GetItem = f_tuple_item;
    hs_py.PyList_Size = f_list_size;
    hs_py.PyList_GetItem = f_list_item;
    hs_py.PyUnicode_AsUTF8AndSize = f_as_utf8;
    hs_py.PyUnicode_EncodeFSDefault = f_encode_fs;
    hs_py.PyBytes_AsString = f_bytes_string;
    hs_py.PyBytes_Size = f_bytes_size;
    hs_py.PyByteArray_AsString = f_bytearray_string;
    hs_py.PyByteArray_Size = f_bytearray_size;
    hs_py.PyLong_AsLongLongAndOverflow = f_as_long_long;
    hs_py.PyLong_AsDouble = f_long_as_double;
    hs_py.PyFloat_AsDouble = f_float_as_double;
    hs_py.PyLong_AsLong = f_as_long;
    hs_py.PyObject_GetAttrString = f_getattr;
    hs_py.Py_IncRef = f_incref;
    hs_py.Py_DecRef = f_decref;
    hs_py.PyErr_Occurred = f_err_occurred;
    hs_py.PyErr_Clear = f_err_clear;
    hs_py.PyType_GetName = f_type_name;
    hs_py.PyUnicode_Substring = f_substring;
    hs_py.PyUnicode_GetLength = f_length;
    /* No Python stack unless fake_build_stack made one: rules on the
     * raising module then do not match. */
    hs_py.PyEval_GetFrame = f_get_frame;
    hs_py.PyFrame_GetBack = f_frame_back;
    hs_py.PyFrame_GetCode = f_frame_code;
    hs_py.PyFrame_GetGlobals = f_frame_globals;
    hs_py.PyFrame_GetLineNumber = f_frame_line;
    hs_py.PyDict_GetItemString = f_dict_get;
    hs_py.none = P(&o_none);
    hs_py.true_obj = P(&o_true);
    hs_py.false_obj = P(&o_false);
    hs_py.float_type = P(&t_float);
    hs_py.unicode_type = P(&t_str);
    hs_py.long_type = P(&t_int);
    hs_py.tuple_type = P(&t_tuple);
    hs_py.list_type = P(&t_list);
    hs_py.bytes_type = P(&t_bytes);
    hs_py.bytearray_type = P(&t_bytearray);
    hs_py.dict_type = P(&t_dict);
    hs_py.code_type = P(&t_code);
}

long fake_live_new(void) { return outstanding; }
int fake_error_set(void) { return error_set; }

void fake_free_all(void) {
    while (all) {
        struct fobj *o = all;
        all = o->next;
        if (o->kind == K_TYPE)
            free(o->name);
        free(o->data);
        free(o->items);
        free(o);
    }
    outstanding = 0;
    error_set = 0;
    built = 0;
    top_frame = NULL;
}

/* ---- building objects from bytes ---------------------------------------- */

#define BUILD_MAX 4000
#define BUILD_DEPTH 6

static unsigned take(const uint8_t **p, const uint8_t *end) { return *p < end ? *(*p)++ : 0; }
static uint64_t take64(const uint8_t **p, const uint8_t *end) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)take(p, end) << (8 * i);
    return v;
}
static size_t take_span(const uint8_t **p, const uint8_t *end, size_t want) {
    size_t have = (size_t)(end - *p);
    return want < have ? want : have;
}

/* A str as code objects hold them (co_filename and co_name are always str
 * in CPython): a piece of the input repeated to a length of up to 5000
 * bytes, so long file names occur. */
static struct fobj *build_text(const uint8_t **p, const uint8_t *end) {
    size_t len = (take(p, end) | take(p, end) << 8) % 5000;
    size_t n = take_span(p, end, 16);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        abort();
    for (size_t i = 0; i < len; i++)
        buf[i] = n ? (*p)[i % n] : 'x';
    *p += n;
    /* A piece cut mid-character is invalid UTF-8: it stands for a file
     * name with undecodable bytes (lone surrogates). */
    struct fobj *o = make_str(&t_str, buf, len, 0);
    free(buf);
    return o;
}

PyObject *fake_build(const uint8_t **p, const uint8_t *end, int depth) {
    if (*p >= end || depth > BUILD_DEPTH || ++built > BUILD_MAX)
        return P(&o_none);
    unsigned k = take(p, end);
    switch (k % 16) {
    case 0:
        return P(&o_none);
    case 1:
        return P(&o_true);
    case 2:
        return P(&o_false);
    case 3:
    case 15: {
        struct fobj *o = new_obj(k & 0x80 ? &t_int_sub : &t_int, K_INT);
        o->i = (long long)take64(p, end);
        return P(o);
    }
    case 4: {
        struct fobj *o = new_obj(&t_int, K_INT);
        o->overflow = k & 0x10 ? -1 : 1;
        uint64_t bits = take64(p, end);
        memcpy(&o->f, &bits, 8);
        return P(o);
    }
    case 5: {
        struct fobj *o = new_obj(&t_float, K_FLOAT);
        uint64_t bits = take64(p, end);
        memcpy(&o->f, &bits, 8);
        return P(o);
    }
    case 6: { /* a short str; invalid UTF-8 stands for lone surrogates */
        size_t n = take_span(p, end, take(p, end));
        struct fobj *o = make_str(k & 0x80 ? &t_str_sub : &t_str, *p, n, (k & 0x70) == 0x70 ? 2 : 0);
        *p += n;
        return P(o);
    }
    case 7: { /* a long str: a piece repeated past HS_MAX_STR characters */
        size_t want = take(p, end) % 16 + 1;
        size_t times = (take(p, end) | take(p, end) << 8) % 6000 + 1;
        size_t n = take_span(p, end, want);
        uint8_t *buf = malloc(n * times + 1);
        if (!buf)
            abort();
        for (size_t t = 0; t < times; t++)
            memcpy(buf + t * n, *p, n);
        struct fobj *o = make_str(&t_str, buf, n * times, (k & 0x70) == 0x70 ? 2 : 0);
        free(buf);
        *p += n;
        return P(o);
    }
    case 8:
    case 9: {
        size_t want = (take(p, end) | take(p, end) << 8) % 1024;
        size_t n = take_span(p, end, want);
        int array = k % 16 == 9;
        struct fobj *o = new_obj(array ? &t_bytearray : k & 0x80 ? &t_bytes_sub : &t_bytes,
                                 array ? K_BYTEARRAY : K_BYTES);
        o->data = malloc(n + 1);
        if (!o->data)
            abort();
        memcpy(o->data, *p, n);
        o->data[n] = 0;
        o->size = n;
        *p += n;
        return P(o);
    }
    case 10:
    case 11: { /* tuple, list; some longer than HS_MAX_ITEMS */
        int tuple = k % 16 == 10;
        size_t n = take(p, end);
        n = n & 0x80 ? 60 + n % 40 : n % 8;
        struct fobj *o = new_obj(tuple ? (k & 0x80 ? &t_tuple_sub : &t_tuple) : (k & 0x80 ? &t_list_sub : &t_list),
                                 tuple ? K_TUPLE : K_LIST);
        o->items = calloc(n ? n : 1, sizeof *o->items);
        if (!o->items)
            abort();
        o->n = n;
        for (size_t i = 0; i < n; i++)
            o->items[i] = O(fake_build(p, end, depth + 1));
        return P(o);
    }
    case 12: {
        struct fobj *o = new_obj(&t_code, K_CODE);
        o->co_broken = (k >> 4) % 4 == 3 ? 1 + (k >> 6) % 2 : 0;
        o->co_firstlineno = (long)(int32_t)(take(p, end) | take(p, end) << 8);
        o->co_filename = build_text(p, end);
        o->co_name = build_text(p, end);
        return P(o);
    }
    case 13: { /* an object of an unknown type, named from the input */
        size_t n = take_span(p, end, take(p, end));
        struct fobj *t = new_obj(&t_type, K_TYPE);
        t->name = malloc(n + 1);
        if (!t->name)
            abort();
        memcpy(t->name, *p, n);
        t->name[n] = 0;
        *p += n;
        return P(new_obj(t, K_OTHER));
    }
    default: /* 14: a dict (recorded by type name) */
        return P(new_obj(&t_dict, K_OTHER));
    }
}

PyObject *fake_build_stack(const uint8_t **p, const uint8_t *end) {
    /* Frames from the outermost in: each a code object (or, rarely,
     * something else), a module dict and a line. */
    size_t n = take(p, end) % 40;
    struct fobj *back = NULL;
    for (size_t i = 0; i < n && *p < end; i++) {
        struct fobj *f = new_obj(&t_frame, K_FRAME);
        unsigned k = take(p, end);
        f->f_back = back;
        if (k & 1) {
            f->f_code = new_obj(&t_code, K_CODE);
            f->f_code->co_filename = build_text(p, end);
            f->f_code->co_name = build_text(p, end);
        } else {
            f->f_code = O(fake_build(p, end, 2));
        }
        f->f_globals = new_obj(&t_dict, K_DICT);
        f->f_globals->dict_name = k & 2 ? O(fake_build(p, end, 2)) : NULL;
        f->co_firstlineno = (long)(int32_t)(take(p, end) | take(p, end) << 8);
        back = f;
    }
    top_frame = back;
    return P(back);
}

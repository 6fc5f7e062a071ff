#include "encode.h"

#include "wire.h"

#include <string.h>

static inline size_t room(const struct hs_out *o) { return (size_t)(o->end - o->p); }

static void put_sized(struct hs_out *o, uint8_t tag, const char *data, size_t full, size_t limit, int utf8) {
    size_t n = full;
    if (n > limit)
        n = limit;
    size_t avail = room(o) - 9;
    if (n > avail) {
        n = avail;
        o->cut = 1;
    }
    /* Cut UTF-8 at a character boundary so the text stays valid. */
    if (utf8 && n < full)
        while (n > 0 && ((unsigned char)data[n] & 0xC0) == 0x80)
            n--;
    o->p[0] = tag;
    hs_put_u32(o->p + 1, (uint32_t)(full > UINT32_MAX ? UINT32_MAX : full));
    hs_put_u32(o->p + 5, (uint32_t)n);
    memcpy(o->p + 9, data, n);
    o->p += 9 + n;
}

static void put_other(struct hs_out *o, PyObject *obj, PyObject *type) {
    const char *name = hs_type_name(type);
    PyObject *name_obj = NULL;
    Py_ssize_t len = 0;
    if (!name && hs_py.PyType_GetName) {
        name_obj = hs_py.PyType_GetName(type);
        if (name_obj)
            name = hs_py.PyUnicode_AsUTF8AndSize(name_obj, &len);
        if (!name)
            hs_py.PyErr_Clear();
    }
    if (!name)
        name = "?";
    size_t n = strlen(name);
    if (n > 200)
        n = 200;
    if (n + 11 > room(o)) {
        n = room(o) - 11;
        o->cut = 1;
    }
    o->p[0] = HS_TAG_OTHER;
    hs_put_u64(o->p + 1, (uint64_t)(uintptr_t)obj);
    hs_put_u16(o->p + 9, (uint16_t)n);
    memcpy(o->p + 11, name, n);
    o->p += 11 + n;
    if (name_obj)
        hs_py.Py_DecRef(name_obj);
}

static void put_str(struct hs_out *o, PyObject *obj) {
    /* Only the first HS_MAX_STR characters are kept: encoding the whole of a
     * long non-ASCII string would make CPython build and cache a full UTF-8
     * copy inside the target's object. For such strings full_length is the
     * length in characters (docs/protocol.md). */
    Py_ssize_t chars = hs_py.PyUnicode_GetLength(obj);
    if (chars < 0) {
        hs_py.PyErr_Clear();
        chars = 0;
    }
    PyObject *part = NULL;
    if (chars > (Py_ssize_t)HS_MAX_STR) {
        part = hs_py.PyUnicode_Substring(obj, 0, HS_MAX_STR);
        if (!part)
            hs_py.PyErr_Clear();
    }
    PyObject *src = part ? part : obj;
    Py_ssize_t size = 0;
    const char *utf8 = hs_py.PyUnicode_AsUTF8AndSize(src, &size);
    if (utf8) {
        size_t full = part ? (size_t)chars : (size_t)size;
        put_sized(o, HS_TAG_STR, utf8, full, HS_MAX_STR, 1);
    } else {
        /* Lone surrogates (undecodable file names): the filesystem encoding
         * with surrogateescape gives back the original bytes. */
        hs_py.PyErr_Clear();
        PyObject *raw = hs_py.PyUnicode_EncodeFSDefault(src);
        if (raw) {
            size_t n = (size_t)hs_py.PyBytes_Size(raw);
            put_sized(o, HS_TAG_STR_FS, hs_py.PyBytes_AsString(raw), part ? (size_t)chars : n, HS_MAX_STR, 0);
            hs_py.Py_DecRef(raw);
        } else {
            /* Not encodable at all (a surrogate outside U+DC80-DCFF): still a
             * str on the wire, empty and marked as cut, so a reader that
             * expects text (file names) gets text. */
            hs_py.PyErr_Clear();
            put_sized(o, HS_TAG_STR, "", chars > 0 ? (size_t)chars : 0, 0, 1);
            o->cut = 1;
        }
    }
    if (part)
        hs_py.Py_DecRef(part);
}

static void put_f64(struct hs_out *o, uint8_t tag, double v) {
    o->p[0] = tag;
    memcpy(o->p + 1, &v, 8);
    o->p += 9;
}

static void put_int(struct hs_out *o, PyObject *obj) {
    int overflow = 0;
    long long v = hs_py.PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (overflow) {
        double d = hs_py.PyLong_AsDouble(obj);
        if (d == -1.0 && hs_py.PyErr_Occurred()) {
            hs_py.PyErr_Clear();
            d = overflow > 0 ? __builtin_inf() : -__builtin_inf();
        }
        put_f64(o, HS_TAG_BIGINT, d);
        return;
    }
    if (v == -1 && hs_py.PyErr_Occurred())
        hs_py.PyErr_Clear();
    o->p[0] = HS_TAG_INT;
    hs_put_u64(o->p + 1, (uint64_t)v);
    o->p += 9;
}

static void put_sequence(struct hs_out *o, PyObject *obj, uint8_t tag, int depth) {
    int is_tuple = tag == HS_TAG_TUPLE;
    Py_ssize_t full = is_tuple ? hs_tuple_size(obj) : hs_py.PyList_Size(obj);
    if (full < 0) {
        hs_py.PyErr_Clear();
        full = 0;
    }
    uint8_t *header = o->p;
    o->p += 9;
    uint32_t n = 0;
    for (Py_ssize_t i = 0; i < full && n < HS_MAX_ITEMS; i++) {
        if (room(o) < HS_VALUE_MIN) {
            o->cut = 1;
            break;
        }
        /* Borrowed references: the container holds them while the hook
         * runs, and nothing here runs Python code that could mutate it. */
        PyObject *item = is_tuple ? hs_tuple_item(obj, i) : hs_py.PyList_GetItem(obj, i);
        if (!item) {
            hs_py.PyErr_Clear();
            break;
        }
        hs_encode_value(o, item, depth + 1);
        n++;
    }
    header[0] = tag;
    hs_put_u32(header + 1, (uint32_t)full);
    hs_put_u32(header + 5, n);
}

static void put_code(struct hs_out *o, PyObject *obj, int depth) {
    if (room(o) < 5 + 2 * HS_VALUE_MIN) {
        o->cut = 1;
        put_other(o, obj, hs_type_of(obj));
        return;
    }
    /* Attribute reads on the built-in code type run no user code. */
    PyObject *filename = hs_py.PyObject_GetAttrString(obj, "co_filename");
    PyObject *name = filename ? hs_py.PyObject_GetAttrString(obj, "co_name") : NULL;
    PyObject *line = name ? hs_py.PyObject_GetAttrString(obj, "co_firstlineno") : NULL;
    if (!line) {
        hs_py.PyErr_Clear();
        if (filename)
            hs_py.Py_DecRef(filename);
        if (name)
            hs_py.Py_DecRef(name);
        put_other(o, obj, hs_type_of(obj));
        return;
    }
    long first = hs_py.PyLong_AsLong(line);
    if (first == -1 && hs_py.PyErr_Occurred())
        hs_py.PyErr_Clear();
    o->p[0] = HS_TAG_CODE;
    hs_put_u32(o->p + 1, (uint32_t)(int32_t)first);
    o->p += 5;
    /* Keep room for the name after the file name. */
    uint8_t *end = o->end;
    o->end = end - HS_VALUE_MIN;
    hs_encode_value(o, filename, depth + 1);
    o->end = end;
    hs_encode_value(o, name, depth + 1);
    hs_py.Py_DecRef(filename);
    hs_py.Py_DecRef(name);
    hs_py.Py_DecRef(line);
}

void hs_encode_value(struct hs_out *o, PyObject *obj, int depth) {
    if (obj == hs_py.none) {
        *o->p++ = HS_TAG_NONE;
        return;
    }
    if (obj == hs_py.true_obj) {
        *o->p++ = HS_TAG_TRUE;
        return;
    }
    if (obj == hs_py.false_obj) {
        *o->p++ = HS_TAG_FALSE;
        return;
    }
    PyObject *type = hs_type_of(obj);
    /* Exact built-in types first: no flag lookup for the common case. */
    if (type == hs_py.unicode_type) {
        put_str(o, obj);
        return;
    }
    if (type == hs_py.long_type) {
        put_int(o, obj);
        return;
    }
    if (type == hs_py.tuple_type && depth < HS_MAX_DEPTH) {
        put_sequence(o, obj, HS_TAG_TUPLE, depth);
        return;
    }
    unsigned long flags = hs_type_flags(type);
    if (flags & HS_TPFLAGS_UNICODE_SUBCLASS) {
        put_str(o, obj);
    } else if (flags & HS_TPFLAGS_LONG_SUBCLASS) {
        put_int(o, obj);
    } else if (type == hs_py.float_type) {
        put_f64(o, HS_TAG_FLOAT, hs_py.PyFloat_AsDouble(obj));
    } else if (flags & HS_TPFLAGS_BYTES_SUBCLASS) {
        put_sized(o, HS_TAG_BYTES, hs_py.PyBytes_AsString(obj), (size_t)hs_py.PyBytes_Size(obj), HS_MAX_BYTES, 0);
    } else if (type == hs_py.bytearray_type) {
        put_sized(o, HS_TAG_BYTEARRAY, hs_py.PyByteArray_AsString(obj), (size_t)hs_py.PyByteArray_Size(obj),
                  HS_MAX_BYTES, 0);
    } else if (depth < HS_MAX_DEPTH && (flags & HS_TPFLAGS_TUPLE_SUBCLASS)) {
        put_sequence(o, obj, HS_TAG_TUPLE, depth);
    } else if (depth < HS_MAX_DEPTH && (flags & HS_TPFLAGS_LIST_SUBCLASS)) {
        put_sequence(o, obj, HS_TAG_LIST, depth);
    } else if (type == hs_py.code_type && depth < HS_MAX_DEPTH) {
        put_code(o, obj, depth);
    } else {
        put_other(o, obj, type);
    }
}

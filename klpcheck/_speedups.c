/*
 * klpcheck._speedups: the search's innermost operations in C.
 *
 * Every function here has a pure-Python twin that gives the same answers (the tests
 * compare them on random values); klpcheck runs without this module, only slower.
 *
 *   set_at(items, index, value)   items[:index] + (value,) + items[index + 1:]
 *   record_replace(cls, names, fallback)
 *                                 a `replace` method storing the slots of a frozen
 *                                 slotted dataclass directly
 *   Hasher(state_type, fields, convert)
 *                                 the stable 64-bit fingerprint of a state
 *   FingerprintTable(capacity)    a visited map of 64-bit fingerprints to parents
 *   state_layout(cls, names).moved(p, s, spec)
 *                                 may s differ from p outside a step's declared writes?
 *   StateCodec(twin)              states as one small code per field (a frontier)
 *   Router(key, table, ...)       the successors of one expanded state in a search
 *                                 with workers: recorded here, or batched for
 *                                 their owners
 *
 * The fingerprint is defined in klpcheck/model/hash64.py, which computes the same
 * function in Python; the comments there are the specification.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------------------ */
/* set_at                                                                         */

static PyObject *
generic_set_at(PyObject *items, PyObject *index, PyObject *value)
{
    /* items[:index] + (value,) + items[index + 1:], step by step as Python does it. */
    PyObject *left = NULL, *mid = NULL, *right = NULL, *slice = NULL, *next = NULL;
    PyObject *sum = NULL, *result = NULL, *one = NULL;
    slice = PySlice_New(Py_None, index, Py_None);
    if (slice == NULL) goto done;
    left = PyObject_GetItem(items, slice);
    if (left == NULL) goto done;
    Py_CLEAR(slice);
    mid = PyTuple_Pack(1, value);
    if (mid == NULL) goto done;
    sum = PyNumber_Add(left, mid);
    if (sum == NULL) goto done;
    one = PyLong_FromLong(1);
    if (one == NULL) goto done;
    next = PyNumber_Add(index, one);
    if (next == NULL) goto done;
    slice = PySlice_New(next, Py_None, Py_None);
    if (slice == NULL) goto done;
    right = PyObject_GetItem(items, slice);
    if (right == NULL) goto done;
    result = PyNumber_Add(sum, right);
done:
    Py_XDECREF(left);
    Py_XDECREF(mid);
    Py_XDECREF(right);
    Py_XDECREF(slice);
    Py_XDECREF(next);
    Py_XDECREF(sum);
    Py_XDECREF(one);
    return result;
}

static PyObject *
set_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "set_at() takes 3 positional arguments but %zd were given", nargs);
        return NULL;
    }
    PyObject *items = args[0], *index = args[1], *value = args[2];
    if (PyTuple_CheckExact(items) && PyLong_CheckExact(index)) {
        Py_ssize_t n = PyTuple_GET_SIZE(items);
        Py_ssize_t i = PyLong_AsSsize_t(index);
        if (i == -1 && PyErr_Occurred()) {
            PyErr_Clear();
        }
        else if (0 <= i && i < n) {
            PyObject *out = PyTuple_New(n);
            if (out == NULL) return NULL;
            for (Py_ssize_t j = 0; j < n; j++) {
                PyObject *v = j == i ? value : PyTuple_GET_ITEM(items, j);
                Py_INCREF(v);
                PyTuple_SET_ITEM(out, j, v);
            }
            return out;
        }
    }
    return generic_set_at(items, index, value);
}

/* ------------------------------------------------------------------------------ */
/* record_replace: a method descriptor                                             */

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;
    PyObject *names;        /* tuple of str, the fields in slot order */
    Py_ssize_t *offsets;    /* each field's slot offset in an instance of cls */
    PyObject *fallback;     /* the Python replace: every case but the common one */
    vectorcallfunc vectorcall;
} Replace;

static PyObject *
replace_vectorcall(PyObject *self_, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Replace *self = (Replace *)self_;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nfields = PyTuple_GET_SIZE(self->names);
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    /* Only the common case here: the instance alone as positional argument, of the
       class exactly, every keyword a field name, every slot set. The Python method
       handles (and reports) everything else. */
    if (nargs != 1 || Py_TYPE(args[0]) != self->cls || nkw > nfields) {
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    }
    Py_ssize_t where[64];
    Py_ssize_t *pos = nkw <= 64 ? where : PyMem_Malloc(sizeof(Py_ssize_t) * nkw);
    if (pos == NULL) return PyErr_NoMemory();
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t found = -1;
        for (Py_ssize_t j = 0; j < nfields; j++) {
            if (PyTuple_GET_ITEM(self->names, j) == key) {
                found = j;
                break;
            }
        }
        if (found < 0) {
            for (Py_ssize_t j = 0; j < nfields; j++) {
                int eq = PyUnicode_Compare(PyTuple_GET_ITEM(self->names, j), key) == 0;
                if (eq) {
                    found = j;
                    break;
                }
            }
            if (PyErr_Occurred()) PyErr_Clear();
        }
        if (found < 0) {
            if (pos != where) PyMem_Free(pos);
            return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
        }
        pos[k] = found;
    }
    PyObject *old = args[0];
    for (Py_ssize_t j = 0; j < nfields; j++) {
        if (*(PyObject **)((char *)old + self->offsets[j]) == NULL) {
            if (pos != where) PyMem_Free(pos);
            return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
        }
    }
    PyObject *obj = self->cls->tp_alloc(self->cls, 0);
    if (obj == NULL) {
        if (pos != where) PyMem_Free(pos);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < nfields; j++) {
        PyObject *v = *(PyObject **)((char *)old + self->offsets[j]);
        Py_INCREF(v);
        *(PyObject **)((char *)obj + self->offsets[j]) = v;
    }
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject **slot = (PyObject **)((char *)obj + self->offsets[pos[k]]);
        PyObject *v = args[1 + k];
        Py_INCREF(v);
        Py_SETREF(*slot, v);
    }
    if (pos != where) PyMem_Free(pos);
    return obj;
}

static PyObject *
replace_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        Py_INCREF(self);
        return self;
    }
    return PyMethod_New(self, obj);
}

static int
replace_traverse(Replace *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cls);
    Py_VISIT(self->names);
    Py_VISIT(self->fallback);
    return 0;
}

static int
replace_clear(Replace *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->names);
    Py_CLEAR(self->fallback);
    return 0;
}

static void
replace_dealloc(Replace *self)
{
    PyObject_GC_UnTrack(self);
    replace_clear(self);
    PyMem_Free(self->offsets);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
replace_attr(Replace *self, void *name)
{
    return PyObject_GetAttrString(self->fallback, (const char *)name);
}

static PyGetSetDef replace_getset[] = {
    {"__doc__", (getter)replace_attr, NULL, NULL, "__doc__"},
    {"__name__", (getter)replace_attr, NULL, NULL, "__name__"},
    {"__qualname__", (getter)replace_attr, NULL, NULL, "__qualname__"},
    {"__module__", (getter)replace_attr, NULL, NULL, "__module__"},
    {NULL},
};

static PyMemberDef replace_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(Replace, fallback), READONLY,
     "the Python method, which gives the same results"},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(Replace, vectorcall), READONLY},
    {NULL},
};

static PyTypeObject ReplaceType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "klpcheck._speedups.Replace",
    .tp_basicsize = sizeof(Replace),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
                | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A Record's replace method, storing slots directly.",
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Replace, vectorcall),
    .tp_descr_get = replace_get,
    .tp_traverse = (traverseproc)replace_traverse,
    .tp_clear = (inquiry)replace_clear,
    .tp_dealloc = (destructor)replace_dealloc,
    .tp_getset = replace_getset,
    .tp_members = replace_members,
};

static PyObject *
record_replace(PyObject *module, PyObject *args)
{
    PyTypeObject *cls;
    PyObject *names, *fallback;
    if (!PyArg_ParseTuple(args, "O!O!O:record_replace", &PyType_Type, &cls, &PyTuple_Type,
                          &names, &fallback))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    Py_ssize_t *offsets = PyMem_Malloc(sizeof(Py_ssize_t) * (n ? n : 1));
    if (offsets == NULL) return PyErr_NoMemory();
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *name = PyTuple_GET_ITEM(names, j);
        if (!PyUnicode_CheckExact(name)) goto unsuitable;
        /* The slot's own descriptor, in the class's own namespace. */
        PyObject *descr = PyDict_GetItemWithError(cls->tp_dict, name);
        if (descr == NULL) {
            if (PyErr_Occurred()) {
                PyMem_Free(offsets);
                return NULL;
            }
            goto unsuitable;
        }
        if (!Py_IS_TYPE(descr, &PyMemberDescr_Type)) goto unsuitable;
        PyMemberDescrObject *member = (PyMemberDescrObject *)descr;
        if (member->d_common.d_type != cls || member->d_member->type != T_OBJECT_EX
            || (member->d_member->flags & READONLY))
            goto unsuitable;
        offsets[j] = member->d_member->offset;
    }
    Replace *self = PyObject_GC_New(Replace, &ReplaceType);
    if (self == NULL) {
        PyMem_Free(offsets);
        return NULL;
    }
    Py_INCREF(cls);
    self->cls = cls;
    Py_INCREF(names);
    self->names = names;
    self->offsets = offsets;
    Py_INCREF(fallback);
    self->fallback = fallback;
    self->vectorcall = replace_vectorcall;
    PyObject_GC_Track(self);
    return (PyObject *)self;
unsuitable:
    PyMem_Free(offsets);
    Py_INCREF(fallback);
    return fallback;
}

/* ------------------------------------------------------------------------------ */
/* The fingerprint (specified in klpcheck/model/hash64.py)                         */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define SEED 0x6B6C70636865636BULL

enum {
    TAG_NONE = 1, TAG_FALSE, TAG_TRUE, TAG_INT, TAG_BIGINT, TAG_FLOAT, TAG_STR, TAG_BYTES, TAG_TUPLE,
    TAG_FROZENSET, TAG_ELLIPSIS, TAG_CONVERTED, TAG_FIELDS,
};

static inline uint64_t
fmix64(uint64_t k)
{
    /* MurmurHash3's 64-bit finalizer (Austin Appleby, public domain): a bijection. */
    k ^= k >> 33;
    k *= 0xFF51AFD7ED558CCDULL;
    k ^= k >> 33;
    k *= 0xC4CEB9FE1A85EC53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t
absorb(uint64_t h, uint64_t w)
{
    /* xxHash64's round (Yann Collet): a bijection of h for a fixed w and of w for a
       fixed h; the walk ends with fmix64. */
    h += w * P2;
    h = (h << 31) | (h >> 33);
    return h * P1;
}

static uint64_t
absorb_bytes(uint64_t h, const unsigned char *data, Py_ssize_t n)
{
    h = absorb(h, (uint64_t)n);
    for (Py_ssize_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        Py_ssize_t m = n - i < 8 ? n - i : 8;
        for (Py_ssize_t b = 0; b < m; b++) w |= (uint64_t)data[i + b] << (8 * b);
        h = absorb(h, w);
    }
    return h;
}

typedef struct {
    PyObject *key;   /* a strong reference; NULL when the slot is free */
    uint64_t value;
} Remembered;

typedef struct {
    PyObject_HEAD
    PyObject *state_type;   /* states of this exact type hash by their fields */
    PyObject *fields;       /* state -> tuple of its compared fields */
    PyObject *convert;      /* value -> (plain tree, remember by identity?) */
    PyObject *classify;     /* type -> (kind, qualname, compared field names) */
    PyObject *kinds;        /* dict: type -> what classify answered */
    Remembered *memo;
    Py_ssize_t memo_mask, memo_size;
    vectorcallfunc vectorcall;
} Hasher;

static int hash_into(Hasher *self, PyObject *o, uint64_t *h, int depth);

static int
sub_hash(Hasher *self, PyObject *o, uint64_t *out, int depth)
{
    uint64_t h = SEED;
    if (hash_into(self, o, &h, depth) < 0) return -1;
    *out = fmix64(h);
    return 0;
}

static int
memo_grow(Hasher *self)
{
    Py_ssize_t slots = self->memo_mask ? 2 * (self->memo_mask + 1) : 64;
    Remembered *table = PyMem_Calloc(slots, sizeof(Remembered));
    if (table == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; self->memo && i <= self->memo_mask; i++) {
        if (self->memo[i].key == NULL) continue;
        size_t j = ((uintptr_t)self->memo[i].key >> 4) & (slots - 1);
        while (table[j].key != NULL) j = (j + 1) & (slots - 1);
        table[j] = self->memo[i];
    }
    PyMem_Free(self->memo);
    self->memo = table;
    self->memo_mask = slots - 1;
    return 0;
}

static const unsigned char WORD_TUPLE[] = "tuple", WORD_DATACLASS[] = "dataclass";

/* How classify() sorts the types the walk does not know (see hash64.classify). */
enum { KIND_TUPLE = 1, KIND_DATACLASS = 2, KIND_KEEP = 3, KIND_CALL = 4 };

static int
tagged(Hasher *self, const unsigned char *word, Py_ssize_t wlen, PyObject *qualname,
       PyObject *items, uint64_t *out, int depth)
{
    /* The hash of (..., word, qualname, *items) from the seed, without building it. */
    Py_ssize_t n = PyTuple_GET_SIZE(items), qlen;
    const char *q = PyUnicode_AsUTF8AndSize(qualname, &qlen);
    if (q == NULL) return -1;
    uint64_t h = absorb(absorb(absorb(SEED, TAG_TUPLE), (uint64_t)(n + 3)), TAG_ELLIPSIS);
    h = absorb_bytes(absorb(h, TAG_STR), word, wlen);
    h = absorb_bytes(absorb(h, TAG_STR), (const unsigned char *)q, qlen);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (hash_into(self, PyTuple_GET_ITEM(items, i), &h, depth + 1) < 0) return -1;
    }
    *out = fmix64(h);
    return 0;
}

static int
converted(Hasher *self, PyObject *o, uint64_t *h, int depth)
{
    if (self->memo != NULL) {
        size_t j = ((uintptr_t)o >> 4) & self->memo_mask;
        while (self->memo[j].key != NULL) {
            if (self->memo[j].key == o) {
                *h = absorb(absorb(*h, TAG_CONVERTED), self->memo[j].value);
                return 0;
            }
            j = (j + 1) & self->memo_mask;
        }
    }
    PyObject *type = (PyObject *)Py_TYPE(o);
    PyObject *spec = PyDict_GetItemWithError(self->kinds, type);
    if (spec == NULL) {
        if (PyErr_Occurred()) return -1;
        spec = PyObject_CallOneArg(self->classify, type);
        if (spec == NULL) return -1;
        int err = PyDict_SetItem(self->kinds, type, spec);
        Py_DECREF(spec);  /* the dict keeps it */
        if (err < 0) return -1;
    }
    if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != 3) {
        PyErr_SetString(PyExc_TypeError, "classify must return (kind, qualname, names)");
        return -1;
    }
    long kind = PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    if (kind == -1 && PyErr_Occurred()) return -1;
    uint64_t sub;
    if (kind == KIND_TUPLE && PyTuple_Check(o)) {
        if (tagged(self, WORD_TUPLE, 5, PyTuple_GET_ITEM(spec, 1), o, &sub, depth) < 0)
            return -1;
        *h = absorb(absorb(*h, TAG_CONVERTED), sub);
        return 0;
    }
    if (kind == KIND_DATACLASS) {
        PyObject *names = PyTuple_GET_ITEM(spec, 2);
        Py_ssize_t m = PyTuple_GET_SIZE(names);
        PyObject *values = PyTuple_New(m);
        if (values == NULL) return -1;
        for (Py_ssize_t i = 0; i < m; i++) {
            PyObject *v = PyObject_GetAttr(o, PyTuple_GET_ITEM(names, i));
            if (v == NULL) {
                Py_DECREF(values);
                return -1;
            }
            PyTuple_SET_ITEM(values, i, v);
        }
        int err = tagged(self, WORD_DATACLASS, 9, PyTuple_GET_ITEM(spec, 1), values, &sub,
                         depth);
        Py_DECREF(values);
        if (err < 0) return -1;
        *h = absorb(absorb(*h, TAG_CONVERTED), sub);
        return 0;
    }
    PyObject *pair = PyObject_CallOneArg(self->convert, o);
    if (pair == NULL) return -1;
    if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
        Py_DECREF(pair);
        PyErr_SetString(PyExc_TypeError, "a fingerprint converter must return (tree, keep)");
        return -1;
    }
    if (sub_hash(self, PyTuple_GET_ITEM(pair, 0), &sub, depth + 1) < 0) {
        Py_DECREF(pair);
        return -1;
    }
    int keep = PyObject_IsTrue(PyTuple_GET_ITEM(pair, 1));
    Py_DECREF(pair);
    if (keep < 0) return -1;
    if (keep) {
        if (self->memo == NULL || (self->memo_size + 1) * 4 > (self->memo_mask + 1) * 3) {
            if (memo_grow(self) < 0) return -1;
        }
        size_t j = ((uintptr_t)o >> 4) & self->memo_mask;
        while (self->memo[j].key != NULL) j = (j + 1) & self->memo_mask;
        Py_INCREF(o);
        self->memo[j].key = o;
        self->memo[j].value = sub;
        self->memo_size++;
    }
    *h = absorb(absorb(*h, TAG_CONVERTED), sub);
    return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
hash_into(Hasher *self, PyObject *o, uint64_t *hp, int depth)
{
    uint64_t h = *hp;
    PyTypeObject *t = Py_TYPE(o);
    if (depth > 500) {
        PyErr_SetString(PyExc_RecursionError, "a state nested more than 500 levels deep");
        return -1;
    }
    if (t == &PyLong_Type) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (!overflow) {
            h = absorb(absorb(h, TAG_INT), (uint64_t)v);
        }
        else {
            size_t bits = _PyLong_NumBits(o);
            if (bits == (size_t)-1 && PyErr_Occurred()) return -1;
            Py_ssize_t n = (Py_ssize_t)((bits + 8) / 8);
            unsigned char *buf = PyMem_Malloc(n);
            if (buf == NULL) {
                PyErr_NoMemory();
                return -1;
            }
#if PY_VERSION_HEX >= 0x030D0000
            if (_PyLong_AsByteArray((PyLongObject *)o, buf, n, 1, 1, 1) < 0) {
#else
            if (_PyLong_AsByteArray((PyLongObject *)o, buf, n, 1, 1) < 0) {
#endif
                PyMem_Free(buf);
                return -1;
            }
            h = absorb_bytes(absorb(h, TAG_BIGINT), buf, n);
            PyMem_Free(buf);
        }
    }
    else if (t == &PyTuple_Type) {
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        h = absorb(absorb(h, TAG_TUPLE), (uint64_t)n);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (hash_into(self, PyTuple_GET_ITEM(o, i), &h, depth + 1) < 0) return -1;
        }
    }
    else if (o == Py_None) {
        h = absorb(h, TAG_NONE);
    }
    else if (o == Py_False) {
        h = absorb(h, TAG_FALSE);
    }
    else if (o == Py_True) {
        h = absorb(h, TAG_TRUE);
    }
    else if (t == &PyUnicode_Type) {
        Py_ssize_t n;
        const char *data = PyUnicode_AsUTF8AndSize(o, &n);
        if (data != NULL) {
            h = absorb_bytes(absorb(h, TAG_STR), (const unsigned char *)data, n);
        }
        else {
            PyErr_Clear();  /* lone surrogates: as Python's "surrogatepass" encodes them */
            PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", "surrogatepass");
            if (b == NULL) return -1;
            h = absorb_bytes(absorb(h, TAG_STR), (const unsigned char *)PyBytes_AS_STRING(b),
                             PyBytes_GET_SIZE(b));
            Py_DECREF(b);
        }
    }
    else if (t == &PyFloat_Type) {
        double d = PyFloat_AS_DOUBLE(o);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        h = absorb(absorb(h, TAG_FLOAT), bits);
    }
    else if (t == &PyBytes_Type) {
        h = absorb_bytes(absorb(h, TAG_BYTES), (const unsigned char *)PyBytes_AS_STRING(o),
                         PyBytes_GET_SIZE(o));
    }
    else if (t == &PyFrozenSet_Type) {
        Py_ssize_t n = PySet_GET_SIZE(o);
        uint64_t *subs = PyMem_Malloc(sizeof(uint64_t) * (n ? n : 1));
        if (subs == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyObject *it = PyObject_GetIter(o), *item;
        Py_ssize_t i = 0;
        if (it == NULL) {
            PyMem_Free(subs);
            return -1;
        }
        while (i < n && (item = PyIter_Next(it)) != NULL) {
            int err = sub_hash(self, item, &subs[i++], depth + 1);
            Py_DECREF(item);
            if (err < 0) {
                Py_DECREF(it);
                PyMem_Free(subs);
                return -1;
            }
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) {
            PyMem_Free(subs);
            return -1;
        }
        qsort(subs, n, sizeof(uint64_t), cmp_u64);
        h = absorb(absorb(h, TAG_FROZENSET), (uint64_t)n);
        for (i = 0; i < n; i++) h = absorb(h, subs[i]);
        PyMem_Free(subs);
    }
    else if (o == Py_Ellipsis) {
        h = absorb(h, TAG_ELLIPSIS);
    }
    else {
        if (converted(self, o, &h, depth) < 0) return -1;
    }
    *hp = h;
    return 0;
}

static PyObject *
hasher_vectorcall(PyObject *self_, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Hasher *self = (Hasher *)self_;
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "a Hasher takes one state");
        return NULL;
    }
    if (self->kinds == NULL) {
        PyErr_SetString(PyExc_TypeError, "a Hasher must be initialised");
        return NULL;
    }
    PyObject *state = args[0];
    uint64_t h = SEED;
    if (self->fields != Py_None && (PyObject *)Py_TYPE(state) == self->state_type) {
        PyObject *values = PyObject_CallOneArg(self->fields, state);
        if (values == NULL) return NULL;
        h = absorb(h, TAG_FIELDS);
        int err = hash_into(self, values, &h, 0);
        Py_DECREF(values);
        if (err < 0) return NULL;
    }
    else if (hash_into(self, state, &h, 0) < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(fmix64(h));
}

static int
hasher_init(Hasher *self, PyObject *args, PyObject *kwds)
{
    PyObject *state_type, *fields, *convert, *classify;
    static char *kwlist[] = {"state_type", "fields", "convert", "classify", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO:Hasher", kwlist, &state_type, &fields,
                                     &convert, &classify))
        return -1;
    PyObject *kinds = PyDict_New();
    if (kinds == NULL) return -1;
    Py_XSETREF(self->kinds, kinds);
    Py_INCREF(classify);
    Py_XSETREF(self->classify, classify);
    Py_INCREF(state_type);
    Py_XSETREF(self->state_type, state_type);
    Py_INCREF(fields);
    Py_XSETREF(self->fields, fields);
    Py_INCREF(convert);
    Py_XSETREF(self->convert, convert);
    self->vectorcall = hasher_vectorcall;
    return 0;
}

static PyObject *
hasher_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Hasher *self = (Hasher *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->vectorcall = hasher_vectorcall;
    return (PyObject *)self;
}

static int
hasher_traverse(Hasher *self, visitproc visit, void *arg)
{
    Py_VISIT(self->state_type);
    Py_VISIT(self->fields);
    Py_VISIT(self->convert);
    Py_VISIT(self->classify);
    Py_VISIT(self->kinds);
    for (Py_ssize_t i = 0; self->memo && i <= self->memo_mask; i++) {
        Py_VISIT(self->memo[i].key);
    }
    return 0;
}

static int
hasher_clear(Hasher *self)
{
    Py_CLEAR(self->state_type);
    Py_CLEAR(self->fields);
    Py_CLEAR(self->convert);
    Py_CLEAR(self->classify);
    Py_CLEAR(self->kinds);
    for (Py_ssize_t i = 0; self->memo && i <= self->memo_mask; i++) {
        Py_CLEAR(self->memo[i].key);
    }
    PyMem_Free(self->memo);
    self->memo = NULL;
    self->memo_mask = 0;
    self->memo_size = 0;
    return 0;
}

static void
hasher_dealloc(Hasher *self)
{
    PyObject_GC_UnTrack(self);
    hasher_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef hasher_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(Hasher, vectorcall), READONLY},
    {NULL},
};

static PyTypeObject HasherType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "klpcheck._speedups.Hasher",
    .tp_basicsize = sizeof(Hasher),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Hasher(state_type, fields, convert, classify): the 64-bit fingerprint of a state.",
    .tp_new = hasher_new,
    .tp_init = (initproc)hasher_init,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Hasher, vectorcall),
    .tp_traverse = (traverseproc)hasher_traverse,
    .tp_clear = (inquiry)hasher_clear,
    .tp_dealloc = (destructor)hasher_dealloc,
    .tp_members = hasher_members,
};

/* ------------------------------------------------------------------------------ */
/* FingerprintTable                                                                */

typedef struct {
    PyObject_HEAD
    uint64_t *keys;     /* 0: free slot */
    uint64_t *parents;  /* 0: no parent (an initial state) */
    uint32_t *steps;    /* the instance that led from the parent; NULL when not kept */
    int with_steps;
    Py_ssize_t mask, size, limit;
} Table;

static inline int
read_fp(PyObject *o, uint64_t *out)
{
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "a fingerprint is an int, not %.100s", Py_TYPE(o)->tp_name);
        return -1;
    }
    uint64_t v = PyLong_AsUnsignedLongLong(o);
    if (v == (uint64_t)-1 && PyErr_Occurred()) return -1;
    *out = v ? v : 1;  /* 0 marks a free slot; storing it as 1 merges two with odds 2^-64 */
    return 0;
}

static int
table_alloc(Table *self, Py_ssize_t slots)
{
    self->keys = PyMem_Calloc(slots, sizeof(uint64_t));
    self->parents = PyMem_Calloc(slots, sizeof(uint64_t));
    self->steps = self->with_steps ? PyMem_Calloc(slots, sizeof(uint32_t)) : NULL;
    if (self->keys == NULL || self->parents == NULL || (self->with_steps && !self->steps)) {
        PyMem_Free(self->keys);
        PyMem_Free(self->parents);
        PyMem_Free(self->steps);
        self->keys = self->parents = NULL;
        self->steps = NULL;
        PyErr_NoMemory();
        return -1;
    }
    self->mask = slots - 1;
    self->limit = slots / 4 * 3;
    return 0;
}

static inline Py_ssize_t
table_slot(Table *self, uint64_t fp)
{
    Py_ssize_t i = (Py_ssize_t)(fp & (uint64_t)self->mask);
    while (self->keys[i] != fp && self->keys[i] != 0) i = (i + 1) & self->mask;
    return i;
}

static int
table_grow(Table *self)
{
    uint64_t *keys = self->keys, *parents = self->parents;
    uint32_t *steps = self->steps;
    Py_ssize_t old = self->mask + 1;
    if (table_alloc(self, 2 * old) < 0) {
        self->keys = keys;
        self->parents = parents;
        self->steps = steps;
        return -1;
    }
    for (Py_ssize_t i = 0; i < old; i++) {
        if (keys[i] == 0) continue;
        Py_ssize_t j = table_slot(self, keys[i]);
        self->keys[j] = keys[i];
        self->parents[j] = parents[i];
        if (steps) self->steps[j] = steps[i];
    }
    PyMem_Free(keys);
    PyMem_Free(parents);
    PyMem_Free(steps);
    return 0;
}

static int
table_init(Table *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t capacity = 1 << 12;
    int with_steps = 0;
    static char *kwlist[] = {"capacity", "steps", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|np:FingerprintTable", kwlist, &capacity,
                                     &with_steps))
        return -1;
    Py_ssize_t slots = 16;
    while (slots / 4 * 3 < capacity) slots *= 2;
    PyMem_Free(self->keys);
    PyMem_Free(self->parents);
    PyMem_Free(self->steps);
    self->keys = self->parents = NULL;
    self->steps = NULL;
    self->with_steps = with_steps;
    self->size = 0;
    return table_alloc(self, slots);
}

static void
table_dealloc(Table *self)
{
    PyMem_Free(self->keys);
    PyMem_Free(self->parents);
    PyMem_Free(self->steps);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
table_contains(Table *self, PyObject *key)
{
    uint64_t fp;
    if (read_fp(key, &fp) < 0) return -1;
    return self->keys[table_slot(self, fp)] == fp;
}

static int
table_put(Table *self, uint64_t fp, uint64_t p, uint32_t step, int only_new)
{
    Py_ssize_t i = table_slot(self, fp);
    if (self->keys[i] == fp) {
        if (only_new) return 0;
    }
    else {
        self->keys[i] = fp;
        self->size++;
    }
    self->parents[i] = p;
    if (self->steps) self->steps[i] = step;
    if (self->size > self->limit && table_grow(self) < 0) return -1;
    return 1;
}

static int
table_store(Table *self, uint64_t fp, PyObject *parent, int only_new)
{
    uint64_t p = 0;
    if (parent != Py_None && read_fp(parent, &p) < 0) return -1;
    return table_put(self, fp, p, 0, only_new);
}

static int
table_ass_subscript(Table *self, PyObject *key, PyObject *value)
{
    uint64_t fp;
    if (value == NULL) {
        PyErr_SetString(PyExc_TypeError, "fingerprints cannot be deleted");
        return -1;
    }
    if (read_fp(key, &fp) < 0) return -1;
    return table_store(self, fp, value, 0) < 0 ? -1 : 0;
}

static PyObject *
table_subscript(Table *self, PyObject *key)
{
    uint64_t fp;
    if (read_fp(key, &fp) < 0) return NULL;
    Py_ssize_t i = table_slot(self, fp);
    if (self->keys[i] != fp) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    if (self->parents[i] == 0) Py_RETURN_NONE;
    return PyLong_FromUnsignedLongLong(self->parents[i]);
}

static Py_ssize_t
table_length(Table *self)
{
    return self->size;
}

static PyObject *
table_add(Table *self, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t fp, p = 0;
    unsigned long step = 0;
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "add() takes a fingerprint, its parent and a step");
        return NULL;
    }
    if (read_fp(args[0], &fp) < 0) return NULL;
    if (args[1] != Py_None && read_fp(args[1], &p) < 0) return NULL;
    if (nargs == 3) {
        step = PyLong_AsUnsignedLong(args[2]);
        if (step == (unsigned long)-1 && PyErr_Occurred()) return NULL;
        if (step > UINT32_MAX) {
            PyErr_SetString(PyExc_OverflowError, "a step index fits in 32 bits");
            return NULL;
        }
    }
    int added = table_put(self, fp, p, (uint32_t)step, 1);
    if (added < 0) return NULL;
    return PyBool_FromLong(added);
}

static PyObject *
table_step_of(Table *self, PyObject *key)
{
    uint64_t fp;
    if (read_fp(key, &fp) < 0) return NULL;
    Py_ssize_t i = table_slot(self, fp);
    if (self->keys[i] != fp) {
        PyErr_SetObject(PyExc_KeyError, key);
        return NULL;
    }
    return PyLong_FromUnsignedLong(self->steps ? self->steps[i] : 0);
}

static PyObject *
table_add_triples(Table *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* add_triples(blob, limit): blob holds (fp, parent, step) as native uint64s. */
    Py_buffer view;
    Py_ssize_t limit;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add_triples() takes a buffer and a limit");
        return NULL;
    }
    limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len % 24) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "a batch holds whole (fp, parent, step) triples");
        return NULL;
    }
    Py_ssize_t n = view.len / 24, added = 0, refused = 0;
    PyObject *marks = PyBytes_FromStringAndSize(NULL, n);
    if (marks == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *out = PyBytes_AS_STRING(marks);
    const unsigned char *data = view.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t t[3];
        memcpy(t, data + 24 * i, 24);
        uint64_t fp = t[0] ? t[0] : 1;
        out[i] = 0;
        if (self->keys[table_slot(self, fp)] == fp) continue;
        if (added >= limit) {
            refused++;
            continue;
        }
        if (table_put(self, fp, t[1] ? t[1] : 1, (uint32_t)t[2], 1) < 0) {
            Py_DECREF(marks);
            PyBuffer_Release(&view);
            return NULL;
        }
        out[i] = 1;
        added++;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nnn)", marks, added, refused);
}

static PyObject *
table_sizeof(Table *self, PyObject *unused)
{
    size_t slot = 2 * sizeof(uint64_t) + (self->steps ? sizeof(uint32_t) : 0);
    return PyLong_FromSsize_t(sizeof(Table) + slot * (self->mask + 1));
}

static PyMethodDef table_methods[] = {
    {"add", (PyCFunction)(void (*)(void))table_add, METH_FASTCALL,
     "add(fp, parent): store fp with its parent unless present; True when it was new."},
    {"step_of", (PyCFunction)table_step_of, METH_O, "step_of(fp): the step stored with fp."},
    {"add_triples", (PyCFunction)(void (*)(void))table_add_triples, METH_FASTCALL,
     "add_triples(blob, limit): add unseen (fp, parent, step) triples, at most limit; "
     "returns (one byte per triple, 1 when added; added; unseen ones refused)."},
    {"__sizeof__", (PyCFunction)table_sizeof, METH_NOARGS, NULL},
    {NULL},
};

static PySequenceMethods table_as_sequence = {
    .sq_contains = (objobjproc)table_contains,
};

static PyMappingMethods table_as_mapping = {
    .mp_length = (lenfunc)table_length,
    .mp_subscript = (binaryfunc)table_subscript,
    .mp_ass_subscript = (objobjargproc)table_ass_subscript,
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "klpcheck._speedups.FingerprintTable",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "FingerprintTable(capacity=4096, steps=False): fingerprints, their parents (and steps).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)table_init,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_as_sequence = &table_as_sequence,
    .tp_as_mapping = &table_as_mapping,
    .tp_methods = table_methods,
};


/* ------------------------------------------------------------------------------ */
/* Layout: a state type's fields read directly, for the check of declared writes   */
/* (twin: klpcheck/model/enabled.py, `_write_check` and `elements_moved`)          */

enum { BY_SLOT, BY_ITEM, BY_ATTR };

typedef struct {
    PyObject_HEAD
    PyTypeObject *cls;
    PyObject *names;        /* tuple of str, the fields in order */
    Py_ssize_t *offsets;    /* BY_SLOT: each field's slot offset */
    int how;
} Layout;

/* A new reference to field j of o, an instance of exactly self->cls. */
static PyObject *
layout_field(Layout *self, PyObject *o, Py_ssize_t j)
{
    PyObject *v;
    switch (self->how) {
    case BY_SLOT:
        v = *(PyObject **)((char *)o + self->offsets[j]);
        if (v == NULL) {
            PyErr_SetObject(PyExc_AttributeError, PyTuple_GET_ITEM(self->names, j));
            return NULL;
        }
        Py_INCREF(v);
        return v;
    case BY_ITEM:
        v = PyTuple_GET_ITEM(o, j);
        Py_INCREF(v);
        return v;
    default:
        return PyObject_GetAttr(o, PyTuple_GET_ITEM(self->names, j));
    }
}

/* 1 when a and b may differ outside the allowed elements, 0 when not, -1 on error. */
static int
elements_moved(PyObject *a, PyObject *b, PyObject *allowed)
{
    if (a == b) return 0;
    if (!PyTuple_CheckExact(a) || !PyTuple_CheckExact(b)
        || PyTuple_GET_SIZE(a) != PyTuple_GET_SIZE(b))
        return PyObject_RichCompareBool(a, b, Py_NE);
    Py_ssize_t n = PyTuple_GET_SIZE(a);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyTuple_GET_ITEM(a, i), *y = PyTuple_GET_ITEM(b, i);
        if (x == y) continue;
        PyObject *index = PyLong_FromSsize_t(i);
        if (index == NULL) return -1;
        int ok = PySet_Contains(allowed, index);
        Py_DECREF(index);
        if (ok < 0) return -1;
        if (ok) continue;
        int ne = PyObject_RichCompareBool(x, y, Py_NE);
        if (ne) return ne;
    }
    return 0;
}

/* moved(p, s, spec): may s differ from p outside what spec allows? spec has one item
   per field: True (declared whole: anything may change), False (nothing may), or a
   frozenset of the element indices that may change. True is also the answer when p or
   s is not an instance of exactly the layout's class. */
static PyObject *
layout_moved(Layout *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "moved(p, s, spec) takes 3 arguments");
        return NULL;
    }
    PyObject *p = args[0], *s = args[1], *spec = args[2];
    Py_ssize_t n = PyTuple_GET_SIZE(self->names);
    if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != n) {
        PyErr_SetString(PyExc_TypeError, "spec must be a tuple with one item per field");
        return NULL;
    }
    if (Py_TYPE(p) != self->cls || Py_TYPE(s) != self->cls) Py_RETURN_TRUE;
    if (self->how == BY_ITEM && (PyTuple_GET_SIZE(p) != n || PyTuple_GET_SIZE(s) != n))
        Py_RETURN_TRUE;
    for (Py_ssize_t j = 0; j < n; j++) {
        PyObject *rule = PyTuple_GET_ITEM(spec, j);
        if (rule == Py_True) continue;
        PyObject *a = layout_field(self, p, j);
        if (a == NULL) return NULL;
        PyObject *b = layout_field(self, s, j);
        if (b == NULL) {
            Py_DECREF(a);
            return NULL;
        }
        int moved = 0;
        if (a != b) {
            if (rule == Py_False) moved = PyObject_RichCompareBool(a, b, Py_NE);
            else if (PyFrozenSet_CheckExact(rule)) moved = elements_moved(a, b, rule);
            else {
                PyErr_SetString(PyExc_TypeError, "a spec item is True, False or a frozenset");
                moved = -1;
            }
        }
        Py_DECREF(a);
        Py_DECREF(b);
        if (moved < 0) return NULL;
        if (moved) Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static int
layout_traverse(Layout *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cls);
    Py_VISIT(self->names);
    return 0;
}

static int
layout_clear(Layout *self)
{
    Py_CLEAR(self->cls);
    Py_CLEAR(self->names);
    return 0;
}

static void
layout_dealloc(Layout *self)
{
    PyObject_GC_UnTrack(self);
    layout_clear(self);
    PyMem_Free(self->offsets);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef layout_methods[] = {
    {"moved", (PyCFunction)(void (*)(void))layout_moved, METH_FASTCALL,
     "moved(p, s, spec): True when s may differ from p outside what spec allows."},
    {NULL},
};

static PyTypeObject LayoutType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "klpcheck._speedups.Layout",
    .tp_basicsize = sizeof(Layout),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A state type's fields, read directly (see state_layout).",
    .tp_traverse = (traverseproc)layout_traverse,
    .tp_clear = (inquiry)layout_clear,
    .tp_dealloc = (destructor)layout_dealloc,
    .tp_methods = layout_methods,
};

/* state_layout(cls, names): how to read the fields of an instance of exactly cls: its
   own slots (a slotted dataclass or Record), its items (a NamedTuple whose _fields are
   names), or getattr. */
static PyObject *
state_layout(PyObject *module, PyObject *args)
{
    PyTypeObject *cls;
    PyObject *names;
    if (!PyArg_ParseTuple(args, "O!O!:state_layout", &PyType_Type, &cls, &PyTuple_Type,
                          &names))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    for (Py_ssize_t j = 0; j < n; j++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(names, j))) {
            PyErr_SetString(PyExc_TypeError, "field names must be str");
            return NULL;
        }
    }
    Py_ssize_t *offsets = PyMem_Malloc(sizeof(Py_ssize_t) * (n ? n : 1));
    if (offsets == NULL) return PyErr_NoMemory();
    int how = BY_SLOT;
    for (Py_ssize_t j = 0; j < n && how == BY_SLOT; j++) {
        PyObject *descr = PyDict_GetItemWithError(cls->tp_dict, PyTuple_GET_ITEM(names, j));
        if (descr == NULL && PyErr_Occurred()) {
            PyMem_Free(offsets);
            return NULL;
        }
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            how = BY_ATTR;
            break;
        }
        PyMemberDescrObject *member = (PyMemberDescrObject *)descr;
        if (member->d_common.d_type != cls || member->d_member->type != T_OBJECT_EX) {
            how = BY_ATTR;
            break;
        }
        offsets[j] = member->d_member->offset;
    }
    if (how == BY_ATTR && PyType_IsSubtype(cls, &PyTuple_Type)) {
        PyObject *fields = PyObject_GetAttrString((PyObject *)cls, "_fields");
        if (fields == NULL) PyErr_Clear();
        else {
            int same = PyObject_RichCompareBool(fields, names, Py_EQ);
            Py_DECREF(fields);
            if (same < 0) {
                PyMem_Free(offsets);
                return NULL;
            }
            /* a NamedTuple whose fields are exactly its items, in order */
            if (same && cls->tp_getattro == PyTuple_Type.tp_getattro) how = BY_ITEM;
        }
    }
    Layout *self = PyObject_GC_New(Layout, &LayoutType);
    if (self == NULL) {
        PyMem_Free(offsets);
        return NULL;
    }
    Py_INCREF(cls);
    self->cls = cls;
    Py_INCREF(names);
    self->names = names;
    self->offsets = offsets;
    self->how = how;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

/* ------------------------------------------------------------------------------ */
/* StateCodec (twin: klpcheck/model/statecodec.py)                                 */

/* The layouts, as numbered in statecodec.py. */
enum { LAYOUT_TUPLE = 0, LAYOUT_NAMED = 1, LAYOUT_SLOTS = 2 };

/* Per field: the interned values' addresses and their codes, open addressing. The
   values are kept alive by the twin's lists, so an address is never reused. */
typedef struct {
    PyObject **keys;
    uint32_t *codes;
    Py_ssize_t mask, used;
} IdTable;

typedef struct {
    PyObject_HEAD
    PyObject *twin;         /* the Python StateCodec: its tables and its slow path */
    PyTypeObject *kind;
    PyObject *values;       /* twin._values: per field, the list code -> value */
    PyObject *by_value;     /* twin._by_value: per field, the dict value -> first code */
    PyObject *intern;       /* twin._intern(i, value) -> code */
    PyObject *widen;        /* twin._widen(n) */
    int layout;
    Py_ssize_t nfields;     /* fields with tables (grows for tuples) */
    Py_ssize_t *offsets;    /* slot offsets (SLOTS) */
    IdTable *ids;
} Codec;

static inline Py_ssize_t
id_slot(PyObject *key, Py_ssize_t mask)
{
    uint64_t h = (uint64_t)(uintptr_t)key >> 4;
    h *= 0x9E3779B97F4A7C15ULL;
    return (Py_ssize_t)(h >> 20) & mask;
}

static Py_ssize_t
id_get(IdTable *t, PyObject *key)
{
    if (t->keys == NULL) return -1;
    Py_ssize_t i = id_slot(key, t->mask);
    while (t->keys[i] != NULL) {
        if (t->keys[i] == key) return t->codes[i];
        i = (i + 1) & t->mask;
    }
    return -1;
}

static int
id_put(IdTable *t, PyObject *key, Py_ssize_t code)
{
    if (t->keys == NULL || 2 * (t->used + 1) > t->mask + 1) {
        Py_ssize_t size = t->keys == NULL ? 64 : 2 * (t->mask + 1);
        PyObject **keys = PyMem_Calloc(size, sizeof(PyObject *));
        uint32_t *codes = PyMem_Calloc(size, sizeof(uint32_t));
        if (keys == NULL || codes == NULL) {
            PyMem_Free(keys);
            PyMem_Free(codes);
            PyErr_NoMemory();
            return -1;
        }
        if (t->keys != NULL) {
            for (Py_ssize_t j = 0; j <= t->mask; j++) {
                if (t->keys[j] == NULL) continue;
                Py_ssize_t i = id_slot(t->keys[j], size - 1);
                while (keys[i] != NULL) i = (i + 1) & (size - 1);
                keys[i] = t->keys[j];
                codes[i] = t->codes[j];
            }
            PyMem_Free(t->keys);
            PyMem_Free(t->codes);
        }
        t->keys = keys;
        t->codes = codes;
        t->mask = size - 1;
    }
    Py_ssize_t i = id_slot(key, t->mask);
    while (t->keys[i] != NULL) i = (i + 1) & t->mask;
    t->keys[i] = key;
    t->codes[i] = (uint32_t)code;
    t->used++;
    return 0;
}

/* statecodec.same(a, b) for a and b known to be equal, in the common cases: 1 when
   they are the same, 0 when not, -1 when only the Python function can tell. */
static int
same_fast(PyObject *a, PyObject *b, int depth)
{
    if (a == b) return 1;
    PyTypeObject *t = Py_TYPE(a);
    if (t != Py_TYPE(b)) return 0;
    if (t == &PyLong_Type || t == &PyUnicode_Type || t == &PyBytes_Type
        || t == &PyBool_Type)
        return 1;
    if (t == &PyFloat_Type) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        return memcmp(&x, &y, sizeof(double)) == 0;
    }
    if (t == &PyTuple_Type && depth < 50) {
        Py_ssize_t n = PyTuple_GET_SIZE(a);
        if (n != PyTuple_GET_SIZE(b)) return 0;
        int answer = 1;
        for (Py_ssize_t i = 0; i < n; i++) {
            int r = same_fast(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i), depth + 1);
            if (r == 0) return 0;
            if (r < 0) answer = -1;
        }
        return answer;
    }
    return -1;
}

/* Tables for at least n fields (the twin's too). */
static int
codec_widen(Codec *self, Py_ssize_t n)
{
    if (n <= self->nfields) return 0;
    PyObject *r = PyObject_CallFunction(self->widen, "n", n);
    if (r == NULL) return -1;
    Py_DECREF(r);
    IdTable *ids = PyMem_Realloc(self->ids, sizeof(IdTable) * n);
    if (ids == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(ids + self->nfields, 0, sizeof(IdTable) * (n - self->nfields));
    self->ids = ids;
    self->nfields = n;
    return 0;
}

static PyObject *
codec_encode(Codec *self, PyObject *state)
{
    if (Py_TYPE(state) != self->kind) Py_RETURN_NONE;
    Py_ssize_t n;
    if (self->layout == LAYOUT_SLOTS) {
        n = self->nfields;
        for (Py_ssize_t i = 0; i < n; i++)
            if (*(PyObject **)((char *)state + self->offsets[i]) == NULL) Py_RETURN_NONE;
    }
    else {
        n = PyTuple_GET_SIZE(state);
        if (codec_widen(self, n) < 0) return NULL;
    }
    /* Not kept in the codec: the twin's Python code may run in between. */
    Py_ssize_t local[64], top = 0;
    Py_ssize_t *codes = n <= 64 ? local : PyMem_Malloc(sizeof(Py_ssize_t) * n);
    if (codes == NULL) return PyErr_NoMemory();
    PyObject *out = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = self->layout == LAYOUT_SLOTS
                          ? *(PyObject **)((char *)state + self->offsets[i])
                          : PyTuple_GET_ITEM(state, i);
        Py_ssize_t code = id_get(&self->ids[i], v);
        if (code < 0) {
            /* An equal value met before, and the same: its code (this object is not
               remembered, it may die). Anything else is the twin's to decide. */
            PyObject *first = PyDict_GetItemWithError(PyList_GET_ITEM(self->by_value, i), v);
            if (first == NULL && PyErr_Occurred()) goto done;
            if (first != NULL && PyLong_CheckExact(first)) {
                Py_ssize_t c = PyLong_AsSsize_t(first);
                PyObject *table = PyList_GET_ITEM(self->values, i);
                if (c >= 0 && c < PyList_GET_SIZE(table)
                    && same_fast(PyList_GET_ITEM(table, c), v, 0) == 1)
                    code = c;
            }
        }
        if (code < 0) {
            PyObject *r = PyObject_CallFunction(self->intern, "nO", i, v);
            if (r == NULL) goto done;
            code = PyLong_AsSsize_t(r);
            Py_DECREF(r);
            if (code < 0) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_ValueError, "StateCodec: a negative code");
                goto done;
            }
            PyObject *table = PyList_GET_ITEM(self->values, i);
            if (code >= PyList_GET_SIZE(table)) {
                PyErr_SetString(PyExc_ValueError, "StateCodec: a code with no value");
                goto done;
            }
            if (code > UINT32_MAX) {
                PyErr_SetString(PyExc_OverflowError, "StateCodec: more than 2**32 values");
                goto done;
            }
            /* Remembered by address only when the interned value is this object. */
            if (PyList_GET_ITEM(table, code) == v && id_put(&self->ids[i], v, code) < 0)
                goto done;
        }
        codes[i] = code;
        if (code > top) top = code;
    }
    int width = top < 256 ? 1 : top < 65536 ? 2 : 4;
    out = PyBytes_FromStringAndSize(NULL, n * width + 1);
    if (out == NULL) goto done;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (width == 1) {
            p[i] = (unsigned char)codes[i];
        }
        else if (width == 2) {
            uint16_t c = (uint16_t)codes[i];
            memcpy(p + 2 * i, &c, 2);
        }
        else {
            uint32_t c = (uint32_t)codes[i];
            memcpy(p + 4 * i, &c, 4);
        }
    }
    p[n * width] = (unsigned char)width;
done:
    if (codes != local) PyMem_Free(codes);
    return out;
}

static PyObject *
codec_decode(Codec *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "decode(data, start=0, end=None)");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t start = 0, end = view.len;
    if (nargs >= 2) start = PyLong_AsSsize_t(args[1]);
    if (nargs == 3 && args[2] != Py_None) end = PyLong_AsSsize_t(args[2]);
    PyObject *result = NULL;
    if (PyErr_Occurred()) goto done;
    if (start < 0 || end > view.len || end <= start) {
        PyErr_SetString(PyExc_ValueError, "StateCodec.decode: no state there");
        goto done;
    }
    const unsigned char *p = (const unsigned char *)view.buf + start;
    Py_ssize_t len = end - start - 1;
    int width = p[len];
    if ((width != 1 && width != 2 && width != 4) || len % width) {
        PyErr_SetString(PyExc_ValueError, "StateCodec.decode: not an encoded state");
        goto done;
    }
    Py_ssize_t n = len / width;
    if (n > self->nfields || (self->layout == LAYOUT_SLOTS && n != self->nfields)) {
        PyErr_SetString(PyExc_ValueError, "StateCodec.decode: not an encoded state");
        goto done;
    }
    PyObject *obj;
    if (self->layout == LAYOUT_SLOTS)
        obj = self->kind->tp_alloc(self->kind, 0);
    else if (self->layout == LAYOUT_NAMED)
        obj = self->kind->tp_alloc(self->kind, n);
    else
        obj = PyTuple_New(n);
    if (obj == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t code;
        if (width == 1) {
            code = p[i];
        }
        else if (width == 2) {
            uint16_t c;
            memcpy(&c, p + 2 * i, 2);
            code = c;
        }
        else {
            uint32_t c;
            memcpy(&c, p + 4 * i, 4);
            code = c;
        }
        PyObject *table = PyList_GET_ITEM(self->values, i);
        if (code >= PyList_GET_SIZE(table)) {
            Py_DECREF(obj);
            PyErr_SetString(PyExc_ValueError, "StateCodec.decode: an unknown code");
            goto done;
        }
        PyObject *v = PyList_GET_ITEM(table, code);
        Py_INCREF(v);
        if (self->layout == LAYOUT_SLOTS)
            *(PyObject **)((char *)obj + self->offsets[i]) = v;
        else
            PyTuple_SET_ITEM(obj, i, v);
    }
    result = obj;
done:
    PyBuffer_Release(&view);
    return result;
}

static int
codec_init(Codec *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"twin", NULL};
    PyObject *twin;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:StateCodec", kwlist, &twin)) return -1;
    if (self->twin != NULL) {
        PyErr_SetString(PyExc_TypeError, "a StateCodec is initialised once");
        return -1;
    }
    PyObject *kind = PyObject_GetAttrString(twin, "kind");
    PyObject *layout = PyObject_GetAttrString(twin, "layout");
    PyObject *names = PyObject_GetAttrString(twin, "names");
    PyObject *values = PyObject_GetAttrString(twin, "_values");
    PyObject *by_value = PyObject_GetAttrString(twin, "_by_value");
    PyObject *intern = PyObject_GetAttrString(twin, "_intern");
    PyObject *widen = PyObject_GetAttrString(twin, "_widen");
    int ok = -1;
    if (kind == NULL || layout == NULL || names == NULL || values == NULL || by_value == NULL
        || intern == NULL || widen == NULL)
        goto done;
    if (!PyType_Check(kind) || !PyTuple_Check(names) || !PyList_CheckExact(values)
        || !PyList_CheckExact(by_value) || PyList_GET_SIZE(by_value) != PyList_GET_SIZE(values)) {
        PyErr_SetString(PyExc_TypeError, "StateCodec: not a statecodec.StateCodec");
        goto done;
    }
    long lay = PyLong_AsLong(layout);
    if (lay == -1 && PyErr_Occurred()) goto done;
    Py_ssize_t n = PyList_GET_SIZE(values);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyList_CheckExact(PyList_GET_ITEM(values, i))
            || !PyDict_CheckExact(PyList_GET_ITEM(by_value, i))) {
            PyErr_SetString(PyExc_TypeError, "StateCodec: not a statecodec.StateCodec");
            goto done;
        }
    }
    PyTypeObject *k = (PyTypeObject *)kind;
    if (lay == LAYOUT_SLOTS) {
        if (PyTuple_GET_SIZE(names) != n) {
            PyErr_SetString(PyExc_TypeError, "StateCodec: fields and tables differ");
            goto done;
        }
        self->offsets = PyMem_Malloc(sizeof(Py_ssize_t) * (n ? n : 1));
        if (self->offsets == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *descr = _PyType_Lookup(k, PyTuple_GET_ITEM(names, i));
            if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)
                || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX
                || (((PyMemberDescrObject *)descr)->d_member->flags & READONLY)) {
                PyErr_SetString(PyExc_TypeError, "StateCodec: a field that is not a slot");
                goto done;
            }
            self->offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        }
    }
    else if (lay == LAYOUT_TUPLE) {
        if (k != &PyTuple_Type) {
            PyErr_SetString(PyExc_TypeError, "StateCodec: not a tuple layout");
            goto done;
        }
    }
    else if (lay == LAYOUT_NAMED) {
        if (!PyType_IsSubtype(k, &PyTuple_Type) || k->tp_dictoffset) {
            PyErr_SetString(PyExc_TypeError, "StateCodec: not a tuple layout");
            goto done;
        }
    }
    else {
        PyErr_SetString(PyExc_TypeError, "StateCodec: this layout is Python's only");
        goto done;
    }
    self->ids = PyMem_Calloc(n ? n : 1, sizeof(IdTable));
    if (self->ids == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    self->nfields = n;
    self->layout = (int)lay;
    Py_INCREF(twin);
    self->twin = twin;
    self->kind = k;
    Py_INCREF(kind);
    self->values = values;
    Py_INCREF(values);
    self->by_value = by_value;
    Py_INCREF(by_value);
    self->intern = intern;
    Py_INCREF(intern);
    self->widen = widen;
    Py_INCREF(widen);
    ok = 0;
done:
    Py_XDECREF(kind);
    Py_XDECREF(layout);
    Py_XDECREF(names);
    Py_XDECREF(values);
    Py_XDECREF(by_value);
    Py_XDECREF(intern);
    Py_XDECREF(widen);
    return ok;
}

static int
codec_traverse(Codec *self, visitproc visit, void *arg)
{
    Py_VISIT(self->twin);
    Py_VISIT(self->kind);
    Py_VISIT(self->values);
    Py_VISIT(self->by_value);
    Py_VISIT(self->intern);
    Py_VISIT(self->widen);
    return 0;
}

static int
codec_clear(Codec *self)
{
    Py_CLEAR(self->twin);
    Py_CLEAR(self->kind);
    Py_CLEAR(self->values);
    Py_CLEAR(self->by_value);
    Py_CLEAR(self->intern);
    Py_CLEAR(self->widen);
    return 0;
}

static void
codec_dealloc(Codec *self)
{
    PyObject_GC_UnTrack(self);
    /* The tables hold borrowed addresses: freed before the values may go. */
    if (self->ids != NULL) {
        for (Py_ssize_t i = 0; i < self->nfields; i++) {
            PyMem_Free(self->ids[i].keys);
            PyMem_Free(self->ids[i].codes);
        }
        PyMem_Free(self->ids);
    }
    PyMem_Free(self->offsets);
    codec_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
codec_length(Codec *self)
{
    if (self->values == NULL) return 0;
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(self->values); i++)
        total += PyList_GET_SIZE(PyList_GET_ITEM(self->values, i));
    return total;
}

static PyObject *
codec_encode_method(Codec *self, PyObject *state)
{
    if (self->twin == NULL) {
        PyErr_SetString(PyExc_TypeError, "a StateCodec must be initialised");
        return NULL;
    }
    return codec_encode(self, state);
}

static PyObject *
codec_decode_method(Codec *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (self->twin == NULL) {
        PyErr_SetString(PyExc_TypeError, "a StateCodec must be initialised");
        return NULL;
    }
    return codec_decode(self, args, nargs);
}

static PyMethodDef codec_methods[] = {
    {"encode", (PyCFunction)codec_encode_method, METH_O,
     "encode(state): the codes of state's fields as bytes, or None."},
    {"decode", (PyCFunction)(void (*)(void))codec_decode_method, METH_FASTCALL,
     "decode(data, start=0, end=None): the state data[start:end] stands for."},
    {NULL},
};

static PyMemberDef codec_members[] = {
    {"twin", T_OBJECT, offsetof(Codec, twin), READONLY,
     "the Python StateCodec whose tables this one shares"},
    {NULL},
};

static PySequenceMethods codec_as_sequence = {
    .sq_length = (lenfunc)codec_length,
};

static PyTypeObject CodecType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "klpcheck._speedups.StateCodec",
    .tp_basicsize = sizeof(Codec),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "StateCodec(twin): statecodec.StateCodec's encode and decode in C, "
              "on the twin's tables.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)codec_init,
    .tp_traverse = (traverseproc)codec_traverse,
    .tp_clear = (inquiry)codec_clear,
    .tp_dealloc = (destructor)codec_dealloc,
    .tp_methods = codec_methods,
    .tp_members = codec_members,
    .tp_as_sequence = &codec_as_sequence,
};

/* ------------------------------------------------------------------------------ */
/* Router: the successors of one expanded state, for a search with workers        */
/* (the pure-Python twin and the specification: klpcheck/search/routing.py)       */

typedef struct {
    uint64_t *keys; /* 0: free slot; a hash of 0 is kept as 1 */
    Py_ssize_t mask, size, limit;
} HashSet;

static int
hashset_alloc(HashSet *s, Py_ssize_t slots)
{
    uint64_t *keys = PyMem_Calloc(slots, sizeof(uint64_t));
    if (keys == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyMem_Free(s->keys);
    s->keys = keys;
    s->mask = slots - 1;
    s->limit = slots / 4 * 3;
    s->size = 0;
    return 0;
}

static inline Py_ssize_t
hashset_slot(const HashSet *s, uint64_t x)
{
    Py_ssize_t i = (Py_ssize_t)(x & (uint64_t)s->mask);
    while (s->keys[i] != x && s->keys[i] != 0) i = (i + 1) & s->mask;
    return i;
}

static inline int
hashset_has(const HashSet *s, uint64_t x)
{
    return s->keys[hashset_slot(s, x)] == x;
}

static int
hashset_add(HashSet *s, uint64_t x)
{
    Py_ssize_t i = hashset_slot(s, x);
    if (s->keys[i] == x) return 0;
    s->keys[i] = x;
    if (++s->size > s->limit) {
        uint64_t *old = s->keys;
        Py_ssize_t slots = s->mask + 1;
        s->keys = NULL;
        if (hashset_alloc(s, 2 * slots) < 0) {
            s->keys = old;
            return -1;
        }
        for (Py_ssize_t j = 0; j < slots; j++) {
            if (old[j]) {
                s->keys[hashset_slot(s, old[j])] = old[j];
                s->size++;
            }
        }
        PyMem_Free(old);
    }
    return 1;
}

static void
hashset_clear(HashSet *s)
{
    memset(s->keys, 0, (size_t)(s->mask + 1) * sizeof(uint64_t));
    s->size = 0;
}

typedef struct {
    PyObject_HEAD
    PyObject *key;     /* state -> 64-bit hash (an int) */
    Table *table;      /* this worker's shard of the visited hashes */
    PyObject *types;   /* tuple of the model's state types */
    Py_ssize_t index, workers, instances;
    uint64_t *fired, *fresh;  /* per instance: fired, new states of this shard */
    HashSet sent[3];   /* hashes sent in this level, the one before, the one before that */
    int at_bound, bound;      /* bound: 0 none, 1 depth, 2 states */
    Py_ssize_t allowance;
    /* new states of this shard: states, hash ints, instance ints, parent masks */
    PyObject *own[4];
    /* per other worker: the triples sent, and the positions of their parents in the
       frontier (used words of triples, and room for how many) */
    uint64_t **triples, **positions;
    Py_ssize_t *used, *room;
} Router;

static void
router_free_outputs(Router *self)
{
    for (int i = 0; i < 4; i++) Py_CLEAR(self->own[i]);
    for (Py_ssize_t o = 0; o < self->workers; o++) {
        if (self->used) self->used[o] = 0;
    }
}

static int
router_new_outputs(Router *self)
{
    router_free_outputs(self);
    for (int i = 0; i < 4; i++) {
        if ((self->own[i] = PyList_New(0)) == NULL) return -1;
    }
    return 0;
}

static void
router_dealloc(Router *self)
{
    router_free_outputs(self);
    Py_XDECREF(self->key);
    Py_XDECREF((PyObject *)self->table);
    Py_XDECREF(self->types);
    PyMem_Free(self->fired);
    PyMem_Free(self->fresh);
    for (int i = 0; i < 3; i++) PyMem_Free(self->sent[i].keys);
    for (Py_ssize_t o = 0; o < self->workers; o++) {
        if (self->triples) PyMem_Free(self->triples[o]);
        if (self->positions) PyMem_Free(self->positions[o]);
    }
    PyMem_Free(self->triples);
    PyMem_Free(self->positions);
    PyMem_Free(self->used);
    PyMem_Free(self->room);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
router_init(Router *self, PyObject *args, PyObject *kwds)
{
    PyObject *key, *table, *types;
    Py_ssize_t index, workers, instances;
    static char *kwlist[] = {"key", "table", "index", "workers", "instances", "types", NULL};
    if (self->key != NULL) {
        PyErr_SetString(PyExc_TypeError, "a Router is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!nnnO!:Router", kwlist, &key, &TableType,
                                     &table, &index, &workers, &instances, &PyTuple_Type,
                                     &types))
        return -1;
    if (workers < 1 || index < 0 || index >= workers || instances < 0) {
        PyErr_SetString(PyExc_ValueError, "Router needs 0 <= index < workers, instances >= 0");
        return -1;
    }
    self->key = Py_NewRef(key);
    self->table = (Table *)Py_NewRef(table);
    self->types = Py_NewRef(types);
    self->index = index;
    self->workers = workers;
    self->instances = instances;
    self->allowance = PY_SSIZE_T_MAX;
    self->fired = PyMem_Calloc(instances + 1, sizeof(uint64_t));
    self->fresh = PyMem_Calloc(instances + 1, sizeof(uint64_t));
    self->triples = PyMem_Calloc(workers, sizeof(uint64_t *));
    self->positions = PyMem_Calloc(workers, sizeof(uint64_t *));
    self->used = PyMem_Calloc(workers, sizeof(Py_ssize_t));
    self->room = PyMem_Calloc(workers, sizeof(Py_ssize_t));
    if (!self->fired || !self->fresh || !self->triples || !self->positions || !self->used
        || !self->room) {
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        if (hashset_alloc(&self->sent[i], 1 << 10) < 0) return -1;
    }
    return router_new_outputs(self);
}

static int
push_triple(Router *self, Py_ssize_t o, uint64_t h, uint64_t parent, uint64_t k,
            uint64_t position)
{
    if (self->used[o] + 3 > self->room[o]) {
        Py_ssize_t room = self->room[o] ? 2 * self->room[o] : 3 * 1024;
        uint64_t *grown = PyMem_Realloc(self->triples[o], (size_t)room * sizeof(uint64_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->triples[o] = grown;
        grown = PyMem_Realloc(self->positions[o], (size_t)(room / 3) * sizeof(uint64_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->positions[o] = grown;
        self->room[o] = room;
    }
    uint64_t *t = self->triples[o] + self->used[o];
    t[0] = h;
    t[1] = parent;
    t[2] = k;
    self->positions[o][self->used[o] / 3] = position;
    self->used[o] += 3;
    return 0;
}

static PyObject *
router_route(Router *self, PyObject *const *args, Py_ssize_t nargs)
{
    /* route(succs, parent, mask, position): see Router.route in klpcheck/search/routing.py */
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "route() takes the successors, the parent hash, "
                                         "the parent's mask (or None) and its position");
        return NULL;
    }
    Py_ssize_t position = PyLong_AsSsize_t(args[3]);
    if (position == -1 && PyErr_Occurred()) return NULL;
    if (position < 0) {
        PyErr_SetString(PyExc_ValueError, "a position is not negative");
        return NULL;
    }
    PyObject *succs = args[0], *mask = args[2];
    if (!PyList_Check(succs)) {
        PyErr_Format(PyExc_TypeError, "route() takes a list of successors, not %.100s",
                     Py_TYPE(succs)->tp_name);
        return NULL;
    }
    if (!PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "a parent hash is an int");
        return NULL;
    }
    uint64_t parent = PyLong_AsUnsignedLongLong(args[1]);
    if (parent == (uint64_t)-1 && PyErr_Occurred()) return NULL;
    uint64_t stored_parent = parent ? parent : 1;
    int masked = mask != Py_None;
    Table *table = self->table;
    Py_ssize_t me = self->index, n = self->workers;
    Py_ssize_t ntypes = PyTuple_GET_SIZE(self->types);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(succs); i++) {
        PyObject *pair = PyList_GET_ITEM(succs, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "a successor is an (instance, state) pair");
            return NULL;
        }
        PyObject *kobj = PyTuple_GET_ITEM(pair, 0), *ns = PyTuple_GET_ITEM(pair, 1);
        Py_ssize_t k = PyLong_AsSsize_t(kobj);
        if (k == -1 && PyErr_Occurred()) return NULL;
        if (k < 0 || k >= self->instances) {
            PyErr_Format(PyExc_IndexError, "instance %zd out of range", k);
            return NULL;
        }
        self->fired[k]++;
        PyObject *hobj = PyObject_CallOneArg(self->key, ns);
        if (hobj == NULL) return NULL;
        uint64_t h = PyLong_Check(hobj) ? PyLong_AsUnsignedLongLong(hobj) : (uint64_t)-1;
        if (h == (uint64_t)-1 && (!PyLong_Check(hobj) || PyErr_Occurred())) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "a state hash is an int, not %.100s",
                             Py_TYPE(hobj)->tp_name);
            Py_DECREF(hobj);
            return NULL;
        }
        uint64_t fp = h ? h : 1;
        Py_ssize_t o = (Py_ssize_t)((h >> 32) % (uint64_t)n);
        if (o == me) {
            if (table->keys[table_slot(table, fp)] == fp) {
                Py_DECREF(hobj);
                continue;
            }
            int known = 0;
            for (Py_ssize_t t = 0; t < ntypes; t++) {
                if ((PyObject *)Py_TYPE(ns) == PyTuple_GET_ITEM(self->types, t)) {
                    known = 1;
                    break;
                }
            }
            if (!known) {
                Py_DECREF(hobj);
                return PyTuple_Pack(2, kobj, ns);
            }
            if (self->at_bound) {
                self->bound = 1;
                Py_DECREF(hobj);
                continue;
            }
            if (self->allowance <= 0) {
                self->bound = 2;
                Py_DECREF(hobj);
                continue;
            }
            if (table_put(table, fp, stored_parent, (uint32_t)k, 1) < 0) {
                Py_DECREF(hobj);
                return NULL;
            }
            self->allowance--;
            self->fresh[k]++;
            int failed = PyList_Append(self->own[0], ns) < 0
                         || PyList_Append(self->own[1], hobj) < 0
                         || PyList_Append(self->own[2], kobj) < 0
                         || (masked && PyList_Append(self->own[3], mask) < 0);
            Py_DECREF(hobj);
            if (failed) return NULL;
        }
        else {
            Py_DECREF(hobj);
            if (hashset_has(&self->sent[0], fp) || hashset_has(&self->sent[1], fp)
                || hashset_has(&self->sent[2], fp))
                continue;
            if (hashset_add(&self->sent[0], fp) < 0
                || push_triple(self, o, h, parent, (uint64_t)k, (uint64_t)position) < 0)
                return NULL;
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
router_begin(Router *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "begin() takes at_bound and an allowance");
        return NULL;
    }
    int at_bound = PyObject_IsTrue(args[0]);
    if (at_bound < 0) return NULL;
    Py_ssize_t allowance = PyLong_AsSsize_t(args[1]);
    if (allowance == -1 && PyErr_Occurred()) return NULL;
    HashSet oldest = self->sent[2];
    self->sent[2] = self->sent[1];
    self->sent[1] = self->sent[0];
    self->sent[0] = oldest;
    hashset_clear(&self->sent[0]);
    self->at_bound = at_bound;
    self->allowance = allowance;
    self->bound = 0;
    if (router_new_outputs(self) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *
router_harvest(Router *self, PyObject *unused)
{
    PyObject *batches = PyDict_New();
    if (batches == NULL) return NULL;
    for (Py_ssize_t o = 0; o < self->workers; o++) {
        if (self->used[o] == 0) continue;
        PyObject *blob = PyBytes_FromStringAndSize((const char *)self->triples[o],
                                                   self->used[o] * (Py_ssize_t)sizeof(uint64_t));
        PyObject *where = PyBytes_FromStringAndSize(
            (const char *)self->positions[o], self->used[o] / 3 * (Py_ssize_t)sizeof(uint64_t));
        PyObject *owner = PyLong_FromSsize_t(o);
        PyObject *batch = blob && where ? PyTuple_Pack(2, blob, where) : NULL;
        int failed = batch == NULL || owner == NULL || PyDict_SetItem(batches, owner, batch) < 0;
        Py_XDECREF(blob);
        Py_XDECREF(where);
        Py_XDECREF(owner);
        Py_XDECREF(batch);
        if (failed) {
            Py_DECREF(batches);
            return NULL;
        }
    }
    PyObject *out = Py_BuildValue("(OOOON)", self->own[0], self->own[1], self->own[2],
                                  self->own[3], batches);
    if (out == NULL || router_new_outputs(self) < 0) {
        Py_XDECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *
router_counts(Router *self, PyObject *unused)
{
    PyObject *fired = PyList_New(self->instances), *fresh = PyList_New(self->instances);
    if (fired == NULL || fresh == NULL) goto fail;
    for (Py_ssize_t k = 0; k < self->instances; k++) {
        PyObject *a = PyLong_FromUnsignedLongLong(self->fired[k]);
        PyObject *b = PyLong_FromUnsignedLongLong(self->fresh[k]);
        if (a == NULL || b == NULL) {
            Py_XDECREF(a);
            Py_XDECREF(b);
            goto fail;
        }
        PyList_SET_ITEM(fired, k, a);
        PyList_SET_ITEM(fresh, k, b);
    }
    return Py_BuildValue("(NN)", fired, fresh);
fail:
    Py_XDECREF(fired);
    Py_XDECREF(fresh);
    return NULL;
}

static PyObject *
router_get_allowance(Router *self, void *unused)
{
    return PyLong_FromSsize_t(self->allowance);
}

static PyObject *
router_get_bound(Router *self, void *unused)
{
    return PyLong_FromLong(self->bound);
}

static PyGetSetDef router_getset[] = {
    {"allowance", (getter)router_get_allowance, NULL, "new states this shard may still record", NULL},
    {"bound", (getter)router_get_bound, NULL, "0, or the bound met: 1 depth, 2 states", NULL},
    {NULL},
};

static PyMethodDef router_methods[] = {
    {"route", (PyCFunction)(void (*)(void))router_route, METH_FASTCALL,
     "route(succs, parent, mask, position): record new successors of this shard, batch "
     "the others; "
     "None, or the first (instance, state) of this shard whose type is not the model's."},
    {"begin", (PyCFunction)(void (*)(void))router_begin, METH_FASTCALL,
     "begin(at_bound, allowance): start a level."},
    {"harvest", (PyCFunction)router_harvest, METH_NOARGS,
     "harvest(): (own states, hashes, instances, parent masks, {owner: (triples, parent "
     "positions)}), and empty outputs."},
    {"counts", (PyCFunction)router_counts, METH_NOARGS,
     "counts(): transitions fired and new states of this shard, per instance."},
    {NULL},
};

static PyTypeObject RouterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "klpcheck._speedups.Router",
    .tp_basicsize = sizeof(Router),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Router(key, table, index, workers, instances, types): routes successors.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)router_init,
    .tp_dealloc = (destructor)router_dealloc,
    .tp_methods = router_methods,
    .tp_getset = router_getset,
};

/* ------------------------------------------------------------------------------ */

static PyMethodDef module_methods[] = {
    {"set_at", (PyCFunction)(void (*)(void))set_at, METH_FASTCALL,
     "set_at(items, index, value): items with the element at index replaced."},
    {"record_replace", record_replace, METH_VARARGS,
     "record_replace(cls, names, fallback): the fast replace method of cls, or fallback."},
    {"state_layout", state_layout, METH_VARARGS,
     "state_layout(cls, names): a Layout reading the fields of instances of exactly cls."},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "klpcheck._speedups",
    "The search's innermost operations in C; each has a pure-Python twin.", -1,
    module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&ReplaceType) < 0 || PyType_Ready(&HasherType) < 0
        || PyType_Ready(&TableType) < 0 || PyType_Ready(&LayoutType) < 0
        || PyType_Ready(&CodecType) < 0 || PyType_Ready(&RouterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Hasher", (PyObject *)&HasherType) < 0
        || PyModule_AddObjectRef(m, "FingerprintTable", (PyObject *)&TableType) < 0
        || PyModule_AddObjectRef(m, "Replace", (PyObject *)&ReplaceType) < 0
        || PyModule_AddObjectRef(m, "StateCodec", (PyObject *)&CodecType) < 0
        || PyModule_AddObjectRef(m, "Router", (PyObject *)&RouterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

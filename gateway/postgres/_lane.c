/* The fast lane's steady state, compiled: gateway.postgres._lane.

   What gateway/postgres/lane.py does for one request at a time, without an interpreter frame
   per read: the client channel's and the server channel's data_received are this module's
   C methods. A read the lane takes is checked, forwarded and, for an answer, recorded in a
   buffer that Python drains in batches (the statement log entry, counters, the portal and
   statement-book state); anything else goes to the general path, which Python runs. The
   Python Lane is the reference: this module decides nothing it does not, and tests hold the
   two to the same results (tests/gateway/postgres/test_compiled_lane.py).

   Before it forwards a request it takes, the lane hands its statement text to the host's
   `journal` (the session core's statement journal, gateway/sessions/journal.py): nothing is
   forwarded that is not recorded first. When the journal refuses, the lane takes nothing and
   the general path, which asks the journal too, refuses the request.

   Protocol references are to the PostgreSQL documentation, "Message Formats" (55.7).

   ---- the interface: one host object (gateway/postgres/lanehost.py) -----------------------

   Core(host) reads every member of the host once, here (HOST_MEMBERS); it knows no other
   Python name but the fields of the host's views it reads while the session runs (FIELDS,
   each the name of a property of a Protocol in lanehost.py; a test holds the two equal).
   lanehost.host_for finds these in a session; nothing here changes after Core(host).

   Objects, whose fields are read while the session runs (who changes them):
     session         SessionView: phase (postgres.lifecycle: the relay, and the client side
                     at a Terminate; compared with `relaying` before every request and with
                     `closed` before every answer), state (a new object whenever the general
                     path changes it; per request; StateView: in_transaction), holding (a
                     held statement's review; the general path's).
     client          ClientView: swallow (a refused extended batch dropped to Sync; the
                     general path's).
     audit           AuditView: behind (the audit writer's task; before every request).
     tracker         TrackerView: queue, finished (the general path's).
     book            BookView: inflight (the general path's), committed (a dict: a Bind's
                     name is looked up in it; Definition: text, verdict, rule, effects,
                     derived; the general path's).
     client_reader,  ReaderView: _buf, _pos, _chunks_len (pending_bytes() == 0 without calling
     server_reader   it; the general path's).
   Values, read once:
     relaying, closed   the phases (SessionPhase members) the lane compares `phase` with
     client_bind_limit  the client parser's length cap for a Bind
     server_limits      the server parser's length caps, 256 of them, by type byte
     masks              the connection masks results (then rows need a no-op RowPlan)
   Callables:
     to_server, to_client            the transports' writes of a taken request and answer
     client_general, server_general  the general path for a read the lane does not take
     learn(text) -> ((verdict, rule) | None, general)   a Query text not seen in this state
     drained(columns, answered, portal, synced)         the accounting, in batches (core_drain)
     schedule()      the first record of a batch: drain soon (fastlane.DRAIN_S)
     replay(request, started)        spill: the general path accounts for the request
     plan_of(row_description) -> RowPlan | None         RowPlan: is_noop
     stop(side, exception)           end the session ("client" or "server")
     journal(text) -> bool           record a taken request's statement before it is
                                     forwarded; false: not recorded, the lane does not take it */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* ---- the literal shape of UTF-8 statement text ----------------------------------------------

   Exactly gateway.postgres.dialect.shape.literal_shape on the UTF-8 bytes (the shape, UTF-8
   encoded, or None): every character the scan judges is ASCII, and a non-ASCII character is a
   run of bytes >= 0x80, each of which falls in the same classes as the character. A
   Hypothesis property holds the two equal. The string and quoted-identifier patterns of the
   regular expression backtrack when the text ends inside them: the match then ends at the
   first quote of the last doubled quote, which is what match_quoted returns. */

static int
ident_class(unsigned char c) /* [A-Za-z0-9_$.] or non-ASCII: a number touching it is left */
{
    return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '$' || c == '.';
}

static int
prefix_class(unsigned char c) /* [A-Za-z0-9_$&] or non-ASCII: E'', B'', U&'' ... give up */
{
    return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '$' || c == '&';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static Py_ssize_t
match_quoted(const unsigned char *s, Py_ssize_t start, Py_ssize_t m, unsigned char q)
{
    Py_ssize_t k = start + 1, last_pair = -1;
    while (k < m) {
        if (s[k] == q) {
            if (k + 1 < m && s[k + 1] == q) {
                last_pair = k;
                k += 2;
                continue;
            }
            return k + 1;
        }
        k++;
    }
    return last_pair >= 0 ? last_pair + 1 : -1;
}

/* Copies s[copied:i) to out at o, then the marker NUL + kind; returns the new end of out. */
static Py_ssize_t
emit_marker(unsigned char *out, Py_ssize_t o, const unsigned char *s, Py_ssize_t copied,
            Py_ssize_t i, unsigned char kind)
{
    memcpy(out + o, s + copied, i - copied);
    o += i - copied;
    out[o++] = 0;
    out[o++] = kind;
    return o;
}

/* Writes the shape of s[0:n) into out (room for 2 * n bytes); returns its length, or -1 when
   the scan gives up. */
static Py_ssize_t
shape_scan(const unsigned char *s, Py_ssize_t n, unsigned char *out)
{
    Py_ssize_t m = n, i, o = 0, copied = 0;
    if (memchr(s, '\\', n) != NULL || memchr(s, 0, n) != NULL)
        return -1;
    while (m > 0 && (s[m - 1] == ';' || s[m - 1] == ' ' || s[m - 1] == '\n' || s[m - 1] == '\t'))
        m--;
    if (m == 0)
        return -1;
    for (i = 0; i < m; i++) {
        unsigned char c = s[i];
        if (c == '$' || c == ';' || (c == '-' && i + 1 < m && s[i + 1] == '-') ||
            (c == '/' && i + 1 < m && s[i + 1] == '*'))
            return -1;
    }
    i = 0;
    while (i < m) {
        unsigned char c = s[i];
        if (c == '\'' || c == '"') {
            Py_ssize_t end = match_quoted(s, i, m, c);
            if (end < 0) {
                i++;
                continue;
            }
            if (i > 0 && prefix_class(s[i - 1]))
                return -1;
            if (c == '\'') {
                o = emit_marker(out, o, s, copied, i, 's');
                copied = end;
            }
            i = end;
            continue;
        }
        if (is_digit(c) && !(i > 0 && ident_class(s[i - 1])) &&
            !(i > 1 && (s[i - 2] == 'e' || s[i - 2] == 'E') &&
              (s[i - 1] == '+' || s[i - 1] == '-'))) {
            Py_ssize_t j = i;
            while (j < m && is_digit(s[j]))
                j++;
            if (j + 1 < m && s[j] == '.' && is_digit(s[j + 1])) {
                j += 2;
                while (j < m && is_digit(s[j]))
                    j++;
            }
            if (j < m && (s[j] == 'e' || s[j] == 'E')) {
                Py_ssize_t k = j + 1;
                if (k < m && (s[k] == '+' || s[k] == '-'))
                    k++;
                if (k < m && is_digit(s[k])) {
                    while (k < m && is_digit(s[k]))
                        k++;
                    j = k;
                }
            }
            if (!(j < m && (ident_class(s[j]) || s[j] == '\'' || s[j] == '"'))) {
                o = emit_marker(out, o, s, copied, i, 'n');
                copied = j;
                i = j;
                continue;
            }
        }
        i++;
    }
    memcpy(out + o, s + copied, m - copied);
    return o + (m - copied);
}

/* The shape as a new bytes object; Py_None (a new reference) when the scan gives up. */
static PyObject *
shape_bytes(const unsigned char *s, Py_ssize_t n)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, 2 * n + 1);
    Py_ssize_t len;
    if (out == NULL)
        return NULL;
    len = shape_scan(s, n, (unsigned char *)PyBytes_AS_STRING(out));
    if (len < 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (_PyBytes_Resize(&out, len) < 0)
        return NULL;
    return out;
}

static PyObject *
literal_shape_utf8(PyObject *module, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "literal_shape_utf8 takes bytes");
        return NULL;
    }
    return shape_bytes((const unsigned char *)PyBytes_AS_STRING(arg), PyBytes_GET_SIZE(arg));
}

/* ---- the session core --------------------------------------------------------------------- */

enum { NONE = 0, SIMPLE = 1, EXTENDED = 2 };
#define REMEMBERED 1024 /* verdicts remembered per session (lane.py _REMEMBERED) */
#define DRAIN_AT 256    /* records buffered before they are drained at once */
/* A record's columns: at, text, verdict, rule, rows, size, duration_us (fastlane._drained) */
#define COLUMNS 7

/* The fields of the host's views the core reads (see the header): for k < S_FIELDS,
   FIELD_VIEWS[k] names the Protocol of lanehost.py that declares NAMES[k] (or the class, for a
   Definition and a RowPlan). The other names are not ours: a Future's done(), and the values
   the core passes or compares. */
enum {
    S_SWALLOW, S_BEHIND, S_IN_TRANSACTION, S_PHASE, S_STATE, S_HOLDING, S_QUEUE, S_FINISHED,
    S_INFLIGHT, S_COMMITTED, S_BUF, S_POS, S_CHUNKS_LEN, S_TEXT, S_VERDICT, S_RULE, S_EFFECTS,
    S_DERIVED, S_IS_NOOP,
    S_FIELDS, /* the views' fields end here */
    S_ALLOW = S_FIELDS, S_CLIENT, S_SERVER, S_COUNT
};
static const char *const NAMES[S_COUNT] = {
    "swallow", "behind", "in_transaction", "phase", "state", "holding", "queue", "finished",
    "inflight", "committed", "_buf", "_pos", "_chunks_len", "text", "verdict", "rule", "effects",
    "derived", "is_noop",
    "allow", "client", "server"
};
static const char *const FIELD_VIEWS[S_FIELDS] = {
    "ClientView", "AuditView", "StateView", "SessionView", "SessionView", "SessionView",
    "TrackerView", "TrackerView", "BookView", "BookView", "ReaderView", "ReaderView",
    "ReaderView", "Definition", "Definition", "Definition", "Definition", "Definition", "RowPlan"
};
static PyObject *str[S_COUNT];

/* The host's members (lanehost.LaneHost), in the order core_init reads them. */
static const char *const HOST_MEMBERS[] = {
    "client", "audit", "session", "tracker", "book", "client_reader", "server_reader",
    "to_server", "to_client", "client_general", "server_general", "learn", "drained",
    "schedule", "replay", "plan_of", "stop", "journal", "relaying", "closed",
    "client_bind_limit", "server_limits", "masks"
};
#define HOST_OBJECTS 20 /* the members up to `closed` are kept as they are */
#define HOST_COUNT ((int)(sizeof(HOST_MEMBERS) / sizeof(HOST_MEMBERS[0])))

/* Describe('P', ""), Execute("", 0), Sync: the tails of a Bind the lane takes (lane.py). */
static const char TAIL_DESCRIBED[] = "D\0\0\0\6P\0E\0\0\0\11\0\0\0\0\0S\0\0\0\4";
static const char TAIL[] = "E\0\0\0\11\0\0\0\0\0S\0\0\0\4";
#define TAIL_DESCRIBED_LEN ((Py_ssize_t)sizeof(TAIL_DESCRIBED) - 1)
#define TAIL_LEN ((Py_ssize_t)sizeof(TAIL) - 1)

typedef struct {
    PyObject_HEAD
    /* the host's members (see the header), fixed for the session, in HOST_MEMBERS' order */
    PyObject *client, *audit, *session, *tracker, *book, *client_reader, *server_reader;
    PyObject *to_server, *to_client, *client_general, *server_general, *learn, *drained;
    PyObject *schedule, *replay, *plan_of, *stop, *journal, *relaying, *closed;
    Py_ssize_t client_bind_limit;
    Py_ssize_t server_limits[256];
    int masks;
    /* verdicts remembered by shape (or exact text) while the session state is `state` */
    PyObject *known, *state;
    /* the request in flight */
    int inflight, described;
    PyObject *request, *text, *verdict, *rule, *definition;
    double started;
    /* the answer taken */
    Py_ssize_t tag_start, tag_end, rows_bytes;
    PyObject *plan; /* borrowed from desc_plan */
    /* the last RowDescription seen and its plan */
    PyObject *desc, *desc_plan;
    int desc_noop;
    /* accounting not yet drained: `records` is a tuple of COLUMNS lists, one entry per record */
    PyObject *records, *portal;
    Py_ssize_t synced, answered;
    Py_ssize_t taken, spilled;
    /* ready() found the general path's state idle, and no Python code has run since but the
       transports' writes: see ready() */
    int settled;
    /* the last Bind taken while settled: its statement name's bytes and what book.committed
       held for that name (a frozen Definition and the fields the lane reads of it). Only the
       general path changes the book, so it is good until `settled` is cleared (unsettle). */
    PyObject *bind_name, *bind_definition, *bind_text, *bind_verdict, *bind_rule;
} Core;

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.monotonic and time.perf_counter on Linux */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int32_t
i32(const unsigned char *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
                     (uint32_t)p[3]);
}

/* 1 when getattr(obj, name) is true, 0 when false, -1 on error. */
static int
attr_true(PyObject *obj, int name)
{
    PyObject *value = PyObject_GetAttr(obj, str[name]);
    int result;
    if (value == NULL)
        return -1;
    result = PyObject_IsTrue(value);
    Py_DECREF(value);
    return result;
}

/* 1 when getattr(obj, name) is None, 0 when not, -1 on error. */
static int
attr_none(PyObject *obj, int name)
{
    PyObject *value = PyObject_GetAttr(obj, str[name]);
    if (value == NULL)
        return -1;
    Py_DECREF(value);
    return value == Py_None;
}

/* Drops the remembered Bind lookup (see bind_name). */
static void
forget_bind(Core *self)
{
    Py_CLEAR(self->bind_name);
    Py_CLEAR(self->bind_definition);
    Py_CLEAR(self->bind_text);
    Py_CLEAR(self->bind_verdict);
    Py_CLEAR(self->bind_rule);
}

/* Python is about to run, or ran: the general path's state must be read again (ready()) and
   the cached Bind lookup is dropped. */
static void
unsettle(Core *self)
{
    self->settled = 0;
    forget_bind(self);
}

/* getattr(obj, name), an int, in *out; -1 on error. */
static int
attr_size(PyObject *obj, int name, Py_ssize_t *out)
{
    PyObject *value = PyObject_GetAttr(obj, str[name]);
    if (value == NULL)
        return -1;
    *out = PyLong_AsSsize_t(value);
    Py_DECREF(value);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Whether a parser's reader holds no received bytes: Reader.pending_bytes() == 0, read from
   the fields it is computed from (`_chunks_len == 0`, `_pos == len(_buf)`) without calling
   it; framing.py says so beside them. 1 empty, 0 not, -1 error. */
static int
reader_empty(PyObject *parser)
{
    PyObject *buf;
    Py_ssize_t chunks, pos, size;
    if (attr_size(parser, S_CHUNKS_LEN, &chunks) < 0)
        return -1;
    if (chunks != 0)
        return 0;
    if (attr_size(parser, S_POS, &pos) < 0 || (buf = PyObject_GetAttr(parser, str[S_BUF])) == NULL)
        return -1;
    size = PyObject_Size(buf);
    Py_DECREF(buf);
    return size < 0 ? -1 : pos == size;
}

/* 1 when getattr(obj, name) is `value`, 0 when not, -1 on error. */
static int
attr_is(PyObject *obj, int name, PyObject *value)
{
    PyObject *found = PyObject_GetAttr(obj, str[name]);
    if (found == NULL)
        return -1;
    Py_DECREF(found);
    return found == value; /* compared, not read: `value` is held (a host member) */
}

/* Whether the session is idle for the lane: relay.from_client's and Lane.client_data's
   conditions. 1 yes, 0 no, -1 error.

   What can change between two requests the lane takes is checked every time: the session's
   phase (RELAYING, not waiting for a statement, terminated, ending or closed) and the audit
   trail behind (the writer's task sets it). The rest (the tracker's queues, a refused batch
   being swallowed, a held statement, statements being parsed, received bytes not yet framed)
   is the general path's state: only the general path changes it, and it runs only when the
   core hands it something (core_drain runs first), or while the phase is WAITING. So once it is
   found idle it stays idle until the core next hands anything to Python but a write, the
   journal (which records a text and reads nothing of the session) or the drain timer's
   scheduling: unsettle() runs in core_drain, before a learn and on an error. The
   Python lane checks all of it every time; the differential test holds the two alike with
   that state changed by the general path, as it is. */
static int
ready(Core *self)
{
    int r;
    if ((r = attr_is(self->session, S_PHASE, self->relaying)) != 1)
        return r;
    if ((r = attr_true(self->audit, S_BEHIND)) != 0)
        return r < 0 ? r : 0;
    if (self->settled)
        return 1;
    if ((r = attr_true(self->tracker, S_QUEUE)) != 0 ||
        (r = attr_true(self->tracker, S_FINISHED)) != 0 ||
        (r = attr_true(self->client, S_SWALLOW)) != 0)
        return r < 0 ? r : 0;
    if ((r = attr_none(self->session, S_HOLDING)) != 1)
        return r;
    if ((r = attr_true(self->book, S_INFLIGHT)) != 0)
        return r < 0 ? r : 0;
    if ((r = reader_empty(self->client_reader)) != 1 ||
        (r = reader_empty(self->server_reader)) != 1)
        return r;
    self->settled = 1;
    return 1;
}

static void
clear_request(Core *self)
{
    Py_CLEAR(self->request);
    Py_CLEAR(self->text);
    Py_CLEAR(self->verdict);
    Py_CLEAR(self->rule);
    Py_CLEAR(self->definition);
    self->inflight = NONE;
}

static void
take_request(Core *self, PyObject *data, int kind, PyObject *text, PyObject *verdict,
             PyObject *rule)
{
    clear_request(self);
    Py_INCREF(data);
    self->request = data;
    self->text = text; /* stolen */
    Py_INCREF(verdict);
    self->verdict = verdict;
    Py_INCREF(rule);
    self->rule = rule;
    self->inflight = kind;
    self->started = now();
}

/* A Query (lane.py Lane._query). 1 taken, 0 not, -1 error. */
static int
take_query(Core *self, PyObject *data)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    PyObject *text, *state, *key, *exact, *known;
    if (size < 6 || i32(p + 1) != size - 1 || memchr(p + 5, 0, size - 5) != p + size - 1)
        return 0;
    text = PyUnicode_DecodeUTF8((const char *)p + 5, size - 6, "strict");
    if (text == NULL) { /* not UTF-8: the general path refuses it */
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    state = PyObject_GetAttr(self->session, str[S_STATE]);
    if (state == NULL)
        goto error;
    if (state != self->state) {
        PyDict_Clear(self->known);
        Py_XSETREF(self->state, state);
    }
    else
        Py_DECREF(state);
    exact = PyBytes_FromStringAndSize((const char *)p + 5, size - 6);
    if (exact == NULL)
        goto error;
    key = shape_bytes(p + 5, size - 6);
    if (key == NULL) {
        Py_DECREF(exact);
        goto error;
    }
    if (key == Py_None)
        Py_SETREF(key, Py_NewRef(exact));
    known = PyDict_GetItemWithError(self->known, key); /* borrowed */
    if (known == NULL) {
        PyObject *learned, *general_known;
        int general;
        if (PyErr_Occurred())
            goto error_keys;
        unsettle(self); /* Python runs: see ready() */
        learned = PyObject_CallFunctionObjArgs(self->learn, text, NULL);
        if (learned == NULL)
            goto error_keys;
        if (!PyTuple_Check(learned) || PyTuple_GET_SIZE(learned) != 2) {
            Py_DECREF(learned);
            PyErr_SetString(PyExc_TypeError, "learn() must return (known, general)");
            goto error_keys;
        }
        general_known = PyTuple_GET_ITEM(learned, 0);
        general = PyObject_IsTrue(PyTuple_GET_ITEM(learned, 1));
        if (general >= 0 && PyDict_GET_SIZE(self->known) >= REMEMBERED)
            PyDict_Clear(self->known);
        if (general < 0 ||
            PyDict_SetItem(self->known, general ? key : exact, general_known) < 0) {
            Py_DECREF(learned);
            goto error_keys;
        }
        known = general_known;
        Py_INCREF(known);
        Py_DECREF(learned);
    }
    else
        Py_INCREF(known);
    Py_DECREF(key);
    Py_DECREF(exact);
    if (known == Py_None) {
        Py_DECREF(known);
        Py_DECREF(text);
        return 0;
    }
    if (!PyTuple_Check(known) || PyTuple_GET_SIZE(known) != 2) {
        Py_DECREF(known);
        PyErr_SetString(PyExc_TypeError, "a remembered verdict must be (verdict, rule)");
        goto error;
    }
    take_request(self, data, SIMPLE, text, PyTuple_GET_ITEM(known, 0), PyTuple_GET_ITEM(known, 1));
    Py_DECREF(known);
    return 1;
error_keys:
    Py_DECREF(key);
    Py_DECREF(exact);
error:
    Py_DECREF(text);
    return -1;
}

/* lane.py _bind_decodes: the rest of a Bind from pos (after the statement name) reads as
   parameter formats, values (length -1 is NULL) and result formats, ending exactly at end. */
static int
bind_decodes(const unsigned char *p, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t size)
{
    Py_ssize_t count, k;
    if (pos + 2 > size)
        return 0;
    count = ((Py_ssize_t)p[pos] << 8) | p[pos + 1];
    pos += 2 + 2 * count;
    if (pos + 2 > size)
        return 0;
    count = ((Py_ssize_t)p[pos] << 8) | p[pos + 1];
    pos += 2;
    for (k = 0; k < count; k++) {
        int32_t length;
        if (pos + 4 > size)
            return 0;
        length = i32(p + pos);
        if (length < -1)
            return 0;
        pos += 4 + (length > 0 ? (Py_ssize_t)length : 0); /* in 64 bits: 2**31 - 1 fits */
        if (pos > end)
            return 0;
    }
    if (pos + 2 > size)
        return 0;
    count = ((Py_ssize_t)p[pos] << 8) | p[pos + 1];
    return pos + 2 + 2 * count == end;
}

/* A Bind [Describe] Execute Sync of a committed statement (lane.py Lane._bind). */
static int
take_bind(Core *self, PyObject *data)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data), end, rest;
    int32_t length;
    int described, r;
    const unsigned char *nul;
    PyObject *name, *committed, *definition, *text, *verdict, *rule;
    if (size < 6)
        return 0;
    length = i32(p + 1);
    end = 1 + (Py_ssize_t)length;
    if (length < 4 || length > self->client_bind_limit || end > size || p[5] != 0)
        return 0;
    rest = size - end;
    if (rest == TAIL_DESCRIBED_LEN && memcmp(p + end, TAIL_DESCRIBED, rest) == 0)
        described = 1;
    else if (rest == TAIL_LEN && memcmp(p + end, TAIL, rest) == 0 && !self->masks)
        described = 0;
    else
        return 0;
    /* data.find(0, 6, end): a Bind too short to hold a statement name has none */
    nul = end > 6 ? memchr(p + 6, 0, end - 6) : NULL;
    if (nul == NULL)
        return 0;
    if (self->settled && self->bind_name != NULL &&
        PyBytes_GET_SIZE(self->bind_name) == nul - (p + 6) &&
        memcmp(PyBytes_AS_STRING(self->bind_name), p + 6, nul - (p + 6)) == 0) {
        /* the statement the book held for this name when a Bind of it was last taken: its
           verdict, effects and derivation were checked then (a Definition is frozen) */
        if (!bind_decodes(p, nul - p + 1, end, size))
            return 0;
        take_request(self, data, EXTENDED, Py_NewRef(self->bind_text), self->bind_verdict,
                     self->bind_rule);
        self->definition = Py_NewRef(self->bind_definition);
        self->described = described;
        return 1;
    }
    name = PyUnicode_DecodeUTF8((const char *)p + 6, nul - (p + 6), "surrogateescape");
    if (name == NULL)
        return -1;
    committed = PyObject_GetAttr(self->book, str[S_COMMITTED]);
    if (committed == NULL) {
        Py_DECREF(name);
        return -1;
    }
    definition = PyDict_Check(committed) ? PyDict_GetItemWithError(committed, name) : NULL;
    if (definition == NULL && !PyDict_Check(committed))
        PyErr_SetString(PyExc_TypeError, "book.committed must be a dict");
    Py_XINCREF(definition);
    Py_DECREF(committed);
    Py_DECREF(name);
    if (definition == NULL)
        return PyErr_Occurred() ? -1 : 0;
    verdict = PyObject_GetAttr(definition, str[S_VERDICT]); /* kept for the request */
    if (verdict == NULL)
        goto error;
    r = PyUnicode_Check(verdict) ? PyUnicode_Compare(verdict, str[S_ALLOW]) : 1;
    if (r == -1 && PyErr_Occurred())
        goto error_verdict;
    if (r != 0)
        goto not_taken;
    if ((r = attr_true(definition, S_EFFECTS)) != 0) {
        if (r < 0)
            goto error_verdict;
        goto not_taken;
    }
    if ((r = attr_none(definition, S_DERIVED)) != 1) {
        if (r < 0)
            goto error_verdict;
        goto not_taken;
    }
    if (!bind_decodes(p, nul - p + 1, end, size))
        goto not_taken;
    text = PyObject_GetAttr(definition, str[S_TEXT]);
    if (text == NULL)
        goto error_verdict;
    rule = PyObject_GetAttr(definition, str[S_RULE]);
    if (rule == NULL) {
        Py_DECREF(text);
        goto error_verdict;
    }
    take_request(self, data, EXTENDED, text, verdict, rule);
    Py_DECREF(verdict);
    Py_DECREF(rule);
    self->definition = definition; /* the reference taken above */
    self->described = described;
    if (self->settled) { /* ready() ran just before: remember the lookup (see bind_name) */
        PyObject *bind_name = PyBytes_FromStringAndSize((const char *)p + 6, nul - (p + 6));
        if (bind_name == NULL)
            return -1;
        forget_bind(self);
        self->bind_name = bind_name;
        self->bind_definition = Py_NewRef(definition);
        self->bind_text = Py_NewRef(self->text);
        self->bind_verdict = Py_NewRef(self->verdict);
        self->bind_rule = Py_NewRef(self->rule);
    }
    return 1;
not_taken:
    Py_DECREF(verdict);
    Py_DECREF(definition);
    return 0;
error_verdict:
    Py_DECREF(verdict);
error:
    Py_DECREF(definition);
    return -1;
}

/* The plan of a RowDescription (ServerSide.plan_of), the last one kept. */
static int
plan_of(Core *self, const unsigned char *p, Py_ssize_t len)
{
    PyObject *desc, *plan;
    int noop;
    if (self->desc != NULL && PyBytes_GET_SIZE(self->desc) == len &&
        memcmp(PyBytes_AS_STRING(self->desc), p, len) == 0) {
        self->plan = self->desc_plan;
        return 0;
    }
    desc = PyBytes_FromStringAndSize((const char *)p, len);
    if (desc == NULL)
        return -1;
    plan = PyObject_CallOneArg(self->plan_of, desc);
    if (plan == NULL) {
        Py_DECREF(desc);
        return -1;
    }
    noop = plan == Py_None ? 1 : attr_true(plan, S_IS_NOOP);
    if (noop < 0) {
        Py_DECREF(desc);
        Py_DECREF(plan);
        return -1;
    }
    Py_XSETREF(self->desc, desc);
    Py_XSETREF(self->desc_plan, plan);
    self->desc_noop = noop;
    self->plan = plan;
    return 0;
}

/* lane.py Lane.server_data: the whole answer to the request in flight, in one read. */
static int
take_answer(Core *self, PyObject *data)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data), pos = 0, rows_bytes = 0, tag_start = 0, tag_end = 0;
    int extended = self->inflight == EXTENDED;
    int columns_known = extended && !self->described, noop = 1;
    self->plan = NULL;
    if (extended) {
        if (size < 5 || memcmp(p, "2\0\0\0\4", 5) != 0)
            return 0;
        pos = 5;
    }
    while (pos + 5 <= size) {
        unsigned char tag = p[pos];
        int32_t length = i32(p + pos + 1);
        Py_ssize_t next = pos + 1 + (Py_ssize_t)length;
        if (length < 4 || length > self->server_limits[tag] || next > size)
            return 0;
        switch (tag) {
        case 'D':
            if (!columns_known || tag_end || !noop)
                return 0;
            rows_bytes += next - pos;
            break;
        case 'T':
            if (columns_known || tag_end)
                return 0;
            columns_known = 1;
            if (self->masks) {
                if (plan_of(self, p + pos, next - pos) < 0)
                    return -1;
                noop = self->desc_noop;
            }
            break;
        case 'n':
            if (columns_known || !extended)
                return 0;
            columns_known = 1;
            break;
        case 'C':
            if (tag_end)
                return 0;
            tag_start = pos + 5;
            tag_end = next - 1;
            break;
        case 'Z': {
            PyObject *state;
            int in_transaction;
            if (next != size || !tag_end || length != 5)
                return 0;
            state = PyObject_GetAttr(self->session, str[S_STATE]);
            if (state == NULL)
                return -1;
            in_transaction = attr_true(state, S_IN_TRANSACTION);
            Py_DECREF(state);
            if (in_transaction < 0)
                return -1;
            if ((p[pos + 5] != 'I') != in_transaction)
                return 0;
            self->tag_start = tag_start;
            self->tag_end = tag_end;
            self->rows_bytes = rows_bytes;
            return 1;
        }
        default:
            return 0;
        }
        pos = next;
    }
    return 0;
}

/* tracker.rows_in on the CommandComplete tag: the number after its last space, else 0. */
static PyObject *
rows_in(const unsigned char *p, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t k = end, i;
    char digits[32];
    while (k > start && p[k - 1] != ' ')
        k--;
    if (k == end)
        return PyLong_FromLong(0);
    for (i = k; i < end; i++) {
        if (p[i] >= 0x80) { /* str.isdigit knows other digits: let tracker.rows_in judge */
            PyObject *tracker = PyImport_ImportModule("gateway.postgres.tracker"), *tag, *rows;
            if (tracker == NULL)
                return NULL;
            tag = PyUnicode_DecodeUTF8((const char *)p + start, end - start, "replace");
            rows = tag == NULL ? NULL : PyObject_CallMethod(tracker, "rows_in", "O", tag);
            Py_XDECREF(tag);
            Py_DECREF(tracker);
            return rows;
        }
        if (!is_digit(p[i]))
            return PyLong_FromLong(0);
    }
    if (end - k >= (Py_ssize_t)sizeof(digits)) { /* beyond any row count: as Python parses it */
        PyObject *text = PyBytes_FromStringAndSize((const char *)p + k, end - k), *value;
        if (text == NULL)
            return NULL;
        value = PyLong_FromString(PyBytes_AS_STRING(text), NULL, 10);
        Py_DECREF(text);
        return value;
    }
    memcpy(digits, p + k, end - k);
    digits[end - k] = 0;
    return PyLong_FromString(digits, NULL, 10);
}

static PyObject *core_drain(Core *self, PyObject *unused);

/* A tuple of COLUMNS empty lists (lanehost.Columns). */
static PyObject *
new_columns(void)
{
    PyObject *columns = PyTuple_New(COLUMNS);
    int k;
    if (columns == NULL)
        return NULL;
    for (k = 0; k < COLUMNS; k++) {
        PyObject *column = PyList_New(0);
        if (column == NULL) {
            Py_DECREF(columns);
            return NULL;
        }
        PyTuple_SET_ITEM(columns, k, column);
    }
    return columns;
}

static Py_ssize_t
recorded(Core *self)
{
    return PyList_GET_SIZE(PyTuple_GET_ITEM(self->records, 0));
}

/* Appends one record, a value to each column; on failure none (the columns stay aligned).
   Steals the references in `values` (NULL where building one failed). */
static int
record(Core *self, PyObject *values[COLUMNS])
{
    Py_ssize_t before = recorded(self);
    int k, failed = 0;
    for (k = 0; k < COLUMNS; k++) {
        if (!failed && (values[k] == NULL ||
                        PyList_Append(PyTuple_GET_ITEM(self->records, k), values[k]) < 0))
            failed = 1;
        Py_XDECREF(values[k]);
    }
    if (failed) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        for (k = 0; k < COLUMNS; k++) {
            PyObject *column = PyTuple_GET_ITEM(self->records, k);
            if (PyList_GET_SIZE(column) > before)
                PyList_SetSlice(column, before, PyList_GET_SIZE(column), NULL);
        }
        PyErr_Restore(type, value, tb);
        return -1;
    }
    return 0;
}

/* lane.py Lane.finish: the accounting of a forwarded answer, buffered for Python. */
static int
finish(Core *self, PyObject *data)
{
    double at = now();
    PyObject *values[COLUMNS];
    int first;
    self->inflight = NONE; /* first, as Lane.finish: a failure below ends the session, and the
                              answered request is not handed over again */
    values[4] = rows_in((const unsigned char *)PyBytes_AS_STRING(data), self->tag_start,
                        self->tag_end);
    if (values[4] == NULL)
        return -1;
    if (self->definition != NULL) {
        PyObject *portal = Py_BuildValue("(OOO)", self->definition,
                                         self->plan != NULL ? self->plan : Py_None,
                                         self->described ? Py_True : Py_False);
        if (portal == NULL) {
            Py_DECREF(values[4]);
            return -1;
        }
        Py_XSETREF(self->portal, portal);
        self->synced++;
    }
    values[0] = PyFloat_FromDouble(at);
    values[1] = Py_NewRef(self->text);
    values[2] = Py_NewRef(self->verdict);
    values[3] = Py_NewRef(self->rule);
    values[5] = PyLong_FromSsize_t(self->rows_bytes);
    values[6] = PyLong_FromLongLong((long long)((at - self->started) * 1e6));
    first = recorded(self) == 0;
    if (record(self, values) < 0)
        return -1;
    self->answered += PyBytes_GET_SIZE(data);
    clear_request(self);
    self->taken++;
    if (recorded(self) >= DRAIN_AT) {
        PyObject *r = core_drain(self, NULL);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    else if (first) {
        PyObject *r = PyObject_CallNoArgs(self->schedule);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* Hands the accounting buffered so far to Python: drained(columns, answered, portal, synced). */
static PyObject *
core_drain(Core *self, PyObject *unused)
{
    PyObject *records, *portal, *result;
    Py_ssize_t synced = self->synced, answered = self->answered;
    unsettle(self); /* first: the general path runs after a drain (see ready()) */
    if (recorded(self) == 0 && self->portal == NULL && synced == 0)
        Py_RETURN_NONE;
    records = self->records;
    self->records = new_columns();
    if (self->records == NULL) {
        self->records = records;
        return NULL;
    }
    portal = self->portal != NULL ? self->portal : Py_NewRef(Py_None);
    self->portal = NULL;
    self->synced = self->answered = 0;
    result = PyObject_CallFunction(self->drained, "OnOn", records, answered, portal, synced);
    Py_DECREF(records);
    Py_DECREF(portal);
    return result;
}

/* Ends the session with the exception at hand: relay.stop(side, exc). */
static void
stop_with_error(Core *self, int side)
{
    PyObject *type, *value, *tb, *r;
    PyErr_Fetch(&type, &value, &tb);
    unsettle(self); /* with no exception set: it may free objects */
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    r = PyObject_CallFunctionObjArgs(self->stop, str[side], value != NULL ? value : Py_None, NULL);
    if (r == NULL)
        PyErr_WriteUnraisable(self->stop);
    Py_XDECREF(r);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

static PyObject *
general(Core *self, PyObject *path, PyObject *data)
{
    PyObject *r = core_drain(self, NULL);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    return PyObject_CallOneArg(path, data);
}

/* The taken request's statement, recorded in the journal before it is forwarded: 1 recorded,
   0 not (the request is let go: the general path refuses it), -1 error. */
static int
journaled(Core *self)
{
    PyObject *ok = PyObject_CallOneArg(self->journal, self->text);
    int r;
    if (ok == NULL)
        return -1;
    r = PyObject_IsTrue(ok);
    Py_DECREF(ok);
    if (r == 0)
        clear_request(self);
    return r;
}

/* The client channel's data_received (relay.from_client with the lane). */
static PyObject *
core_client_received(Core *self, PyObject *data)
{
    int r = 0;
    if (!PyBytes_CheckExact(data))
        return general(self, self->client_general, data);
    if (self->inflight == NONE && PyBytes_GET_SIZE(data) > 0) {
        r = ready(self);
        if (r == 1) {
            unsigned char tag = (unsigned char)PyBytes_AS_STRING(data)[0];
            r = tag == 'Q' ? take_query(self, data) : tag == 'B' ? take_bind(self, data) : 0;
        }
        if (r == 1)
            r = journaled(self);
        if (r < 0) {
            stop_with_error(self, S_CLIENT);
            Py_RETURN_NONE;
        }
    }
    if (r == 1)
        return PyObject_CallOneArg(self->to_server, data);
    return general(self, self->client_general, data);
}

/* The server channel's data_received (relay.from_server with the lane). */
static PyObject *
core_server_received(Core *self, PyObject *data)
{
    int r;
    PyObject *written;
    if (self->inflight == NONE || !PyBytes_CheckExact(data))
        return general(self, self->server_general, data);
    r = attr_is(self->session, S_PHASE, self->closed);
    if (r != 0) {
        if (r < 0) {
            stop_with_error(self, S_SERVER);
            Py_RETURN_NONE;
        }
        return general(self, self->server_general, data);
    }
    r = take_answer(self, data);
    if (r == 0)
        return general(self, self->server_general, data); /* it spills the request */
    if (r < 0) {
        stop_with_error(self, S_SERVER);
        Py_RETURN_NONE;
    }
    written = PyObject_CallOneArg(self->to_client, data);
    if (written == NULL || finish(self, data) < 0) {
        Py_XDECREF(written);
        stop_with_error(self, S_SERVER);
        Py_RETURN_NONE;
    }
    Py_DECREF(written);
    Py_RETURN_NONE;
}

/* lane.py Lane.spill: the request in flight goes to the general path, as if it had taken it. */
static PyObject *
core_spill(Core *self, PyObject *unused)
{
    PyObject *r = core_drain(self, NULL), *request, *started;
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    if (self->inflight == NONE)
        Py_RETURN_NONE;
    request = Py_NewRef(self->request);
    started = PyFloat_FromDouble(self->started);
    clear_request(self);
    self->spilled++;
    if (started == NULL) {
        Py_DECREF(request);
        return NULL;
    }
    r = PyObject_CallFunctionObjArgs(self->replay, request, started, NULL);
    Py_DECREF(request);
    Py_DECREF(started);
    return r;
}

/* Reads a host member that is a size (limits' entries too) into *out; -1 on error. */
static int
host_size(PyObject *value, Py_ssize_t *out)
{
    *out = PyLong_AsSsize_t(value);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

/* Core(host): every member of the host, once (see the header). */
static int
core_init(Core *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"host", NULL};
    PyObject *host, *members[HOST_COUNT], *fast;
    PyObject **objects[HOST_OBJECTS] = {
        &self->client, &self->audit, &self->session, &self->tracker, &self->book,
        &self->client_reader, &self->server_reader, &self->to_server, &self->to_client,
        &self->client_general, &self->server_general, &self->learn, &self->drained,
        &self->schedule, &self->replay, &self->plan_of, &self->stop, &self->journal,
        &self->relaying, &self->closed,
    };
    int k, result = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &host))
        return -1;
    if (self->session != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "a lane core is initialised once");
        return -1;
    }
    for (k = 0; k < HOST_COUNT; k++) {
        members[k] = PyObject_GetAttrString(host, HOST_MEMBERS[k]);
        if (members[k] == NULL) {
            while (k-- > 0)
                Py_DECREF(members[k]);
            return -1;
        }
    }
    for (k = 0; k < HOST_OBJECTS; k++)
        *objects[k] = Py_NewRef(members[k]);
    if (host_size(members[HOST_OBJECTS], &self->client_bind_limit) < 0 ||
        (self->masks = PyObject_IsTrue(members[HOST_OBJECTS + 2])) < 0 ||
        (self->known = PyDict_New()) == NULL || (self->records = new_columns()) == NULL)
        goto done;
    fast = PySequence_Fast(members[HOST_OBJECTS + 1], "server_limits must be a sequence");
    if (fast == NULL)
        goto done;
    if (PySequence_Fast_GET_SIZE(fast) != 256)
        PyErr_SetString(PyExc_ValueError, "server_limits must have 256 entries");
    else {
        for (k = 0; k < 256; k++)
            if (host_size(PySequence_Fast_GET_ITEM(fast, k), &self->server_limits[k]) < 0)
                break;
        result = k == 256 ? 0 : -1;
    }
    Py_DECREF(fast);
done:
    for (k = 0; k < HOST_COUNT; k++)
        Py_DECREF(members[k]);
    return result;
}

/* Every object the core holds, once: tp_traverse visits and tp_clear clears this list (the
   request's fields last: clearing them is clear_request's, inflight included). */
#define CORE_OBJECTS(X)                                                                         \
    X(client) X(audit) X(session) X(tracker) X(book) X(client_reader) X(server_reader)         \
    X(to_server) X(to_client) X(client_general) X(server_general) X(learn) X(drained)          \
    X(schedule) X(replay) X(plan_of) X(stop) X(journal) X(relaying) X(closed) X(known)         \
    X(state) X(desc) X(desc_plan) X(records) X(portal) X(bind_name) X(bind_definition)         \
    X(bind_text)                                                                               \
    X(bind_verdict) X(bind_rule)                                                               \
    X(request) X(text) X(verdict) X(rule) X(definition)

static int
core_traverse(Core *self, visitproc visit, void *arg)
{
#define VISIT(field) Py_VISIT(self->field);
    CORE_OBJECTS(VISIT)
#undef VISIT
    return 0;
}

static int
core_clear(Core *self)
{
#define CLEAR(field) Py_CLEAR(self->field);
    CORE_OBJECTS(CLEAR)
#undef CLEAR
    self->inflight = NONE;
    return 0;
}

static void
core_dealloc(Core *self)
{
    PyObject_GC_UnTrack(self);
    core_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef core_methods[] = {
    {"client_received", (PyCFunction)core_client_received, METH_O,
     "The client channel's data_received: the lane's if it takes the read, else the general "
     "path's."},
    {"server_received", (PyCFunction)core_server_received, METH_O,
     "The server channel's data_received: the answer to the lane's request, else the general "
     "path's."},
    {"spill", (PyCFunction)core_spill, METH_NOARGS,
     "Drain, then hand the request in flight to the general path (client.replay)."},
    {"drain", (PyCFunction)core_drain, METH_NOARGS,
     "Hand the buffered accounting to Python: drained(columns, answered, portal, synced)."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef core_members[] = {
    {"inflight", T_INT, offsetof(Core, inflight), READONLY, "0 none, 1 simple, 2 extended"},
    {"taken", T_PYSSIZET, offsetof(Core, taken), READONLY, "requests the lane completed"},
    {"spilled", T_PYSSIZET, offsetof(Core, spilled), READONLY, "requests handed over"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gateway.postgres._lane.Core",
    .tp_doc = "One session's fast lane, compiled (see gateway.postgres.fastlane).",
    .tp_basicsize = sizeof(Core),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)core_init,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_traverse = (traverseproc)core_traverse,
    .tp_clear = (inquiry)core_clear,
    .tp_methods = core_methods,
    .tp_members = core_members,
};

static PyObject *
reader_empty_py(PyObject *module, PyObject *parser)
{
    int r = reader_empty(parser);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyMethodDef module_methods[] = {
    {"reader_empty", reader_empty_py, METH_O,
     "Whether a parser's reader holds no received bytes, as the lane reads it."},
    {"literal_shape_utf8", literal_shape_utf8, METH_O,
     "gateway.postgres.dialect.shape.literal_shape on UTF-8 bytes: the shape's bytes, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef lane_module = {
    PyModuleDef_HEAD_INIT, "_lane", "The fast lane's steady state, compiled.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

/* The interface as data, for the test that holds it to lanehost.py: HOST_MEMBERS, a tuple,
   and FIELDS, {view: (field, ...)} in the order of FIELD_NAMES. */
static int
add_interface(PyObject *m)
{
    PyObject *members = PyTuple_New(HOST_COUNT), *fields = PyDict_New();
    int k, result = -1;
    if (members == NULL || fields == NULL)
        goto done;
    for (k = 0; k < HOST_COUNT; k++) {
        PyObject *name = PyUnicode_FromString(HOST_MEMBERS[k]);
        if (name == NULL)
            goto done;
        PyTuple_SET_ITEM(members, k, name);
    }
    for (k = 0; k < S_FIELDS; k++) {
        PyObject *names = PyDict_GetItemString(fields, FIELD_VIEWS[k]), *more; /* borrowed */
        if (names == NULL) {
            names = PyTuple_New(0);
            if (names == NULL)
                goto done;
        }
        else
            Py_INCREF(names);
        more = PyTuple_Pack(1, str[k]);
        if (more == NULL) {
            Py_DECREF(names);
            goto done;
        }
        Py_SETREF(names, PySequence_Concat(names, more));
        Py_DECREF(more);
        if (names == NULL || PyDict_SetItemString(fields, FIELD_VIEWS[k], names) < 0) {
            Py_XDECREF(names);
            goto done;
        }
        Py_DECREF(names);
    }
    if (PyModule_AddObjectRef(m, "HOST_MEMBERS", members) == 0 &&
        PyModule_AddObjectRef(m, "FIELDS", fields) == 0)
        result = 0;
done:
    Py_XDECREF(members);
    Py_XDECREF(fields);
    return result;
}

PyMODINIT_FUNC
PyInit__lane(void)
{
    PyObject *m;
    int k;
    for (k = 0; k < S_COUNT; k++) {
        str[k] = PyUnicode_InternFromString(NAMES[k]);
        if (str[k] == NULL)
            return NULL;
    }
    if (PyType_Ready(&CoreType) < 0)
        return NULL;
    m = PyModule_Create(&lane_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Core", (PyObject *)&CoreType) < 0 || add_interface(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* The literal shape of a plain MySQL text, compiled: gateway.mysql._shape.

   plain_shape_utf8(data) is exactly gateway.mysql.dialect.guardrails.regex_plain_shape(text)
   on data = text.encode(): the same shape, UTF-8 encoded, or None where it returns None. The
   fast lane asks for the shape of every COM_QUERY it reads (guardrails.general_shape), and the
   regular expression's token loop was an eighth of the lane's interpreter time; this scan is
   the same loop over bytes. The regex scan stays the reference: a Hypothesis property holds
   the two equal (tests/gateway/mysql/test_shape_compiled.py).

   How a byte stands for a character. Every character the scan tells apart is ASCII; any other
   character is two to four bytes >= 0x80 whose first byte says the length. Characters of two
   and three bytes (U+0080-U+FFFF) are word characters in _PLAIN_TOKEN and _IDENT_CHAR, and so
   are all their bytes (a lead 0xC2-0xEF, continuations 0x80-0xBF): a word takes them whole.
   Characters of four bytes (U+10000 and up, lead 0xF0-0xF4) are in no class of the pattern but
   [^'], so the regex matches them only inside a string: outside one, no token starts at them
   and the text has no shape (the scan returns None at the lead byte, before any continuation
   byte could pass for a word character). The one test that is not ASCII is str.isdigit after
   a '.', which Python answers for any digit of Unicode (U+00B2, U+0663, ...): the character
   is decoded and Py_UNICODE_ISDIGIT, which str.isdigit calls, answers the same.

   The input is the UTF-8 of a str; other bytes are read within bounds, and give some answer. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* _PLAIN_TOKEN's whitespace, and the characters plain_shape strips from the end with ';' */
static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* [A-Za-z_$\u0080-\uffff], a byte of such a character: the first character of a word */
static int
is_word_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
           (c >= 0x80 && c < 0xF0);
}

/* [0-9A-Za-z_$\u0080-\uffff]: _IDENT_CHAR, the rest of a word */
static int
is_ident(unsigned char c)
{
    return is_word_start(c) || is_digit(c);
}

/* plain_shape's test `";" in body or _PLAIN_BAIL.search(body)`: ["`\\#@\x00], --, / *, * / */
static int
bails(const unsigned char *s, Py_ssize_t m)
{
    Py_ssize_t i;
    for (i = 0; i < m; i++) {
        unsigned char c = s[i], next = i + 1 < m ? s[i + 1] : 0;
        if (c == ';' || c == '"' || c == '`' || c == '\\' || c == '#' || c == '@' || c == 0 ||
            (c == '-' && next == '-') || (c == '/' && next == '*') || (c == '*' && next == '/'))
            return 1;
    }
    return 0;
}

/* '(?:[^']|'')*' at s[i] == '\'': the end of the string, or -1 when the text ends inside it.
   The regex then backtracks to the first quote of the last doubled quote and matches there;
   the next token would start at that pair's second quote, followed by no quote to the end,
   where nothing matches: regex_plain_shape returns None either way, and so does the scan. */
static Py_ssize_t
match_string(const unsigned char *s, Py_ssize_t i, Py_ssize_t m)
{
    Py_ssize_t k = i + 1;
    while (k < m) {
        if (s[k] == '\'') {
            if (k + 1 < m && s[k + 1] == '\'') {
                k += 2;
                continue;
            }
            return k + 1;
        }
        k++;
    }
    return -1;
}

/* [0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)? at a digit s[i]: its end; *dotted when it has a '.' */
static Py_ssize_t
match_number(const unsigned char *s, Py_ssize_t i, Py_ssize_t m, int *dotted)
{
    Py_ssize_t j = i, k;
    while (j < m && is_digit(s[j]))
        j++;
    *dotted = j < m && s[j] == '.';
    if (*dotted) {
        j++;
        while (j < m && is_digit(s[j]))
            j++;
    }
    if (j < m && (s[j] == 'e' || s[j] == 'E')) {
        k = j + 1;
        if (k < m && (s[k] == '+' || s[k] == '-'))
            k++;
        if (k < m && is_digit(s[k])) {
            while (k < m && is_digit(s[k]))
                k++;
            j = k;
        }
    }
    return j;
}

/* The op group at s[i]: its length (3, 2 or 1), 0 when none matches. The alternation lists
   every operator before its prefixes, so the first to match is the longest. */
static Py_ssize_t
match_op(const unsigned char *s, Py_ssize_t i, Py_ssize_t m)
{
    static const char *const LONG[] = {"<=>", "->>", "<=", ">=", "<>", "!=", ":=",
                                       "||",  "&&",  "<<", ">>", "->"};
    static const char SHORT[] = "()[]{},.=<>+-*/%&|^~!:";
    size_t k;
    for (k = 0; k < sizeof LONG / sizeof LONG[0]; k++) {
        Py_ssize_t len = (Py_ssize_t)strlen(LONG[k]);
        if (m - i >= len && memcmp(s + i, LONG[k], (size_t)len) == 0)
            return len;
    }
    return s[i] != 0 && strchr(SHORT, s[i]) != NULL ? 1 : 0;
}

/* body[j:j + 1].isdigit() for the character at s[j] (j < m), in regex_plain_shape's test of a
   '.' before a digit. 1 yes, 0 no; -1 for a four-byte character, after which the regex
   matches no token (the text has no shape, whatever isdigit says) or bytes that are not UTF-8. */
static int
char_isdigit(const unsigned char *s, Py_ssize_t j, Py_ssize_t m)
{
    unsigned char c = s[j];
    Py_UCS4 ch;
    if (c < 0x80)
        return is_digit(c);
    if (c >= 0xC0 && c < 0xE0 && j + 1 < m)
        ch = ((Py_UCS4)(c & 0x1F) << 6) | (s[j + 1] & 0x3F);
    else if (c >= 0xE0 && c < 0xF0 && j + 2 < m)
        ch = ((Py_UCS4)(c & 0x0F) << 12) | ((Py_UCS4)(s[j + 1] & 0x3F) << 6) | (s[j + 2] & 0x3F);
    else
        return -1;
    return Py_UNICODE_ISDIGIT(ch) ? 1 : 0;
}

/* Appends the separator (but before the first token), the kind and the token's len bytes at
   token (none for a literal or a parameter) to out at *o. */
static void
emit(unsigned char *out, Py_ssize_t *o, const char *kind, const unsigned char *token,
     Py_ssize_t len)
{
    size_t k = strlen(kind);
    if (*o > 0)
        out[(*o)++] = 0x1F;
    memcpy(out + *o, kind, k);
    *o += (Py_ssize_t)k;
    if (len > 0) {
        memcpy(out + *o, token, (size_t)len);
        *o += len;
    }
}

/* Writes regex_plain_shape's shape of s[0:n) into out (room for 3 * n bytes: a token of k
   bytes writes at most k + 2, kind and separator included); returns its length, or -1 where
   regex_plain_shape returns None. Each branch is one group of _PLAIN_TOKEN, in its order. */
static Py_ssize_t
shape_scan(const unsigned char *s, Py_ssize_t n, unsigned char *out)
{
    Py_ssize_t m = n, i = 0, o = 0, literals = 0;
    while (m > 0 && (s[m - 1] == ';' || is_space(s[m - 1]))) /* text.rstrip(" \t\n\r\f\v;") */
        m--;
    if (bails(s, m))
        return -1;
    while (i < m) {
        unsigned char c = s[i];
        Py_ssize_t j;
        if (is_space(c)) { /* [ \t\n\r\f\v]+ */
            while (i < m && is_space(s[i]))
                i++;
        }
        else if (c == '\'') { /* lit */
            j = match_string(s, i, m);
            if (j < 0)
                return -1;
            emit(out, &o, "?", NULL, 0);
            literals++;
            i = j;
        }
        else if (is_digit(c)) { /* number; 1abc, 0x1F: an identifier to the lexer */
            int dotted;
            j = match_number(s, i, m, &dotted);
            if (!dotted && j < m && is_ident(s[j]))
                return -1;
            emit(out, &o, "?", NULL, 0);
            literals++;
            i = j;
        }
        else if (is_word_start(c)) { /* word */
            j = i + 1;
            while (j < m && is_ident(s[j]))
                j++;
            emit(out, &o, "w", s + i, j - i);
            i = j;
        }
        else if (c == '?') { /* param */
            emit(out, &o, "p?", NULL, 0);
            i++;
        }
        else { /* op, or no token here (a four-byte character, a control character) */
            j = i + match_op(s, i, m);
            if (j == i)
                return -1;
            if (c == '.' && j == i + 1 && j < m && char_isdigit(s, j, m) != 0)
                return -1; /* the lexer reads ".5" as a number */
            emit(out, &o, "o", s + i, j - i);
            i = j;
        }
    }
    return literals > 0 ? o : -1;
}

static PyObject *
plain_shape_utf8(PyObject *module, PyObject *arg)
{
    const unsigned char *s;
    Py_ssize_t n, len;
    PyObject *out;
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "plain_shape_utf8 takes bytes");
        return NULL;
    }
    s = (const unsigned char *)PyBytes_AS_STRING(arg);
    n = PyBytes_GET_SIZE(arg);
    if (n > PY_SSIZE_T_MAX / 3)
        return PyErr_NoMemory();
    out = PyBytes_FromStringAndSize(NULL, 3 * n);
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

static PyMethodDef module_methods[] = {
    {"plain_shape_utf8", plain_shape_utf8, METH_O,
     "gateway.mysql.dialect.guardrails.regex_plain_shape on UTF-8 bytes: the shape's bytes, "
     "or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef shape_module = {
    PyModuleDef_HEAD_INIT, "_shape", "The literal shape of a plain MySQL text, compiled.", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__shape(void)
{
    return PyModule_Create(&shape_module);
}

/*
 * core/expr/expr.c — see expr.h. A hand-written lexer and a recursive-descent
 * parser with one token of lookahead. The lexer runs as the parser asks for
 * tokens, so the first error in the text is the one reported; after an error
 * every later step is a no-op and the partial tree is freed.
 */
#include "expr.h"

#include "../errors.h"
#include "../values.h"

#include <errno.h>
#include <kizuna/common.h>
#include <math.h>
#include <string.h>

typedef enum {
    TOK_ERROR, /* the lexer failed; the error is set */
    TOK_END,
    TOK_INTEGER,
    TOK_DECIMAL,
    TOK_STRING,
    TOK_QUOTED,
    TOK_NAME,
    TOK_AND,
    TOK_OR,
    TOK_NOT,
    TOK_IN,
    TOK_BETWEEN,
    TOK_LIKE,
    TOK_CONTAINS,
    TOK_IS,
    TOK_NULL,
    TOK_TRUE,
    TOK_FALSE,
    TOK_CMP, /* token.op holds the kz_expr_cmp */
    TOK_PLUS,
    TOK_MINUS,
    TOK_STAR,
    TOK_SLASH,
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_COMMA,
    TOK_DOT
} tok_kind;

static const struct {
    const char *word;
    tok_kind kind;
} keywords[] = {{"and", TOK_AND},         {"or", TOK_OR},     {"not", TOK_NOT},           {"in", TOK_IN},
                {"between", TOK_BETWEEN}, {"like", TOK_LIKE}, {"contains", TOK_CONTAINS}, {"is", TOK_IS},
                {"null", TOK_NULL},       {"true", TOK_TRUE}, {"false", TOK_FALSE}};

static const struct {
    const char *text;
    kz_expr_cmp op;
} comparisons[] = {{"=", KZ_EXPR_EQ},  {"!=", KZ_EXPR_NE}, {"<>", KZ_EXPR_NE}, {"<", KZ_EXPR_LT},
                   {"<=", KZ_EXPR_LE}, {">", KZ_EXPR_GT},  {">=", KZ_EXPR_GE}};

#define COMPARISON_LIST "=, !=, <>, <, <=, >, >="
#define VALUE_LIST      "a field, trait.NAME, a number, a 'string', true, false, null, date('YYYY-MM-DD') or '('"

typedef struct {
    tok_kind kind;
    gsize start, end; /* bytes of the text */
    int op;           /* TOK_CMP */
    gint64 i;         /* TOK_INTEGER */
    double d;         /* TOK_DECIMAL */
    char *text;       /* TOK_STRING, TOK_QUOTED: unescaped; TOK_NAME: as written */
} token;

typedef struct {
    const char *text;
    gsize pos; /* the next byte the lexer reads */
    token tok; /* the current token */
    guint depth;
    gboolean last_was_condition; /* the last predicate had an operator (for the trailing-text message) */
    GError **error;
    gboolean failed;
} parser;

/* ---- errors ------------------------------------------------------------ */

static guint column_at(const parser *p, gsize byte)
{
    return (guint)g_utf8_pointer_to_offset(p->text, p->text + byte) + 1;
}

/* Records the first error only: later ones follow from it. Returns NULL so
 * parse functions can `return fail(...)`. */
static kz_expr *fail(parser *p, gsize byte, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static kz_expr *fail(parser *p, gsize byte, const char *fmt, ...)
{
    if (p->failed)
        return NULL;
    p->failed = TRUE;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error(p->error, KZ_ERROR, KZ_ERROR_INVALID, "column %u: %s", column_at(p, byte), msg);
    return NULL;
}

/* The current token as a message shows it: "the end of the expression",
 * "'=='", "AND", "'emea'". */
static char *token_shown(const parser *p)
{
    if (p->tok.kind == TOK_END)
        return g_strdup("the end of the expression");
    gsize len = p->tok.end - p->tok.start;
    g_autofree char *slice = g_strndup(p->text + p->tok.start, len);
    if (g_utf8_strlen(slice, -1) > 30) {
        g_autofree char *cut = g_utf8_substring(slice, 0, 29);
        g_free(slice);
        slice = g_strconcat(cut, "…", NULL);
    }
    if (p->tok.kind == TOK_STRING)
        return g_steal_pointer(&slice);
    if (p->tok.kind >= TOK_AND && p->tok.kind <= TOK_FALSE)
        return g_ascii_strup(slice, -1);
    return g_strdup_printf("'%s'", slice);
}

static kz_expr *fail_got(parser *p, const char *expected)
{
    g_autofree char *got = token_shown(p);
    return fail(p, p->tok.start, "expected %s, got %s", expected, got);
}

/* ---- lexer ------------------------------------------------------------- */

static gboolean is_name_start(char c)
{
    return g_ascii_isalpha(c) || c == '_';
}

static gboolean is_name_char(char c)
{
    return g_ascii_isalnum(c) || c == '_';
}

/* Reads a '...' or "..." token whose doubled quote stands for itself. */
static void lex_quoted(parser *p, char quote, tok_kind kind)
{
    GString *s = g_string_new(NULL);
    gsize i = p->pos + 1;
    for (;;) {
        char c = p->text[i];
        if (c == '\0') {
            g_string_free(s, TRUE);
            p->tok.kind = TOK_ERROR;
            if (quote == '\'')
                fail(p, p->pos, "unterminated string: a string ends with ' (write '' for a quote inside it)");
            else
                fail(p, p->pos, "unterminated quoted name: it ends with \" (write \"\" for a double quote inside it)");
            return;
        }
        if (c == quote) {
            if (p->text[i + 1] != quote)
                break;
            i++;
        }
        g_string_append_c(s, c);
        i++;
    }
    p->tok.kind = kind;
    p->tok.text = g_string_free(s, FALSE);
    p->pos = i + 1;
}

static void lex_number(parser *p)
{
    const char *t = p->text;
    gsize i = p->pos;
    gboolean decimal = FALSE;
    while (g_ascii_isdigit(t[i]))
        i++;
    if (t[i] == '.' && g_ascii_isdigit(t[i + 1])) {
        decimal = TRUE;
        for (i++; g_ascii_isdigit(t[i]); i++)
            ;
    }
    if ((t[i] == 'e' || t[i] == 'E') &&
        (g_ascii_isdigit(t[i + 1]) || ((t[i + 1] == '+' || t[i + 1] == '-') && g_ascii_isdigit(t[i + 2])))) {
        decimal = TRUE;
        for (i += 2; g_ascii_isdigit(t[i]); i++)
            ;
    }
    if (is_name_char(t[i]) || t[i] == '.') {
        gsize end = i;
        while (is_name_char(t[end]) || t[end] == '.')
            end++;
        g_autofree char *bad = g_strndup(t + p->pos, end - p->pos);
        p->tok.kind = TOK_ERROR;
        fail(p, p->pos, "'%s' is not a number", bad);
        return;
    }
    g_autofree char *digits = g_strndup(t + p->pos, i - p->pos);
    errno = 0;
    if (decimal) {
        p->tok.kind = TOK_DECIMAL;
        p->tok.d = g_ascii_strtod(digits, NULL);
        if (errno == ERANGE || !isfinite(p->tok.d)) {
            p->tok.kind = TOK_ERROR;
            fail(p, p->pos, "number %s is out of range", digits);
            return;
        }
    } else {
        p->tok.kind = TOK_INTEGER;
        p->tok.i = g_ascii_strtoll(digits, NULL, 10);
        if (errno == ERANGE) {
            p->tok.kind = TOK_ERROR;
            fail(p, p->pos, "integer %s is out of range (at most 9223372036854775807)", digits);
            return;
        }
    }
    p->pos = i;
}

static void lex_operator(parser *p)
{
    gsize end = p->pos;
    while (p->text[end] != '\0' && strchr("=!<>&|", p->text[end]) != NULL)
        end++;
    g_autofree char *op = g_strndup(p->text + p->pos, end - p->pos);
    for (gsize k = 0; k < G_N_ELEMENTS(comparisons); k++)
        if (strcmp(op, comparisons[k].text) == 0) {
            p->tok.kind = TOK_CMP;
            p->tok.op = comparisons[k].op;
            p->pos = end;
            return;
        }
    p->tok.kind = TOK_ERROR;
    if (strchr(op, '&') != NULL)
        fail(p, p->pos, "unknown operator '%s'; write AND", op);
    else if (strchr(op, '|') != NULL)
        fail(p, p->pos, "unknown operator '%s'; write OR", op);
    else if (strcmp(op, "!") == 0)
        fail(p, p->pos, "unknown operator '!'; write NOT, or != for not equal");
    else
        fail(p, p->pos, "unknown operator '%s'; expected " COMPARISON_LIST, op);
}

/* Moves to the next token. On a lexical error the token is TOK_ERROR and
 * the error is set. */
static void advance(parser *p)
{
    g_clear_pointer(&p->tok.text, g_free);
    if (p->failed) {
        p->tok.kind = TOK_ERROR;
        return;
    }
    const char *t = p->text;
    while (t[p->pos] == ' ' || t[p->pos] == '\t' || t[p->pos] == '\n' || t[p->pos] == '\r')
        p->pos++;
    p->tok.start = p->pos;
    char c = t[p->pos];
    static const struct {
        char c;
        tok_kind kind;
    } punctuation[] = {{'(', TOK_LPAREN}, {')', TOK_RPAREN}, {',', TOK_COMMA}, {'.', TOK_DOT},
                       {'+', TOK_PLUS},   {'-', TOK_MINUS},  {'*', TOK_STAR},  {'/', TOK_SLASH}};
    if (c == '\0') {
        p->tok.kind = TOK_END;
    } else if (g_ascii_isdigit(c)) {
        lex_number(p);
    } else if (c == '\'') {
        lex_quoted(p, '\'', TOK_STRING);
    } else if (c == '"') {
        lex_quoted(p, '"', TOK_QUOTED);
    } else if (is_name_start(c)) {
        gsize end = p->pos;
        while (is_name_char(t[end]))
            end++;
        p->tok.kind = TOK_NAME;
        p->tok.text = g_strndup(t + p->pos, end - p->pos);
        for (gsize k = 0; k < G_N_ELEMENTS(keywords); k++)
            if (g_ascii_strcasecmp(p->tok.text, keywords[k].word) == 0)
                p->tok.kind = keywords[k].kind;
        p->pos = end;
    } else if (strchr("=!<>&|", c) != NULL) {
        lex_operator(p);
    } else {
        for (gsize k = 0; k < G_N_ELEMENTS(punctuation); k++)
            if (c == punctuation[k].c) {
                p->tok.kind = punctuation[k].kind;
                p->pos++;
                break;
            }
        if (p->tok.start == p->pos) {
            p->tok.kind = TOK_ERROR;
            gunichar u = g_utf8_get_char(t + p->pos);
            char shown[8] = {0};
            if (c == ';')
                fail(p, p->pos, "unexpected ';': an expression is one condition, not a statement");
            else if (g_unichar_isalpha(u) && g_unichar_to_utf8(u, shown) > 0)
                fail(p, p->pos,
                     "unexpected character '%s': names are ASCII; put a trait name with other characters in double "
                     "quotes, as in trait.\"%s\"",
                     shown, shown);
            else if (g_unichar_isprint(u) && g_unichar_to_utf8(u, shown) > 0)
                fail(p, p->pos, "unexpected character '%s'", shown);
            else
                fail(p, p->pos, "unexpected character U+%04X", u);
        }
    }
    p->tok.end = p->pos;
}

/* ---- tree -------------------------------------------------------------- */

void kz_expr_free(kz_expr *expr)
{
    if (expr == NULL)
        return;
    if (expr->kind == KZ_EXPR_LITERAL && expr->value.type == KZ_VALUE_STRING)
        g_free(expr->value.u.s);
    g_free(expr->name);
    if (expr->args != NULL)
        g_ptr_array_unref(expr->args);
    g_free(expr);
}

static kz_expr *leaf(kz_expr_kind kind, guint column)
{
    kz_expr *e = g_new0(kz_expr, 1);
    e->kind = kind;
    e->column = column;
    e->height = 1;
    return e;
}

/* An operator node over `n` arguments (taken). Fails, freeing them, when
 * the tree would grow higher than KZ_EXPR_MAX_DEPTH. */
static kz_expr *node_op(parser *p, kz_expr_kind kind, int op, gsize at, kz_expr **args, guint n)
{
    kz_expr *e = leaf(kind, column_at(p, at));
    e->op = op;
    e->args = g_ptr_array_new_full(n, (GDestroyNotify)kz_expr_free);
    for (guint i = 0; i < n; i++) {
        g_ptr_array_add(e->args, args[i]);
        e->height = MAX(e->height, args[i]->height + 1);
    }
    if (e->height > KZ_EXPR_MAX_DEPTH) {
        kz_expr_free(e);
        return fail(p, at,
                    "the expression is nested too deeply (more than %d levels); for a long list of alternatives "
                    "use IN (...)",
                    KZ_EXPR_MAX_DEPTH);
    }
    return e;
}

static kz_expr *binary(parser *p, kz_expr_kind kind, int op, gsize at, kz_expr *l, kz_expr *r)
{
    if (r == NULL) {
        kz_expr_free(l);
        return NULL;
    }
    kz_expr *args[] = {l, r};
    return node_op(p, kind, op, at, args, 2);
}

/* ---- parser ------------------------------------------------------------ */

static kz_expr *parse_or(parser *p);
static kz_expr *parse_sum(parser *p);

static gboolean enter(parser *p)
{
    if (++p->depth > KZ_EXPR_MAX_DEPTH) {
        fail(p, p->tok.start, "the expression is nested too deeply (more than %d levels)", KZ_EXPR_MAX_DEPTH);
        return FALSE;
    }
    return TRUE;
}

static kz_expr *literal(parser *p, int type)
{
    kz_expr *e = leaf(KZ_EXPR_LITERAL, column_at(p, p->tok.start));
    e->value.type = type;
    switch (p->tok.kind) {
    case TOK_INTEGER: e->value.u.i = p->tok.i; break;
    case TOK_DECIMAL: e->value.u.d = p->tok.d; break;
    case TOK_STRING: e->value.u.s = g_steal_pointer(&p->tok.text); break;
    case TOK_TRUE: e->value.u.b = TRUE; break;
    default: break;
    }
    advance(p);
    return e;
}

/* date('...'): the current token is the '(' after the name. */
static kz_expr *parse_date(parser *p, gsize at)
{
    advance(p);
    if (p->tok.kind != TOK_STRING)
        return fail_got(p, "a quoted date such as date('2026-01-31')");
    gint64 us = 0;
    if (!kz_time_parse(p->tok.text, &us))
        return fail(p, p->tok.start,
                    "'%s' is not a date; expected YYYY-MM-DD or an ISO 8601 time such as 2026-01-31T09:00:00Z",
                    p->tok.text);
    advance(p);
    if (p->tok.kind != TOK_RPAREN)
        return fail_got(p, "')' after the date: date() takes one quoted date");
    advance(p);
    kz_expr *e = leaf(KZ_EXPR_LITERAL, column_at(p, at));
    e->value.type = KZ_VALUE_TIME;
    e->value.u.t = us;
    return e;
}

static kz_expr *parse_name(parser *p)
{
    gsize at = p->tok.start;
    g_autofree char *name = g_steal_pointer(&p->tok.text);
    advance(p);
    if (p->tok.kind == TOK_LPAREN) {
        if (g_ascii_strcasecmp(name, "date") == 0)
            return parse_date(p, at);
        return fail(p, at, "unknown function '%s'; the only function is date('YYYY-MM-DD')", name);
    }
    if ((g_ascii_strcasecmp(name, "trait") == 0 || g_ascii_strcasecmp(name, "traits") == 0) && p->tok.kind == TOK_DOT) {
        advance(p);
        gboolean word = p->tok.kind == TOK_NAME || (p->tok.kind >= TOK_AND && p->tok.kind <= TOK_FALSE);
        if (!word && p->tok.kind != TOK_QUOTED) {
            g_autofree char *expected = g_strdup_printf("a trait name after '%s.'", name);
            return fail_got(p, expected);
        }
        if (p->tok.kind == TOK_QUOTED && p->tok.text[0] == '\0')
            return fail(p, p->tok.start, "a trait name cannot be empty");
        kz_expr *e = leaf(KZ_EXPR_TRAIT, column_at(p, at));
        e->name = word ? g_strndup(p->text + p->tok.start, p->tok.end - p->tok.start) : g_steal_pointer(&p->tok.text);
        advance(p);
        return e;
    }
    kz_expr *e = leaf(KZ_EXPR_FIELD, column_at(p, at));
    e->name = g_steal_pointer(&name);
    return e;
}

static kz_expr *parse_primary(parser *p)
{
    switch (p->tok.kind) {
    case TOK_INTEGER: return literal(p, KZ_VALUE_INT);
    case TOK_DECIMAL: return literal(p, KZ_VALUE_DOUBLE);
    case TOK_STRING: return literal(p, KZ_VALUE_STRING);
    case TOK_TRUE:
    case TOK_FALSE: return literal(p, KZ_VALUE_BOOL);
    case TOK_NULL: return literal(p, KZ_VALUE_NULL);
    case TOK_NAME: return parse_name(p);
    case TOK_QUOTED:
        return fail(p, p->tok.start, "a \"quoted\" name can only follow trait.; strings take single quotes: 'text'");
    case TOK_LPAREN: {
        gsize open = p->tok.start;
        if (!enter(p))
            return NULL;
        advance(p);
        kz_expr *e = parse_or(p);
        p->depth--;
        if (e == NULL)
            return NULL;
        if (p->tok.kind != TOK_RPAREN) {
            g_autofree char *expected = g_strdup_printf("')' to close the '(' at column %u", column_at(p, open));
            kz_expr_free(e);
            return fail_got(p, expected);
        }
        advance(p);
        p->last_was_condition = FALSE;
        return e;
    }
    case TOK_ERROR: return NULL;
    default: return fail_got(p, "a value (" VALUE_LIST ")");
    }
}

static kz_expr *parse_unary(parser *p)
{
    if (p->tok.kind != TOK_MINUS)
        return parse_primary(p);
    gsize at = p->tok.start;
    if (!enter(p))
        return NULL;
    advance(p);
    kz_expr *operand = parse_unary(p);
    p->depth--;
    if (operand == NULL)
        return NULL;
    if (operand->kind == KZ_EXPR_LITERAL && operand->value.type == KZ_VALUE_INT && operand->value.u.i != G_MININT64) {
        operand->value.u.i = -operand->value.u.i; /* fold -5 into a literal */
        operand->column = column_at(p, at);
        return operand;
    }
    if (operand->kind == KZ_EXPR_LITERAL && operand->value.type == KZ_VALUE_DOUBLE) {
        operand->value.u.d = -operand->value.u.d;
        operand->column = column_at(p, at);
        return operand;
    }
    return node_op(p, KZ_EXPR_NEGATE, 0, at, &operand, 1);
}

static kz_expr *parse_product(parser *p)
{
    kz_expr *l = parse_unary(p);
    while (l != NULL && (p->tok.kind == TOK_STAR || p->tok.kind == TOK_SLASH)) {
        int op = p->tok.kind == TOK_STAR ? KZ_EXPR_MUL : KZ_EXPR_DIV;
        gsize at = p->tok.start;
        advance(p);
        l = binary(p, KZ_EXPR_ARITH, op, at, l, parse_unary(p));
    }
    return l;
}

static kz_expr *parse_sum(parser *p)
{
    kz_expr *l = parse_product(p);
    while (l != NULL && (p->tok.kind == TOK_PLUS || p->tok.kind == TOK_MINUS)) {
        int op = p->tok.kind == TOK_PLUS ? KZ_EXPR_ADD : KZ_EXPR_SUB;
        gsize at = p->tok.start;
        advance(p);
        l = binary(p, KZ_EXPR_ARITH, op, at, l, parse_product(p));
    }
    return l;
}

/* `l` IN ( ... ): the current token is IN. */
static kz_expr *parse_in(parser *p, kz_expr *l, gsize at, gboolean negated)
{
    advance(p);
    g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func((GDestroyNotify)kz_expr_free);
    g_ptr_array_add(args, l);
    if (p->tok.kind != TOK_LPAREN)
        return fail_got(p, "'(' after IN, as in region IN ('emea', 'apac')");
    do {
        advance(p);
        kz_expr *item = parse_sum(p);
        if (item == NULL)
            return NULL;
        g_ptr_array_add(args, item);
    } while (p->tok.kind == TOK_COMMA);
    if (p->tok.kind != TOK_RPAREN)
        return fail_got(p, "',' or ')' in the IN list");
    advance(p);
    guint n = args->len;
    kz_expr **items = (kz_expr **)g_ptr_array_steal(args, NULL);
    kz_expr *e = node_op(p, KZ_EXPR_IN, 0, at, items, n);
    g_free(items);
    if (e != NULL)
        e->negated = negated;
    return e;
}

static kz_expr *parse_predicate(parser *p)
{
    kz_expr *l = parse_sum(p);
    if (l == NULL)
        return NULL;
    gsize at = p->tok.start;
    gboolean negated = FALSE;
    p->last_was_condition = TRUE;
    if (p->tok.kind == TOK_CMP) {
        int op = p->tok.op;
        advance(p);
        return binary(p, KZ_EXPR_COMPARE, op, at, l, parse_sum(p));
    }
    if (p->tok.kind == TOK_IS) {
        advance(p);
        if (p->tok.kind == TOK_NOT) {
            negated = TRUE;
            advance(p);
        }
        if (p->tok.kind != TOK_NULL) {
            kz_expr_free(l);
            return fail_got(p, negated ? "NULL after IS NOT" : "NULL or NOT NULL after IS");
        }
        advance(p);
        kz_expr *e = node_op(p, KZ_EXPR_IS_NULL, 0, at, &l, 1);
        if (e != NULL)
            e->negated = negated;
        return e;
    }
    if (p->tok.kind == TOK_NOT) {
        advance(p);
        negated = TRUE;
        if (p->tok.kind != TOK_IN && p->tok.kind != TOK_BETWEEN && p->tok.kind != TOK_LIKE &&
            p->tok.kind != TOK_CONTAINS) {
            kz_expr_free(l);
            return fail_got(p, "IN, BETWEEN, LIKE or CONTAINS after NOT");
        }
    }
    kz_expr *e = NULL;
    switch (p->tok.kind) {
    case TOK_IN: return parse_in(p, l, at, negated);
    case TOK_BETWEEN: {
        advance(p);
        kz_expr *lo = parse_sum(p);
        if (lo != NULL && p->tok.kind != TOK_AND) {
            kz_expr_free(lo);
            lo = fail_got(p, "AND between the bounds of BETWEEN, as in arr BETWEEN 1000 AND 5000");
        }
        if (lo == NULL) {
            kz_expr_free(l);
            return NULL;
        }
        advance(p);
        kz_expr *hi = parse_sum(p);
        if (hi == NULL) {
            kz_expr_free(l);
            kz_expr_free(lo);
            return NULL;
        }
        kz_expr *args[] = {l, lo, hi};
        e = node_op(p, KZ_EXPR_BETWEEN, 0, at, args, 3);
        break;
    }
    case TOK_LIKE:
    case TOK_CONTAINS: {
        kz_expr_kind kind = p->tok.kind == TOK_LIKE ? KZ_EXPR_LIKE : KZ_EXPR_CONTAINS;
        advance(p);
        e = binary(p, kind, 0, at, l, parse_sum(p));
        break;
    }
    default: p->last_was_condition = FALSE; return l;
    }
    if (e != NULL)
        e->negated = negated;
    return e;
}

static kz_expr *parse_not(parser *p)
{
    if (p->tok.kind != TOK_NOT)
        return parse_predicate(p);
    gsize at = p->tok.start;
    if (!enter(p))
        return NULL;
    advance(p);
    kz_expr *operand = parse_not(p);
    p->depth--;
    if (operand == NULL)
        return NULL;
    p->last_was_condition = TRUE;
    return node_op(p, KZ_EXPR_NOT, 0, at, &operand, 1);
}

static kz_expr *parse_and(parser *p)
{
    kz_expr *l = parse_not(p);
    while (l != NULL && p->tok.kind == TOK_AND) {
        gsize at = p->tok.start;
        advance(p);
        l = binary(p, KZ_EXPR_AND, 0, at, l, parse_not(p));
    }
    return l;
}

static kz_expr *parse_or(parser *p)
{
    kz_expr *l = parse_and(p);
    while (l != NULL && p->tok.kind == TOK_OR) {
        gsize at = p->tok.start;
        advance(p);
        l = binary(p, KZ_EXPR_OR, 0, at, l, parse_and(p));
    }
    return l;
}

kz_expr *kz_expr_parse(const char *text, GError **error)
{
    g_return_val_if_fail(text != NULL, NULL);
    parser p = {.text = text, .error = error};
    const char *bad = NULL;
    if (!g_utf8_validate(text, -1, &bad)) {
        fail(&p, (gsize)(bad - text), "the expression is not valid UTF-8");
        return NULL;
    }
    if (strlen(text) > KZ_EXPR_MAX_LENGTH)
        return fail(&p, 0, "the expression is longer than %d bytes", KZ_EXPR_MAX_LENGTH);
    advance(&p);
    if (p.tok.kind == TOK_END)
        return fail(&p, p.tok.start, "the expression is empty; expected a condition such as region = 'emea'");
    kz_expr *e = parse_or(&p);
    if (e != NULL && p.tok.kind != TOK_END) {
        g_autofree char *got = token_shown(&p);
        if (p.tok.kind == TOK_RPAREN)
            fail(&p, p.tok.start, "unexpected ')': no '(' is open");
        else if (p.tok.kind == TOK_CMP && p.last_was_condition)
            fail(&p, p.tok.start, "unexpected %s: comparisons do not chain; join them with AND", got);
        else if (p.last_was_condition)
            fail(&p, p.tok.start, "unexpected %s; expected AND, OR or the end of the expression", got);
        else
            fail(&p, p.tok.start,
                 "unexpected %s; expected an operator (" COMPARISON_LIST
                 ", IS, IN, BETWEEN, LIKE, CONTAINS, +, -, *, /), AND, OR or the end of the expression",
                 got);
    }
    g_free(p.tok.text);
    if (p.failed) {
        kz_expr_free(e);
        return NULL;
    }
    return e;
}

/* ---- writing back ------------------------------------------------------ */

static gboolean is_plain_name(const char *name)
{
    if (!is_name_start(name[0]))
        return FALSE;
    for (const char *c = name; *c != '\0'; c++)
        if (!is_name_char(*c))
            return FALSE;
    for (gsize k = 0; k < G_N_ELEMENTS(keywords); k++)
        if (g_ascii_strcasecmp(name, keywords[k].word) == 0)
            return FALSE;
    return TRUE;
}

static void append_quoted(GString *s, const char *text, char quote)
{
    g_string_append_c(s, quote);
    for (const char *c = text; *c != '\0'; c++) {
        if (*c == quote)
            g_string_append_c(s, quote);
        g_string_append_c(s, *c);
    }
    g_string_append_c(s, quote);
}

static void append_literal(GString *s, const kz_expr_value *v)
{
    switch (v->type) {
    case KZ_VALUE_NULL: g_string_append(s, "null"); break;
    case KZ_VALUE_BOOL: g_string_append(s, v->u.b ? "true" : "false"); break;
    case KZ_VALUE_INT: g_string_append_printf(s, "%" G_GINT64_FORMAT, v->u.i); break;
    case KZ_VALUE_DOUBLE: {
        g_autofree char *d = kz_double_format(v->u.d);
        g_string_append(s, d);
        if (strpbrk(d, ".eE") == NULL)
            g_string_append(s, ".0"); /* reads back as a decimal */
        break;
    }
    case KZ_VALUE_STRING: append_quoted(s, v->u.s, '\''); break;
    case KZ_VALUE_TIME: {
        g_autofree char *t = kz_time_format(v->u.t);
        if (g_str_has_suffix(t, "T00:00:00Z"))
            t[strlen(t) - strlen("T00:00:00Z")] = '\0';
        g_string_append_printf(s, "date('%s')", t);
        break;
    }
    default: g_string_append(s, "?"); break;
    }
}

static const char *const cmp_text[] = {"=", "!=", "<", "<=", ">", ">="};
static const char *const arith_text[] = {"+", "-", "*", "/"};

static void append_expr(GString *s, const kz_expr *e)
{
    const char *word = NULL;
    switch (e->kind) {
    case KZ_EXPR_LITERAL: append_literal(s, &e->value); return;
    case KZ_EXPR_FIELD: g_string_append(s, e->name); return;
    case KZ_EXPR_TRAIT:
        g_string_append(s, "trait.");
        if (is_plain_name(e->name))
            g_string_append(s, e->name);
        else
            append_quoted(s, e->name, '"');
        return;
    case KZ_EXPR_NEGATE:
        g_string_append(s, "(-");
        append_expr(s, e->args->pdata[0]);
        g_string_append_c(s, ')');
        return;
    case KZ_EXPR_NOT:
        g_string_append(s, "(NOT ");
        append_expr(s, e->args->pdata[0]);
        g_string_append_c(s, ')');
        return;
    case KZ_EXPR_IS_NULL:
        g_string_append_c(s, '(');
        append_expr(s, e->args->pdata[0]);
        g_string_append(s, e->negated ? " IS NOT NULL)" : " IS NULL)");
        return;
    case KZ_EXPR_IN:
        g_string_append_c(s, '(');
        append_expr(s, e->args->pdata[0]);
        g_string_append(s, e->negated ? " NOT IN (" : " IN (");
        for (guint i = 1; i < e->args->len; i++) {
            if (i > 1)
                g_string_append(s, ", ");
            append_expr(s, e->args->pdata[i]);
        }
        g_string_append(s, "))");
        return;
    case KZ_EXPR_BETWEEN:
        g_string_append_c(s, '(');
        append_expr(s, e->args->pdata[0]);
        g_string_append(s, e->negated ? " NOT BETWEEN " : " BETWEEN ");
        append_expr(s, e->args->pdata[1]);
        g_string_append(s, " AND ");
        append_expr(s, e->args->pdata[2]);
        g_string_append_c(s, ')');
        return;
    case KZ_EXPR_ARITH: word = arith_text[e->op]; break;
    case KZ_EXPR_COMPARE: word = cmp_text[e->op]; break;
    case KZ_EXPR_LIKE: word = e->negated ? "NOT LIKE" : "LIKE"; break;
    case KZ_EXPR_CONTAINS: word = e->negated ? "NOT CONTAINS" : "CONTAINS"; break;
    case KZ_EXPR_AND: word = "AND"; break;
    case KZ_EXPR_OR: word = "OR"; break;
    }
    g_string_append_c(s, '(');
    append_expr(s, e->args->pdata[0]);
    g_string_append_printf(s, " %s ", word);
    append_expr(s, e->args->pdata[1]);
    g_string_append_c(s, ')');
}

char *kz_expr_to_string(const kz_expr *expr)
{
    GString *s = g_string_new(NULL);
    append_expr(s, expr);
    return g_string_free(s, FALSE);
}

char *kz_expr_describe(const kz_expr *expr)
{
    char *text = kz_expr_to_string(expr);
    if (g_utf8_strlen(text, -1) <= 40)
        return text;
    g_autofree char *cut = g_utf8_substring(text, 0, 39);
    g_free(text);
    return g_strconcat(cut, "…", NULL);
}

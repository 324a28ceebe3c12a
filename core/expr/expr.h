/*
 * core/expr/expr.h — Kizuna's expression language: the conditions people
 * write over an account (`kizuna accounts --where`, and later lifecycle
 * conditions, tier rules and playbook segments). This file owns the
 * syntax only: text in, a syntax tree out, every error naming the 1-based
 * character column. What a name means, which types fit together and how
 * an expression runs belong to a compiler (expr_sql.h compiles to SQL).
 *
 * Grammar (keywords and `date` in any case; docs/cli.md has the user's
 * version):
 *
 *   expr      := and { OR and }
 *   and       := not { AND not }
 *   not       := NOT not | predicate
 *   predicate := sum [ cmp sum
 *                    | IS [NOT] NULL
 *                    | [NOT] IN '(' sum { ',' sum } ')'
 *                    | [NOT] BETWEEN sum AND sum
 *                    | [NOT] LIKE sum
 *                    | [NOT] CONTAINS sum ]
 *   cmp       := '=' | '!=' | '<>' | '<' | '<=' | '>' | '>='
 *   sum       := product { ('+' | '-') product }
 *   product   := unary { ('*' | '/') unary }
 *   unary     := '-' unary | primary
 *   primary   := INTEGER | DECIMAL | STRING | TRUE | FALSE | NULL
 *              | DATE '(' STRING ')'                a time: kz_time_parse() (values.h)
 *              | NAME                              a field
 *              | (TRAIT | TRAITS) '.' (NAME | QUOTED)   a trait by name
 *              | '(' expr ')'
 *
 *   NAME     [A-Za-z_][A-Za-z0-9_]*, not a keyword
 *   STRING   'text', with '' for a quote inside
 *   QUOTED   "text", with "" for a double quote inside (trait names with
 *            spaces or dashes: trait."nps score")
 *   INTEGER  digits, fits in 64 bits; DECIMAL  digits '.' digits [e[+-]digits]
 *
 * There is nothing else: no statement, no `;`, no comment, no function but
 * date(). Input is at most KZ_EXPR_MAX_LENGTH bytes of UTF-8 and nests at
 * most KZ_EXPR_MAX_DEPTH levels.
 */
#ifndef KZ_CORE_EXPR_H
#define KZ_CORE_EXPR_H

#include <glib.h>

G_BEGIN_DECLS

#define KZ_EXPR_MAX_LENGTH 16384
#define KZ_EXPR_MAX_DEPTH  100

typedef enum {
    KZ_EXPR_LITERAL,  /* value */
    KZ_EXPR_FIELD,    /* name: a bare NAME; the compiler decides whether it exists */
    KZ_EXPR_TRAIT,    /* name: the trait's name as written after `trait.` */
    KZ_EXPR_NEGATE,   /* - args[0] */
    KZ_EXPR_ARITH,    /* args[0] op args[1]; op: kz_expr_arith */
    KZ_EXPR_COMPARE,  /* args[0] op args[1]; op: kz_expr_cmp */
    KZ_EXPR_IS_NULL,  /* args[0] IS [NOT] NULL */
    KZ_EXPR_IN,       /* args[0] [NOT] IN (args[1], ...) */
    KZ_EXPR_BETWEEN,  /* args[0] [NOT] BETWEEN args[1] AND args[2] */
    KZ_EXPR_LIKE,     /* args[0] [NOT] LIKE args[1] */
    KZ_EXPR_CONTAINS, /* args[0] [NOT] CONTAINS args[1] */
    KZ_EXPR_NOT,      /* NOT args[0] */
    KZ_EXPR_AND,      /* args[0] AND args[1] */
    KZ_EXPR_OR        /* args[0] OR args[1] */
} kz_expr_kind;

typedef enum { KZ_EXPR_EQ, KZ_EXPR_NE, KZ_EXPR_LT, KZ_EXPR_LE, KZ_EXPR_GT, KZ_EXPR_GE } kz_expr_cmp;
typedef enum { KZ_EXPR_ADD, KZ_EXPR_SUB, KZ_EXPR_MUL, KZ_EXPR_DIV } kz_expr_arith;

/* A literal. `type` is an enum kz_value_type (kizuna/common.h):
 * KZ_VALUE_NULL for null, STRING, INT, DOUBLE (a DECIMAL), BOOL, or TIME
 * (a date() literal, microseconds UTC). */
typedef struct kz_expr_value {
    int type;
    union {
        char *s;    /* STRING, owned */
        gint64 i;   /* INT */
        double d;   /* DOUBLE */
        gboolean b; /* BOOL */
        gint64 t;   /* TIME */
    } u;
} kz_expr_value;

/* One node of the tree. Owned by its parent; the root by the caller. */
typedef struct kz_expr {
    kz_expr_kind kind;
    int op;              /* COMPARE: kz_expr_cmp; ARITH: kz_expr_arith; otherwise 0 */
    gboolean negated;    /* IS NOT NULL, NOT IN, NOT BETWEEN, NOT LIKE, NOT CONTAINS */
    guint column;        /* 1-based character column of the node: its first character for
                          * operands, its operator for operators (what errors point at) */
    guint height;        /* 1 for a leaf, else 1 + the highest argument; at most KZ_EXPR_MAX_DEPTH */
    char *name;          /* FIELD, TRAIT; NULL otherwise */
    kz_expr_value value; /* LITERAL */
    GPtrArray *args;     /* kz_expr*, owned; NULL for LITERAL, FIELD and TRAIT */
} kz_expr;

/* Parses `text`. Returns the tree, or NULL with `error` (KZ_ERROR_INVALID)
 * set to one line "column N: what is wrong; what was expected". */
kz_expr *kz_expr_parse(const char *text, GError **error);
void kz_expr_free(kz_expr *expr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_expr, kz_expr_free)

/* The tree written back as text, every operator in parentheses:
 * "((region = 'emea') AND (arr > 1000))". For tests and messages. */
char *kz_expr_to_string(const kz_expr *expr);

/* How a node is shown in a message: its text as kz_expr_to_string()
 * writes it ("region", "trait.tier", "'emea'", "(arr + 1)"), cut to 40
 * characters. */
char *kz_expr_describe(const kz_expr *expr);

G_END_DECLS

#endif

/*
 * core/cli/cli.h — what the command files share: exit codes, the command
 * table entry, output helpers.
 */
#ifndef KZ_CLI_H
#define KZ_CLI_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <kizuna/plugin.h>

struct kz_config;
struct kz_registry;
struct kz_store;
struct sqlite3;

/* Exit codes, documented in docs/cli.md. */
enum {
    KZ_EXIT_OK = 0,      /* done; for checks: nothing wrong */
    KZ_EXIT_FAILED = 1,  /* a check found problems, or the command failed on its input */
    KZ_EXIT_USAGE = 2,   /* wrong command line */
    KZ_EXIT_INTERNAL = 3 /* the host itself could not work (out of memory, I/O) */
};

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
} kz_command;

int kz_cmd_plugins(int argc, char **argv);
int kz_cmd_plugin(int argc, char **argv);
int kz_cmd_check(int argc, char **argv);
int kz_cmd_sync(int argc, char **argv);
int kz_cmd_quarantine(int argc, char **argv);
int kz_cmd_accounts(int argc, char **argv);
int kz_cmd_account(int argc, char **argv);
int kz_cmd_measures(int argc, char **argv);
int kz_cmd_score(int argc, char **argv);
int kz_cmd_backtest(int argc, char **argv);
int kz_cmd_lifecycle(int argc, char **argv);
int kz_cmd_assign(int argc, char **argv);
int kz_cmd_org(int argc, char **argv);
int kz_cmd_run(int argc, char **argv);
int kz_cmd_touches(int argc, char **argv);
int kz_cmd_tasks(int argc, char **argv);
int kz_cmd_report(int argc, char **argv);
int kz_cmd_feedback(int argc, char **argv);

/* Loads the config named on the command line, its registry and its store;
 * prints the problems and returns FALSE when it cannot. */
gboolean kz_cli_load_stack(struct kz_config **cfg, struct kz_registry **reg, struct kz_store **store);

/* For the sections of `kizuna account ID`: the stack config and its store
 * opened read-only. TRUE with *db NULL when there is no config or store
 * (the account part already said why); FALSE after printing an error. The
 * caller closes *db and frees *cfg. */
gboolean kz_cli_open_readonly(struct kz_config **cfg, struct sqlite3 **db);

/* Adds the account's latest health (score, grade, trend, top
 * contributions) to `b` (a JSON object being built: member "health"), or
 * prints it when `b` is NULL. FALSE after printing an error. */
gboolean kz_cli_show_health(const char *id, JsonBuilder *b);

/* Adds the account's phase, tier and owner to `b` (member "lifecycle"),
 * and the latest `recent` of their changes (member "history"), or prints
 * them when `b` is NULL. FALSE after printing an error. */
gboolean kz_cli_show_state(const char *id, gint64 recent, JsonBuilder *b);

/* The stages of `kizuna run`, each printing why it failed: measures as
 * of `as_of` rolled up and the health model's run kept (*run: its id;
 * per_grade, KZ_CONFIG_MAX_GRADES + 1 counts, counts accounts by grade
 * index, the unscored last; worst gets the ids of the accounts in the
 * worst grade);
 * owners assigned and stored (counts: assigned, new, moved, unowned). */
gboolean kz_cli_score_stage(struct kz_config *cfg, struct kz_registry *reg, struct kz_store *store, gint64 as_of,
                            gint64 *run, guint *per_grade, GPtrArray *worst);
gboolean kz_cli_assign_stage(const struct kz_config *cfg, const struct kz_registry *reg, struct kz_store *store,
                             guint counts[4]);
/* Syncs source instance `ci` into `store` (progress on a terminal unless
 * `quiet`); prints the problems. `report` is filled (clear it after). */
gboolean kz_cli_sync_one(const struct kz_config *cfg, const struct kz_registry *reg, struct kz_store *store,
                         const void *ci, gboolean quiet, void *report);
/* The stack config the global options name, or NULL when there is none. */
const char *kz_cli_config_path(void);

/* Parses a command's own options; prints the error and returns FALSE on
 * a usage error. */
gboolean kz_cli_parse(int *argc, char ***argv, const char *params, const char *summary, const GOptionEntry *entries);

/* Writes `root` as pretty JSON on stdout (secrets masked) and frees it. */
void kz_cli_print_json(JsonNode *root);

/* RFC 4180 output: appends one field (quoted when it must be; NULL is an
 * empty field) to `line`; end_line prints the line with CRLF and empties it. */
void kz_cli_csv_field(GString *line, const char *value);
void kz_cli_csv_end_line(GString *line);

/* Prints text on stdout with secrets masked. */
void kz_cli_print(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* --as-of DATE (NULL: today) as the midnight that ends the day before
 * DATE: what measures and the lifecycle are evaluated as of. A date after
 * today is refused. Prints why and returns FALSE. */
gboolean kz_cli_parse_as_of(const char *text, gint64 *as_of);

/* A member of the JSON object being built; NULL strings and non-finite
 * numbers become null, times ISO 8601. */
void kz_cli_json_str(JsonBuilder *b, const char *name, const char *v);
void kz_cli_json_int(JsonBuilder *b, const char *name, gint64 v);
void kz_cli_json_bool(JsonBuilder *b, const char *name, gboolean v);
void kz_cli_json_double(JsonBuilder *b, const char *name, double v);
void kz_cli_json_time(JsonBuilder *b, const char *name, gint64 us);

#endif

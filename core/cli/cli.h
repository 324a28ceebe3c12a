/*
 * core/cli/cli.h — what the command files share: exit codes, the command
 * table entry, output helpers.
 */
#ifndef KZ_CLI_H
#define KZ_CLI_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <kizuna/plugin.h>

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

/* The stack config the global options name, or NULL when there is none. */
const char *kz_cli_config_path(void);

/* Parses a command's own options; prints the error and returns FALSE on
 * a usage error. */
gboolean kz_cli_parse(int *argc, char ***argv, const char *params, const char *summary, const GOptionEntry *entries);

/* Writes `root` as pretty JSON on stdout (secrets masked) and frees it. */
void kz_cli_print_json(JsonNode *root);

/* Prints text on stdout with secrets masked. */
void kz_cli_print(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

#endif

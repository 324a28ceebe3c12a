/*
 * core/cli/main.c — the `kizuna` command: global options, then a command.
 *
 *   kizuna [--config FILE] [-v] COMMAND [OPTIONS]
 *
 * Commands live in cli/cmd_*.c; each gets the arguments after its name and
 * returns the process exit code (docs/cli.md lists them).
 */
#include "cli.h"

#include "../instance.h"
#include "../log.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static const kz_command commands[] = {
    {"plugins", "List every plugin found and every file refused", kz_cmd_plugins},
    {"plugin", "plugin check FILE: check that one plugin file loads", kz_cmd_plugin},
    {"check", "Validate the stack config and the plugins it uses", kz_cmd_check},
    {"sync", "Pull every source of the stack into the store", kz_cmd_sync},
    {"quarantine", "List the input records sync rejected, and why", kz_cmd_quarantine},
    {"accounts", "List accounts (--where EXPR filters; --json, --csv)", kz_cmd_accounts},
    {"account",
     "account ID: one account with its lifecycle and its history, health, traits, contacts and latest activity",
     kz_cmd_account},
    {"measures", "Roll up the measures of the stack config per account", kz_cmd_measures},
    {"score", "Score every account with the health model and keep the run", kz_cmd_score},
    {"backtest", "Evaluate the health model's scorers against an outcome (--label EXPR, --fit)", kz_cmd_backtest},
    {"lifecycle", "Evaluate and list the lifecycle phase and touch tier of every account", kz_cmd_lifecycle},
    {"assign", "Assign owners through the organization model (--dry-run shows what would change)", kz_cmd_assign},
    {"org", "org simulate: compare every configured organization model on the current book", kz_cmd_org},
    {"run", "The whole job: sync, score, lifecycle, assign, playbooks, deliver; then a summary", kz_cmd_run},
    {"touches", "List the outbox (--status S); touches retry ID makes a dead touch due again", kz_cmd_touches},
    {"tasks", "List the open tasks the task channel made for CSMs (--csm ID); tasks done ID closes one", kz_cmd_tasks},
    {"report", "The CS KPIs over a period, as text, JSON, CSV or HTML (--period 2026-Q3 --by tier)", kz_cmd_report},
    {"feedback", "The feature requests by tag, with the accounts and ARR asking (--csv: every request)",
     kz_cmd_feedback},
};

static char *opt_config;
static gboolean opt_version;
static int opt_verbose;

static gboolean count_verbose(const char *name, const char *value, gpointer data, GError **error)
{
    (void)name, (void)value, (void)data, (void)error;
    opt_verbose++;
    return TRUE;
}

static const GOptionEntry global_entries[] = {
    {"config", 'c', 0, G_OPTION_ARG_FILENAME, &opt_config, "Stack config (default: $KIZUNA_CONFIG, ./kizuna.xml)",
     "FILE"},
    {"verbose", 'v', G_OPTION_FLAG_NO_ARG, G_OPTION_ARG_CALLBACK, (gpointer)count_verbose, "Log more (twice: debug)",
     NULL},
    {"version", 0, 0, G_OPTION_ARG_NONE, &opt_version, "Print the version and plugin ABI, then exit", NULL},
    G_OPTION_ENTRY_NULL};

const char *kz_cli_config_path(void)
{
    if (opt_config != NULL)
        return opt_config;
    const char *env = g_getenv("KIZUNA_CONFIG");
    if (env != NULL && env[0] != '\0')
        return env;
    if (g_file_test("kizuna.xml", G_FILE_TEST_IS_REGULAR))
        return "kizuna.xml";
    return NULL;
}

static char *command_summary(void)
{
    GString *s = g_string_new("Commands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        g_string_append_printf(s, "  %-10s %s\n", commands[i].name, commands[i].summary);
    g_string_append(s, "\nSee docs/cli.md, or kizuna COMMAND --help.");
    return g_string_free(s, FALSE);
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    g_autoptr(GOptionContext) ctx = g_option_context_new("COMMAND [OPTIONS]");
    g_option_context_set_summary(ctx, "Kizuna: the Customer Success platform core.");
    g_autofree char *desc = command_summary();
    g_option_context_set_description(ctx, desc);
    g_option_context_add_main_entries(ctx, global_entries, NULL);
    g_option_context_set_strict_posix(ctx, TRUE); /* stop at the command name */
    g_autoptr(GError) err = NULL;
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "kizuna: %s\n", err->message);
        return KZ_EXIT_USAGE;
    }
    kz_log_init(opt_verbose >= 2 ? 4 : opt_verbose == 1 ? 3 : 2);
    const char *now = g_getenv("KIZUNA_NOW");
    if (now != NULL && now[0] != '\0') {
        g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
        g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(now, utc);
        if (t == NULL) {
            fprintf(stderr, "kizuna: KIZUNA_NOW: expected an ISO 8601 time such as 2026-11-23T09:00:00Z, got '%s'\n",
                    now);
            return KZ_EXIT_USAGE;
        }
        kz_host_set_clock(g_date_time_to_unix(t) * G_USEC_PER_SEC + g_date_time_get_microsecond(t));
    }
    if (opt_version) {
        printf("kizuna %s (plugin ABI %d.%d)\n", KZ_VERSION, KZ_ABI_MAJOR, KZ_ABI_MINOR);
        return KZ_EXIT_OK;
    }
    if (argc < 2) {
        g_autofree char *help = g_option_context_get_help(ctx, TRUE, NULL);
        fputs(help, stderr);
        return KZ_EXIT_USAGE;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "kizuna: unknown command '%s' (kizuna --help lists them)\n", argv[1]);
    return KZ_EXIT_USAGE;
}

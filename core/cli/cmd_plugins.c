/*
 * core/cli/cmd_plugins.c — `kizuna plugins` and `kizuna plugin check`: the
 * inspect commands (GStreamer's gst-inspect plays this role there). They
 * show everything a plugin declares, and every file refused with why.
 */
#include "cli.h"

#include "../sync/sync.h"

#include "../config.h"
#include "../loader.h"
#include "../params.h"
#include "../stack.h"

#include <stdio.h>
#include <string.h>

/* "tech", "tech+low", ... for a KZ_TIER_MASK() set. */
static char *tiers_text(guint32 tiers, const char *sep)
{
    static const char *const names[] = {NULL, "tech", "low", "high"};
    GString *s = g_string_new(NULL);
    for (guint t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++)
        if (tiers & KZ_TIER_MASK(t))
            g_string_append_printf(s, "%s%s", s->len ? sep : "", names[t]);
    return g_string_free(s, FALSE);
}

static const char *tier_name(guint32 tier)
{
    static const char *const names[] = {"none", "tech", "low", "high"};
    return tier < G_N_ELEMENTS(names) ? names[tier] : "unknown";
}

static JsonNode *component_json(const kz_component_info *c)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, c->name);
    json_builder_set_member_name(b, "kind");
    json_builder_add_string_value(b, kz_component_kind_name(c->kind));
    json_builder_set_member_name(b, "summary");
    json_builder_add_string_value(b, c->summary);
    switch (c->kind) {
    case KZ_COMPONENT_SOURCE:
        json_builder_set_member_name(b, "entities");
        json_builder_begin_array(b);
        for (guint e = KZ_ENTITY_ACCOUNT; e <= KZ_ENTITY_ROW; e++)
            if (c->vt.source.entities & KZ_ENTITY_MASK(e))
                json_builder_add_string_value(b, kz_entity_name(e));
        json_builder_end_array(b);
        break;
    case KZ_COMPONENT_SCORER:
        json_builder_set_member_name(b, "output");
        json_builder_add_string_value(b, c->vt.scorer.output == KZ_SCORE_HEALTH ? "health" : "probability");
        json_builder_set_member_name(b, "trainable");
        json_builder_add_boolean_value(b, c->vt.scorer.train != NULL);
        break;
    case KZ_COMPONENT_CHANNEL:
        json_builder_set_member_name(b, "tiers");
        json_builder_begin_array(b);
        for (guint t = KZ_TIER_TECH; t <= KZ_TIER_HIGH; t++)
            if (c->vt.channel.tiers & KZ_TIER_MASK(t))
                json_builder_add_string_value(b, tier_name(t));
        json_builder_end_array(b);
        break;
    default: break;
    }
    json_builder_set_member_name(b, "parameters");
    json_builder_begin_array(b);
    for (guint i = 0; i < c->params->len; i++) {
        const kz_param_info *p = c->params->pdata[i];
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, p->name);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, kz_param_type_name(p->type));
        json_builder_set_member_name(b, "required");
        json_builder_add_boolean_value(b, p->required);
        json_builder_set_member_name(b, "default");
        if (p->default_value != NULL)
            json_builder_add_string_value(b, p->default_value);
        else
            json_builder_add_null_value(b);
        json_builder_set_member_name(b, "help");
        json_builder_add_string_value(b, p->help);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *plugin_json(const kz_plugin *p)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    const struct {
        const char *key, *value;
    } fields[] = {
        {"id", p->id},           {"name", p->name},       {"version", p->version}, {"vendor", p->vendor},
        {"license", p->license}, {"summary", p->summary}, {"url", p->url},         {"path", p->path},
    };
    for (gsize i = 0; i < G_N_ELEMENTS(fields); i++) {
        json_builder_set_member_name(b, fields[i].key);
        if (fields[i].value != NULL)
            json_builder_add_string_value(b, fields[i].value);
        else
            json_builder_add_null_value(b);
    }
    json_builder_set_member_name(b, "abi");
    g_autofree char *abi = g_strdup_printf("%u.%u", p->abi_major, p->abi_minor);
    json_builder_add_string_value(b, abi);
    json_builder_set_member_name(b, "components");
    json_builder_begin_array(b);
    for (guint i = 0; i < p->components->len; i++)
        json_builder_add_value(b, component_json(p->components->pdata[i]));
    json_builder_end_array(b);
    json_builder_set_member_name(b, "notes");
    json_builder_begin_array(b);
    for (guint i = 0; i < p->notes->len; i++)
        json_builder_add_string_value(b, p->notes->pdata[i]);
    json_builder_end_array(b);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *refusal_json(const char *path, const char *reason)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path);
    json_builder_set_member_name(b, "reason");
    json_builder_add_string_value(b, reason);
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static void print_plugin_text(const kz_plugin *p)
{
    kz_cli_print("%s %s — %s\n", p->id, p->version, p->name);
    kz_cli_print("  vendor:  %s\n  license: %s\n  ABI:     %u.%u\n  path:    %s\n", p->vendor, p->license, p->abi_major,
                 p->abi_minor, p->path);
    if (p->url != NULL)
        kz_cli_print("  url:     %s\n", p->url);
    kz_cli_print("  %s\n", p->summary);
    for (guint i = 0; i < p->notes->len; i++)
        kz_cli_print("  note: %s\n", (char *)p->notes->pdata[i]);
    for (guint i = 0; i < p->components->len; i++) {
        const kz_component_info *c = p->components->pdata[i];
        kz_cli_print("  %s %s: %s\n", kz_component_kind_name(c->kind), c->name, c->summary);
        if (c->kind == KZ_COMPONENT_CHANNEL) {
            g_autofree char *tiers = tiers_text(c->vt.channel.tiers, ", ");
            kz_cli_print("    tiers: %s\n", tiers);
        }
        for (guint j = 0; j < c->params->len; j++) {
            const kz_param_info *pi = c->params->pdata[j];
            g_autofree char *dflt =
                pi->default_value != NULL ? g_strdup_printf(" [default %s]", pi->default_value) : g_strdup("");
            kz_cli_print("    %-16s %-8s %s%s %s\n", pi->name, kz_param_type_name(pi->type),
                         pi->required ? "required" : "optional", dflt, pi->help);
        }
    }
}

int kz_cmd_plugins(int argc, char **argv)
{
    gboolean json = FALSE;
    const GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL}, G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "plugins", "List every plugin found on the search path and every file refused.",
                      entries))
        return KZ_EXIT_USAGE;
    g_autoptr(kz_config) cfg = NULL;
    const char *path = kz_cli_config_path();
    if (path != NULL) {
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        cfg = kz_config_load(path, errors);
        if (cfg == NULL) {
            for (guint i = 0; i < errors->len; i++)
                fprintf(stderr, "%s\n", (char *)errors->pdata[i]);
            return KZ_EXIT_FAILED;
        }
    }
    g_autoptr(kz_registry) reg = kz_stack_registry(cfg);
    const GPtrArray *plugins = kz_registry_plugins(reg);
    const GPtrArray *refused = kz_registry_refusals(reg);
    if (json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "host");
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "version");
        json_builder_add_string_value(b, KZ_VERSION);
        json_builder_set_member_name(b, "abi");
        json_builder_add_string_value(b, G_STRINGIFY(KZ_ABI_MAJOR) "." G_STRINGIFY(KZ_ABI_MINOR));
        json_builder_end_object(b);
        json_builder_set_member_name(b, "plugins");
        json_builder_begin_array(b);
        for (guint i = 0; i < plugins->len; i++)
            json_builder_add_value(b, plugin_json(plugins->pdata[i]));
        json_builder_end_array(b);
        json_builder_set_member_name(b, "refused");
        json_builder_begin_array(b);
        for (guint i = 0; i < refused->len; i++) {
            const kz_refusal *r = refused->pdata[i];
            json_builder_add_value(b, refusal_json(r->path, r->reason));
        }
        json_builder_end_array(b);
        json_builder_end_object(b);
        kz_cli_print_json(json_builder_get_root(b));
        return KZ_EXIT_OK;
    }
    for (guint i = 0; i < plugins->len; i++) {
        print_plugin_text(plugins->pdata[i]);
        kz_cli_print("\n");
    }
    kz_cli_print("%u plugin%s loaded", plugins->len, plugins->len == 1 ? "" : "s");
    if (refused->len > 0) {
        kz_cli_print(", %u file%s refused:\n", refused->len, refused->len == 1 ? "" : "s");
        for (guint i = 0; i < refused->len; i++) {
            const kz_refusal *r = refused->pdata[i];
            kz_cli_print("  %s: %s\n", r->path, r->reason);
        }
    } else {
        kz_cli_print("\n");
    }
    return KZ_EXIT_OK;
}

/* `kizuna plugin check FILE`: loads one file alone, as the registry would
 * (the same checks, without the search path). */
int kz_cmd_plugin(int argc, char **argv)
{
    gboolean json = FALSE;
    const GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL}, G_OPTION_ENTRY_NULL};
    if (!kz_cli_parse(&argc, &argv, "plugin check FILE", "Check that one plugin file loads, and show what it declares.",
                      entries))
        return KZ_EXIT_USAGE;
    if (argc != 3 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "kizuna: usage: kizuna plugin check FILE [--json]\n");
        return KZ_EXIT_USAGE;
    }
    g_autoptr(kz_registry) reg = kz_registry_new();
    kz_plugin *plugin = kz_registry_load_file(reg, argv[2]);
    if (json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "loadable");
        json_builder_add_boolean_value(b, plugin != NULL);
        if (plugin != NULL) {
            json_builder_set_member_name(b, "plugin");
            json_builder_add_value(b, plugin_json(plugin));
        }
        json_builder_set_member_name(b, "reasons");
        json_builder_begin_array(b);
        const GPtrArray *refused = kz_registry_refusals(reg);
        for (guint i = 0; i < refused->len; i++)
            json_builder_add_string_value(b, ((kz_refusal *)refused->pdata[i])->reason);
        json_builder_end_array(b);
        json_builder_end_object(b);
        kz_cli_print_json(json_builder_get_root(b));
    } else if (plugin != NULL) {
        print_plugin_text(plugin);
        kz_cli_print("ok: %s loads\n", plugin->path);
    } else {
        const GPtrArray *refused = kz_registry_refusals(reg);
        for (guint i = 0; i < refused->len; i++) {
            const kz_refusal *r = refused->pdata[i];
            fprintf(stderr, "%s: %s\n", r->path, r->reason);
        }
    }
    return plugin != NULL ? KZ_EXIT_OK : KZ_EXIT_FAILED;
}

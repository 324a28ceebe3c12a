/*
 * kizuna/plugin.h — the plugin descriptor and its entry symbol.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * kz_plugin_entry (KZ_PLUGIN_ENTRY_SYMBOL), returning a pointer to a
 * constant descriptor. The descriptor names the plugin and lists its
 * components; each component points at the vtable of its kind. Write it
 * with KZ_PLUGIN_DEFINE:
 *
 *     static const kz_scorer_vtable my_vtable = { sizeof my_vtable, ... };
 *     static const kz_component my_scorer = {
 *         sizeof my_scorer, KZ_COMPONENT_SCORER, "my-score",
 *         "Scores accounts my way", my_params, &my_vtable };
 *     KZ_PLUGIN_DEFINE("com.example.my-scorer", "My scorer", "1.0.0",
 *                      "Example Inc.", "MIT", "A scorer of my own",
 *                      &my_scorer);
 */
#ifndef KIZUNA_PLUGIN_H
#define KIZUNA_PLUGIN_H

#include "channel.h"
#include "common.h"
#include "orgmodel.h"
#include "scorer.h"
#include "source.h"

#ifdef __cplusplus
extern "C" {
#endif

enum kz_component_kind {
    KZ_COMPONENT_SOURCE = 1,  /* vtable: kz_source_vtable */
    KZ_COMPONENT_SCORER = 2,  /* vtable: kz_scorer_vtable */
    KZ_COMPONENT_CHANNEL = 3, /* vtable: kz_channel_vtable */
    KZ_COMPONENT_ORGMODEL = 4 /* vtable: kz_orgmodel_vtable */
};

/* One component of a plugin. Required: size, kind, name, summary, vtable. */
typedef struct kz_component {
    uint32_t size; /* sizeof(kz_component) */
    uint32_t kind; /* enum kz_component_kind */
    /* [a-z][a-z0-9_-]*, at most 64 bytes; unique among every loaded
     * plugin's components: stack configs name components by it. */
    const char *name;
    const char *summary;         /* one line */
    const kz_param_spec *params; /* ended by a KZ_PARAM_END entry; NULL = no parameters */
    const void *vtable;          /* the kind's vtable; it starts with its own uint32_t size */
} kz_component;

/* The plugin descriptor. Required: every field up to and including
 * `components`; the rest are optional and absent when `size` does not
 * cover them. */
typedef struct kz_plugin_descriptor {
    uint32_t size;      /* sizeof(kz_plugin_descriptor) */
    uint16_t abi_major; /* KZ_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor; /* KZ_ABI_MINOR the plugin was built with */
    /* Reverse-DNS id, unique among all plugins: "org.kizuna.csv",
     * "com.example.crm". Lower-case letters, digits, '-', '_' and '.', at
     * least two labels. */
    const char *id;
    const char *name;    /* human name */
    const char *version; /* the plugin's own version, e.g. "1.2.0" */
    const char *vendor;
    const char *license;                   /* SPDX expression, e.g. "MIT", "Apache-2.0" */
    const char *summary;                   /* one line */
    const kz_component *const *components; /* NULL-terminated, at least one */

    /* ---- optional ---- */
    const char *url; /* homepage or documentation */
} kz_plugin_descriptor;

/* The one symbol a plugin exports. It takes no arguments, must not fail
 * and must return the same descriptor every time; it may be called before
 * anything else in the plugin and from any thread. */
typedef const kz_plugin_descriptor *(*kz_plugin_entry_fn)(void);
#define KZ_PLUGIN_ENTRY_SYMBOL "kz_plugin_entry"

/* Writes the descriptor and the exported entry symbol. The trailing
 * arguments are pointers to the plugin's kz_component structs. */
#define KZ_PLUGIN_DEFINE(id_, name_, version_, vendor_, license_, summary_, ...)                                       \
    static const kz_component *const kz_plugin_components_[] = {__VA_ARGS__, NULL};                                    \
    static const kz_plugin_descriptor kz_plugin_descriptor_ = {sizeof(kz_plugin_descriptor),                           \
                                                               KZ_ABI_MAJOR,                                           \
                                                               KZ_ABI_MINOR,                                           \
                                                               (id_),                                                  \
                                                               (name_),                                                \
                                                               (version_),                                             \
                                                               (vendor_),                                              \
                                                               (license_),                                             \
                                                               (summary_),                                             \
                                                               kz_plugin_components_,                                  \
                                                               NULL};                                                  \
    KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void);                                                       \
    KZ_EXPORT const kz_plugin_descriptor *kz_plugin_entry(void)                                                        \
    {                                                                                                                  \
        return &kz_plugin_descriptor_;                                                                                 \
    }

#ifdef __cplusplus
}
#endif
#endif /* KIZUNA_PLUGIN_H */

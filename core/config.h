/*
 * core/config.h — the stack config: one XML file, validated against the
 * RelaxNG schema of sdk/schema/stack.rng (compiled into the host), then
 * turned into plain structs. Every error is one line "file:line: message".
 *
 * Loading happens in two steps. kz_config_load() checks the file on its
 * own (well-formed, schema, names unique). kz_config_check_instances()
 * checks each instance's parameters against its component's specs, which
 * needs the plugin registry; it runs before any instance is created.
 */
#ifndef KZ_CORE_CONFIG_H
#define KZ_CORE_CONFIG_H

#include "registry.h"

#include <glib.h>

G_BEGIN_DECLS

typedef struct kz_config_param {
    char *name;
    char *text; /* value written in the file, or NULL when env is set */
    char *env;  /* environment variable holding the value, or NULL */
    guint line;
} kz_config_param;

/* One rule of a <map>: <field>, <trait> or <traits prefix=>. Exactly one
 * of from, template_text and value is set (none for a prefix rule). */
typedef enum { KZ_RULE_FIELD, KZ_RULE_TRAIT, KZ_RULE_TRAITS_PREFIX } kz_config_rule_kind;

typedef struct kz_config_rule {
    kz_config_rule_kind kind;
    char *name;          /* field or trait name; for a prefix rule, the prefix */
    char *type;          /* trait type ("string" when not given); NULL for fields */
    char *from;          /* input field name */
    char *template_text; /* "{First Name} {Last Name}" */
    char *value;         /* a constant */
    char *format;        /* time format */
    char *default_value; /* used when the input is empty or absent */
    char *separator;     /* tags */
    GPtrArray *values;   /* value map: char* from, to, from, to, ... */
    guint line;
} kz_config_rule;

/* A <map entity= preset=> of a source: how its rows become records. */
typedef struct kz_config_map {
    char *entity; /* "account", "contact", ... */
    char *preset; /* "salesforce", "kizuna" or NULL */
    char *when;   /* "A|B": only rows where one of these inputs is non-empty make a record; or NULL */
    guint line;
    GPtrArray *rules; /* kz_config_rule*, in file order */
} kz_config_map;

typedef struct kz_config_instance {
    int kind; /* enum kz_component_kind, from the element name */
    char *name;
    char *component;
    guint line;
    GPtrArray *params; /* kz_config_param* */
    GPtrArray *maps;   /* kz_config_map*, in file order (sources only; may be empty) */
} kz_config_instance;

/* A <measure> (docs/scoring.md). The schema has checked the kind's name;
 * which attributes a kind needs is checked by core/score/measures.c. */
typedef struct kz_config_measure {
    char *name;
    char *kind;
    char *window;     /* as written ("30d"), or NULL */
    gint64 window_us; /* parsed, or 0 */
    char *field;      /* kind field */
    char *trait;      /* kind trait */
    char *event;      /* "login|export", or NULL */
    char *priority;   /* "urgent|high", or NULL */
    guint line;
} kz_config_measure;

/* A <use> of the health model: a scorer instance and its weight in the
 * combined score. */
typedef struct kz_config_use {
    char *scorer;
    double weight; /* > 0; 1 when not given */
    gboolean fit;  /* fitted to the label when it has no kept model */
    guint line;
} kz_config_use;

/* A grade band: scores below `below` (and at or above the band before).
 * Grades are stored as one byte per account, 255 meaning none. */
#define KZ_CONFIG_MAX_GRADES 254
/* A grade band: scores below `below` (and at or above the band before). */
typedef struct kz_config_grade {
    char *name;
    double below; /* INFINITY for the last band */
    guint line;
} kz_config_grade;

typedef struct kz_config_health {
    char *label; /* expression text, or NULL */
    guint line;
    gint64 trend_us;
    gint64 history_us;
    GPtrArray *uses;   /* kz_config_use* */
    GPtrArray *grades; /* kz_config_grade*, worst first */
} kz_config_health;

/* A <phase> of the <lifecycle> (docs/lifecycle.md). Conditions are
 * expression texts, NULL when not given; core/org/lifecycle.c checks them. */
typedef struct kz_config_phase {
    int phase; /* enum kz_phase */
    char *enter;
    char *exit;
    char *success;
    gint64 due_us;              /* 0: no due window */
    gboolean due_from_contract; /* due counts from contract_start, not from entering */
    int next;                   /* enum kz_phase where exit leads; 0 = the default */
    guint line;
} kz_config_phase;

/* A <tier> rule; `when` NULL holds for every account. */
typedef struct kz_config_tier_rule {
    int tier; /* enum kz_tier */
    char *when;
    guint line;
} kz_config_tier_rule;

typedef struct kz_config_team {
    char *id;
    char *function;     /* or NULL */
    guint32 phases;     /* KZ_PHASE_MASK bits; 0 = all */
    guint32 tiers;      /* KZ_TIER_MASK bits; 0 = all */
    GPtrArray *regions; /* char*; empty = every region */
    guint line;
} kz_config_team;

typedef struct kz_config_csm {
    char *id;
    char *name; /* or NULL */
    char *team;
    char *region;        /* or NULL */
    GPtrArray *skills;   /* char* */
    guint32 capacity[4]; /* by enum kz_tier; KZ_CAPACITY_UNLIMITED for "unlimited" */
    guint line;
} kz_config_csm;

typedef struct kz_config_org {
    char *model; /* the orgmodel instance that assigns owners */
    guint line;
    GPtrArray *teams; /* kz_config_team*, in file order */
    GPtrArray *csms;  /* kz_config_csm*, in file order */
} kz_config_org;

/* What makes a playbook fire (docs/playbooks.md). */
enum kz_trigger_kind {
    KZ_TRIGGER_PHASE = 1, /* the account enters a phase */
    KZ_TRIGGER_TIER,      /* ... a touch tier */
    KZ_TRIGGER_OVERDUE,   /* ... becomes overdue in its phase */
    KZ_TRIGGER_GRADE,     /* ... a health grade (the latest score run) */
    KZ_TRIGGER_BEFORE,    /* a number of days before a date of the account */
    KZ_TRIGGER_DROP       /* the health score fell by points within a window */
};

typedef struct kz_config_playbook {
    char *name;
    char *channel; /* a <channel> instance */
    char *to;      /* "owner", "none", or contact roles "champion|admin" */
    char *who;     /* the segment: a condition, or NULL for every account */
    char *subject, *body;
    int trigger;         /* enum kz_trigger_kind */
    char *trigger_value; /* phase, tier or grade name; the date field for "before" */
    gint64 days;         /* before: how many days */
    double points;       /* drop: by how much */
    gint64 window_us;    /* drop: within how long */
    gint64 cooldown_us;  /* no second touch of this playbook to an account within it; 0 = none */
    gint64 due_us;       /* tasks: due this long after the touch; 0 = no due date */
    int priority;        /* higher first */
    guint line, trigger_line, subject_line, body_line;
} kz_config_playbook;

/* <outbox>: how deliveries are retried. */
typedef struct kz_config_outbox {
    guint max_attempts; /* then dead-lettered */
    gint64 backoff_us;  /* the wait after the first failure; doubled each time */
    gint64 max_backoff_us;
} kz_config_outbox;

/* <kpis>: the report currency and the rates into it (docs/kpis.md) */
typedef struct kz_config_kpis {
    char *currency;    /* ISO 4217, or NULL: the store's one currency */
    GHashTable *rates; /* currency -> double* (report-currency units per unit) */
    guint line;
} kz_config_kpis;

typedef struct kz_config {
    char *path;               /* the file, as given */
    char *dir;                /* its directory: relative paths are resolved here */
    char *store_path;         /* absolute, or NULL when the file names no store */
    GPtrArray *plugin_dirs;   /* char*, absolute */
    GPtrArray *instances;     /* kz_config_instance* */
    GPtrArray *measures;      /* kz_config_measure*, in file order */
    kz_config_health *health; /* or NULL when the file has no <health> */
    GPtrArray *phases;        /* kz_config_phase*, in file order; NULL without <lifecycle> */
    GPtrArray *tier_rules;    /* kz_config_tier_rule*, in order; NULL without <tiers> */
    kz_config_org *org;       /* or NULL without <organization> */
    GPtrArray *playbooks;     /* kz_config_playbook*, in file order; NULL without <playbooks> */
    kz_config_outbox outbox;
    kz_config_kpis kpis; /* rates is never NULL */
} kz_config;

/* Reads and validates `path`. Returns the config, or NULL after appending
 * one "file:line: message" string per problem to `errors`. */
kz_config *kz_config_load(const char *path, GPtrArray *errors);
void kz_config_free(kz_config *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(kz_config, kz_config_free)

/* NULL-terminated view of cfg->plugin_dirs for the registry. */
const char *const *kz_config_plugin_dirs(const kz_config *cfg);

/* Checks every instance against the registry: the component exists and is
 * of the element's kind; every parameter is known, of the right type, not
 * given twice; every required one is there; environment variables named
 * by env= are set. Appends one line per problem; returns TRUE when none. */
gboolean kz_config_check_instances(const kz_config *cfg, const kz_registry *reg, GPtrArray *errors);

/* The typed parameters of one instance for component `comp`: defaults
 * applied, secrets read from the environment (and registered with the
 * log's redaction), paths made absolute against the config's directory.
 * Returns a table name -> kz_param_value*, or NULL after appending errors
 * (each problem once). */
GHashTable *kz_config_resolve_params(const kz_config *cfg, const kz_config_instance *inst,
                                     const kz_component_info *comp, GPtrArray *errors);

/* The same, after finding the instance's component in `reg` and checking
 * its kind; *comp_out (may be NULL) receives the component. */
GHashTable *kz_config_instance_params(const kz_config *cfg, const kz_config_instance *inst, const kz_registry *reg,
                                      const kz_component_info **comp_out, GPtrArray *errors);

/* Appends "file:line: message" about `cfg` to `errors`: how every check of
 * a config reports. */
void kz_config_error(GPtrArray *errors, const kz_config *cfg, guint line, const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* enum kz_phase and enum kz_tier <-> their names in the config
 * ("onboarding", "high"); NULL / 0 for anything else. */
const char *kz_phase_name(int phase);
int kz_phase_from_name(const char *name);
const char *kz_tier_name(int tier);
int kz_tier_from_name(const char *name);

/* The instance called `name`, or NULL. */
const kz_config_instance *kz_config_find_instance(const kz_config *cfg, const char *name);

G_END_DECLS

#endif

/*
 * core/loader.c — opens one plugin file with libltdl and checks it.
 *
 * libltdl's own dlopen loader binds lazily, so a plugin with an undefined
 * symbol would load and then crash on first call. We register a loader of
 * our own that opens with RTLD_NOW | RTLD_LOCAL and remove the stock ones,
 * so every symbol is resolved at load time and a plugin's symbols never
 * become visible to other plugins.
 *
 * Everything read out of the plugin is read only as far as the `size` the
 * plugin declared; the host keeps copies, zero-filled past that size.
 */
#include "loader.h"

#include "params.h"

#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The smallest structs a 1.x plugin may declare: the end of the last
 * field that 1.0 requires. Never sizeof(): a field added in 1.1 grows
 * sizeof, and every 1.0 plugin would then look too small. Fields after
 * these are optional and may be absent. The asserts pin the 1.0 values. */
#define END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define MIN_DESCRIPTOR_SIZE END_OF(kz_plugin_descriptor, components)
#define MIN_COMPONENT_SIZE  END_OF(kz_component, vtable)
#define MIN_PARAM_SIZE      END_OF(kz_param_spec, help)
#define MIN_SOURCE_SIZE     END_OF(kz_source_vtable, pull)
#define MIN_SCORER_SIZE     END_OF(kz_scorer_vtable, score)
#define MIN_CHANNEL_SIZE    END_OF(kz_channel_vtable, deliver)
#define MIN_ORGMODEL_SIZE   END_OF(kz_orgmodel_vtable, assign)
_Static_assert(MIN_DESCRIPTOR_SIZE == offsetof(kz_plugin_descriptor, url), "descriptor: url is the first optional");
_Static_assert(MIN_SOURCE_SIZE == offsetof(kz_source_vtable, probe), "source: probe is the first optional");
_Static_assert(MIN_SCORER_SIZE == offsetof(kz_scorer_vtable, train), "scorer: train is the first optional");
_Static_assert(MIN_COMPONENT_SIZE == sizeof(kz_component) && MIN_PARAM_SIZE == sizeof(kz_param_spec) &&
                   MIN_CHANNEL_SIZE == sizeof(kz_channel_vtable) && MIN_ORGMODEL_SIZE == sizeof(kz_orgmodel_vtable),
               "1.0: every field of these is required");
/* The entities a plugin built against `minor` may declare: 1..KZ_ENTITY_ROW
 * (the row entity is 1.1, taken from any 1.x), KZ_ENTITY_CSM from 1.2. */
static guint32 known_entities(guint minor)
{
    guint last = minor >= 2 ? KZ_ENTITY_CSM : KZ_ENTITY_ROW;
    return ((1u << (last + 1)) - 1) & ~1u;
}

/* abi_major and abi_minor sit at fixed offsets in every major version. */
#define MIN_VERSIONED_SIZE (offsetof(kz_plugin_descriptor, abi_minor) + sizeof(uint16_t))

/* ---- the RTLD_NOW loader for libltdl ------------------------------------ */

static GPrivate dl_error_msg = G_PRIVATE_INIT(g_free);

static lt_module now_open(lt_user_data data, const char *filename, lt_dladvise advise)
{
    (void)data;
    (void)advise;
    if (filename == NULL)
        return NULL; /* the host itself: not something we open */
    void *module = dlopen(filename, RTLD_NOW | RTLD_LOCAL);
    if (module == NULL) {
        const char *msg = dlerror();
        g_private_replace(&dl_error_msg, g_strdup(msg != NULL ? msg : "dlopen failed"));
    }
    return module;
}

static int now_close(lt_user_data data, lt_module module)
{
    (void)data;
    return dlclose(module) == 0 ? 0 : 1;
}

static void *now_sym(lt_user_data data, lt_module module, const char *name)
{
    (void)data;
    return dlsym(module, name);
}

static const lt_dlvtable now_loader = {
    .name = "kizuna-dlopen-now",
    .sym_prefix = NULL,
    .module_open = now_open,
    .module_close = now_close,
    .find_sym = now_sym,
    .priority = LT_DLLOADER_PREPEND,
};

/* libltdl hands the removed loader's vtable back to us; kept, not freed,
 * since nothing says libltdl no longer refers to it. */
static lt_dlvtable *removed_stock_loader;

static gboolean ltdl_setup(char **reason)
{
    static gsize done;
    static gboolean ok;
    if (g_once_init_enter(&done)) {
        ok = lt_dlinit() == 0 && lt_dlloader_add(&now_loader) == 0;
        /* Only our loader may open plugins: the stock dlopen loader binds
         * lazily and would be tried when ours fails. */
        if (ok && lt_dlloader_find("lt_dlopen") != NULL)
            ok = (removed_stock_loader = lt_dlloader_remove("lt_dlopen")) != NULL;
        g_once_init_leave(&done, 1);
    }
    if (!ok)
        *reason = g_strdup_printf("cannot initialise libltdl: %s", lt_dlerror());
    return ok;
}

/* Every handle ever opened. Plugins are never unloaded: unmapping code
 * that ran (constructors, registered callbacks) is a classic source of
 * crashes. The list keeps the handles reachable for the process's life. */
static GPtrArray *resident_handles;
static GMutex resident_lock;

static void keep_resident(lt_dlhandle handle)
{
    g_mutex_lock(&resident_lock);
    if (resident_handles == NULL)
        resident_handles = g_ptr_array_new();
    g_ptr_array_add(resident_handles, handle);
    g_mutex_unlock(&resident_lock);
}

/* ---- checks ------------------------------------------------------------- */

gboolean kz_loader_writable_by_others(const char *path, char **reason)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return FALSE;
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        *reason = g_strdup_printf("%s %s belongs to uid %u, neither root nor this process's user: refusing to load "
                                  "code that another user can rewrite",
                                  S_ISDIR(st.st_mode) ? "directory" : "file", path, (unsigned)st.st_uid);
        return TRUE;
    }
    if ((st.st_mode & S_IWOTH) == 0) {
        /* An ancestor that anyone may write to, without the sticky bit,
         * lets others rename the path away and put their own in its place. */
        if (!S_ISDIR(st.st_mode))
            return FALSE;
        g_autofree char *parent = g_path_get_dirname(path);
        for (; strcmp(parent, path) != 0 && strcmp(parent, "/") != 0 && strcmp(parent, ".") != 0;) {
            struct stat up;
            if (stat(parent, &up) == 0 && (up.st_mode & S_IWOTH) != 0 && (up.st_mode & S_ISVTX) == 0) {
                *reason = g_strdup_printf("directory %s, above %s, is writable by others without the sticky bit "
                                          "(mode %04o): refusing to load code below it",
                                          parent, path, (unsigned)(up.st_mode & 07777));
                return TRUE;
            }
            char *next = g_path_get_dirname(parent);
            g_free(parent);
            parent = next;
        }
        return FALSE;
    }
    *reason = g_strdup_printf("%s %s is writable by others (mode %04o): refusing to load code from it",
                              S_ISDIR(st.st_mode) ? "directory" : "file", path, (unsigned)(st.st_mode & 07777));
    return TRUE;
}

static gboolean valid_plugin_id(const char *id)
{
    /* reverse-DNS: labels of [a-z0-9_-], separated by dots, at least two */
    if (id == NULL || !g_ascii_islower(id[0]) || strlen(id) > 128)
        return FALSE;
    guint labels = 1;
    char prev = '.';
    for (const char *p = id; *p != '\0'; p++) {
        if (*p == '.') {
            if (prev == '.')
                return FALSE;
            labels++;
        } else if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '-' && *p != '_') {
            return FALSE;
        }
        prev = *p;
    }
    return prev != '.' && labels >= 2;
}

static gboolean valid_name(const char *name, gsize max)
{
    if (name == NULL || !g_ascii_islower(name[0]) || strlen(name) > max)
        return FALSE;
    for (const char *p = name; *p != '\0'; p++)
        if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '-' && *p != '_')
            return FALSE;
    return TRUE;
}

static gboolean nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Copies the first min(declared, host_size) bytes of `src` into `dst` and
 * zeroes the rest: the host never reads past what the plugin declared. */
static void copy_sized(void *dst, gsize host_size, const void *src, guint32 declared)
{
    memset(dst, 0, host_size);
    memcpy(dst, src, MIN((gsize)declared, host_size));
}

/* Something in a component that this host does not know (a kind, a
 * parameter type, a flag or entity bit). From a plugin built for a newer
 * minor it is a feature this host lacks: the component is skipped and the
 * rest of the plugin loads (*skip set). From an older or equal minor it
 * is garbage and refuses the plugin. Sets *reason either way. */
static gboolean unknown(const kz_component_info *info, gboolean *skip, char **reason, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static gboolean unknown(const kz_component_info *info, gboolean *skip, char **reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    guint minor = info->plugin->abi_minor;
    *skip = minor > KZ_ABI_MINOR;
    if (*skip)
        *reason = g_strdup_printf("component '%s' skipped: it needs plugin ABI %d.%u (%s); this host speaks %d.%d",
                                  info->name, KZ_ABI_MAJOR, minor, what, KZ_ABI_MAJOR, KZ_ABI_MINOR);
    else
        *reason = g_strdup_printf("component '%s': %s", info->name, what);
    return FALSE;
}

static void param_info_free(kz_param_info *p)
{
    g_free(p->name);
    g_free(p->default_value);
    g_free(p->help);
    g_free(p);
}

static void component_info_free(kz_component_info *c)
{
    g_free(c->name);
    g_free(c->summary);
    if (c->params != NULL)
        g_ptr_array_unref(c->params);
    g_free(c);
}

void kz_plugin_free(kz_plugin *plugin)
{
    if (plugin == NULL)
        return;
    g_free(plugin->path);
    g_free(plugin->id);
    g_free(plugin->name);
    g_free(plugin->version);
    g_free(plugin->vendor);
    g_free(plugin->license);
    g_free(plugin->summary);
    g_free(plugin->url);
    if (plugin->components != NULL)
        g_ptr_array_unref(plugin->components);
    if (plugin->notes != NULL)
        g_ptr_array_unref(plugin->notes);
    g_free(plugin);
}

/* Checks a component's parameter table and copies it. */
static gboolean load_params(kz_component_info *info, const kz_param_spec *specs, gboolean *skip, char **reason)
{
    info->params = g_ptr_array_new_with_free_func((GDestroyNotify)param_info_free);
    if (specs == NULL)
        return TRUE;
    guint32 stride = specs->size;
    if (stride < MIN_PARAM_SIZE) {
        *reason = g_strdup_printf("component '%s': parameter spec size %u is too small (at least %zu)", info->name,
                                  stride, (size_t)MIN_PARAM_SIZE);
        return FALSE;
    }
    for (guint n = 0;; n++) {
        if (n >= 1024) {
            *reason = g_strdup_printf("component '%s': parameter table has no KZ_PARAM_END entry", info->name);
            return FALSE;
        }
        const kz_param_spec *raw = (const kz_param_spec *)((const char *)specs + (gsize)n * stride);
        kz_param_spec spec;
        copy_sized(&spec, sizeof spec, raw, stride);
        if (spec.name == NULL)
            break;
        if (!valid_name(spec.name, 64) || strchr(spec.name, '-') != NULL) {
            *reason = g_strdup_printf("component '%s': parameter %u has an invalid name (want [a-z][a-z0-9_]*)",
                                      info->name, n);
            return FALSE;
        }
        if (kz_param_type_name((int)spec.type) == NULL)
            return unknown(info, skip, reason, "parameter '%s' has unknown type %u", spec.name, spec.type);
        if ((spec.flags & ~(guint32)KZ_PARAM_REQUIRED) != 0)
            return unknown(info, skip, reason, "parameter '%s' has unknown flags 0x%x", spec.name,
                           spec.flags & ~(guint32)KZ_PARAM_REQUIRED);
        if (spec.reserved_ != 0) {
            *reason = g_strdup_printf("component '%s': parameter '%s': reserved_ must be 0", info->name, spec.name);
            return FALSE;
        }
        for (guint i = 0; i < info->params->len; i++)
            if (strcmp(((kz_param_info *)info->params->pdata[i])->name, spec.name) == 0) {
                *reason = g_strdup_printf("component '%s': parameter '%s' is declared twice", info->name, spec.name);
                return FALSE;
            }
        if (spec.default_value != NULL) {
            g_autoptr(GError) err = NULL;
            kz_param_value v;
            if (spec.type == KZ_PARAM_SECRET) {
                *reason = g_strdup_printf("component '%s': secret parameter '%s' must not have a default", info->name,
                                          spec.name);
                return FALSE;
            }
            if (!kz_param_parse((int)spec.type, spec.default_value, &v, &err)) {
                *reason = g_strdup_printf("component '%s': default of parameter '%s': %s", info->name, spec.name,
                                          err->message);
                return FALSE;
            }
            kz_param_value_clear(&v);
        }
        kz_param_info *p = g_new0(kz_param_info, 1);
        p->type = (int)spec.type;
        p->name = g_strdup(spec.name);
        p->required = (spec.flags & KZ_PARAM_REQUIRED) != 0;
        p->default_value = g_strdup(spec.default_value);
        p->help = g_strdup(spec.help != NULL ? spec.help : "");
        g_ptr_array_add(info->params, p);
    }
    return TRUE;
}

/* Checks the vtable of one component against its kind and copies it. */
static gboolean load_vtable(kz_component_info *info, const void *vtable, gboolean *skip, char **reason)
{
    guint32 declared = *(const guint32 *)vtable;
    gsize min_size = 0, host_size = 0;
    const char *missing = NULL;
    switch (info->kind) {
    case KZ_COMPONENT_SOURCE:
        min_size = MIN_SOURCE_SIZE;
        host_size = sizeof info->vt.source;
        break;
    case KZ_COMPONENT_SCORER:
        min_size = MIN_SCORER_SIZE;
        host_size = sizeof info->vt.scorer;
        break;
    case KZ_COMPONENT_CHANNEL:
        min_size = MIN_CHANNEL_SIZE;
        host_size = sizeof info->vt.channel;
        break;
    case KZ_COMPONENT_ORGMODEL:
        min_size = MIN_ORGMODEL_SIZE;
        host_size = sizeof info->vt.orgmodel;
        break;
    default: g_assert_not_reached();
    }
    if (declared < min_size) {
        *reason = g_strdup_printf("component '%s': %s vtable size %u is too small (at least %zu)", info->name,
                                  kz_component_kind_name(info->kind), declared, min_size);
        return FALSE;
    }
    info->vtable_size = declared;
    copy_sized(&info->vt, host_size, vtable, declared);
    switch (info->kind) {
    case KZ_COMPONENT_SOURCE: {
        const kz_source_vtable *v = &info->vt.source;
        if (v->create == NULL)
            missing = "create";
        else if (v->destroy == NULL)
            missing = "destroy";
        else if (v->pull == NULL)
            missing = "pull";
        else if ((v->entities & 1u) != 0) {
            *reason = g_strdup_printf("component '%s': source entities bit 0 names no entity: use KZ_ENTITY_MASK()",
                                      info->name);
            return FALSE;
        } else if ((v->entities & ~known_entities(info->plugin->abi_minor)) != 0)
            return unknown(info, skip, reason, "source declares unknown entities (mask 0x%x)",
                           v->entities & ~known_entities(info->plugin->abi_minor));
        else if (v->entities == 0) {
            *reason = g_strdup_printf("component '%s': source declares no valid entities (mask 0x%x)", info->name,
                                      v->entities);
            return FALSE;
        }
        break;
    }
    case KZ_COMPONENT_SCORER: {
        const kz_scorer_vtable *v = &info->vt.scorer;
        if (v->create == NULL)
            missing = "create";
        else if (v->destroy == NULL)
            missing = "destroy";
        else if (v->prepare == NULL)
            missing = "prepare";
        else if (v->score == NULL)
            missing = "score";
        else if (v->output != KZ_SCORE_HEALTH && v->output != KZ_SCORE_PROBABILITY)
            return unknown(info, skip, reason, "scorer output %u is neither health nor probability", v->output);
        break;
    }
    case KZ_COMPONENT_CHANNEL: {
        const kz_channel_vtable *v = &info->vt.channel;
        if (v->create == NULL)
            missing = "create";
        else if (v->destroy == NULL)
            missing = "destroy";
        else if (v->deliver == NULL)
            missing = "deliver";
        else if (v->tiers == 0 || (v->tiers & ~(guint32)KZ_TIER_MASK_ALL) != 0) {
            *reason = g_strdup_printf("component '%s': channel tiers 0x%x: want KZ_TIER_MASK() bits of tech, "
                                      "low and high, at least one",
                                      info->name, v->tiers);
            return FALSE;
        }
        break;
    }
    case KZ_COMPONENT_ORGMODEL: {
        const kz_orgmodel_vtable *v = &info->vt.orgmodel;
        if (v->create == NULL)
            missing = "create";
        else if (v->destroy == NULL)
            missing = "destroy";
        else if (v->assign == NULL)
            missing = "assign";
        else if (v->reserved_ != 0) {
            *reason = g_strdup_printf("component '%s': orgmodel vtable reserved_ must be 0", info->name);
            return FALSE;
        }
        break;
    }
    }
    if (missing != NULL) {
        *reason = g_strdup_printf("component '%s': required %s callback '%s' is missing", info->name,
                                  kz_component_kind_name(info->kind), missing);
        return FALSE;
    }
    return TRUE;
}

/* Checks one component and builds the host's copy. Returns NULL with
 * *reason set; *skip tells whether the component is only beyond this host
 * (a newer minor's feature: the plugin loads without it) rather than
 * broken. */
static kz_component_info *load_component(kz_plugin *plugin, const kz_component *raw, guint index, gboolean *skip,
                                         char **reason)
{
    *skip = FALSE;
    if (raw->size < MIN_COMPONENT_SIZE) {
        *reason = g_strdup_printf("component %u: size %u is too small (at least %zu)", index, raw->size,
                                  (size_t)MIN_COMPONENT_SIZE);
        return NULL;
    }
    kz_component comp;
    copy_sized(&comp, sizeof comp, raw, raw->size);
    if (!valid_name(comp.name, 64)) {
        *reason =
            g_strdup_printf("component %u: missing or invalid name (want [a-z][a-z0-9_-]*, at most 64 bytes)", index);
        return NULL;
    }
    if (!nonempty(comp.summary)) {
        *reason = g_strdup_printf("component '%s': missing required field 'summary'", comp.name);
        return NULL;
    }
    if (comp.vtable == NULL) {
        *reason = g_strdup_printf("component '%s': missing required field 'vtable'", comp.name);
        return NULL;
    }
    for (guint i = 0; i < plugin->components->len; i++)
        if (strcmp(((kz_component_info *)plugin->components->pdata[i])->name, comp.name) == 0) {
            *reason = g_strdup_printf("duplicate component name '%s' within the plugin", comp.name);
            return NULL;
        }
    kz_component_info *info = g_new0(kz_component_info, 1);
    info->plugin = plugin;
    info->kind = (int)comp.kind;
    info->name = g_strdup(comp.name);
    info->summary = g_strdup(comp.summary);
    if (kz_component_kind_name((int)comp.kind) == NULL) {
        unknown(info, skip, reason, "unknown component kind %u", comp.kind);
        component_info_free(info);
        return NULL;
    }
    if (!load_vtable(info, comp.vtable, skip, reason) || !load_params(info, comp.params, skip, reason)) {
        component_info_free(info);
        return NULL;
    }
    return info;
}

/* Checks the descriptor and builds the host's copy of the plugin. */
static kz_plugin *load_descriptor(const char *path, const kz_plugin_descriptor *raw, char **reason)
{
    if (raw->size < MIN_VERSIONED_SIZE) {
        *reason = g_strdup_printf("descriptor size %u is too small to hold even the ABI version (at least %zu)",
                                  raw->size, (size_t)MIN_VERSIONED_SIZE);
        return NULL;
    }
    if (raw->abi_major != KZ_ABI_MAJOR) {
        *reason = g_strdup_printf("built for plugin ABI %u.%u; this host speaks ABI %d.x", raw->abi_major,
                                  raw->abi_minor, KZ_ABI_MAJOR);
        return NULL;
    }
    if (raw->size < MIN_DESCRIPTOR_SIZE) {
        *reason =
            g_strdup_printf("descriptor size %u is too small (at least %zu)", raw->size, (size_t)MIN_DESCRIPTOR_SIZE);
        return NULL;
    }
    kz_plugin_descriptor d;
    copy_sized(&d, sizeof d, raw, raw->size);
    const char *missing = NULL;
    if (d.id == NULL)
        missing = "id";
    else if (!nonempty(d.name))
        missing = "name";
    else if (!nonempty(d.version))
        missing = "version";
    else if (!nonempty(d.vendor))
        missing = "vendor";
    else if (!nonempty(d.license))
        missing = "license";
    else if (!nonempty(d.summary))
        missing = "summary";
    else if (d.components == NULL || d.components[0] == NULL)
        missing = "components";
    if (missing != NULL) {
        *reason = g_strdup_printf("missing required descriptor field '%s'", missing);
        return NULL;
    }
    if (!valid_plugin_id(d.id)) {
        *reason = g_strdup_printf("plugin id '%s' is not a reverse-DNS name such as com.example.crm", d.id);
        return NULL;
    }
    kz_plugin *plugin = g_new0(kz_plugin, 1);
    plugin->path = g_strdup(path);
    plugin->id = g_strdup(d.id);
    plugin->name = g_strdup(d.name);
    plugin->version = g_strdup(d.version);
    plugin->vendor = g_strdup(d.vendor);
    plugin->license = g_strdup(d.license);
    plugin->summary = g_strdup(d.summary);
    plugin->url = g_strdup(d.url); /* NULL when the descriptor predates it */
    plugin->abi_major = d.abi_major;
    plugin->abi_minor = d.abi_minor;
    plugin->components = g_ptr_array_new_with_free_func((GDestroyNotify)component_info_free);
    plugin->notes = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; d.components[i] != NULL; i++) {
        if (i >= 256) {
            *reason = g_strdup("component list is not NULL-terminated (over 256 entries)");
            kz_plugin_free(plugin);
            return NULL;
        }
        gboolean skip = FALSE;
        char *why = NULL;
        kz_component_info *c = load_component(plugin, d.components[i], i, &skip, &why);
        if (c == NULL && skip) {
            g_ptr_array_add(plugin->notes, why); /* the plugin loads without it */
            continue;
        }
        if (c == NULL) {
            *reason = why;
            kz_plugin_free(plugin);
            return NULL;
        }
        g_ptr_array_add(plugin->components, c);
    }
    if (plugin->components->len == 0) {
        *reason = g_strdup_printf("no component this host can use: %s", (char *)plugin->notes->pdata[0]);
        kz_plugin_free(plugin);
        return NULL;
    }
    return plugin;
}

kz_plugin *kz_loader_load(const char *path, char **reason)
{
    *reason = NULL;
    if (!ltdl_setup(reason))
        return NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        *reason = g_strdup_printf("cannot read: %s", g_strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        *reason = g_strdup("not a regular file");
        return NULL;
    }
    g_autofree char *dir = g_path_get_dirname(path);
    if (kz_loader_writable_by_others(path, reason) || kz_loader_writable_by_others(dir, reason))
        return NULL;

    lt_dladvise advise;
    if (lt_dladvise_init(&advise) != 0 || lt_dladvise_local(&advise) != 0) {
        *reason = g_strdup_printf("libltdl: %s", lt_dlerror());
        return NULL;
    }
    g_private_replace(&dl_error_msg, NULL);
    lt_dlhandle handle = lt_dlopenadvise(path, advise);
    lt_dladvise_destroy(&advise);
    if (handle == NULL) {
        const char *why = g_private_get(&dl_error_msg);
        *reason = g_strdup_printf("not a loadable shared object: %s", why != NULL ? why : lt_dlerror());
        return NULL;
    }
    /* From here on the object's constructors have run: keep it mapped, and
     * keep its handle for the life of the process (refused or not). */
    lt_dlmakeresident(handle);
    keep_resident(handle);
    kz_plugin_entry_fn entry = (kz_plugin_entry_fn)(uintptr_t)lt_dlsym(handle, KZ_PLUGIN_ENTRY_SYMBOL);
    if (entry == NULL) {
        *reason = g_strdup_printf("no entry symbol '%s': not a Kizuna plugin", KZ_PLUGIN_ENTRY_SYMBOL);
        return NULL;
    }
    const kz_plugin_descriptor *desc = entry();
    if (desc == NULL) {
        *reason = g_strdup("the entry symbol returned no descriptor");
        return NULL;
    }
    kz_plugin *plugin = load_descriptor(path, desc, reason);
    if (plugin != NULL)
        plugin->handle = handle;
    return plugin;
}

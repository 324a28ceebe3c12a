/*
 * core/org/assign.c — the book of business for organization models, and
 * what the host does with their answers (assign.h).
 */
#include "assign.h"

#include "errors.h"
#include "store/owners.h"

#include <json-glib/json-glib.h>
#include <sqlite3.h>
#include <string.h>

void kz_org_free(kz_org *org)
{
    if (org == NULL)
        return;
    if (org->strings != NULL)
        g_string_chunk_free(org->strings);
    g_clear_pointer(&org->account_ids, g_ptr_array_unref);
    g_clear_pointer(&org->stored_owner, g_ptr_array_unref);
    g_clear_pointer(&org->stored_team, g_ptr_array_unref);
    g_free(org->stored_reason);
    g_free(org->stored_since);
    g_clear_pointer(&org->regions, g_ptr_array_unref);
    g_free(org->teams);
    g_free(org->csms);
    g_clear_pointer(&org->team_ptrs, g_ptr_array_unref);
    g_clear_pointer(&org->csm_ptrs, g_ptr_array_unref);
    g_clear_pointer(&org->team_regions, g_array_unref);
    g_clear_pointer(&org->skill_names, g_ptr_array_unref);
    g_free(org->account_region);
    g_free(org->account_phase);
    g_free(org->account_tier);
    g_free(org->account_arr);
    g_free(org->current_owner);
    g_free(org);
}

/* The index of region `name`, added when new. */
static int32_t region_index(kz_org *org, GHashTable *index, const char *name)
{
    if (name == NULL || *name == '\0')
        return -1;
    gpointer v;
    if (g_hash_table_lookup_extended(index, name, NULL, &v))
        return GPOINTER_TO_INT(v);
    char *copy = g_strdup(name);
    g_ptr_array_add(org->regions, copy);
    int32_t i = (int32_t)org->regions->len - 1;
    g_hash_table_insert(index, copy, GINT_TO_POINTER(i));
    return i;
}

/* A CSM of a source (the csms table), before it joins the organization. */
typedef struct {
    const char *id, *name, *team, *region, *source;
    guint32 capacity[4];
    guint skills_at, n_skills; /* into the skills array */
} stored_csm;

static guint32 stored_capacity(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return KZ_CAPACITY_NONE;
    sqlite3_int64 v = sqlite3_column_int64(st, col);
    return v < 0 ? KZ_CAPACITY_NONE : v >= (sqlite3_int64)KZ_CAPACITY_UNLIMITED ? KZ_CAPACITY_UNLIMITED : (guint32)v;
}

/* The active CSMs the sources gave (status 1), in id order, leaving out
 * ids the config names: the config's entry wins. A CSM whose team is not
 * a team of the organization fails the load rather than being left out,
 * which would move all of their accounts away. */
static gboolean read_stored_csms(kz_org *org, sqlite3 *db, const kz_config_org *co, GHashTable *team_index, GArray *out,
                                 GError **error)
{
    g_autoptr(GHashTable) in_config = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < co->csms->len; i++)
        g_hash_table_add(in_config, ((kz_config_csm *)co->csms->pdata[i])->id);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id, name, team, region, skills, capacity_high, capacity_low, capacity_tech, source"
                           " FROM csms WHERE status = 1 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading the CSMs of the sources");
        return FALSE;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (g_hash_table_contains(in_config, id))
            continue;
        const char *team = (const char *)sqlite3_column_text(st, 2);
        const char *source = (const char *)sqlite3_column_text(st, 8);
        if (team == NULL || !g_hash_table_contains(team_index, team)) {
            if (team == NULL)
                g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                            "CSM '%s' (from source '%s') has no team: map a team for them, or set them inactive", id,
                            source);
            else
                g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                            "CSM '%s' (from source '%s') is in team '%s', which <organization> (line %u) does not "
                            "have; add the team or map the CSM to one of its teams",
                            id, source, team, co->line);
            sqlite3_finalize(st);
            return FALSE;
        }
        stored_csm c = {.id = g_string_chunk_insert(org->strings, id),
                        .team = g_string_chunk_insert_const(org->strings, team),
                        .source = g_string_chunk_insert_const(org->strings, source),
                        .skills_at = org->skill_names->len};
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *region = (const char *)sqlite3_column_text(st, 3);
        c.name = name != NULL ? g_string_chunk_insert(org->strings, name) : c.id;
        c.region = region != NULL ? g_string_chunk_insert_const(org->strings, region) : NULL;
        c.capacity[KZ_TIER_HIGH] = stored_capacity(st, 5);
        c.capacity[KZ_TIER_LOW] = stored_capacity(st, 6);
        c.capacity[KZ_TIER_TECH] = stored_capacity(st, 7);
        const char *skills = (const char *)sqlite3_column_text(st, 4);
        if (skills != NULL) {
            g_autoptr(JsonParser) parser = json_parser_new();
            JsonNode *root = json_parser_load_from_data(parser, skills, -1, NULL) ? json_parser_get_root(parser) : NULL;
            JsonArray *a = root != NULL && JSON_NODE_HOLDS_ARRAY(root) ? json_node_get_array(root) : NULL;
            for (guint k = 0; a != NULL && k < json_array_get_length(a); k++) {
                const char *skill = json_node_get_string(json_array_get_element(a, k));
                if (skill != NULL)
                    g_ptr_array_add(org->skill_names, g_string_chunk_insert_const(org->strings, skill));
            }
        }
        c.n_skills = org->skill_names->len - c.skills_at;
        g_array_append_val(out, c);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        kz_sql_fail(db, error, "reading the CSMs of the sources");
        return FALSE;
    }
    return TRUE;
}

/* The teams of the config, and its CSMs followed by those of the sources. */
static gboolean load_org(kz_org *org, sqlite3 *db, const kz_config_org *co, GHashTable *regions, GHashTable *csm_index,
                         GError **error)
{
    guint nt = co->teams->len;
    org->team_regions = g_array_new(FALSE, FALSE, sizeof(guint32));
    org->skill_names = g_ptr_array_new();
    org->team_ptrs = g_ptr_array_sized_new(nt);
    org->teams = g_new0(kz_org_team, MAX(nt, 1));
    g_autoptr(GHashTable) team_index = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < nt; i++) {
        const kz_config_team *ct = co->teams->pdata[i];
        for (guint r = 0; r < ct->regions->len; r++) {
            guint32 idx = (guint32)region_index(org, regions, ct->regions->pdata[r]);
            g_array_append_val(org->team_regions, idx);
        }
        g_hash_table_insert(team_index, ct->id, GUINT_TO_POINTER(i));
    }
    g_autoptr(GArray) stored = g_array_new(FALSE, FALSE, sizeof(stored_csm));
    if (!read_stored_csms(org, db, co, team_index, stored, error))
        return FALSE;

    guint at = 0;
    for (guint i = 0; i < nt; i++) {
        const kz_config_team *ct = co->teams->pdata[i];
        kz_org_team *t = &org->teams[i];
        t->size = sizeof *t;
        t->phases = ct->phases;
        t->tiers = ct->tiers;
        t->n_regions = ct->regions->len;
        t->id = ct->id;
        t->function = ct->function;
        t->regions = t->n_regions > 0 ? &g_array_index(org->team_regions, guint32, at) : NULL;
        at += t->n_regions;
        g_ptr_array_add(org->team_ptrs, t);
    }
    guint nc = co->csms->len + stored->len;
    org->csms = g_new0(kz_org_csm, MAX(nc, 1));
    org->csm_ptrs = g_ptr_array_sized_new(nc);
    for (guint i = 0; i < nc; i++) {
        kz_org_csm *c = &org->csms[i];
        c->size = sizeof *c;
        if (i < co->csms->len) {
            const kz_config_csm *cc = co->csms->pdata[i];
            c->team = GPOINTER_TO_INT(g_hash_table_lookup(team_index, cc->team));
            c->id = cc->id;
            c->name = cc->name != NULL ? cc->name : cc->id;
            c->region = region_index(org, regions, cc->region);
            c->n_skills = cc->skills->len;
            c->skills = (const char *const *)cc->skills->pdata;
            memcpy(c->capacity, cc->capacity, sizeof c->capacity);
        } else {
            const stored_csm *sc = &g_array_index(stored, stored_csm, i - co->csms->len);
            c->team = GPOINTER_TO_INT(g_hash_table_lookup(team_index, sc->team));
            c->id = sc->id;
            c->name = sc->name;
            c->region = region_index(org, regions, sc->region);
            c->n_skills = sc->n_skills;
            c->skills = sc->n_skills > 0 ? (const char *const *)&org->skill_names->pdata[sc->skills_at] : NULL;
            memcpy(c->capacity, sc->capacity, sizeof c->capacity);
        }
        g_ptr_array_add(org->csm_ptrs, c);
        g_hash_table_insert(csm_index, (gpointer)c->id, GUINT_TO_POINTER(i));
    }
    return TRUE;
}

static gint id_order(gconstpointer a, gconstpointer b, gpointer ids)
{
    const char *const *v = ids;
    return strcmp(v[*(const guint *)a], v[*(const guint *)b]);
}

/* Puts the first `n` accounts read (ids, regions, ARR) in id order. */
static void sort_accounts(kz_org *org, guint n)
{
    g_autofree guint *order = g_new(guint, MAX(n, 1));
    for (guint i = 0; i < n; i++)
        order[i] = i;
    g_qsort_with_data(order, (gint)n, sizeof *order, id_order, org->account_ids->pdata);
    g_autofree gpointer *ids = g_memdup2(org->account_ids->pdata, sizeof(gpointer) * n);
    g_autofree int32_t *region = g_memdup2(org->account_region, sizeof(int32_t) * n);
    g_autofree int64_t *arr = g_memdup2(org->account_arr, sizeof(int64_t) * n);
    for (guint i = 0; i < n; i++) {
        org->account_ids->pdata[i] = ids[order[i]];
        org->account_region[i] = region[order[i]];
        org->account_arr[i] = arr[order[i]];
    }
}

/* The stored owners of the book's `n` accounts (org->account_ids, in id
 * order), from current_owners. A CSM of the organization and their team
 * are named as the config spells them (the book points there too); other
 * names are copied once. */
static gboolean load_owners(kz_org *org, sqlite3 *db, GHashTable *csm_index, GError **error)
{
    g_autoptr(kz_owners) owners = kz_owners_read(db, error);
    if (owners == NULL)
        return FALSE;
    guint np = owners->n_pairs;
    g_autofree int32_t *pair_csm = g_new(int32_t, MAX(np, 1));
    g_autofree const char **pair_was = g_new(const char *, MAX(np, 1));
    g_autofree const char **pair_was_team = g_new(const char *, MAX(np, 1));
    for (guint p = 0; p < np; p++) {
        const char *owner = owners->pair_owner[p], *team = owners->pair_team[p];
        gpointer ci;
        int32_t c = g_hash_table_lookup_extended(csm_index, owner, NULL, &ci) ? GPOINTER_TO_INT(ci) : -1;
        const char *c_team = c >= 0 ? org->teams[org->csms[c].team].id : NULL;
        pair_csm[p] = c;
        pair_was[p] = c >= 0 ? org->csms[c].id : g_string_chunk_insert_const(org->strings, owner);
        pair_was_team[p] = c_team != NULL && team != NULL && strcmp(team, c_team) == 0 ? c_team
                           : team != NULL ? g_string_chunk_insert_const(org->strings, team)
                                          : NULL;
    }
    guint n = org->account_ids->len, hint = 0, matched = 0;
    for (guint i = 0; i < n; i++) {
        gint64 k = kz_owners_find(owners, org->account_ids->pdata[i], &hint);
        gint32 code = k >= 0 ? owners->codes[k] : -1;
        matched += k >= 0;
        org->current_owner[i] = code >= 0 ? pair_csm[code] : -1;
        g_ptr_array_add(org->stored_owner, code >= 0 ? (gpointer)pair_was[code] : NULL);
        g_ptr_array_add(org->stored_team, code >= 0 ? (gpointer)pair_was_team[code] : NULL);
        org->stored_reason[i] = k >= 0 ? owners->reasons[k] : 0;
        org->stored_since[i] = k >= 0 ? owners->since_us[k] : 0;
    }
    /* accounts no longer in the book: the next write leaves them out */
    org->stored_others = matched != owners->n;
    org->owners_seen = owners->present ? owners->run : -1;
    return TRUE;
}

kz_org *kz_org_load(kz_store *store, const kz_config *cfg, GError **error)
{
    if (cfg->org == NULL) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID,
                    "%s: the stack config has no <organization> (teams, CSMs and the model that assigns them)",
                    cfg->path);
        return NULL;
    }
    sqlite3 *db = kz_store_db(store);
    g_autoptr(kz_org) org = g_new0(kz_org, 1);
    org->strings = g_string_chunk_new(1 << 20);
    org->account_ids = g_ptr_array_new();
    org->stored_owner = g_ptr_array_new();
    org->stored_team = g_ptr_array_new();
    org->regions = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) regions = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) csm_index = g_hash_table_new(g_str_hash, g_str_equal);
    if (!load_org(org, db, cfg->org, regions, csm_index, error))
        return NULL;

    sqlite3_stmt *n_st = NULL;
    gint64 n = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM accounts", -1, &n_st, NULL) == SQLITE_OK &&
        sqlite3_step(n_st) == SQLITE_ROW)
        n = sqlite3_column_int64(n_st, 0);
    sqlite3_finalize(n_st);
    if (n > G_MAXINT32) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_INVALID, "the book has %" G_GINT64_FORMAT " accounts, more than %d", n,
                    G_MAXINT32);
        return NULL;
    }
    guint cap = (guint)n + 1;
    org->account_region = g_new(int32_t, cap);
    org->account_phase = g_new(uint8_t, cap);
    org->account_tier = g_new(uint8_t, cap);
    org->account_arr = g_new(int64_t, cap);
    org->current_owner = g_new(int32_t, cap);
    org->stored_reason = g_new(guint8, cap);
    org->stored_since = g_new(gint64, cap);

    /* The accounts in rowid order: a plain scan of the table, about a
     * third of the cost of walking its id index (which looks each row up
     * by rowid). They come in id order when they were synced in that
     * order, the common case; else they are sorted here. */
    sqlite3_stmt *st = NULL, *ss = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, region, arr_minor FROM accounts", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT account_id, phase, tier FROM account_state ORDER BY account_id", -1, &ss,
                           NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading the book of business");
        sqlite3_finalize(st);
        return NULL;
    }
    guint n_read = 0;
    gboolean in_order = TRUE;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n_read < cap - 1) {
        const char *id = g_string_chunk_insert(org->strings, (const char *)sqlite3_column_text(st, 0));
        if (n_read > 0 && in_order && strcmp(org->account_ids->pdata[n_read - 1], id) > 0)
            in_order = FALSE;
        g_ptr_array_add(org->account_ids, (gpointer)id);
        org->account_region[n_read] = region_index(org, regions, (const char *)sqlite3_column_text(st, 1));
        org->account_arr[n_read] =
            sqlite3_column_type(st, 2) == SQLITE_NULL ? KZ_INT_NONE : sqlite3_column_int64(st, 2);
        n_read++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        kz_sql_fail(db, error, "reading the book of business");
        sqlite3_finalize(st);
        sqlite3_finalize(ss);
        return NULL;
    }
    sqlite3_finalize(st);
    if (!in_order)
        sort_accounts(org, n_read);

    /* Their phase and tier, a scan of account_state in id order merged
     * with the book: a lookup per account would start from the root each
     * time. */
    guint i = 0;
    int rs = sqlite3_step(ss);
    for (; i < n_read; i++) {
        const char *id = org->account_ids->pdata[i];
        /* account_state rows of no account (none, with the foreign key) are skipped */
        int cmp = 1;
        while (rs == SQLITE_ROW && (cmp = strcmp((const char *)sqlite3_column_text(ss, 0), id)) < 0)
            rs = sqlite3_step(ss);
        gboolean has_state = rs == SQLITE_ROW && cmp == 0;
        int phase = has_state ? sqlite3_column_int(ss, 1) : 0, tier = has_state ? sqlite3_column_int(ss, 2) : 0;
        org->account_phase[i] = (uint8_t)(phase >= 0 && phase <= KZ_PHASE_CHURNED ? phase : 0);
        org->account_tier[i] = (uint8_t)(tier >= 0 && tier <= KZ_TIER_HIGH ? tier : 0);
    }
    sqlite3_finalize(ss);
    if (rs != SQLITE_ROW && rs != SQLITE_DONE) {
        kz_sql_fail(db, error, "reading the book of business");
        return NULL;
    }
    if (!load_owners(org, db, csm_index, error))
        return NULL;
    kz_org_book *b = &org->book;
    b->size = sizeof *b;
    b->n_accounts = i;
    b->n_teams = org->team_ptrs->len;
    b->n_csms = org->csm_ptrs->len;
    b->n_regions = org->regions->len;
    b->regions = (const char *const *)org->regions->pdata;
    b->teams = (const kz_org_team *const *)org->team_ptrs->pdata;
    b->csms = (const kz_org_csm *const *)org->csm_ptrs->pdata;
    b->account_ids = (const char *const *)org->account_ids->pdata;
    b->account_region = org->account_region;
    b->account_phase = org->account_phase;
    b->account_tier = org->account_tier;
    b->account_arr_minor = org->account_arr;
    b->current_owner = org->current_owner;
    return g_steal_pointer(&org);
}

void kz_org_outcome_free(kz_org_outcome *o)
{
    if (o == NULL)
        return;
    g_free(o->model);
    g_free(o->owner);
    g_free(o->reason);
    g_free(o->shortfall);
    g_free(o->per_csm);
    g_free(o);
}

/* The team id of CSM `c`, or NULL for none. */
static const char *team_of(const kz_org_book *b, int32_t c)
{
    return c >= 0 ? b->teams[b->csms[c]->team]->id : NULL;
}

static const char *const tier_words[] = {"", "tech-touch", "low-touch", "high-touch"};

/* Checks the model's answer and counts it. */
static gboolean tally(const kz_org_book *b, kz_org_outcome *o, GError **error)
{
    o->per_csm = g_new0(guint32, (gsize)MAX(b->n_csms, 1) * 4);
    for (guint i = 0; i < b->n_accounts; i++) {
        int32_t c = o->owner[i];
        guint8 why = o->reason[i];
        if (c < -1 || c >= (int32_t)b->n_csms || (c >= 0 && why != KZ_UNASSIGNED_NONE) ||
            (c < 0 && (why == KZ_UNASSIGNED_NONE || why > KZ_UNASSIGNED_EXCLUDED))) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_PLUGIN,
                        "orgmodel '%s' answered owner %d, reason %u for account '%s': not a CSM of the book, or a "
                        "reason that does not fit",
                        o->model, c, why, b->account_ids[i]);
            return FALSE;
        }
        if (c < 0) {
            o->unassigned[why]++;
            continue;
        }
        guint tier = b->account_tier[i];
        if (tier == KZ_TIER_NONE || tier > KZ_TIER_HIGH) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_PLUGIN,
                        "orgmodel '%s' gave account '%s' an owner though it has no touch tier", o->model,
                        b->account_ids[i]);
            return FALSE;
        }
        guint32 *count = &o->per_csm[(gsize)c * 4 + tier];
        if (++*count > b->csms[c]->capacity[tier]) {
            g_set_error(error, KZ_ERROR, KZ_ERROR_PLUGIN,
                        "orgmodel '%s' put more %s accounts on CSM '%s' than the capacity of %u: refused, nothing "
                        "is stored",
                        o->model, tier_words[tier], b->csms[c]->id, b->csms[c]->capacity[tier]);
            return FALSE;
        }
        o->assigned++;
    }
    return TRUE;
}

/* Kept, new, moved, unowned and hand-offs against the owners the store
 * names (a CSM who left the config still counts as the owner before), or
 * for a variant book against its current owners. */
static void count_changes(const kz_org *org, const kz_org_book *b, kz_org_outcome *o)
{
    gboolean stored = b->current_owner == org->book.current_owner;
    for (guint i = 0; i < b->n_accounts; i++) {
        int32_t c = o->owner[i], cur = b->current_owner[i];
        const char *was = stored ? org->stored_owner->pdata[i] : cur >= 0 ? b->csms[cur]->id : NULL;
        const char *was_team = stored ? org->stored_team->pdata[i] : team_of(b, cur);
        if (c < 0) {
            o->unowned += was != NULL;
            continue;
        }
        if (was == NULL)
            o->newly++;
        else if (strcmp(was, b->csms[c]->id) == 0)
            o->kept++;
        else
            o->moved++;
        if (was_team != NULL && (was == NULL || strcmp(was, b->csms[c]->id) != 0) &&
            strcmp(was_team, team_of(b, c)) != 0)
            o->handoffs++;
    }
}

kz_org_outcome *kz_org_assign(kz_org *org, const kz_org_book *book, kz_instance *inst, GError **error)
{
    const kz_component_info *comp = kz_instance_component(inst);
    g_autoptr(kz_org_outcome) o = g_new0(kz_org_outcome, 1);
    o->model = g_strdup(kz_instance_name(inst));
    guint n = book->n_accounts;
    o->owner = g_new(int32_t, MAX(n, 1));
    o->reason = g_new0(uint8_t, MAX(n, 1));
    o->shortfall = g_new0(uint32_t, MAX(book->n_teams, 1));
    for (guint i = 0; i < n; i++)
        o->owner[i] = -1;
    kz_org_result res = {sizeof res, 0, o->owner, o->reason, o->shortfall};
    kz_instance_begin_call(inst);
    int status = comp->vt.orgmodel.assign(kz_instance_self(inst), book, &res);
    if (status != KZ_OK) {
        kz_instance_fail(inst, status, "assigning owners", error);
        return NULL;
    }
    if (!tally(book, o, error))
        return NULL;
    count_changes(org, book, o);
    return g_steal_pointer(&o);
}

/* ---- storing an outcome ------------------------------------------------- */

/* A (CSM id, team) pair of owner_changes.owners. */
typedef struct owner_pair {
    const char *owner, *team;
} owner_pair;

static guint pair_hash(gconstpointer p)
{
    const owner_pair *x = p;
    return g_str_hash(x->owner) * 31 + (x->team != NULL ? g_str_hash(x->team) : 0);
}

static gboolean pair_equal(gconstpointer a, gconstpointer b)
{
    const owner_pair *x = a, *y = b;
    return strcmp(x->owner, y->owner) == 0 && g_strcmp0(x->team, y->team) == 0;
}

/* The owner changes of one assignment, as the columns of owner_changes
 * (store.c, migration 8). The owners a change names are coded in the
 * order they first appear. */
typedef struct change_columns {
    GByteArray *ids, *owners, *from, *to, *handoffs;
    guint n, n_owners;
    gint32 *csm_code;  /* per CSM of the book, with their own team: its code, -1 until used */
    GHashTable *other; /* owner_pair* (a CSM no longer in the book, another team) -> code + 1 */
} change_columns;

static void change_columns_init(change_columns *cc, const kz_org_book *b)
{
    cc->ids = g_byte_array_new();
    cc->owners = g_byte_array_new();
    cc->from = g_byte_array_new();
    cc->to = g_byte_array_new();
    cc->handoffs = g_byte_array_new();
    cc->n = cc->n_owners = 0;
    cc->csm_code = g_new(gint32, MAX(b->n_csms, 1));
    for (guint c = 0; c < b->n_csms; c++)
        cc->csm_code[c] = -1;
    cc->other = g_hash_table_new_full(pair_hash, pair_equal, g_free, NULL);
}

static void change_columns_clear(change_columns *cc)
{
    g_byte_array_unref(cc->ids);
    g_byte_array_unref(cc->owners);
    g_byte_array_unref(cc->from);
    g_byte_array_unref(cc->to);
    g_byte_array_unref(cc->handoffs);
    g_free(cc->csm_code);
    g_hash_table_destroy(cc->other);
}

static gint32 new_owner_code(change_columns *cc, const char *owner, const char *team)
{
    g_byte_array_append(cc->owners, (const guint8 *)owner, (guint)strlen(owner) + 1);
    g_byte_array_append(cc->owners, (const guint8 *)(team != NULL ? team : ""),
                        team != NULL ? (guint)strlen(team) + 1 : 1);
    return (gint32)cc->n_owners++;
}

/* The code of `owner` with `team` (-1: no owner); `c` is owner's index
 * among the book's CSMs when it is one, else -1. */
static gint32 owner_code(change_columns *cc, const kz_org_book *b, int32_t c, const char *owner, const char *team)
{
    if (owner == NULL)
        return -1;
    if (c >= 0 && g_strcmp0(team, team_of(b, c)) == 0) {
        if (cc->csm_code[c] < 0)
            cc->csm_code[c] = new_owner_code(cc, owner, team);
        return cc->csm_code[c];
    }
    owner_pair key = {owner, team};
    gpointer code;
    if (g_hash_table_lookup_extended(cc->other, &key, NULL, &code))
        return GPOINTER_TO_INT(code) - 1;
    gint32 made = new_owner_code(cc, owner, team);
    g_hash_table_insert(cc->other, g_memdup2(&key, sizeof key), GINT_TO_POINTER(made + 1));
    return made;
}

static void append_code(GByteArray *a, gint32 code)
{
    guint32 le = GUINT32_TO_LE((guint32)code);
    g_byte_array_append(a, (const guint8 *)&le, sizeof le);
}

/* Adds the owner change of account `i`. */
static void add_change(change_columns *cc, const kz_org *org, const kz_org_outcome *out, guint i)
{
    const kz_org_book *b = &org->book;
    const char *was = org->stored_owner->pdata[i];
    const char *was_team = org->stored_team->pdata[i];
    int32_t c = out->owner[i];
    const char *to_team = team_of(b, c);
    const char *id = b->account_ids[i];
    g_byte_array_append(cc->ids, (const guint8 *)id, (guint)strlen(id) + 1);
    append_code(cc->from, owner_code(cc, b, org->current_owner[i], was, was_team));
    append_code(cc->to, owner_code(cc, b, c, c >= 0 ? b->csms[c]->id : NULL, to_team));
    guint8 handoff = was_team != NULL && to_team != NULL && strcmp(was_team, to_team) != 0;
    g_byte_array_append(cc->handoffs, &handoff, 1);
    cc->n++;
}

static void bind_bytes(sqlite3_stmt *st, int at, const GByteArray *a)
{
    if (a->len > 0)
        sqlite3_bind_blob64(st, at, a->data, a->len, SQLITE_STATIC);
    else
        sqlite3_bind_zeroblob(st, at, 0);
}

/* Steps `st` once as a whole statement; FALSE with the store's error. */
static gboolean step_done(sqlite3 *db, sqlite3_stmt *st, GError **error, const char *what)
{
    gboolean ok = sqlite3_step(st) == SQLITE_DONE || kz_sql_fail(db, error, what);
    sqlite3_reset(st);
    return ok;
}

/* The current owners after `out`: every account of the book, each
 * coded by its CSM's index (the dictionary is the book's CSMs with their
 * teams); an account whose owner, team or reason changed is so since
 * `now`. */
static void current_columns(kz_owners *o, const kz_org *org, const kz_org_outcome *out, const guint8 *changed,
                            gint64 run, gint64 now)
{
    const kz_org_book *b = &org->book;
    o->run = run;
    o->n = b->n_accounts;
    o->ids = (const char **)b->account_ids;
    o->codes = out->owner;
    o->reasons = out->reason;
    o->since_us = g_new(gint64, MAX(o->n, 1));
    for (guint i = 0; i < o->n; i++)
        o->since_us[i] = changed[i] ? now : org->stored_since[i];
    o->n_pairs = b->n_csms;
    o->pair_owner = g_new(const char *, MAX(b->n_csms, 1));
    o->pair_team = g_new(const char *, MAX(b->n_csms, 1));
    for (guint c = 0; c < b->n_csms; c++) {
        o->pair_owner[c] = b->csms[c]->id;
        o->pair_team[c] = team_of(b, (int32_t)c);
    }
}

/* The book was read outside the write transaction. When another
 * assignment stored its owners since, writing these over them would undo
 * its moves with no change recorded: FALSE (error set) then. */
static gboolean owners_unchanged(sqlite3 *db, const kz_org *org, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(run, 0) FROM current_owners WHERE id = 1", -1, &st, NULL) != SQLITE_OK)
        return kz_sql_fail(db, error, "reading the current owners");
    int rc = sqlite3_step(st);
    gint64 now = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return kz_sql_fail(db, error, "reading the current owners");
    if (now != org->owners_seen) {
        g_set_error(error, KZ_ERROR, KZ_ERROR_FAILED,
                    "another assignment (run %" G_GINT64_FORMAT ") stored its owners after this one read the book: "
                    "nothing is stored; run kizuna assign again",
                    now);
        return FALSE;
    }
    return TRUE;
}

gboolean kz_org_store(kz_store *store, const kz_org *org, const kz_org_outcome *out, GError **error)
{
    sqlite3 *db = kz_store_db(store);
    const kz_org_book *b = &org->book;
    const guint n = b->n_accounts;
    gint64 now = kz_host_now();
    gint64 t0 = g_get_monotonic_time(), t_owners = 0, t_commit = 0;
    sqlite3_stmt *run = NULL, *changes = NULL;
    gboolean ok = FALSE;
    g_autofree guint8 *changed = g_new0(guint8, MAX(n, 1));
    change_columns cc;
    change_columns_init(&cc, b);
    guint n_state = 0;
    for (guint i = 0; i < n; i++) {
        const char *was = org->stored_owner->pdata[i];
        const char *was_team = org->stored_team->pdata[i];
        int32_t c = out->owner[i];
        const char *to = c >= 0 ? b->csms[c]->id : NULL;
        gboolean same_owner = g_strcmp0(was, to) == 0 && g_strcmp0(was_team, team_of(b, c)) == 0;
        if (same_owner && out->reason[i] == org->stored_reason[i])
            continue;
        changed[i] = 1; /* same owner: only the reason it has none changed */
        n_state++;
        if (!same_owner)
            add_change(&cc, org, out, i);
    }
    kz_store_lock(store);
    if (!kz_sql_exec(db, "BEGIN IMMEDIATE", error))
        goto out;
    if (!owners_unchanged(db, org, error))
        goto rollback;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO owner_changes (run, n, ids, owners, from_codes, to_codes, handoffs)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?)",
                           -1, &changes, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO assign_runs (time_us, model, assigned, unassigned, moved, handoffs)"
                           " VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &run, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "preparing the assignment");
        goto rollback;
    }
    sqlite3_bind_int64(run, 1, now);
    sqlite3_bind_text(run, 2, out->model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(run, 3, out->assigned);
    sqlite3_bind_int64(run, 4, (gint64)n - out->assigned);
    sqlite3_bind_int64(run, 5, out->moved);
    sqlite3_bind_int64(run, 6, out->handoffs);
    if (!step_done(db, run, error, "recording the assignment"))
        goto rollback;
    gint64 run_id = sqlite3_last_insert_rowid(db);
    /* the whole set again when anything changed (a few tens of MB at a
     * million accounts, written in a few hundredths of a second), or
     * when it names accounts the book no longer has */
    if (n_state > 0 || org->stored_others) {
        kz_owners now_owners = {0};
        current_columns(&now_owners, org, out, changed, run_id, now);
        gboolean written = kz_owners_write(db, &now_owners, error);
        g_free(now_owners.since_us);
        g_free(now_owners.pair_owner);
        g_free(now_owners.pair_team);
        if (!written)
            goto rollback;
    }
    t_owners = g_get_monotonic_time();
    if (cc.n > 0) {
        sqlite3_bind_int64(changes, 1, run_id);
        sqlite3_bind_int64(changes, 2, cc.n);
        bind_bytes(changes, 3, cc.ids);
        bind_bytes(changes, 4, cc.owners);
        bind_bytes(changes, 5, cc.from);
        bind_bytes(changes, 6, cc.to);
        bind_bytes(changes, 7, cc.handoffs);
        if (!step_done(db, changes, error, "recording the owner changes"))
            goto rollback;
    }
    t_commit = g_get_monotonic_time();
    ok = kz_sql_exec(db, "COMMIT", error);
    if (ok) {
        gint64 t_end = g_get_monotonic_time();
        g_debug("assign: the owners of %u accounts (%u changed) written in %.2f s, %u owner changes in %.2f s, "
                "the commit took %.2f s",
                n, n_state, (t_owners - t0) / 1e6, cc.n, (t_commit - t_owners) / 1e6, (t_end - t_commit) / 1e6);
        goto out;
    }
rollback:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_finalize(changes);
    sqlite3_finalize(run);
    kz_store_unlock(store);
    change_columns_clear(&cc);
    return ok;
}

/* ---- reading owner changes ---------------------------------------------- */

void kz_owner_change_clear(kz_owner_change *c)
{
    g_clear_pointer(&c->from, g_free);
    g_clear_pointer(&c->to, g_free);
    g_clear_pointer(&c->from_team, g_free);
    g_clear_pointer(&c->to_team, g_free);
}

static void owner_change_free(gpointer p)
{
    kz_owner_change_clear(p);
    g_free(p);
}

/* The position of `id` among the `n` NUL-terminated ids of `blob` (in
 * byte order), -1 when it is not there, -2 when the blob does not hold n
 * such ids. A scan that stops at the first id past `id`. */
static gint64 ids_find(const char *blob, gsize len, guint n, const char *id)
{
    gsize at = 0;
    for (guint k = 0; k < n; k++) {
        const char *end = at < len ? memchr(blob + at, '\0', len - at) : NULL;
        if (end == NULL)
            return -2;
        int c = strcmp(blob + at, id);
        if (c == 0)
            return k;
        if (c > 0)
            return -1;
        at = (gsize)(end - blob) + 1;
    }
    return -1;
}

/* The `code`th (owner, team) pair of `owners`; FALSE when there is none. */
static gboolean owner_of(const char *owners, gsize len, gint32 code, char **owner, char **team)
{
    *owner = *team = NULL;
    if (code == -1)
        return TRUE;
    gsize at = 0;
    for (gint32 k = 0; k <= code && code >= 0; k++) {
        const char *o = at < len ? memchr(owners + at, '\0', len - at) : NULL;
        const char *t =
            o != NULL && (gsize)(o - owners) + 1 < len ? memchr(o + 1, '\0', len - (gsize)(o - owners) - 1) : NULL;
        if (t == NULL)
            return FALSE;
        if (k == code) {
            *owner = g_strdup(owners + at);
            *team = o[1] != '\0' ? g_strdup(o + 1) : NULL;
            return TRUE;
        }
        at = (gsize)(t - owners) + 1;
    }
    return FALSE;
}

static gint32 code_at(const void *codes, gint64 k)
{
    guint32 le;
    memcpy(&le, (const guint8 *)codes + k * 4, sizeof le);
    return (gint32)GUINT32_FROM_LE(le);
}

GPtrArray *kz_org_owner_history(sqlite3 *db, const char *id, GError **error)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT c.run, r.time_us, c.n, c.ids, c.owners, c.from_codes, c.to_codes, c.handoffs"
                           " FROM owner_changes AS c JOIN assign_runs AS r ON r.id = c.run ORDER BY c.run",
                           -1, &st, NULL) != SQLITE_OK) {
        kz_sql_fail(db, error, "reading the owner changes");
        return NULL;
    }
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(owner_change_free);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        gint64 run = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 2);
        const char *ids = sqlite3_column_blob(st, 3);
        gsize ids_len = (gsize)sqlite3_column_bytes(st, 3);
        gint64 k = n >= 0 && n <= (gint64)ids_len ? ids_find(ids, ids_len, (guint)n, id) : -2;
        gboolean fits = k != -2 && sqlite3_column_bytes(st, 5) == n * 4 && sqlite3_column_bytes(st, 6) == n * 4 &&
                        sqlite3_column_bytes(st, 7) == n;
        kz_owner_change *c = NULL;
        if (fits && k >= 0) {
            const char *owners = sqlite3_column_blob(st, 4);
            gsize owners_len = (gsize)sqlite3_column_bytes(st, 4);
            c = g_new0(kz_owner_change, 1);
            c->run = run;
            c->time_us = sqlite3_column_int64(st, 1);
            c->handoff = ((const guint8 *)sqlite3_column_blob(st, 7))[k] != 0;
            fits = owner_of(owners, owners_len, code_at(sqlite3_column_blob(st, 5), k), &c->from, &c->from_team) &&
                   owner_of(owners, owners_len, code_at(sqlite3_column_blob(st, 6), k), &c->to, &c->to_team);
            g_ptr_array_add(found, c);
        }
        if (!fits) {
            sqlite3_finalize(st);
            g_set_error(error, KZ_ERROR, KZ_ERROR_STORE,
                        "store: the owner changes of assign run %" G_GINT64_FORMAT " are damaged", run);
            return NULL;
        }
    }
    if (rc != SQLITE_DONE)
        kz_sql_fail(db, error, "reading the owner changes");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? g_steal_pointer(&found) : NULL;
}

gboolean kz_org_lifecycle_handoffs(kz_org *org, kz_instance *inst, guint8 *handoffs, GError **error)
{
    const kz_org_book *b = &org->book;
    guint n = b->n_accounts;
    kz_org_book step = *b;
    g_autofree uint8_t *phase = g_new(uint8_t, MAX(n, 1));
    g_autofree int32_t *owner = g_new(int32_t, MAX(n, 1));
    for (guint i = 0; i < n; i++)
        owner[i] = -1;
    memset(handoffs, 0, n);
    step.account_phase = phase;
    step.current_owner = owner;
    for (int p = KZ_PHASE_ONBOARDING; p <= KZ_PHASE_RENEWAL; p++) {
        for (guint i = 0; i < n; i++)
            phase[i] = b->account_phase[i] == KZ_PHASE_CHURNED ? KZ_PHASE_CHURNED : (uint8_t)p;
        g_autoptr(kz_org_outcome) o = kz_org_assign(org, &step, inst, error);
        if (o == NULL)
            return FALSE;
        for (guint i = 0; i < n; i++) {
            const char *was = team_of(b, owner[i]), *now = team_of(b, o->owner[i]);
            if (was != NULL && now != NULL && strcmp(was, now) != 0 && handoffs[i] < 255)
                handoffs[i]++;
            owner[i] = o->owner[i];
        }
    }
    return TRUE;
}

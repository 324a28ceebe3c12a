/* A source of CSMs as typed records (ABI 1.2, KZ_ENTITY_CSM), the way an
 * HR-system plugin emits them: four people, and four records the host
 * must quarantine (negative capacity, unknown status, skills announced
 * but not given, no id). With `leave` set, "ana" comes back inactive and
 * carries nothing else, so her stored fields must stay. A fixture, not a
 * test: tests/test_sync.c (csm_source()) syncs it and asserts the stored
 * CSMs and the quarantined records. */
#include <kizuna/kizuna.h>

#include <stdlib.h>

typedef struct {
    const kz_host *host;
    kz_ctx *ctx;
    int leave;
} csm_source;

static int csm_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    csm_source *s = calloc(1, sizeof *s);
    if (s == NULL)
        return KZ_ERR_NOMEM;
    s->host = host;
    s->ctx = ctx;
    host->param_bool(ctx, "leave", &s->leave);
    *self = s;
    return KZ_OK;
}

static void csm_destroy(void *self)
{
    free(self);
}

#define NONE3 .capacity_high = KZ_INT_NONE, .capacity_low = KZ_INT_NONE, .capacity_tech = KZ_INT_NONE

static int csm_pull(void *self, const char *cursor, const kz_sink *sink)
{
    csm_source *s = self;
    (void)cursor;
    static const char *const ana_skills[] = {"japanese", "healthcare"};
    static const kz_trait ana_traits[] = {{"hired", {.type = KZ_VALUE_STRING, .u.s = "2024-04-01"}}};
    kz_csm people[8] = {
        {.capacity_high = 10,
         .capacity_low = 40,
         .capacity_tech = KZ_CSM_UNLIMITED + 7, /* anything above reads as unlimited */
         .id = "ana",
         .name = "Ana Sato",
         .email = "ana@example.com",
         .team = "adopt",
         .region = "apac",
         .manager = "mia",
         .skills = ana_skills,
         .n_skills = 2,
         .status = KZ_CSM_ACTIVE,
         .traits = ana_traits,
         .n_traits = 1,
         .origin = {"hr:people", "ana", 2, 0}},
        {NONE3, .id = "ben", .team = "adopt", .origin = {"hr:people", "ben", 3, 0}},
        {.capacity_high = 0,
         .capacity_low = 0,
         .capacity_tech = 500,
         .id = "cai",
         .team = "tech",
         .status = KZ_CSM_INACTIVE,
         .origin = {"hr:people", "cai", 4, 0}},
        {NONE3, .id = "mia", .name = "Mia Lead", .team = "adopt", .origin = {"hr:people", "mia", 5, 0}},
        {.capacity_high = -1,
         .capacity_low = 1,
         .capacity_tech = 1,
         .id = "bad1",
         .origin = {"hr:people", "bad1", 6, 0}},
        {NONE3, .id = "bad2", .status = 7, .origin = {"hr:people", "bad2", 7, 0}},
        {NONE3, .id = "bad3", .n_skills = 3, .origin = {"hr:people", "bad3", 8, 0}},
        {NONE3, .name = "Nobody", .origin = {"hr:people", ",Nobody", 9, 0}},
    };
    if (s->leave) {
        kz_csm gone = {NONE3, .id = "ana", .status = KZ_CSM_INACTIVE, .origin = {"hr:people", "ana", 2, 0}};
        kz_batch b = {sizeof b, KZ_ENTITY_CSM, 1, sizeof(kz_csm), &gone, "left"};
        int rc = sink->emit(sink, &b);
        return rc == KZ_ERR_STOP ? KZ_OK : rc;
    }
    kz_batch b = {sizeof b, KZ_ENTITY_CSM, 8, sizeof(kz_csm), people, "all"};
    int rc = sink->emit(sink, &b);
    return rc == KZ_ERR_STOP ? KZ_OK : rc;
}

static const kz_param_spec csm_params[] = {
    KZ_PARAM(KZ_PARAM_BOOL, "leave", 0, "false", "emit only ana, now inactive"),
    KZ_PARAM_END,
};
static const kz_source_vtable csm_vt = {
    .size = sizeof(kz_source_vtable),
    .entities = KZ_ENTITY_MASK(KZ_ENTITY_CSM),
    .create = csm_create,
    .destroy = csm_destroy,
    .pull = csm_pull,
};
static const kz_component csm_comp = {
    sizeof(kz_component), KZ_COMPONENT_SOURCE, "test-csm", "CSMs as an HR system gives them", csm_params, &csm_vt};
KZ_PLUGIN_DEFINE("org.kizuna.test.csm", "CSM source", "1.0", "Kizuna tests", "MIT", "typed CSM records (ABI 1.2)",
                 &csm_comp);

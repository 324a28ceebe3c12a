/* A well-formed plugin: a scorer with one parameter of every type and a
 * channel. Its scorer logs its secret parameter on purpose, so tests can
 * check the host masks it. A fixture, not a test: test_loader, test_config,
 * test_host and the CLI tests load it and assert what they see. */
#include "test_plugin.h"

#include <string.h>

static int good_create(const kz_host *host, kz_ctx *ctx, void **self)
{
    const char *key = NULL;
    if (host->param_string(ctx, "api_key", &key) == KZ_OK)
        host->log(ctx, KZ_LOG_INFO, "connecting with api_key=%s", key); /* the host must mask this */
    int64_t limit = 0;
    if (host->param_int(ctx, "limit", &limit) == KZ_OK && limit < 0) {
        host->set_error(ctx, "limit must not be negative, got %lld", (long long)limit);
        return KZ_ERR_INVALID;
    }
    return test_create(host, ctx, self);
}

static const kz_param_spec good_params[] = {
    KZ_PARAM(KZ_PARAM_STRING, "label", KZ_PARAM_REQUIRED, NULL, "a required string"),
    KZ_PARAM(KZ_PARAM_INT, "limit", 0, "10", "an integer with a default"),
    KZ_PARAM(KZ_PARAM_DOUBLE, "ratio", 0, "0.5", "a number"),
    KZ_PARAM(KZ_PARAM_BOOL, "enabled", 0, "true", "a flag"),
    KZ_PARAM(KZ_PARAM_DURATION, "timeout", 0, "30s", "a duration"),
    KZ_PARAM(KZ_PARAM_SECRET, "api_key", 0, NULL, "a secret"),
    KZ_PARAM(KZ_PARAM_PATH, "data_dir", 0, "data", "a path, relative to the stack config"),
    KZ_PARAM_END,
};

static const kz_scorer_vtable good_scorer_vt = {.size = sizeof(kz_scorer_vtable),
                                                .output = KZ_SCORE_HEALTH,
                                                .create = good_create,
                                                .destroy = test_destroy,
                                                .prepare = test_prepare,
                                                .score = test_score};

static int chan_deliver(void *self, const kz_touch *touch, kz_delivery *result)
{
    (void)self;
    (void)result;
    return touch->idempotency_key != NULL ? KZ_OK : KZ_ERR_PERMANENT;
}

static const kz_channel_vtable good_channel_vt = {.size = sizeof(kz_channel_vtable),
                                                  .tiers = KZ_TIER_MASK(KZ_TIER_LOW),
                                                  .create = test_create,
                                                  .destroy = test_destroy,
                                                  .deliver = chan_deliver};

static const kz_component good_scorer = {sizeof(kz_component),          KZ_COMPONENT_SCORER, "test-score",
                                         "Ten times the first measure", good_params,         &good_scorer_vt};
static const kz_component good_channel = {
    sizeof(kz_component), KZ_COMPONENT_CHANNEL, "test-channel", "Accepts every touch that has a key", NULL,
    &good_channel_vt};

KZ_PLUGIN_DEFINE("org.kizuna.test.good", "Good test plugin", "1.0.0", "Kizuna tests", "MIT",
                 "A plugin that follows every rule", &good_scorer, &good_channel)

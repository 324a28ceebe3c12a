/*
 * tests/abi_layout.c — compile-time checks of the plugin ABI's layout,
 * built for several targets (x86_64, i386, armv7) by test_abi_layout.sh.
 *
 * Rule: no struct that crosses the ABI has trailing padding, on any target.
 * Otherwise a field added in a later minor could land inside an older
 * build's sizeof, and KZ_HAS_FIELD / record_size would call it present
 * when it holds padding garbage.
 */
#include <kizuna/kizuna.h>

#define END_OF(type, last)  (offsetof(type, last) + sizeof(((type *)0)->last))
#define NO_TAIL(type, last) _Static_assert(sizeof(type) == END_OF(type, last), #type " has trailing padding")

NO_TAIL(kz_value, u);
NO_TAIL(kz_trait, value);
NO_TAIL(kz_param_spec, help);
NO_TAIL(kz_host, extension);
NO_TAIL(kz_origin, column);
NO_TAIL(kz_account, origin);
NO_TAIL(kz_contact, origin);
NO_TAIL(kz_usage_event, origin);
NO_TAIL(kz_ticket, origin);
NO_TAIL(kz_subscription, origin);
NO_TAIL(kz_survey_answer, origin);
NO_TAIL(kz_csm, origin);
NO_TAIL(kz_field, column);
NO_TAIL(kz_row, origin);
NO_TAIL(kz_batch, cursor);
NO_TAIL(kz_reject, origin);
NO_TAIL(kz_sink, flush);
NO_TAIL(kz_source_vtable, probe);
NO_TAIL(kz_column, reserved_);
NO_TAIL(kz_score_batch, baseline);
NO_TAIL(kz_train_set, weights);
NO_TAIL(kz_train_term, std_error);
NO_TAIL(kz_train_result, model_len);
NO_TAIL(kz_scorer_vtable, train);
NO_TAIL(kz_recipient, role);
NO_TAIL(kz_touch, due);
NO_TAIL(kz_delivery, receipt);
NO_TAIL(kz_channel_vtable, deliver);
NO_TAIL(kz_org_team, regions);
NO_TAIL(kz_org_csm, capacity);
NO_TAIL(kz_org_book, current_owner);
NO_TAIL(kz_org_result, shortfall_csms);
NO_TAIL(kz_orgmodel_vtable, assign);
NO_TAIL(kz_component, vtable);
NO_TAIL(kz_plugin_descriptor, url);

/* The fixed header of the descriptor: the same in every major version. */
_Static_assert(offsetof(kz_plugin_descriptor, size) == 0, "size at 0");
_Static_assert(offsetof(kz_plugin_descriptor, abi_major) == 4, "abi_major at 4");
_Static_assert(offsetof(kz_plugin_descriptor, abi_minor) == 6, "abi_minor at 6");

int kz_abi_layout_checked(void);
int kz_abi_layout_checked(void)
{
    return 1;
}

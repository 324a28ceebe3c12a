/* core/errors.c — the GError domain of the core. */
#include "errors.h"

G_DEFINE_QUARK(kz - error - quark, kz_error)

/*
 * core/errors.h — the GError domain of the Kizuna core.
 */
#ifndef KZ_CORE_ERRORS_H
#define KZ_CORE_ERRORS_H

#include <glib.h>

G_BEGIN_DECLS

#define KZ_ERROR (kz_error_quark())
GQuark kz_error_quark(void);

typedef enum {
    KZ_ERROR_FAILED,  /* anything else */
    KZ_ERROR_INVALID, /* bad input: config, file, value */
    KZ_ERROR_PLUGIN,  /* a plugin was refused or failed */
    KZ_ERROR_STORE,   /* the store could not be read or written */
    KZ_ERROR_VERSION  /* a store or file from a newer Kizuna */
} KzError;

G_END_DECLS

#endif

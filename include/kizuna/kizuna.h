/*
 * kizuna/kizuna.h — everything a Kizuna plugin needs: include this one.
 * See docs/plugin-guide.md for a walk from an empty folder to a loaded
 * plugin, and each header for the reference of its structs.
 */
#ifndef KIZUNA_KIZUNA_H
#define KIZUNA_KIZUNA_H

#include "channel.h"
#include "common.h"
#include "orgmodel.h"
#include "plugin.h"
#include "scorer.h"
#include "source.h"

#endif /* KIZUNA_KIZUNA_H */

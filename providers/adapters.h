/*
 * adapters.h - the provider adapters linked into the daemon.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef SV_ADAPTERS_H
#define SV_ADAPTERS_H

#include "providers/provider.h"

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's allocator. The release build links jemalloc (Makefile,
 * docs/operator.md "Memory"): a compile or a list builds and drops megabytes
 * of short-lived JSON among the long-lived caches, and glibc's heap kept the
 * freed pages pinned between live blocks (~13 MB at 10,000 pods), where
 * jemalloc's size-class slabs empty and are returned. Sanitizer builds, and
 * the tests that link this part, keep glibc's allocator: both calls then tune
 * and trim it instead. */
#pragma once

#include <stdbool.h>

/* Once, before the first allocation that matters. */
void sv_memory_setup(void);
/* Hands freed pages back to the kernel now, after a burst (a compile, a
 * status pass), so the footprint between changes is what is kept. */
void sv_memory_release(void);

/* jansson allocates in an arena of its own, for short-lived trees (memory.c
 * says why); JSON kept past the burst that makes it (the compile cache's
 * strings and peer sets, the verdicts, the objects' spec and status texts)
 * is made with keep true, in the main arena. Returns the previous mode, for
 * sv_memory_json_restore:
 *   _cleanup_(sv_memory_json_restore) bool prev = sv_memory_json_keep(true); */
bool sv_memory_json_keep(bool keep);
void sv_memory_json_restore(const bool *prev);

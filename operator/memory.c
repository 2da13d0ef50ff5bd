/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/memory.h"

#include <jansson.h>
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>

/* jemalloc's own, declared weak: present only when it is the allocator.
 * mallctl returns 0 or a positive error number. */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
        __attribute__((weak));
void *mallocx(size_t size, int flags) __attribute__((weak));

/* jemalloc's flag encoding for an arena (its public header, stable since
 * 4.0), and for no thread cache. */
#define ARENA_FLAG(a) ((int)(((unsigned)(a) + 1) << 20))
#define NO_TCACHE_FLAG ((int)((unsigned)(-1 + 2) << 8))

/* jansson's allocations, in an arena of their own. JSON trees are short-lived
 * and many (a list page, a watch event, a compile's state: millions of
 * blocks of 32 to 128 bytes at start); made among the long-lived caches,
 * the few blocks of each slab that outlive their burst kept the whole slab
 * resident (6.5 MB of 21 at 10,000 pods). Apart, a burst's slabs empty and
 * go back. What is kept is made in keep mode, in the main arena. */
static int json_arena_flags; /* 0: no arena of its own (glibc, or none made) */
static bool json_keep;

static void *json_arena_malloc(size_t size) {
        if (json_keep)
                return malloc(size);
        return mallocx(size ? size : 1, json_arena_flags);
}

static void json_arena_setup(void) {
        unsigned arena;
        size_t len = sizeof(arena);
        if (!mallocx || mallctl("arenas.create", &arena, &len, NULL, 0) != 0)
                return;
        json_arena_flags = ARENA_FLAG(arena) | NO_TCACHE_FLAG;
        /* free() finds any block's arena. */
        json_set_alloc_funcs(json_arena_malloc, free);
}

bool sv_memory_json_keep(bool keep) {
        bool was = json_keep;
        json_keep = keep;
        return was;
}

void sv_memory_json_restore(const bool *prev) {
        json_keep = *prev;
}

/* Read by jemalloc at its first allocation (the MALLOC_CONF environment
 * variable still overrides it). Two threads: one arena. Freed pages go back
 * to the kernel within a second, with MADV_DONTNEED rather than MADV_FREE,
 * whose pages stay counted in RSS until the kernel is short of memory.
 * No thread cache: a block that free() put there was handed to the next
 * malloc of its size whatever its arena, and long-lived blocks landed in the
 * slabs of the JSON arena, pinning them; without it, start-up to the first
 * apply at 10,000 pods costs the same CPU (1.9 s). Without jemalloc this is
 * an unused string. */
const char *malloc_conf = "narenas:1,tcache:false,dirty_decay_ms:1000,muzzy_decay_ms:0";

void sv_memory_setup(void) {
        if (mallctl) {
                json_arena_setup();
                return;
        }
        /* glibc: one arena for the two threads; blocks of 128 KiB and more
         * (response bodies, the state's text) in mappings of their own,
         * returned when freed. Left dynamic, glibc raises this threshold to
         * the largest block freed so far and later ones stay in the heap. */
        mallopt(M_ARENA_MAX, 1);
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

void sv_memory_release(void) {
        if (mallctl) {
                /* MALLCTL_ARENAS_ALL */
                (void)mallctl("arena.4096.purge", NULL, NULL, NULL, 0);
                return;
        }
        malloc_trim(0);
}

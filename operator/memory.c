/* SPDX-License-Identifier: Apache-2.0 */
#include "operator/memory.h"

#include <malloc.h>
#include <stddef.h>

/* jemalloc's own, declared weak: present only when it is the allocator. */
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
        __attribute__((weak));

/* Read by jemalloc at its first allocation (the MALLOC_CONF environment
 * variable still overrides it). Two threads: one arena. Freed pages go back
 * to the kernel within a second, with MADV_DONTNEED rather than MADV_FREE,
 * whose pages stay counted in RSS until the kernel is short of memory.
 * Without jemalloc this is an unused string. */
const char *malloc_conf = "narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0";

void sv_memory_setup(void) {
        if (mallctl)
                return;
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

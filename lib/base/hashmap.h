/* SPDX-License-Identifier: Apache-2.0 */
/* A string-keyed hash map for caches of up to ~100k entries (pods, services),
 * kept small in memory: open addressing with linear probing, one 16-byte slot
 * per bucket (the hash lives with the key), at most 3/4 full, doubling as it grows and halving when
 * it falls below 1/8 full. Keys are copied and owned by the map; values are the caller's. Hashes
 * are seeded per map, so keys chosen by an attacker (pod names) cannot force collisions, and
 * iteration order differs between maps. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/macro.h"

typedef struct sv_hashmap sv_hashmap;

/* Longest key accepted, excluding the NUL (a "namespace/name" is at most 507). */
#define SV_HASHMAP_KEY_MAX 4096
/* Most entries held; more is -ENOSPC. */
#define SV_HASHMAP_MAX_ENTRIES (1u << 24)

int sv_hashmap_new(sv_hashmap **out);

/* A map whose keys belong to its values (a cache entry that carries its own
 * name), for one allocation per entry instead of two: sv_hashmap_put takes
 * the key as it is, without a copy. The key must stay unchanged while it is
 * in the map and have SV_HASHMAP_KEY_ROOM writable bytes before it, where
 * the map keeps its hash; a put that replaces an entry installs the new key
 * (the old one may then be freed); the map never frees keys. */
#define SV_HASHMAP_KEY_ROOM 4
int sv_hashmap_new_borrowing(sv_hashmap **out);

/* Frees the map and its keys, not the values. Accepts NULL; returns NULL. */
sv_hashmap *sv_hashmap_free(sv_hashmap *map);
/* Frees map and, with free_value, each of its values. */
sv_hashmap *sv_hashmap_free_with(sv_hashmap *map, void (*free_value)(void *));
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_hashmap *, sv_hashmap_free)

/* The value of key, or NULL if absent (or if NULL was stored). */
void *sv_hashmap_get(const sv_hashmap *map, const char *key);

/* Inserts or replaces. Returns 0 when key was new (*old_value = NULL) and 1
 * when it replaced an entry (*old_value = the value it held, for the caller to
 * release); old_value may be NULL. -EINVAL for a NULL or too long key,
 * -ENOMEM, -ENOSPC; on failure the map is unchanged. */
int sv_hashmap_put(sv_hashmap *map, const char *key, void *value, void **old_value);

/* Removes key: 0 (*old_value = its value; old_value may be NULL) or -ENOENT. */
int sv_hashmap_remove(sv_hashmap *map, const char *key, void **old_value);

size_t sv_hashmap_size(const sv_hashmap *map);

/* Iterates: start with *iter = 0 and call until it returns false; key and
 * value may be NULL. The map must not change during an iteration, except by
 * sv_hashmap_put replacing the value of an existing key: an insertion may
 * rehash, and a removal shifts later entries back, so entries would be
 * skipped or seen twice. To remove while iterating, collect keys first. */
bool sv_hashmap_next(const sv_hashmap *map, size_t *iter, const char **key, void **value);

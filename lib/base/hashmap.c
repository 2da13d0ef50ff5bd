/* SPDX-License-Identifier: Apache-2.0 */
#include "base/hashmap.h"

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* 16 bytes: the key's hash is not in the slot but in the 4 bytes before the
 * key, in the key's own allocation (at 10,000 pods the operator's maps hold
 * ~60,000 slots, and a third of their memory was the hash). */
typedef struct slot {
        char *key; /* NULL: the slot is empty */
        void *value;
} slot;

#define HASH_PREFIX sizeof(uint32_t)
_Static_assert(HASH_PREFIX == SV_HASHMAP_KEY_ROOM, "the room before a borrowed key holds the hash");

static uint32_t key_hash(const char *key) {
        uint32_t h;
        memcpy(&h, key - HASH_PREFIX, sizeof(h));
        return h;
}

/* A copy of key (len bytes) with its hash h before it. */
static char *key_new(const char *key, size_t len, uint32_t h) {
        char *block = malloc(HASH_PREFIX + len + 1);
        if (!block)
                return NULL;
        memcpy(block, &h, sizeof(h));
        memcpy(block + HASH_PREFIX, key, len);
        block[HASH_PREFIX + len] = '\0';
        return block + HASH_PREFIX;
}

static void key_free(char *key) {
        if (key)
                free(key - HASH_PREFIX);
}

struct sv_hashmap {
        slot *slots;
        size_t cap; /* a power of two */
        size_t size;
        uint64_t seed;
        bool borrowing; /* keys are the caller's (sv_hashmap_new_borrowing) */
};

/* The key to keep for key (len bytes, hash h): a copy, or key itself with h
 * in the room before it. */
static char *key_take(const sv_hashmap *m, const char *key, size_t len, uint32_t h) {
        if (!m->borrowing)
                return key_new(key, len, h);
        char *k = (char *)key;
        memcpy(k - HASH_PREFIX, &h, sizeof(h));
        return k;
}

static void key_drop(const sv_hashmap *m, char *key) {
        if (!m->borrowing)
                key_free(key);
}

#define MIN_CAP 16

/* FNV-1a from a per-map basis, then murmur3's finalizer: the table is indexed
 * by the low bits, which plain FNV-1a mixes poorly. */
static uint32_t hash_key(const sv_hashmap *m, const char *key, size_t len) {
        uint64_t h = 0xcbf29ce484222325ULL ^ m->seed;
        for (size_t i = 0; i < len; i++) {
                h ^= (unsigned char)key[i];
                h *= 0x100000001b3ULL;
        }
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return (uint32_t)h;
}

/* Whether key is present: *idx is its slot, or else the empty slot where it
 * would go. The table is never full, so the probe ends. */
static bool find(const sv_hashmap *m, const char *key, size_t len, uint32_t h, size_t *idx) {
        size_t mask = m->cap - 1;
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                const slot *s = &m->slots[i];
                if (!s->key) {
                        *idx = i;
                        return false;
                }
                /* strncmp stops at the stored key's NUL: it may be shorter. */
                if (key_hash(s->key) == h && strncmp(s->key, key, len) == 0 &&
                    s->key[len] == '\0') {
                        *idx = i;
                        return true;
                }
        }
}

static int resize(sv_hashmap *m, size_t cap) {
        slot *slots = calloc(cap, sizeof(slot));
        if (!slots)
                return -ENOMEM;
        size_t mask = cap - 1;
        for (size_t i = 0; i < m->cap; i++) {
                if (!m->slots[i].key)
                        continue;
                size_t j = key_hash(m->slots[i].key) & mask;
                while (slots[j].key)
                        j = (j + 1) & mask;
                slots[j] = m->slots[i];
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
        return 0;
}

int sv_hashmap_new(sv_hashmap **out) {
        sv_hashmap *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->slots = calloc(MIN_CAP, sizeof(slot));
        if (!m->slots) {
                free(m);
                return -ENOMEM;
        }
        m->cap = MIN_CAP;
        /* Without entropy (early boot) a weak seed still beats none. */
        if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) != sizeof(m->seed))
                m->seed = (uint64_t)(uintptr_t)m ^ (uint64_t)time(NULL);
        *out = m;
        return 0;
}

int sv_hashmap_new_borrowing(sv_hashmap **out) {
        sv_hashmap *m = NULL;
        int r = sv_hashmap_new(&m);
        if (r < 0)
                return r;
        m->borrowing = true;
        *out = m;
        return 0;
}

sv_hashmap *sv_hashmap_free(sv_hashmap *map) {
        return sv_hashmap_free_with(map, NULL);
}

sv_hashmap *sv_hashmap_free_with(sv_hashmap *map, void (*free_value)(void *)) {
        if (!map)
                return NULL;
        for (size_t i = 0; i < map->cap; i++) {
                if (free_value && map->slots[i].key)
                        free_value(map->slots[i].value);
                key_drop(map, map->slots[i].key);
        }
        free(map->slots);
        free(map);
        return NULL;
}

/* The length of key, or -1 if it is NULL or longer than SV_HASHMAP_KEY_MAX. */
static ssize_t key_len(const char *key) {
        if (!key)
                return -1;
        size_t n = strnlen(key, SV_HASHMAP_KEY_MAX + 1);
        return n > SV_HASHMAP_KEY_MAX ? -1 : (ssize_t)n;
}

void *sv_hashmap_get(const sv_hashmap *map, const char *key) {
        ssize_t len = key_len(key);
        if (!map || len < 0)
                return NULL;
        size_t idx;
        if (!find(map, key, (size_t)len, hash_key(map, key, (size_t)len), &idx))
                return NULL;
        return map->slots[idx].value;
}

int sv_hashmap_put(sv_hashmap *map, const char *key, void *value, void **old_value) {
        ssize_t len = key_len(key);
        if (!map || len < 0)
                return -EINVAL;
        uint32_t h = hash_key(map, key, (size_t)len);
        size_t idx;
        if (find(map, key, (size_t)len, h, &idx)) {
                if (old_value)
                        *old_value = map->slots[idx].value;
                map->slots[idx].value = value;
                if (map->borrowing)
                        map->slots[idx].key = key_take(map, key, (size_t)len, h);
                return 1;
        }
        if (map->size >= SV_HASHMAP_MAX_ENTRIES)
                return -ENOSPC;

        if ((map->size + 1) * 4 > map->cap * 3) {
                int r = resize(map, map->cap * 2);
                if (r < 0)
                        return r;
                (void)find(map, key, (size_t)len, h, &idx);
        }
        char *copy = key_take(map, key, (size_t)len, h);
        if (!copy)
                return -ENOMEM; /* the map grew, but holds the same entries */
        map->slots[idx] = (slot){.key = copy, .value = value};
        map->size++;
        if (old_value)
                *old_value = NULL;
        return 0;
}

int sv_hashmap_remove(sv_hashmap *map, const char *key, void **old_value) {
        ssize_t len = key_len(key);
        if (!map || len < 0)
                return -ENOENT;
        size_t i;
        if (!find(map, key, (size_t)len, hash_key(map, key, (size_t)len), &i))
                return -ENOENT;
        if (old_value)
                *old_value = map->slots[i].value;
        key_drop(map, map->slots[i].key);

        /* Backward-shift deletion instead of tombstones: later entries of the
         * probe run move up unless that would put them before their home
         * slot, so lookups stay short however many removals happen. */
        size_t mask = map->cap - 1;
        for (size_t j = (i + 1) & mask; map->slots[j].key; j = (j + 1) & mask) {
                size_t home = key_hash(map->slots[j].key) & mask;
                bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
                if (stays)
                        continue;
                map->slots[i] = map->slots[j];
                i = j;
        }
        map->slots[i] = (slot){0};
        map->size--;

        /* Give memory back after a cache shrinks; failing to is harmless. */
        if (map->cap > MIN_CAP && map->size < map->cap / 8)
                (void)resize(map, map->cap / 2);
        return 0;
}

size_t sv_hashmap_size(const sv_hashmap *map) {
        return map ? map->size : 0;
}

bool sv_hashmap_next(const sv_hashmap *map, size_t *iter, const char **key, void **value) {
        if (!map)
                return false;
        for (size_t i = *iter; i < map->cap; i++) {
                if (!map->slots[i].key)
                        continue;
                if (key)
                        *key = map->slots[i].key;
                if (value)
                        *value = map->slots[i].value;
                *iter = i + 1;
                return true;
        }
        *iter = map->cap;
        return false;
}

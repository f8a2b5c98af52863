/* hash.h - FNV-1a, the one non-cryptographic hash of the project: 64 bits
 * (burst shapes, in-flight claims, the simulator's per-ticker seed, asset
 * validators) and 32 bits (table slots, buckets, the e-mail request shards,
 * whose keys depend on its values). Never for anything an attacker may choose
 * to collide on where a collision costs more than a little work. */
#ifndef SA_HASH_H
#define SA_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a of len bytes of data. */
static inline uint64_t hash_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ULL; /* the offset basis */

    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* FNV-1a, 32 bits, of the string s. */
static inline uint32_t hash_fnv1a32(const char *s)
{
    uint32_t h = 2166136261u; /* the offset basis */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

#endif

/* inflight: an open-addressing hash set (linear probing, tombstones) of
 * heap-allocated entries keyed by "<outbox key> <entry id>". */
#include "inflight.h"

#include "hash.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INFLIGHT_MIN_SLOTS 1024

static struct inflight_entry inflight_tombstone;

struct inflight {
    struct inflight_entry **slots;
    size_t nslots; /* a power of two */
    size_t used;   /* live entries */
    size_t dead;   /* tombstones */
};

struct inflight *inflight_new(void)
{
    struct inflight *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    s->slots = calloc(INFLIGHT_MIN_SLOTS, sizeof(*s->slots));
    if (s->slots == NULL) {
        free(s);
        return NULL;
    }
    s->nslots = INFLIGHT_MIN_SLOTS;
    return s;
}

void inflight_free(struct inflight *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nslots; i++) {
        if (s->slots[i] != NULL && s->slots[i] != &inflight_tombstone)
            free(s->slots[i]);
    }
    free(s->slots);
    free(s);
}

/* The slot holding id, or NULL. */
static struct inflight_entry **inflight_slot(const struct inflight *s, const char *id)
{
    size_t mask = s->nslots - 1;

    for (size_t i = hash_fnv1a64(id, strlen(id)) & mask;; i = (i + 1) & mask) {
        struct inflight_entry *e = s->slots[i];
        if (e == NULL)
            return NULL;
        if (e != &inflight_tombstone && strcmp(e->id, id) == 0)
            return &s->slots[i];
    }
}

static void inflight_place(struct inflight_entry **slots, size_t nslots, struct inflight_entry *e)
{
    size_t mask = nslots - 1;
    size_t i = hash_fnv1a64(e->id, strlen(e->id)) & mask;

    while (slots[i] != NULL)
        i = (i + 1) & mask;
    slots[i] = e;
}

/* Rehashes into a table sized for the live entries; -1 on out of memory. */
static int inflight_resize(struct inflight *s)
{
    size_t n = INFLIGHT_MIN_SLOTS;
    struct inflight_entry **slots;

    while (n < (s->used + 1) * 4)
        n *= 2;
    slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < s->nslots; i++) {
        if (s->slots[i] != NULL && s->slots[i] != &inflight_tombstone)
            inflight_place(slots, n, s->slots[i]);
    }
    free(s->slots);
    s->slots = slots;
    s->nslots = n;
    s->dead = 0;
    return 0;
}

struct inflight_entry *inflight_add(struct inflight *s, const char *id)
{
    struct inflight_entry *e;

    if (strlen(id) >= sizeof(e->id) || inflight_slot(s, id) != NULL)
        return NULL;
    if ((s->used + s->dead + 1) * 2 > s->nslots && inflight_resize(s) != 0)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    memcpy(e->id, id, strlen(id) + 1);
    inflight_place(s->slots, s->nslots, e);
    s->used++;
    return e;
}

struct inflight_entry *inflight_find(const struct inflight *s, const char *id)
{
    struct inflight_entry **slot = inflight_slot(s, id);

    return slot != NULL ? *slot : NULL;
}

void inflight_remove(struct inflight *s, struct inflight_entry *e)
{
    struct inflight_entry **slot = inflight_slot(s, e->id);

    if (slot == NULL || *slot != e)
        return;
    *slot = &inflight_tombstone;
    s->used--;
    s->dead++;
    free(e);
}

size_t inflight_count(const struct inflight *s)
{
    return s->used;
}

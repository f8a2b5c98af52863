/* burst: tells when the ticks of one burst have all arrived. A producer
 * publishes a round of tickers at once, but Kafka hands them over in pieces
 * (one per partition and fetch), sometimes milliseconds apart. The price
 * reader keeps a burst open until it is whole, and then sends it at once:
 * every stream gets one write per burst, and no burst waits for a quiet
 * time it does not need.
 *
 * "Whole" is learned: the shape of a burst is the set of tickers that came
 * together (pieces closer than BURST_JOIN_MS are one burst). The last
 * BURST_SHAPES distinct shapes are kept (sharded producers publish their
 * rounds at different moments); a shape not seen again for BURST_FORGET_MS
 * is forgotten, so a ticker that stops ticking, or a round that grows, holds
 * no burst back for long. Until a shape matches, the caller's quiet and
 * longest waits apply. Tickers are compared by a 64-bit hash of their Kafka
 * key: a collision only ends one wait early. One reader thread owns each
 * struct burst. */
#include "webapp.h"

#include "hash.h"

#include <stdlib.h>
#include <string.h>

static int burst_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static int burst_has(const uint64_t *keys, int n, uint64_t h)
{
    int lo = 0, hi = n - 1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (keys[mid] == h)
            return 1;
        if (keys[mid] < h)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return 0;
}

void burst_init(struct burst *b)
{
    memset(b, 0, sizeof(*b));
    b->open_slot = -1;
}

void burst_begin(struct burst *b)
{
    b->n = 0;
    memset(b->matched, 0, sizeof(b->matched));
}

int burst_add(struct burst *b, const void *key, size_t len)
{
    uint64_t h = hash_fnv1a64(key, len);
    int whole = 0;

    for (int i = 0; i < b->n; i++)
        if (b->keys[i] == h)
            return 0; /* a ticker twice: counted once */
    if (b->n >= BURST_TICKERS_MAX)
        return 0;
    b->keys[b->n++] = h;
    for (int s = 0; s < BURST_SHAPES; s++) {
        const struct burst_shape *sh = &b->shapes[s];
        if (sh->n > 0 && burst_has(sh->keys, sh->n, h) && ++b->matched[s] == sh->n)
            whole = 1;
    }
    return whole;
}

int burst_known(const struct burst *b)
{
    for (int s = 0; s < BURST_SHAPES; s++)
        if (b->shapes[s].n > 0)
            return 1;
    return 0;
}

static void burst_sort(uint64_t *keys, int n)
{
    qsort(keys, (size_t)n, sizeof(keys[0]), burst_cmp);
}

void burst_end(struct burst *b, int64_t now_ms)
{
    struct burst_shape *sh;
    int slot = -1;

    if (b->n == 0)
        return;
    for (int s = 0; s < BURST_SHAPES; s++)
        if (b->shapes[s].n > 0 && now_ms - b->shapes[s].seen_ms > BURST_FORGET_MS)
            b->shapes[s].n = 0;
    if (b->open_slot >= 0 && now_ms - b->open_ms <= BURST_JOIN_MS) {
        /* A later piece of the open burst: its shape grows, in its slot. */
        int had;
        slot = b->open_slot;
        sh = &b->shapes[slot];
        had = sh->n;
        for (int i = 0; i < b->n && sh->n < BURST_TICKERS_MAX; i++)
            if (!burst_has(sh->keys, had, b->keys[i]))
                sh->keys[sh->n++] = b->keys[i];
        burst_sort(sh->keys, sh->n);
    } else {
        size_t size = (size_t)b->n * sizeof(b->keys[0]);
        burst_sort(b->keys, b->n);
        for (int s = 0; s < BURST_SHAPES && slot < 0; s++)
            if (b->shapes[s].n == b->n && memcmp(b->shapes[s].keys, b->keys, size) == 0)
                slot = s;
        for (int s = 0; s < BURST_SHAPES && slot < 0; s++)
            if (b->shapes[s].n == 0)
                slot = s;
        if (slot < 0) { /* every slot in use: the least recently seen goes */
            slot = 0;
            for (int s = 1; s < BURST_SHAPES; s++)
                if (b->shapes[s].seen_ms < b->shapes[slot].seen_ms)
                    slot = s;
        }
        sh = &b->shapes[slot];
        sh->n = b->n;
        memcpy(sh->keys, b->keys, size);
    }
    sh->seen_ms = now_ms;
    b->open_slot = slot;
    b->open_ms = now_ms;
}

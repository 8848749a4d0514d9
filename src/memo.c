/*
 * memo.c - the in-memory view of succeeded calls that makes the cached path
 * cost a hash-table probe instead of a SQLite round trip.
 *
 * It is only a copy: the store stays the truth. loop.c empties the memo
 * whenever PRAGMA data_version says another connection wrote (a clear, a
 * retry, another scheduler), so a `tickflow clear` takes effect on the next
 * tick. Entries are keyed by (work index, args_sha256 digest); the key is
 * SHA-256, so 8 of its bytes are already a well-spread hash, and an entry
 * is one cache line. An entry of a
 * work with max_age carries its expiry (cache clock): work.c treats an
 * expired entry as a miss, at the cost of one compare on the hit path.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "app.h"

/* Transparent huge page size on x86-64 and arm64 (4 KiB base pages). */
#define HUGE_PAGE ((size_t)2 << 20)

/*
 * The result of most command works: one shared text and one shared parsed
 * node instead of a copy and a tree per entry (never freed, never changed).
 */
_Static_assert(sizeof(tf_memo_entry) == 64, "a memo entry is one cache line");

static char null_text[] = "null";
static cJSON null_node = {.type = cJSON_NULL};

/* 0x10 | the value of each hex digit (either case); 0 for every other byte. */
#define HX(c, v) [c] = 0x10 | (v)
static const unsigned char hexval[256] = {
    HX('0', 0), HX('1', 1), HX('2', 2), HX('3', 3), HX('4', 4), HX('5', 5), HX('6', 6),
    HX('7', 7), HX('8', 8), HX('9', 9), HX('a', 10), HX('b', 11), HX('c', 12), HX('d', 13),
    HX('e', 14), HX('f', 15), HX('A', 10), HX('B', 11), HX('C', 12), HX('D', 13), HX('E', 14),
    HX('F', 15),
};
#undef HX

/* The digest of a 64-hex-digit key (either case); -1 if it is not one. */
static int unhex32(const char *hex, unsigned char d[32])
{
    const unsigned char *h = (const unsigned char *)hex;
    for (int i = 0; i < 32; i++) {
        unsigned hi = hexval[h[2 * i]], lo = hi ? hexval[h[2 * i + 1]] : 0;
        if (!lo) /* never reads past the NUL of a short key */
            return -1;
        d[i] = (unsigned char)((hi & 15) << 4 | (lo & 15));
    }
    return 0;
}

/* Where (work, key) starts probing: the key is SHA-256, so 8 of its bytes are well spread. */
static size_t slot_of(uint32_t work, const unsigned char key[32], size_t mask)
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return (size_t)(h ^ ((uint64_t)work * 0x9E3779B97F4A7C15ull)) & mask;
}

const tf_memo_entry *tf_memo_find(const tf_memo *m, uint32_t work, const unsigned char key[32])
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = slot_of(work, key, mask);; i = (i + 1) & mask) {
        const tf_memo_entry *e = &m->slots[i];
        if (!e->result_json)
            return NULL;
        if (e->work == work && !memcmp(e->key, key, 32))
            return e;
    }
}

const tf_memo_entry *tf_memo_get(const tf_memo *m, uint32_t work, const char *key)
{
    unsigned char d[32];
    return unhex32(key, d) == 0 ? tf_memo_find(m, work, d) : NULL;
}

/*
 * A zeroed slot array. Large tables are aligned to 2 MiB and offered to
 * transparent huge pages: a probe is one random access, and with 4 KiB pages
 * it also costs a TLB miss (a two-level walk under virtualisation), which
 * at 100,000 entries was most of the probe.
 */
static tf_memo_entry *alloc_slots(size_t cap)
{
    size_t bytes = cap * sizeof(tf_memo_entry);
    /* from half a huge page: one 2 MiB fault beats 256+ small ones (-1 ms at 10,000 calls) */
    size_t align = bytes < HUGE_PAGE / 2 ? 64 : HUGE_PAGE;
    void *p = NULL;
    bytes = (bytes + align - 1) & ~(align - 1);
    if (posix_memalign(&p, align, bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (align == HUGE_PAGE)
        madvise(p, bytes, MADV_HUGEPAGE); /* a hint: failure only costs speed */
#endif
    memset(p, 0, bytes);
    return p;
}

/* Move the entries into a new array of cap slots (a power of two). */
static int rehash(tf_memo *m, size_t cap)
{
    tf_memo_entry *slots = alloc_slots(cap);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        tf_memo_entry *e = &m->slots[i];
        if (!e->result_json)
            continue;
        size_t j = slot_of(e->work, e->key, cap - 1);
        while (slots[j].result_json)
            j = (j + 1) & (cap - 1);
        slots[j] = *e;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

/* The smallest power-of-two capacity from cap up that keeps n entries under 3/4 full. */
static size_t cap_for(size_t cap, size_t n)
{
    while (n > cap / 4 * 3) {
        if (cap > SIZE_MAX / sizeof(tf_memo_entry) / 4)
            return 0;
        cap *= 2;
    }
    return cap;
}

/*
 * Grow fourfold: a preload of many calls then moves the entries twice, not
 * four times, and touches less fresh memory on the way.
 */
static int grow(tf_memo *m)
{
    size_t cap = cap_for(m->cap ? m->cap * 4 : 1024, m->used + 1);
    return cap ? rehash(m, cap) : -1;
}

int tf_memo_reserve(tf_memo *m, size_t n)
{
    size_t cap = cap_for(m->cap ? m->cap : 1024, m->used + n);
    if (!cap)
        return -1;
    return cap == m->cap ? 0 : rehash(m, cap);
}

/*
 * Insert (work, key) with a copy of result_json; an existing entry is kept
 * as it is, or with replace set gets the new text, duration and expiry
 * (its parsed tree, if any, goes to *old: the caller keeps it alive while
 * earlier answers may point into it; NULL old frees it).
 */
static int memo_store(tf_memo *m, uint32_t work, const char *key, const char *result_json,
                      double duration, double expires, int replace, cJSON **old)
{
    unsigned char d[32];
    if (old)
        *old = NULL;
    if (unhex32(key, d) != 0)
        return 0; /* not a key the memo can hold: the store answers it */
    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -1;
    size_t mask = m->cap - 1, i = slot_of(work, d, mask);
    int found = 0;
    for (; m->slots[i].result_json; i = (i + 1) & mask) /* one probe finds it or its free slot */
        if (m->slots[i].work == work && !memcmp(m->slots[i].key, d, 32)) {
            if (!replace)
                return 0;
            found = 1;
            break;
        }
    if (!result_json)
        result_json = null_text;
    char *copy = !strcmp(result_json, null_text) ? null_text : strdup(result_json);
    if (!copy)
        return -1;
    tf_memo_entry *e = &m->slots[i];
    if (found) {
        if (e->result_json != null_text)
            free(e->result_json);
        if (old)
            *old = e->result;
        else
            cJSON_Delete(e->result);
    } else {
        m->used++;
    }
    e->work = work;
    memcpy(e->key, d, 32);
    e->result_json = copy;
    e->result = NULL;
    e->duration = (float)duration;
    /* whole seconds, rounded up: the memo never answers after the store would refuse */
    e->expires = expires <= 0 ? 0 : expires >= 4294967295.0 ? UINT32_MAX
               : (uint32_t)expires + ((double)(uint32_t)expires < expires);
    if (!found)
        e->hit_epoch = 0;
    return 0;
}

/* Remember a succeeded call (result_json copied). 0, or -1 on ENOMEM. */
int tf_memo_put(tf_memo *m, uint32_t work, const char *key, const char *result_json)
{
    return memo_store(m, work, key, result_json, 0, 0, 0, NULL);
}

int tf_memo_set(tf_memo *m, uint32_t work, const char *key, const char *result_json,
                double duration, double expires, cJSON **old)
{
    return memo_store(m, work, key, result_json, duration, expires, 1, old);
}

/* The parsed result, parsed on first use; NULL on ENOMEM or corrupt text. */
const cJSON *tf_memo_result(tf_memo_entry *e)
{
    if (e->result_json == null_text)
        return &null_node;
    if (!e->result)
        tf_parse_text(e->result_json, strlen(e->result_json), &e->result, NULL);
    return e->result;
}

void tf_memo_clear(tf_memo *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].result_json) {
            if (m->slots[i].result_json != null_text)
                free(m->slots[i].result_json);
            cJSON_Delete(m->slots[i].result);
        }
    }
    free(m->slots);
    m->slots = NULL;
    m->cap = m->used = 0;
}

/*
 * buf.c - growable byte buffer used by the canonicalizer, the store and the
 * executor. Doubles its capacity so appends are amortized O(1).
 */
#include "buf.h"

#include <stdlib.h>

int tf_buf_reserve(tf_buf *b, size_t n)
{
    if (b->cap && n < b->cap - b->len)
        return 0; /* len + n + 1 <= cap */
    if (n > (size_t)-1 - b->len - 1)
        return -1;
    size_t need = b->len + n + 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > ((size_t)-1) / 2)
            return -1;
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int tf_buf_append(tf_buf *b, const void *p, size_t n)
{
    if (tf_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int tf_buf_puts(tf_buf *b, const char *s)
{
    return tf_buf_append(b, s, strlen(s));
}

int tf_buf_putc(tf_buf *b, char c)
{
    return tf_buf_append(b, &c, 1);
}

char *tf_buf_take(tf_buf *b, size_t *len)
{
    if (!b->data && tf_buf_reserve(b, 0) != 0)
        return NULL;
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void tf_buf_free(tf_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

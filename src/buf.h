/*
 * buf.h - a growable byte buffer (owned by buf.c), reused on hot paths so
 * canonicalization does not allocate once the buffer is warm.
 */
#ifndef TF_BUF_H
#define TF_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct tf_buf {
    char *data;     /* bytes, always NUL-terminated when cap > 0; owned */
    size_t len;     /* bytes in use, not counting the NUL */
    size_t cap;     /* bytes allocated */
} tf_buf;

#define TF_BUF_INIT {NULL, 0, 0}

/* Make room for n more bytes (plus the NUL). Returns 0 or -1 (ENOMEM). */
int tf_buf_reserve(tf_buf *b, size_t n);

/* Append n bytes / a C string / one byte. Return 0 or -1 (ENOMEM). */
int tf_buf_append(tf_buf *b, const void *p, size_t n);
int tf_buf_puts(tf_buf *b, const char *s);
int tf_buf_putc(tf_buf *b, char c);

/* Forget the contents, keep the memory. */
static inline void tf_buf_reset(tf_buf *b) { b->len = 0; if (b->cap) b->data[0] = '\0'; }

/* Hand the bytes to the caller (who frees them with free()) and reset b. */
char *tf_buf_take(tf_buf *b, size_t *len);

/* Free the memory; b is empty afterwards. */
void tf_buf_free(tf_buf *b);

#endif

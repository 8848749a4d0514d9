/*
 * hash.h - SHA-256 through OpenSSL libcrypto (owned by hash.c).
 *
 * tf_sha256_hex (tickflow.h) is the simple entry; tf_hasher is the hot-path
 * form kept on the app handle. Neither allocates nor looks an algorithm up
 * per call (see hash.c for why the low-level SHA-256 API is used).
 */
#ifndef TF_HASH_H
#define TF_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A SHA-256 hasher. Holds no resources today; init/free kept as a pair. */
typedef struct tf_hasher {
    int ready;          /* 1 between tf_hasher_init and tf_hasher_free */
} tf_hasher;

/* Prepare the hasher. Always TF_OK. Pair with tf_hasher_free. */
int tf_hasher_init(tf_hasher *h);

/* Release the hasher; accepts a zeroed or already freed hasher (or NULL). */
void tf_hasher_free(tf_hasher *h);

/*
 * SHA-256 of len bytes as 64 lowercase hex digits + NUL in hex[65].
 * TF_OK, or TF_EIO if the hasher is not initialised or OpenSSL fails
 * (hex is then "").
 */
int tf_hasher_hex(tf_hasher *h, const void *data, size_t len, char hex[65]);

/* tf_hasher_hex that also gives the 32-byte digest (the memo's key form). */
int tf_hasher_key(tf_hasher *h, const void *data, size_t len, unsigned char digest[32],
                  char hex[65]);

/*
 * SHA-256 of everything read from fd (to end of file) into hex, the byte
 * count into *size. TF_OK, or TF_EIO with errno set by the failing read.
 */
int tf_sha256_fd(int fd, char hex[65], int64_t *size);

/* Write the 32-byte digest d as 64 lowercase hex digits + NUL. */
void tf_hex32(const unsigned char d[32], char hex[65]);

#endif

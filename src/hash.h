/*
 * hash.h - SHA-256 through OpenSSL EVP (owned by hash.c).
 *
 * tf_sha256_hex (tickflow.h) is the simple entry; tf_hasher is the hot-path
 * form: one EVP_MD_CTX kept across calls so hashing an argument set does no
 * allocation and no algorithm lookup once the hasher is initialised.
 */
#ifndef TF_HASH_H
#define TF_HASH_H

#include <stddef.h>

#include <openssl/evp.h>

/* A reusable SHA-256 context. Not shared between threads. */
typedef struct tf_hasher {
    EVP_MD_CTX *ctx;    /* reused digest context, owned; NULL before init */
} tf_hasher;

/*
 * The SHA-256 EVP_MD, fetched once per process (EVP_MD_fetch is cached
 * behind call_once: implicit fetches per call are slow in OpenSSL 3).
 * Never freed; NULL only if OpenSSL has no SHA-256 at all.
 */
const EVP_MD *tf_sha256_md(void);

/* Allocate the context. TF_OK or TF_ENOMEM. Pair with tf_hasher_free. */
int tf_hasher_init(tf_hasher *h);

/* Release the context; accepts a zeroed or already freed hasher. */
void tf_hasher_free(tf_hasher *h);

/*
 * SHA-256 of len bytes as 64 lowercase hex digits + NUL in hex[65].
 * TF_OK, or TF_EIO if OpenSSL fails (hex is then "").
 */
int tf_hasher_hex(tf_hasher *h, const void *data, size_t len, char hex[65]);

/* Write the 32-byte digest d as 64 lowercase hex digits + NUL. */
void tf_hex32(const unsigned char d[32], char hex[65]);

#endif

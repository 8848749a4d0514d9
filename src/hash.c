/*
 * hash.c - SHA-256 keys through OpenSSL EVP.
 *
 * Owns tf_sha256_hex (public) and the tf_hasher hot-path context (hash.h).
 * The EVP_MD is fetched explicitly once per process: in OpenSSL 3 the
 * implicit fetch done by EVP_sha256()/EVP_Digest on every call costs more
 * than hashing a small argument set.
 */
#include "hash.h"

#include <threads.h>

#include "tickflow.h"

static once_flag md_once = ONCE_FLAG_INIT;
static const EVP_MD *md_sha256; /* fetched once, lives until process exit */

static void fetch_md(void)
{
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sha256 = md ? md : EVP_sha256();
}

const EVP_MD *tf_sha256_md(void)
{
    call_once(&md_once, fetch_md);
    return md_sha256;
}

void tf_hex32(const unsigned char d[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        unsigned v = d[i];
        hex[2 * i] = digits[v >> 4];
        hex[2 * i + 1] = digits[v & 15];
    }
    hex[64] = '\0';
}

int tf_hasher_init(tf_hasher *h)
{
    h->ctx = EVP_MD_CTX_new();
    return h->ctx ? TF_OK : TF_ENOMEM;
}

void tf_hasher_free(tf_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

int tf_hasher_hex(tf_hasher *h, const void *data, size_t len, char hex[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const EVP_MD *md = tf_sha256_md();
    hex[0] = '\0';
    if (!md || !h->ctx)
        return TF_EIO;
    if (EVP_DigestInit_ex2(h->ctx, md, NULL) != 1
        || EVP_DigestUpdate(h->ctx, data, len) != 1
        || EVP_DigestFinal_ex(h->ctx, d, &n) != 1 || n != 32)
        return TF_EIO;
    tf_hex32(d, hex);
    return TF_OK;
}

int tf_sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    const EVP_MD *md = tf_sha256_md();
    hex[0] = '\0';
    if (!md || EVP_Digest(data, len, d, &n, md, NULL) != 1 || n != 32)
        return TF_EIO;
    tf_hex32(d, hex);
    return TF_OK;
}

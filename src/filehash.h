/*
 * filehash.h - content keys of files for the {{file:PATH}} and
 * {{files:PATTERN}} templates (owned by filehash.c): a file is opened
 * without following symbolic links, hashed (SHA-256) once, and not read
 * again while its identity and metadata (device, inode, size, mtime in
 * nanoseconds) stay the same; within one tick it is not even looked at
 * twice.
 */
#ifndef TF_FILEHASH_H
#define TF_FILEHASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct tf_filecache tf_filecache;

/* A new, empty cache (NULL on ENOMEM); free with tf_filecache_free (accepts NULL). */
tf_filecache *tf_filecache_new(void);
void tf_filecache_free(tf_filecache *fc);

/* What tf_filecache_get found. */
typedef struct tf_fileinfo {
    char sha256[65];        /* 64 lowercase hex digits of the content */
    int64_t size;           /* bytes */
} tf_fileinfo;

/*
 * The content key of the regular file rel, a relative path below base_dir
 * (NULL or "." = the current folder). rel must not be absolute, hold an
 * empty or ".." component, or pass through a symbolic link (none is
 * followed, the last component included); the file must be a regular file.
 * tick: a call with the tick number of an earlier successful call for rel
 * answers from the cache without touching the file system.
 * Returns TF_OK; TF_ENOTFOUND when the file (or a folder on the way) does
 * not exist; TF_EINPUT for a path or file refused as above; TF_EIO when it
 * cannot be read; TF_ENOMEM. err gets a one-line reason for every failure.
 */
int tf_filecache_get(tf_filecache *fc, const char *base_dir, const char *rel, uint64_t tick,
                     tf_fileinfo *out, char *err, size_t errlen);

/* Files read and hashed since the cache was made (for tests and figures). */
uint64_t tf_filecache_reads(const tf_filecache *fc);

/*
 * Forget the files not looked at successfully since tick `before` (a
 * daemon whose file names come and go keeps a bounded cache); they are
 * simply read again if they come back.
 */
void tf_filecache_sweep(tf_filecache *fc, uint64_t before);

/* 1 if rel is acceptable to tf_filecache_get (relative, no empty or ".." component). */
int tf_filecache_path_ok(const char *rel);

#endif

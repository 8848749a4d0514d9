/*
 * filehash.c - content keys of files (filehash.h) for the {{file:}} and
 * {{files:}} templates.
 *
 * Safety: the path is resolved one component at a time with openat(2) and
 * O_NOFOLLOW from the pipeline's folder, so no symbolic link is ever
 * followed (the pipeline's folder itself is the user's choice and is
 * opened as given), ".." and absolute paths are refused before anything is
 * opened, and only a regular file is read (O_NONBLOCK: a FIFO planted under
 * the name cannot block the scheduler; fstat then refuses it). What is
 * hashed is what the descriptor reads, so a swap between check and read
 * cannot substitute another file.
 *
 * Cost: one entry per path (open addressing on an FNV-1a hash of the
 * path). An entry remembers (dev, ino, size, mtime_ns) and the digest:
 * while those match, the file is opened and fstat'ed but not read; within
 * the tick of the last look it is not opened at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filehash.h"
#include "hash.h"
#include "tickflow.h"

/* One file seen before. */
typedef struct fc_entry {
    char *path;             /* relative path as given, owned; NULL = empty slot */
    char *base;             /* the folder it is relative to, owned */
    uint64_t hash;          /* FNV-1a of base and path */
    uint64_t tick;          /* tick of the last successful look (0 = none) */
    int hashed;             /* info below is valid for the metadata below */
    dev_t dev;              /* identity and metadata when hashed */
    ino_t ino;
    off_t size;
    int64_t mtime_ns;
    tf_fileinfo info;       /* the digest and size */
} fc_entry;

struct tf_filecache {
    fc_entry *slots;        /* open addressing, linear probing */
    size_t cap;             /* power of two, or 0 */
    size_t used;            /* occupied slots */
    uint64_t reads;         /* files read and hashed */
};

tf_filecache *tf_filecache_new(void)
{
    return calloc(1, sizeof(tf_filecache));
}

void tf_filecache_free(tf_filecache *fc)
{
    if (!fc)
        return;
    for (size_t i = 0; i < fc->cap; i++) {
        free(fc->slots[i].path);
        free(fc->slots[i].base);
    }
    free(fc->slots);
    free(fc);
}

uint64_t tf_filecache_reads(const tf_filecache *fc)
{
    return fc ? fc->reads : 0;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int grow(tf_filecache *fc)
{
    size_t cap = fc->cap ? fc->cap * 2 : 64;
    fc_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < fc->cap; i++) {
        if (!fc->slots[i].path)
            continue;
        size_t j = (size_t)fc->slots[i].hash & (cap - 1);
        while (slots[j].path)
            j = (j + 1) & (cap - 1);
        slots[j] = fc->slots[i];
    }
    free(fc->slots);
    fc->slots = slots;
    fc->cap = cap;
    return 0;
}

/* The entry of (base, rel), created empty if absent; NULL on ENOMEM. */
static fc_entry *entry_of(tf_filecache *fc, const char *base, const char *rel)
{
    if ((fc->used + 1) * 4 > fc->cap * 3 && grow(fc) != 0)
        return NULL;
    uint64_t h = fnv(fnv(1469598103934665603ULL, base), rel);
    size_t i = (size_t)h & (fc->cap - 1);
    for (; fc->slots[i].path; i = (i + 1) & (fc->cap - 1))
        if (fc->slots[i].hash == h && !strcmp(fc->slots[i].path, rel) && !strcmp(fc->slots[i].base, base))
            return &fc->slots[i];
    fc_entry *e = &fc->slots[i];
    memset(e, 0, sizeof *e);
    e->path = strdup(rel);
    e->base = strdup(base);
    if (!e->path || !e->base) {
        free(e->path);
        free(e->base);
        e->path = e->base = NULL;
        return NULL;
    }
    e->hash = h;
    fc->used++;
    return e;
}

void tf_filecache_sweep(tf_filecache *fc, uint64_t before)
{
    if (!fc || !fc->used)
        return;
    size_t kept = 0;
    for (size_t i = 0; i < fc->cap; i++)
        kept += fc->slots[i].path && fc->slots[i].tick >= before;
    if (kept == fc->used)
        return;
    /* rebuild: open addressing has no cheap delete */
    fc_entry *old = fc->slots;
    size_t cap = fc->cap;
    fc->slots = calloc(cap, sizeof *fc->slots);
    if (!fc->slots) {
        fc->slots = old; /* no memory to shrink with: keep everything */
        return;
    }
    fc->used = 0;
    for (size_t i = 0; i < cap; i++) {
        fc_entry *e = &old[i];
        if (!e->path)
            continue;
        if (e->tick < before) {
            free(e->path);
            free(e->base);
            continue;
        }
        size_t j = (size_t)e->hash & (cap - 1);
        while (fc->slots[j].path)
            j = (j + 1) & (cap - 1);
        fc->slots[j] = *e;
        fc->used++;
    }
    free(old);
}

int tf_filecache_path_ok(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/')
        return 0;
    const char *p = rel;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n + (slash ? 1 : 0);
        if (slash && !*p)
            return 0; /* a trailing slash names a folder */
    }
    return 1;
}

/*
 * Open rel below base without following any symbolic link: every folder
 * with O_DIRECTORY|O_NOFOLLOW, the file with O_NOFOLLOW|O_NONBLOCK.
 * Returns the descriptor, or -1 with errno (ELOOP/ENOTDIR for a link).
 */
static int open_beneath(const char *base, const char *rel)
{
    int dir = open(base && *base ? base : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    const char *p = rel;
    char part[256];
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n >= sizeof part) {
            close(dir);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(part, p, n);
        part[n] = '\0';
        if (!slash) {
            int fd = openat(dir, part, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
            int e = errno;
            close(dir);
            errno = e;
            return fd;
        }
        p = slash + 1;
        if (n == 1 && part[0] == '.')
            continue;
        int next = openat(dir, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(dir);
        if (next < 0) {
            errno = e;
            return -1;
        }
        dir = next;
    }
}

int tf_filecache_get(tf_filecache *fc, const char *base_dir, const char *rel, uint64_t tick,
                     tf_fileinfo *out, char *err, size_t errlen)
{
    const char *base = base_dir && *base_dir ? base_dir : ".";
    if (!tf_filecache_path_ok(rel)) {
        snprintf(err, errlen, "file '%.200s': the path must be relative to the pipeline's folder, "
                 "without '..' or empty parts", rel ? rel : "");
        return TF_EINPUT;
    }
    fc_entry *e = entry_of(fc, base, rel);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return TF_ENOMEM;
    }
    if (tick && e->hashed && e->tick == tick) {
        *out = e->info; /* looked at in this tick already */
        return TF_OK;
    }
    int fd = open_beneath(base, rel);
    if (fd < 0) {
        int ev = errno;
        e->tick = 0;
        e->hashed = 0;
        if (ev == ENOENT) {
            snprintf(err, errlen, "file '%.200s' does not exist", rel);
            return TF_ENOTFOUND;
        }
        if (ev == ELOOP || ev == ENOTDIR) {
            snprintf(err, errlen, "file '%.200s': a symbolic link or non-folder on the path "
                     "(links are not followed)", rel);
            return TF_EINPUT;
        }
        snprintf(err, errlen, "cannot open file '%.200s': %s", rel, strerror(ev));
        return TF_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int ev = errno;
        close(fd);
        e->tick = 0;
        e->hashed = 0;
        snprintf(err, errlen, "cannot stat file '%.200s': %s", rel, strerror(ev));
        return TF_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        e->tick = 0;
        e->hashed = 0;
        snprintf(err, errlen, "file '%.200s' is not a regular file", rel);
        return TF_EINPUT;
    }
    int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (e->hashed && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
        e->mtime_ns == mtime_ns) {
        close(fd); /* unchanged since it was hashed */
        e->tick = tick;
        *out = e->info;
        return TF_OK;
    }
    /* O_NONBLOCK mattered only for the open; reads of a regular file do not block */
    tf_fileinfo info;
    int rc = tf_sha256_fd(fd, info.sha256, &info.size);
    int ev = errno;
    close(fd);
    if (rc != TF_OK) {
        e->tick = 0;
        e->hashed = 0;
        snprintf(err, errlen, "cannot read file '%.200s': %s", rel, strerror(ev));
        return TF_EIO;
    }
    fc->reads++;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = st.st_size;
    e->mtime_ns = mtime_ns;
    e->info = info;
    e->hashed = 1;
    e->tick = tick;
    *out = info;
    return TF_OK;
}

/*
 * fuzz_pipeline.c - libFuzzer target for the pipeline file loader. Any
 * input, handed over as a file (a memfd seen through /proc/self/fd): the
 * loader must not crash or leak; when it accepts, the accessors answer;
 * when it refuses, the message starts with the file name and has a
 * plausible 1-based line and column. A violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tickflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("pipeline", 0);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    tf_pipeline *p = NULL;
    tf_error err;
    int rc = tf_pipeline_load(path, &p, &err);
    if (rc == TF_OK) {
        if (!p || !tf_pipeline_name(p) || !*tf_pipeline_name(p) || tf_pipeline_tick(p) < 0) {
            fprintf(stderr, "accepted pipeline without a name or with a bad tick\n");
            abort();
        }
        tf_pipeline_set_now(p, 1e9);
        tf_pipeline_free(p);
    } else if (rc == TF_EINPUT) {
        size_t n = strlen(path);
        if (p || strncmp(err.msg, path, n) || err.msg[n] != ':' || err.line < 1 || err.column < 1 ||
            (size_t)err.line > size + 1 || (size_t)err.column > size + 1) {
            fprintf(stderr, "bad refusal: %s (line %d, column %d)\n", err.msg, err.line, err.column);
            abort();
        }
    } else if (rc != TF_ENOMEM) {
        fprintf(stderr, "unexpected code %d: %s\n", rc, err.msg);
        abort();
    }
    close(fd);
    return 0;
}

/*
 * numfmt_driver - filter for the differential test against node
 * (scripts/diff-numbers): reads one double per line as 16 hex digits of its
 * IEEE-754 bits and prints tf_numfmt of it on its own line. NaN and
 * infinity patterns print nothing (node filters them out before sending).
 * A malformed line is reported on stderr and ends the run with status 2.
 */
#include "numfmt.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char line[128];
    unsigned long lineno = 0;
    while (fgets(line, sizeof line, stdin)) {
        lineno++;
        char *end = NULL;
        errno = 0;
        unsigned long long u = strtoull(line, &end, 16);
        if (end != line + 16 || errno != 0 || (*end != '\n' && *end != '\0')) {
            fprintf(stderr, "numfmt_driver: line %lu: expected 16 hex digits\n", lineno);
            return 2;
        }
        uint64_t bits = (uint64_t)u;
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x))
            continue;
        char buf[TF_NUMFMT_MAX];
        size_t n = tf_numfmt(x, buf);
        buf[n] = '\n';
        if (fwrite(buf, 1, n + 1, stdout) != n + 1) {
            fprintf(stderr, "numfmt_driver: cannot write output: %s\n", strerror(errno));
            return 2;
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "numfmt_driver: cannot read input: %s\n", strerror(errno));
        return 2;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "numfmt_driver: cannot write output: %s\n", strerror(errno));
        return 2;
    }
    return 0;
}

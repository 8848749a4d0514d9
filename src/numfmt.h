/*
 * numfmt.h - ECMAScript Number::toString for doubles (owned by numfmt.c).
 *
 * Shortest round-trip digits (the closest such string to the value, ties to
 * even), fixed notation for 1e-6 <= |x| < 1e21, else d.ddde+N / d.ddde-N;
 * -0 gives "0". Locale-independent, allocation-free.
 */
#ifndef TF_NUMFMT_H
#define TF_NUMFMT_H

#include <stddef.h>

/* Longest output of tf_numfmt plus a NUL ("-1.2345678901234567e-308" < 32). */
#define TF_NUMFMT_MAX 32

/*
 * Write the ECMAScript string of the finite double x into buf (NUL-terminated)
 * and return its length. x must be finite (callers reject NaN/Infinity).
 */
size_t tf_numfmt(double x, char buf[TF_NUMFMT_MAX]);

/*
 * Parse a JSON number literal (already checked to have JSON syntax) of len
 * bytes into the nearest double, ties to even, independent of the locale.
 * Returns 0, or -1 when the value overflows to infinity.
 */
int tf_numparse(const char *s, size_t len, double *out);

#endif

/*
 * test_numfmt.c - tf_numfmt against ECMAScript's Number::toString (hand
 * picked cases and the node-generated tests/vectors/numbers.txt) and
 * tf_numparse (round trips, overflow, -0, long literals, locale, and a
 * differential check of its Eisel-Lemire path against glibc's strtod_l on
 * the vectors and on 2,000,000 seeded random and halfway literals).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numfmt.h"

static double from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static uint64_t to_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* tf_numfmt of x must be want, with the right length and a NUL. */
static void check_fmt(double x, const char *want)
{
    char buf[TF_NUMFMT_MAX];
    memset(buf, 'x', sizeof buf);
    size_t n = tf_numfmt(x, buf);
    if (strcmp(buf, want) != 0)
        fail_msg("bits %016llx: want '%s' got '%s'", (unsigned long long)to_bits(x), want, buf);
    assert_int_equal(n, strlen(want));
}

/* tf_numparse of the literal s must succeed with exactly the bits of want. */
static void check_parse(const char *s, double want)
{
    double got = 12345.0;
    if (tf_numparse(s, strlen(s), &got) != 0)
        fail_msg("tf_numparse('%.60s') failed", s);
    if (to_bits(got) != to_bits(want))
        fail_msg("tf_numparse('%.60s'): want bits %016llx got %016llx", s,
                 (unsigned long long)to_bits(want), (unsigned long long)to_bits(got));
}

struct fmt_case {
    uint64_t bits;    /* the double */
    const char *want; /* String(x) in node */
};

static const struct fmt_case hand_picked[] = {
    {0x0000000000000000, "0"},
    {0x8000000000000000, "0"}, /* -0 */
    {0x3ff0000000000000, "1"},
    {0xbff0000000000000, "-1"},
    {0x4059000000000000, "100"},
    {0x3fb999999999999a, "0.1"},
    {0x3fd3333333333333, "0.3"},
    {0x3fd3333333333334, "0.30000000000000004"}, /* 17 digits */
    {0x3ff0000000000001, "1.0000000000000002"},  /* 17 digits */
    {0x3fd5555555555555, "0.3333333333333333"},
    {0x3fe5555555555555, "0.6666666666666666"},
    {0x4011666666666666, "4.35"},
    {0x40934a456d5cfaad, "1234.5678"},
    /* the 1e21 boundary between fixed and exponent notation */
    {0x444b1ae4d6e2ef50, "1e+21"},
    {0x444b1ae4d6e2ef4f, "999999999999999900000"},
    {0x444b1ae4d6e2ef51, "1.0000000000000001e+21"},
    {0x4415af1d78b58c40, "100000000000000000000"},
    {0x441ac53a7e04bcda, "123456789012345680000"},
    {0x43e0000000000000, "9223372036854776000"}, /* 2^63 */
    {0x43f0000000000000, "18446744073709552000"}, /* 2^64 */
    /* the 1e-6 boundary */
    {0x3eb0c6f7a0b5ed8d, "0.000001"},
    {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
    {0x3eb0c6f7a0b5ed8e, "0.0000010000000000000002"},
    {0x3eb4b66dc01ec6f8, "0.000001234567890123456"},
    {0x3e7ad7f29abcaf48, "1e-7"},
    {0x3e7ad7f29abcaf47, "9.999999999999998e-8"},
    {0xbe8421f5f40d8376, "-1.5e-7"},
    {0x3c36b082c2148b8e, "1.23e-18"}, /* 123e-20 */
    /* extremes */
    {0x0000000000000001, "5e-324"},
    {0x8000000000000001, "-5e-324"},
    {0x0000000000000002, "1e-323"},
    {0x0000000000000003, "1.5e-323"},
    {0x000fffffffffffff, "2.225073858507201e-308"},
    {0x0010000000000000, "2.2250738585072014e-308"}, /* min normal */
    {0x7fefffffffffffff, "1.7976931348623157e+308"}, /* max */
    {0xffefffffffffffff, "-1.7976931348623157e+308"},
    {0x7fe0000000000000, "8.98846567431158e+307"}, /* 2^1023 */
    {0x7fd5555555555555, "5.992310449541053e+307"},
    /* powers of two and 2^53 */
    {0x4340000000000000, "9007199254740992"},
    {0x4340000000000001, "9007199254740994"},
    {0x433fffffffffffff, "9007199254740991"},
    {0x3d30000000000000, "5.684341886080802e-14"}, /* 2^-44 */
    {0x3e70000000000000, "5.960464477539063e-8"},  /* 2^-24 */
};

static void numfmt__hand_picked(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof hand_picked / sizeof hand_picked[0]; i++)
        check_fmt(from_bits(hand_picked[i].bits), hand_picked[i].want);
}

static void numfmt__small_integers(void **state)
{
    (void)state;
    char want[32];
    for (long long v = -100000; v <= 100000; v += 7) {
        int n = snprintf(want, sizeof want, "%lld", v);
        assert_true(n > 0 && (size_t)n < sizeof want);
        check_fmt((double)v, v == 0 ? "0" : want);
    }
    check_fmt(1e15, "1000000000000000");
    check_fmt(4503599627370497.0, "4503599627370497"); /* 2^52 + 1 */
}

/* Opens tests/vectors/numbers.txt via $TF_ROOT or the working directory. */
static FILE *open_vectors(void)
{
    char path[4096];
    const char *root = getenv("TF_ROOT");
    if (root && *root) {
        int n = snprintf(path, sizeof path, "%s/tests/vectors/numbers.txt", root);
        assert_true(n > 0 && (size_t)n < sizeof path);
    } else {
        int n = snprintf(path, sizeof path, "tests/vectors/numbers.txt");
        assert_true(n > 0 && (size_t)n < sizeof path);
    }
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open '%s' (set TF_ROOT to the repository root)", path);
    return f;
}

/*
 * Every line "<16 hex bits> <String(x)>" formats to String(x), and parsing
 * String(x) gives back x (its bits; both zeros print "0").
 */
static void numfmt__vectors(void **state)
{
    (void)state;
    FILE *f = open_vectors();
    char line[128];
    unsigned long count = 0;
    while (fgets(line, sizeof line, f)) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *end = NULL;
        uint64_t bits = (uint64_t)strtoull(line, &end, 16);
        if (end != line + 16 || *end != ' ')
            fail_msg("bad vector line '%s'", line);
        const char *want = end + 1;
        double x = from_bits(bits);
        check_fmt(x, want);
        check_parse(want, x == 0 ? 0.0 : x);
        count++;
    }
    fclose(f);
    assert_true(count >= 20000);
}

static void numparse__basic(void **state)
{
    (void)state;
    check_parse("0", 0.0);
    check_parse("-0", -0.0);
    check_parse("-0.0e5", -0.0);
    check_parse("0e-99999", 0.0);
    check_parse("1", 1.0);
    check_parse("-1", -1.0);
    check_parse("123456789012345", 123456789012345.0);
    check_parse("1234567890123456789", 1234567890123456789.0);
    check_parse("9007199254740993", 9007199254740992.0); /* tie to even */
    check_parse("9007199254740995", 9007199254740996.0);
    check_parse("0.1", 0.1);
    check_parse("-123.456e-7", -123.456e-7);
    check_parse("1E22", 1e22);
    check_parse("1e23", 1e23);
    check_parse("8.98846567431158e307", 8.98846567431158e307);
    check_parse("2.2250738585072011e-308", 2.2250738585072011e-308);
    check_parse("1.7976931348623157e308", 1.7976931348623157e308);
    check_parse("1.7976931348623158e308", 1.7976931348623157e308);
}

static void numparse__overflow_and_underflow(void **state)
{
    (void)state;
    double x = 42.0;
    assert_int_equal(tf_numparse("1e400", 5, &x), -1);
    assert_int_equal(tf_numparse("-1e400", 6, &x), -1);
    assert_int_equal(tf_numparse("1.7976931348623159e308", 22, &x), -1);
    assert_true(x == 42.0); /* untouched on failure */
    check_parse("1e-400", 0.0);
    check_parse("-1e-400", -0.0);
    check_parse("4e-324", from_bits(1));
    check_parse("2.4703282292062327e-324", 0.0);          /* below half of 2^-1074 */
    check_parse("2.4703282292062328e-324", from_bits(1)); /* above half */
    check_parse("2.225073858507201e-308", from_bits(0x000fffffffffffff));
}

/* Only len bytes are read: the literal need not be NUL-terminated. */
static void numparse__length_bounded(void **state)
{
    (void)state;
    const char text[] = "12345678901234567890123]";
    double x = 0;
    assert_int_equal(tf_numparse(text, 2, &x), 0);
    assert_true(x == 12.0);
    assert_int_equal(tf_numparse(text, 23, &x), 0);
    assert_true(x == 12345678901234567890123.0);
    assert_int_equal(tf_numparse("0.25xyz", 4, &x), 0);
    assert_true(x == 0.25);
}

/* Build "<head><n times fill><tail>" in a malloc'd string. */
static char *long_literal(const char *head, char fill, size_t n, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    memset(s + hl, fill, n);
    memcpy(s + hl + n, tail, tl + 1);
    return s;
}

static void numparse__long_literals(void **state)
{
    (void)state;
    /* exactly half-way between 2^53 and 2^53 + 2: ties to even */
    char *s = long_literal("9007199254740993.", '0', 800, "");
    check_parse(s, 9007199254740992.0);
    free(s);
    /* a hair above half-way, 800 digits later: rounds up */
    s = long_literal("9007199254740993.", '0', 800, "1");
    check_parse(s, 9007199254740994.0);
    free(s);
    /* 800 significant digits of 1/9 */
    s = long_literal("0.", '1', 800, "");
    check_parse(s, 1.0 / 9.0);
    free(s);
    /* 800 integer digits overflow */
    s = long_literal("1", '0', 800, "");
    double x = 0;
    assert_int_equal(tf_numparse(s, strlen(s), &x), -1);
    free(s);
    /* many digits then a compensating exponent */
    s = long_literal("1", '0', 800, "e-800");
    check_parse(s, 1.0);
    free(s);
    /* the smallest subnormal written with 800 zeros after the point */
    s = long_literal("0.", '0', 800, "5e477");
    check_parse(s, 5e-324);
    free(s);
}

/* ---- differential check against strtod_l ------------------------------- */

static locale_t c_loc; /* "C" locale for the reference strtod_l */

/*
 * tf_numparse of s[0..len) agrees with strtod_l in the "C" locale: -1 when
 * the reference overflows to infinity, else 0 and the same bits. s must be
 * NUL-terminated at len (for the reference). Counts the literal in *checked.
 */
static void check_vs_strtod(const char *s, size_t len, unsigned long *checked)
{
    if (!c_loc) {
        c_loc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        assert_non_null(c_loc);
    }
    char *end = NULL;
    double want = strtod_l(s, &end, c_loc);
    if (end != s + len)
        fail_msg("reference strtod_l stopped early in '%s'", s);
    double got = 12345.0;
    int rc = tf_numparse(s, len, &got);
    if (isinf(want)) {
        if (rc != -1)
            fail_msg("tf_numparse('%s'): want overflow (-1), got %d", s, rc);
    } else if (rc != 0 || to_bits(got) != to_bits(want)) {
        fail_msg("tf_numparse('%s'): rc %d, want bits %016llx got %016llx", s, rc,
                 (unsigned long long)to_bits(want), (unsigned long long)to_bits(got));
    }
    (*checked)++;
}

/* check_vs_strtod on x printed as "%.<prec>e" (prec + 1 significant digits). */
static void check_printed(int prec, double x, unsigned long *checked)
{
    char lit[64];
    int n = snprintf(lit, sizeof lit, "%.*e", prec, x);
    assert_true(n > 0 && (size_t)n < sizeof lit);
    check_vs_strtod(lit, (size_t)n, checked);
}

/* xorshift64*: the fixed-seed random source of the differential tests. */
static uint64_t rand64(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

/* Uniform in [0, n), n > 0 (the modulo bias does not matter here). */
static unsigned rand_below(uint64_t *st, unsigned n)
{
    return (unsigned)(rand64(st) % n);
}

/*
 * Every vector's String(x), and x printed with 17, 18 and 19 significant
 * digits, parse exactly as strtod_l parses them.
 */
static void numparse__vectors_match_strtod(void **state)
{
    (void)state;
    FILE *f = open_vectors();
    char line[128];
    unsigned long checked = 0;
    while (fgets(line, sizeof line, f)) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *end = NULL;
        double x = from_bits((uint64_t)strtoull(line, &end, 16));
        const char *lit = end + 1;
        check_vs_strtod(lit, strlen(lit), &checked);
        check_printed(16, x, &checked);
        check_printed(17, x, &checked);
        check_printed(18, x, &checked);
    }
    fclose(f);
    assert_true(checked >= 80000);
}

/*
 * A random literal: sign, 1-19 significant digits (1 in 8: 20-39; sometimes
 * after leading zeros, sometimes followed by zeros), a decimal point anywhere in them,
 * and an exponent (or none) that puts the value in about 1e-340..1e310.
 * Writes NUL-terminated text to buf and returns its length.
 */
static size_t random_literal(uint64_t *st, char *buf, size_t size)
{
    char dig[80]; /* lead + sig + trail <= 29 + 39 + 5 */
    size_t nd = 0;
    unsigned lead = rand_below(st, 8) == 0 ? rand_below(st, 30) : 0;
    unsigned sig = rand_below(st, 8) == 0 ? 20 + rand_below(st, 20) : 1 + rand_below(st, 19);
    unsigned trail = rand_below(st, 8) == 0 ? rand_below(st, 6) : 0;
    for (unsigned i = 0; i < lead; i++)
        dig[nd++] = '0';
    for (unsigned i = 0; i < sig; i++)
        dig[nd++] = (char)('0' + (i == 0 ? 1 + rand_below(st, 9) : rand_below(st, 10)));
    for (unsigned i = 0; i < trail; i++)
        dig[nd++] = '0';
    size_t point = rand_below(st, (unsigned)nd + 1); /* integer digits */
    int exp10 = (int)rand_below(st, 651) - 340;
    size_t k = 0;
    if (rand64(st) & 1)
        buf[k++] = '-';
    if (point == 0) {
        buf[k++] = '0';
    } else {
        memcpy(buf + k, dig, point);
        k += point;
    }
    if (point < nd) {
        buf[k++] = '.';
        memcpy(buf + k, dig + point, nd - point);
        k += nd - point;
    }
    /* value ~ 10^(exp10) once the digits' own scale is taken out */
    int ex = exp10 - ((int)point - (int)lead - 1);
    int n = snprintf(buf + k, size - k, "%s%d", (rand64(st) & 1) ? "e" : "E", ex);
    assert_true(n > 0 && (size_t)n < size - k);
    return k + (size_t)n;
}

/*
 * An exact halfway point between two adjacent doubles, or its neighbour one
 * unit in the last digit away: o * 2^j with o odd of 54 bits (the midpoint
 * of the 53-bit significands (o - 1) / 2 and (o + 1) / 2), written as
 * w * 10^q with w < 10^19. For q >= 1, o is a multiple of 5^q; for q < 0,
 * w = o * 5^-q and j = q. Returns the length written to buf.
 */
static size_t halfway_literal(uint64_t *st, char *buf, size_t size)
{
    int q = (int)rand_below(st, 28) - 4; /* -4..23: where ties can exist */
    uint64_t p5 = 1;
    for (int i = 0; i < (q < 0 ? -q : q); i++)
        p5 *= 5;
    uint64_t w;
    for (;;) {
        /* o odd in (2^53, 2^54), a multiple of 5^q when q > 0 */
        uint64_t lo = ((uint64_t)1 << 53) + 1, hi = ((uint64_t)1 << 54) - 1;
        uint64_t o;
        if (q > 0) {
            uint64_t r = (lo + rand64(st) % (hi - lo)) / p5;
            o = (r | 1) * p5;
        } else {
            o = (lo + rand64(st) % (hi - lo)) | 1;
        }
        if (o <= lo || o >= hi)
            continue;
        if (q > 0) {
            /* value o * 2^j with j >= q: w = o / 5^q * 2^(j - q) */
            w = o / p5;
            int extra = (int)rand_below(st, 12);
            while (extra-- > 0 && w < UINT64_MAX / 2 && w * 2 < 10000000000000000000ULL)
                w *= 2;
        } else {
            if (o > 10000000000000000000ULL / p5)
                continue;
            w = o * p5;
        }
        if (w < 10000000000000000000ULL)
            break;
    }
    /* the tie itself, a unit away either side, a hair above it (a 1 after
     * the 19th significant digit), or the tie with 20 or more digits */
    const char *tail = "";
    switch (rand_below(st, 6)) {
    case 0:
        w++;
        break;
    case 1:
        w--;
        break;
    case 2:
        tail = "00000000000000000001";
        break;
    case 3:
        tail = "0000000000000000000";
        break;
    default:
        break;
    }
    int n = snprintf(buf, size, "%s%llu%se%d", (rand64(st) & 1) ? "-" : "",
                     (unsigned long long)w, tail, q - (int)strlen(tail));
    assert_true(n > 0 && (size_t)n < size);
    return (size_t)n;
}

/*
 * 2,000,000 seeded literals against strtod_l: random ones (random_literal),
 * halfway points and their neighbours (halfway_literal), 17-19 digit
 * decimals around powers of two, and String(x) / %.16e of random doubles.
 */
static void numparse__random_match_strtod(void **state)
{
    (void)state;
    uint64_t st = 0x243f6a8885a308d3ULL;
    unsigned long checked = 0;
    char lit[128];
    for (unsigned long i = 0; i < 2000000; i++) {
        size_t n;
        switch (i % 8) {
        case 0:
        case 1:
        case 2:
            n = random_literal(&st, lit, sizeof lit);
            check_vs_strtod(lit, n, &checked);
            break;
        case 3:
        case 4:
            n = halfway_literal(&st, lit, sizeof lit);
            check_vs_strtod(lit, n, &checked);
            break;
        case 5: {
            /* 2^e printed with 17-19 digits, the last one nudged */
            int e = (int)rand_below(&st, 2046) - 1022;
            char full[64];
            int k = snprintf(full, sizeof full, "%.18e", ldexp(1.0, e));
            assert_true(k > 0 && (size_t)k < sizeof full);
            char *ep = strchr(full, 'e');
            int keep = 17 + (int)rand_below(&st, 3); /* significant digits */
            /* "d." then keep - 1 digits */
            size_t mant = (size_t)(keep + 1);
            int nudge = (int)rand_below(&st, 3) - 1;
            char last = full[mant - 1];
            if (nudge > 0 && last < '9')
                full[mant - 1] = (char)(last + 1);
            if (nudge < 0 && last > '0')
                full[mant - 1] = (char)(last - 1);
            k = snprintf(lit, sizeof lit, "%.*s%s", (int)mant, full, ep);
            assert_true(k > 0 && (size_t)k < sizeof lit);
            check_vs_strtod(lit, (size_t)k, &checked);
            break;
        }
        default: {
            double x;
            do
                x = from_bits(rand64(&st));
            while (!isfinite(x));
            if (i % 8 == 6) {
                char buf[TF_NUMFMT_MAX];
                size_t k = tf_numfmt(x, buf);
                check_vs_strtod(buf, k, &checked);
            } else {
                check_printed(16, x, &checked);
            }
            break;
        }
        }
    }
    assert_int_equal(checked, 2000000);
}

/* The cases the Eisel-Lemire path must get right on its own. */
static void numparse__eisel_lemire_edges(void **state)
{
    (void)state;
    unsigned long checked = 0;
    static const char *lits[] = {
        "9007199254740993", "9007199254740995", "9007199254740993e0",
        "900719925474099.3e1", "9007199254740993000", "18014398509481985",
        "18014398509481986", "18014398509481987", "5.684341886080802e-14",
        "5.6843418860808015e-14", "5.9604644775390625e-8", "5.960464477539063e-8",
        "0.000000000000000000000000000123", "-0.000000000000000000000000000123",
        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308",
        "17976931348623157e292", "2.2250738585072014e-308", "2.2250738585072013e-308",
        "2.2250738585072011e-308", "4.9406564584124654e-324", "1e-342", "1e-343",
        "9999999999999999999e-343", "1e308", "1e309", "123456789012345678901",
        "12345678901234567890000", "1234567890123456789.000", "0.1000000000000000055511151231257827",
        "7.2057594037927933e16", "3.0000000000000000000000000000000000001",
        "0e0", "-0e-400", "1e+0", "1E-0",
    };
    for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++)
        check_vs_strtod(lits[i], strlen(lits[i]), &checked);
    check_parse("9007199254740993", 9007199254740992.0);
    check_parse("9007199254740995", 9007199254740996.0);
    check_parse("5.684341886080802e-14", ldexp(1.0, -44));
    check_parse("5.960464477539063e-8", ldexp(1.0, -24));
    check_parse("5.9604644775390625e-8", ldexp(1.0, -24));
    check_parse("0.000000000000000000000000000123", 1.23e-28);
    check_parse("1234567890123456789.000", 1234567890123456789.0);
    check_parse("12345678901234567890000", 1.234567890123456789e22);
    check_parse("-2.2250738585072014e-308", -DBL_MIN);
    /* every decimal exponent of the table, both ends included */
    char lit[64];
    for (int q = -342; q <= 308; q++) {
        int n = snprintf(lit, sizeof lit, "12345678901234567e%d", q);
        assert_true(n > 0 && (size_t)n < sizeof lit);
        check_vs_strtod(lit, (size_t)n, &checked);
        n = snprintf(lit, sizeof lit, "1e%d", q);
        assert_true(n > 0 && (size_t)n < sizeof lit);
        check_vs_strtod(lit, (size_t)n, &checked);
    }
}

/* Format and parse a set of values; the locale test compares two runs. */
static void snapshot(char out[][TF_NUMFMT_MAX], double parsed[], size_t n)
{
    static const double xs[] = {0.1, -1.5e-7, 1234.5678, 1e21, 5e-324, 123456.789e3};
    static const char *lits[] = {"0.1", "-1.5e-7", "1234.5678", "1.2345678901234567891",
                                 "2.2250738585072011e-308", "123456.789e3"};
    assert_int_equal(n, sizeof xs / sizeof xs[0]);
    for (size_t i = 0; i < n; i++) {
        tf_numfmt(xs[i], out[i]);
        assert_int_equal(tf_numparse(lits[i], strlen(lits[i]), &parsed[i]), 0);
    }
}

static void numfmt__locale_independent(void **state)
{
    (void)state;
    static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8",
                                  "fr_FR.utf8"};
    char before[6][TF_NUMFMT_MAX], after[6][TF_NUMFMT_MAX];
    double pb[6], pa[6];
    snapshot(before, pb, 6);
    const char *used = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !used; i++)
        if (setlocale(LC_ALL, names[i]))
            used = names[i];
    if (!used) {
        print_message("skipped: numfmt locale check (no de_DE/fr_FR locale installed)\n");
        skip();
    }
    /* the locale really uses a comma, or this test proves nothing */
    assert_string_equal(localeconv()->decimal_point, ",");
    snapshot(after, pa, 6);
    setlocale(LC_ALL, "C");
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(before[i], after[i]);
        assert_true(to_bits(pb[i]) == to_bits(pa[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(numfmt__hand_picked),
        cmocka_unit_test(numfmt__small_integers),
        cmocka_unit_test(numfmt__vectors),
        cmocka_unit_test(numparse__basic),
        cmocka_unit_test(numparse__overflow_and_underflow),
        cmocka_unit_test(numparse__length_bounded),
        cmocka_unit_test(numparse__long_literals),
        cmocka_unit_test(numparse__vectors_match_strtod),
        cmocka_unit_test(numparse__random_match_strtod),
        cmocka_unit_test(numparse__eisel_lemire_edges),
        cmocka_unit_test(numfmt__locale_independent),
    };
    return cmocka_run_group_tests_name("numfmt", tests, NULL, NULL);
}

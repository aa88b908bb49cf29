/* The formula language's functions in C (float32), written so that gcc vectorises them.
 *
 * Branch-free (selects, not jumps) and free of libm calls, so that a loop over
 * them becomes SIMD code under `#pragma omp simd` without -ffast-math; the
 * generated kernels include this file. Clamps are written `v > hi ? hi : v`
 * so that a NaN input passes through. Accuracy: a few float32 ulp.
 */
#include <stdint.h>
#include <stdlib.h>
#include <math.h>

static inline float f_where(int cond, float a, float b) { return cond ? a : b; }
static inline float f_min(float a, float b) { return b < a ? b : a; }
static inline float f_max(float a, float b) { return b > a ? b : a; }
static inline float f_abs(float a) { return fabsf(a); }
static inline float f_sign(float a) { return (float)((a > 0.0f) - (a < 0.0f)); }

/* c[0] x^(n-1) + ... + c[n-1], by Horner's rule (the loop is unrolled by the compiler) */
static inline float f_horner(const float *c, int n, float x) {
    float p = c[0];
    for (int k = 1; k < n; ++k) p = p * x + c[k];
    return p;
}

/* Cephes' expf polynomial, and the Taylor coefficients 1/8! .. 1/2! of expm1 */
static const float EXP_POLY[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                  4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
static const float EXPM1_TAYLOR[7] = {2.48015873e-5f, 1.98412698e-4f, 1.38888889e-3f, 8.33333333e-3f,
                                      4.16666667e-2f, 1.66666667e-1f, 0.5f};

/* e^x = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 (Cody-Waite, two parts), e^r by a
 * degree-7 polynomial (Cephes' expf). n is rounded by adding 1.5 * 2^23, which leaves n in the
 * low bits of the sum, so 2^n is built from those bits. Below -87.33 the result is 0 (no
 * subnormals); above 88.37, where e^x nears the float32 maximum, it is inf. */
static inline float f_exp(float x) {
    const float xc = x > 88.37626f ? 88.37626f : (x < -87.33654f ? -87.33654f : x);
    const float t = xc * 1.44269504088896341f + 12582912.0f;
    const float n = t - 12582912.0f;
    const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
    const float p = f_horner(EXP_POLY, 6, r) * r * r + r + 1.0f;
    union { float f; int32_t i; } bits = { t }, scale;
    scale.i = (bits.i - 0x4B3FFF81) << 23; /* (n + 127) << 23 */
    const float e = p * scale.f;
    return x > 88.37626f ? INFINITY : (x < -87.33654f ? 0.0f : e);
}

/* e^x - 1: the Taylor series to x^8 / 8! for |x| < 1/2 (error below 1e-8 relative), else e^x - 1 */
static inline float f_expm1(float x) {
    const float p = f_horner(EXPM1_TAYLOR, 7, x) * x * x + x;
    const float big = f_exp(x) - 1.0f;
    return fabsf(x) < 0.5f ? p : big;
}

/* log(1 + t), for 0 <= t <= 1 only: Cephes' logf polynomial on r in [sqrt(1/2) - 1, sqrt(2) - 1],
 * with r = t, or r = (t - 1) / 2 and ln 2 added when t > sqrt(2) - 1 */
static inline float f_log1p(float t) {
    const int upper = t > 0.41421356f;
    const float r = upper ? 0.5f * (t - 1.0f) : t;
    float p = 7.0376836292e-2f;
    p = p * r - 1.1514610310e-1f;
    p = p * r + 1.1676998740e-1f;
    p = p * r - 1.2420140846e-1f;
    p = p * r + 1.4249322787e-1f;
    p = p * r - 1.6668057665e-1f;
    p = p * r + 2.0000714765e-1f;
    p = p * r - 2.4999993993e-1f;
    p = p * r + 3.3333331174e-1f;
    const float r2 = r * r;
    const float y = r2 * r * p - 0.5f * r2 + r;
    return upper ? y + 0.693147180559945f : y;
}

/* sigmoid(x) = [1 or e] / (1 + e), e = e^{-|x|}: no overflow */
static inline float f_sigmoid(float x) {
    const float e = f_exp(-fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

/* Chris Wellons' "lowbias32" integer hash */
static inline uint32_t f_mix(uint32_t h) {
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

/* a uniform number in [0, 1) from (seed, element index): counter-based, so backward can redraw it */
static inline float f_uniform(uint64_t seed, int64_t idx) {
    uint32_t h = f_mix((uint32_t)idx ^ (uint32_t)seed);
    h = f_mix(h ^ (uint32_t)(seed >> 32) ^ (uint32_t)((uint64_t)idx >> 32));
    return (float)(h >> 8) * 5.9604644775390625e-8f;
}

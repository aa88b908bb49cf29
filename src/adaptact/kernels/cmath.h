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

/* Cephes' expf polynomial */
static const float EXP_POLY[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                  4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

/* The shared reduction of e^x and e^x - 1: x clamped to [-87.33654, 88.37626] (NaN passes), n =
 * round(x / ln 2), r = x - n ln 2 (Cody-Waite, two parts), *em_r = e^r - 1 = r + r^2 P(r) (Cephes'
 * expf polynomial) and the return value 2^n. n is rounded by adding 1.5 * 2^23, which leaves n in
 * the low bits of the sum, so 2^n is built from those bits (-126 <= n <= 127: always a normal
 * float). Only the input is clamped, no select on the result: f_exp and f_expm1 of the same x
 * inline to the same instructions, which the compiler computes once. */
static inline float f_exp_reduce(float x, float *em_r) {
    const float xc = x > 88.37626f ? 88.37626f : (x < -88.0f ? -88.0f : x);
    const float t = xc * 1.44269504088896341f + 12582912.0f;
    const float n = t - 12582912.0f;
    const float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
    *em_r = f_horner(EXP_POLY, 6, r) * r * r + r;
    union { float f; int32_t i; } bits = { t }, scale;
    scale.i = (bits.i - 0x4B3FFF81) << 23; /* (n + 127) << 23 */
    return scale.f;
}

/* e^x = 2^n (1 + (e^r - 1)): 0 below x = -87.68; saturates at 2.4e38 above x = 88.376 (not inf:
 * callers cap x far below, or need only a huge value) */
static inline float f_exp(float x) {
    float em_r;
    const float s = f_exp_reduce(x, &em_r);
    return (em_r + 1.0f) * s;
}

/* e^x - 1 = 2^n (e^r - 1) + (2^n - 1), in one pass: for |x| < ln(2)/2, n = 0 and it is
 * e^x - 1 = x + x^2 P(x) itself (accurate near 0); 2^n - 1 is exact for n >= -24 */
static inline float f_expm1(float x) {
    float em_r;
    const float s = f_exp_reduce(x, &em_r);
    return em_r * s + (s - 1.0f);
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

/* the element's two-round hash of (seed, element index), both 64-bit (RPAU's noise); always inlined, so
   that the ten calls of one element in RPAU (f_uniform_k) compute it once */
static inline __attribute__((always_inline)) uint32_t f_element_hash(uint64_t seed, int64_t idx) {
    const uint32_t h = f_mix((uint32_t)idx ^ (uint32_t)seed);
    return f_mix(h ^ (uint32_t)(seed >> 32) ^ (uint32_t)((uint64_t)idx >> 32));
}

/* a 32-bit key of the seed (two rounds of its own, with a salt per key): loop-invariant, so computed once
   per call when inlined into a kernel's element loop */
static inline uint32_t f_seed_key(uint64_t seed, uint32_t salt) {
    return f_mix((uint32_t)seed ^ f_mix((uint32_t)(seed >> 32) ^ salt));
}

/* the element's one-round keyed hash (RReLU's draw): a lowbias32 round of the index's low half xored with
   the seed's first key, the second key and the index's high half xored in between its two multiplies, so
   that two seeds give two different functions of the index (a key xored into the input only would give one
   function of shifted indices); one round per element instead of f_element_hash's two */
static inline uint32_t f_keyed_hash(uint64_t seed, int64_t idx) {
    uint32_t h = (uint32_t)idx ^ f_seed_key(seed, 0u);
    h ^= h >> 16;
    h *= 0x7feb352du;
    h ^= f_seed_key(seed, 0x85ebca6bu) ^ (uint32_t)((uint64_t)idx >> 32);
    h ^= h >> 15;
    h *= 0x846ca68bu;
    h ^= h >> 16;
    return h;
}

/* a uniform number in [0, 1) from (seed, element index): counter-based, so backward can redraw it */
static inline float f_uniform(uint64_t seed, int64_t idx) {
    return (float)(f_keyed_hash(seed, idx) >> 8) * 5.9604644775390625e-8f;
}

/* uniform number k of element idx, in (0, 1) on a grid of 2^-16 (RPAU's coefficient noise): the
   element's hash (computed once per element when inlined), one more round per pair of
   coefficients, and the low or the high 16 bits for the even or odd k */
static inline float f_uniform_k(uint64_t seed, int64_t idx, int k) {
    const uint32_t g = f_mix(f_element_hash(seed, idx) ^ (0x9e3779b9u * (uint32_t)(k / 2 + 1)));
    const uint32_t bits = (k & 1) ? (g >> 16) : (g & 0xffffu);
    return ((float)bits + 0.5f) * 1.52587890625e-5f;
}

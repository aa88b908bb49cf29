"""The formula language's functions in Triton (float32), the counterparts of ``cmath.h``.

Imported only by generated Triton modules, so only when triton is installed.
Written without overflowing intermediates, so that the numpy-backed
interpreter (``TRITON_INTERPRET=1``) raises no floating-point warnings.
"""
import triton
import triton.language as tl


@triton.jit
def f_where(cond, a, b):
    return tl.where(cond, a, b)


@triton.jit
def f_min(a, b):
    return tl.minimum(a, b)


@triton.jit
def f_max(a, b):
    return tl.maximum(a, b)


@triton.jit
def f_abs(a):
    return tl.abs(a)


@triton.jit
def f_sign(a):
    return tl.where(a > 0.0, 1.0, tl.where(a < 0.0, -1.0, 0.0))


@triton.jit
def f_exp(x):
    return tl.exp(x)


@triton.jit
def f_expm1(x):
    """e^x - 1: the Taylor series to x^8 / 8! for |x| < 1/2, else e^x - 1 (as in cmath.h)."""
    p = 2.48015873e-5
    p = p * x + 1.98412698e-4
    p = p * x + 1.38888889e-3
    p = p * x + 8.33333333e-3
    p = p * x + 4.16666667e-2
    p = p * x + 1.66666667e-1
    p = p * x + 0.5
    p = p * x * x + x
    return tl.where(tl.abs(x) < 0.5, p, tl.exp(x) - 1.0)


@triton.jit
def f_log1p(t):
    """log(1 + t) for t >= 0, accurate for small t: log(u) t / (u - 1) with u = 1 + t (Goldberg)."""
    u = 1.0 + t
    d = tl.where(u == 1.0, 1.0, u - 1.0)
    return tl.where(u == 1.0, t, tl.log(u) * (t / d))


@triton.jit
def f_sigmoid(x):
    e = tl.exp(-tl.abs(x))
    return tl.where(x >= 0.0, 1.0, e) / (1.0 + e)


@triton.jit
def f_mix(h):
    """Chris Wellons' "lowbias32" integer hash on uint32."""
    h = h ^ (h >> 16)
    h = (h * 0x7FEB352D).to(tl.uint32)
    h = h ^ (h >> 15)
    h = (h * 0x846CA68B).to(tl.uint32)
    h = h ^ (h >> 16)
    return h


@triton.jit
def f_element_hash(seed, idx):
    """The element's two-round hash of (seed, element index): cmath.h's f_element_hash."""
    wide = seed.to(tl.int64)  # a seed below 2**31 arrives as int32
    lo = (wide & 0xFFFFFFFF).to(tl.uint32)
    hi = (wide >> 32).to(tl.uint32)
    h = f_mix(idx.to(tl.uint32) ^ lo)
    return f_mix(h ^ hi ^ (idx >> 32).to(tl.uint32))


@triton.jit
def f_seed_key(seed, salt):
    """A 32-bit key of the seed: cmath.h's f_seed_key."""
    wide = seed.to(tl.int64)  # a seed below 2**31 arrives as int32
    lo = (wide & 0xFFFFFFFF).to(tl.uint32)
    hi = (wide >> 32).to(tl.uint32)
    return f_mix(lo ^ f_mix((hi ^ salt).to(tl.uint32)))


@triton.jit
def f_keyed_hash(seed, idx):
    """The element's one-round keyed hash (RReLU's draw): cmath.h's f_keyed_hash."""
    h = idx.to(tl.uint32) ^ f_seed_key(seed, 0)
    h = h ^ (h >> 16)
    h = (h * 0x7FEB352D).to(tl.uint32)
    h = h ^ f_seed_key(seed, 0x85EBCA6B) ^ (idx.to(tl.int64) >> 32).to(tl.uint32)
    h = h ^ (h >> 15)
    h = (h * 0x846CA68B).to(tl.uint32)
    return h ^ (h >> 16)


@triton.jit
def f_uniform(seed, idx):
    """Uniform in [0, 1) from (seed, element index): the same numbers as cmath.h's f_uniform."""
    return (f_keyed_hash(seed, idx) >> 8).to(tl.float32) * 5.9604644775390625e-8


@triton.jit
def f_uniform_k(seed, idx, k):
    """Uniform number ``k`` of element ``idx`` in (0, 1) on a 2^-16 grid: the same numbers as cmath.h's f_uniform_k."""
    g = f_mix(f_element_hash(seed, idx) ^ ((0x9E3779B9 * (k // 2 + 1)) & 0xFFFFFFFF))
    bits = tl.where((k & 1) == 1, g >> 16, g & 0xFFFF)
    return (bits.to(tl.float32) + 0.5) * 1.52587890625e-5

/* The logit statistics of each row of a decode step, on the host CPU: the
 * row's max, log Z, entropy and varentropy (vocab_stats.py says why).
 *
 * Per row, over the shifted logits s = x - max and their weights w = e^s:
 * Z = sum w, m = sum w s / Z, entropy = log Z - m, varentropy =
 * sum w (s - m)^2 / Z (centred: no cancellation), as metrics.py's MLX graph
 * computes them. A weight below float's normal range (s < -87.3, a -inf
 * logit included) is 0 and left out of the sums (0 * -inf is NaN). Each sum
 * runs in 8 float lanes over blocks of 256 entries, the block sums added in
 * double, so a 152k vocabulary sums as exactly as MLX's two-level sums.
 */
#include <math.h>
#include <stddef.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
enum { BLOCK = 256 };

/* e^s for s <= 0 (-inf included): Cephes' expf (2^n times a degree-5
 * polynomial on [-ln2/2, ln2/2]), within 2 ulp; 0 below -87.3. */
TARGET static inline __m256 exp_nonpositive(__m256 s) {
    const __m256 low = _mm256_set1_ps(-87.33654f);
    __m256 keep = _mm256_cmp_ps(s, low, _CMP_GE_OQ);
    __m256 x = _mm256_max_ps(s, low);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(y, _mm256_castsi256_ps(scale)), keep);
}

/* Entries [p, p + 8) of a row, those at or past `vocab` read as -inf. */
TARGET static inline __m256 load(const float *x, long p, long vocab) {
    if (p + 8 <= vocab)
        return _mm256_loadu_ps(x + p);
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i inside = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(vocab - p)), lane);
    __m256 v = _mm256_maskload_ps(x + p, inside);
    return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), v, _mm256_castsi256_ps(inside));
}

TARGET static inline double total(__m256 v) {
    __m256d wide = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    __m128d half = _mm_add_pd(_mm256_castpd256_pd128(wide), _mm256_extractf128_pd(wide, 1));
    return _mm_cvtsd_f64(_mm_add_sd(half, _mm_unpackhi_pd(half, half)));
}

/* The max of a row, or NaN if it holds a NaN. */
TARGET static float row_max(const float *x, long vocab) {
    __m256 best = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    for (long p = 0; p < vocab; p += 8) {
        __m256 v = load(x, p, vocab);
        best = _mm256_max_ps(best, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    if (_mm256_movemask_ps(nan))
        return NAN;
    float lanes[8], m = -INFINITY;
    _mm256_storeu_ps(lanes, best);
    for (int i = 0; i < 8; i++)
        m = lanes[i] > m ? lanes[i] : m;
    return m;
}

/* sum w and sum w (s - centre)^power over a row (power 1 or 2), each in float
 * blocks added in double. */
TARGET static void weighted_sums(const float *x, long vocab, float max, float centre, int power, double *z,
                                 double *moment) {
    __m256 top = _mm256_set1_ps(max), mid = _mm256_set1_ps(centre), zero = _mm256_setzero_ps();
    double zs = 0, ms = 0;
    for (long b = 0; b < vocab; b += BLOCK) {
        __m256 zb = zero, mb = zero;
        long end = b + BLOCK < vocab ? b + BLOCK : vocab;
        for (long p = b; p < end; p += 8) {
            __m256 s = _mm256_sub_ps(load(x, p, vocab), top);
            __m256 w = exp_nonpositive(s);
            __m256 live = _mm256_cmp_ps(w, zero, _CMP_GT_OQ);
            __m256 d = _mm256_sub_ps(s, mid);
            if (power == 2)
                d = _mm256_mul_ps(d, d);
            zb = _mm256_add_ps(zb, w);
            mb = _mm256_add_ps(mb, _mm256_and_ps(_mm256_mul_ps(w, d), live));
        }
        zs += total(zb);
        ms += total(mb);
    }
    *z = zs;
    *moment = ms;
}

static int supported(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

/* out[4 r .. 4 r + 3] = max, log Z, entropy, varentropy of row r of x
 * (rows x vocab, rows `stride` floats apart). Returns 0, or -1 where the CPU
 * lacks AVX2 and FMA (nothing written). */
int mlxe_vocab_stats(const float *x, long rows, long vocab, long stride, float *out) {
    if (!supported())
        return -1;
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * stride;
        float max = row_max(row, vocab);
        double z, first, second;
        weighted_sums(row, vocab, max, 0.0f, 1, &z, &first);
        float mean = (float)(first / z);
        weighted_sums(row, vocab, max, mean, 2, &z, &second);
        float log_total = (float)log(z);
        out[4 * r] = max;
        out[4 * r + 1] = log_total;
        out[4 * r + 2] = log_total - mean;
        out[4 * r + 3] = (float)(second / z);
    }
    return 0;
}
#else
int mlxe_vocab_stats(const float *x, long rows, long vocab, long stride, float *out) {
    (void)x, (void)rows, (void)vocab, (void)stride, (void)out;
    return -1;
}
#endif

/* cblas_sgemm and cblas_sgemv for MLX's CPU backend that split each product's
 * output between threads, each thread running the real BLAS single-threaded,
 * or, for a few rows times a weight matrix (decode), a kernel of our own.
 *
 * Why: OpenBLAS handles a product with few rows badly. A decode step
 * multiplies 1 to 8 rows by each weight matrix; on a 2-core Zen 2 (weights
 * too large for the caches), 8 x 896 by 896 x 4864 took 2.7 ms on OpenBLAS's
 * 2 threads, no faster than on one; two halves of the output on one thread
 * each took 1.7 ms, and 1.6 ms for one row (sgemm packs the whole weight
 * matrix whatever the rows). The weight matrix read once from memory sets the
 * floor: OpenBLAS's sgemv does one row in 0.6 ms. The kernel reads each
 * weight row once for all rows of the product.
 *
 * The kernel computes every output as one chain of fused multiply-adds over
 * K in order (8 lanes), a fixed horizontal sum, then the tail: the same
 * operations whatever the block shape, the number of rows or of threads, so a
 * sequence's logits do not depend on which others share its decode step.
 * Built and loaded by blas_split.py, in front of the real library, whose
 * other symbols (LAPACK) stay as they were.
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { ROW_MAJOR = 101, COL_MAJOR = 102, NO_TRANS = 111, MAX_THREADS = 16 };
enum { GEMM_MIN_WORK = 1 << 18, GEMV_MIN_WORK = 1 << 16, ALIGN = 16 };
enum { WORKER_SPIN_NS = 1000000, CALLER_SPINS = 1 << 16 };
enum { KERNEL_MAX_ROWS = 64, KERNEL_BLOCK_BYTES = 1 << 18, ROWS_MIN_K = 256, ROWS_MAX_K = 1024, ROWS_AHEAD = 768 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *,
                         int);

static sgemm_fn real_sgemm;
static sgemv_fn real_sgemv;
static atomic_int threads = 1;
static atomic_long split_calls;
static atomic_long kernel_calls;
static atomic_int kernel_on;

enum { REAL_GEMM, REAL_GEMV, KERNEL, KERNEL_NN };

/* One piece of a row-major product: which routine and its arguments. */
typedef struct {
    int kind, ta, tb, m, n, k, lda, ldb, ldc, incx, incy;
    float alpha, beta;
    const float *a, *b;
    float *c;
} piece;

static piece pieces[MAX_THREADS];
static atomic_uint generation;
static atomic_int pending;
static int active;
static pthread_t workers[MAX_THREADS];
static unsigned born_at[MAX_THREADS]; /* the generation when each worker was made */
static int started;
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t dispatch = PTHREAD_MUTEX_INITIALIZER;

#if defined(__x86_64__)
#define KERNEL_TARGET __attribute__((target("avx2,fma")))

KERNEL_TARGET static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* C[i][j] = alpha * x_i . w_j + beta * C[i][j] for MB rows of X and NB rows of
 * W (both K long, row-major); `ahead`, if not NULL, is NB rows to prefetch. */
#define BLOCK(MB, NB)                                                                                        \
    KERNEL_TARGET static void block_##MB##x##NB(int k, const float *x, int ldx, const float *w, int ldw,    \
                                                float *c, int ldc, float alpha, float beta, const float *ahead) { \
        __m256 acc[MB][NB];                                                                                  \
        for (int i = 0; i < MB; i++)                                                                         \
            for (int j = 0; j < NB; j++)                                                                     \
                acc[i][j] = _mm256_setzero_ps();                                                             \
        int k8 = k / 8 * 8;                                                                                  \
        for (int p = 0; p < k8; p += 8) {                                                                    \
            __m256 wv[NB];                                                                                   \
            if (ahead != NULL && (p & 15) == 0)                                                              \
                for (int j = 0; j < NB; j++)                                                                 \
                    _mm_prefetch((const char *)(ahead + (size_t)j * ldw + p), _MM_HINT_T0);                 \
            for (int j = 0; j < NB; j++)                                                                     \
                wv[j] = _mm256_loadu_ps(w + (size_t)j * ldw + p);                                            \
            for (int i = 0; i < MB; i++) {                                                                   \
                __m256 xv = _mm256_loadu_ps(x + (size_t)i * ldx + p);                                        \
                for (int j = 0; j < NB; j++)                                                                 \
                    acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);                                       \
            }                                                                                                \
        }                                                                                                    \
        for (int i = 0; i < MB; i++)                                                                         \
            for (int j = 0; j < NB; j++) {                                                                   \
                float s = hsum(acc[i][j]);                                                                   \
                for (int p = k8; p < k; p++)                                                                 \
                    s += x[(size_t)i * ldx + p] * w[(size_t)j * ldw + p];                                    \
                float *out = c + (size_t)i * ldc + j;                                                        \
                *out = beta == 0.0f ? alpha * s : alpha * s + beta * *out;                                   \
            }                                                                                                \
    }
BLOCK(4, 3)
BLOCK(4, 1)

/* The 8 sums of 8 accumulators, each in hsum()'s order: lanes i and i + 4,
 * then those sums 2 apart, then 1 apart. */
KERNEL_TARGET static inline __m256 hsum8(const __m256 *a) {
    __m256d s[4];
    for (int i = 0; i < 4; i++)
        s[i] = _mm256_castps_pd(_mm256_add_ps(_mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x20),
                                              _mm256_permute2f128_ps(a[2 * i], a[2 * i + 1], 0x31)));
    __m256 p = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(s[0], s[1])),
                             _mm256_castpd_ps(_mm256_unpackhi_pd(s[0], s[1])));
    __m256 q = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(s[2], s[3])),
                             _mm256_castpd_ps(_mm256_unpackhi_pd(s[2], s[3])));
    return _mm256_permutevar8x32_ps(_mm256_hadd_ps(p, q), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* C[i][0] for MB (5 to 8) rows of X and one row of W: each weight vector
 * loaded once for all rows, the rows' x read from L1 (so K is at most
 * ROWS_MAX_K), the weight stream prefetched ROWS_AHEAD floats ahead (past
 * this row: W's rows follow one another). Why: 4 x 3 blocks pass over each
 * weight slice twice for 8 rows, once from memory and once from L2; one pass
 * of 8 x 1 overlaps the memory stream with the multiply-adds. On Zen 2, 8 x 896
 * by 896 x 4864 on two threads: 1.02-1.12 -> 0.87-0.94 ms; by the 896 x 151936
 * vocabulary projection: 31-32 -> 25-26 ms. With x from L2 (K = 4864) it lost
 * to the 4 x 3 blocks, with K in chunks too, so those keep larger K. */
#define ROWS(MB)                                                                                             \
    KERNEL_TARGET static void rows_##MB(int k, const float *x, int ldx, const float *w, float *c, int ldc,     \
                                        float alpha, float beta) {                                            \
        __m256 acc[8];                                                                                       \
        for (int i = 0; i < 8; i++)                                                                          \
            acc[i] = _mm256_setzero_ps();                                                                    \
        int k8 = k / 8 * 8;                                                                                  \
        for (int p = 0; p < k8; p += 8) {                                                                    \
            if ((p & 15) == 0)                                                                               \
                _mm_prefetch((const char *)(w + p + ROWS_AHEAD), _MM_HINT_T0);                               \
            __m256 wv = _mm256_loadu_ps(w + p);                                                              \
            for (int i = 0; i < MB; i++)                                                                     \
                acc[i] = _mm256_fmadd_ps(_mm256_loadu_ps(x + (size_t)i * ldx + p), wv, acc[i]);              \
        }                                                                                                    \
        float sums[8];                                                                                       \
        _mm256_storeu_ps(sums, hsum8(acc));                                                                  \
        for (int i = 0; i < MB; i++) {                                                                       \
            float s = sums[i];                                                                               \
            for (int p = k8; p < k; p++)                                                                     \
                s += x[(size_t)i * ldx + p] * w[p];                                                          \
            float *out = c + (size_t)i * ldc;                                                                \
            *out = beta == 0.0f ? alpha * s : alpha * s + beta * *out;                                       \
        }                                                                                                    \
    }
ROWS(5)
ROWS(6)
ROWS(7)
ROWS(8)
BLOCK(2, 4)
BLOCK(2, 1)
BLOCK(1, 4)
BLOCK(1, 1)

typedef void (*block_fn)(int, const float *, int, const float *, int, float *, int, float, float, const float *);
typedef void (*rows_fn)(int, const float *, int, const float *, float *, int, float, float);

/* C = alpha X W^T + beta C for 5 to 8 rows of X, ROWS_MIN_K <= k <= ROWS_MAX_K
 * (shorter rows, as in attention's 7 query heads per key head times 64, are
 * cached products whose cost is the per-output work: the 4 x 3 blocks do
 * better there, 131 against 173 us for 16 products of 7 x 64 x 200): one pass over
 * W, every output from rows_MB. The rows are copied to an aligned buffer first:
 * MLX's arrays are 16-byte aligned, and with 8 loads of x per weight vector, loads
 * that cross a cache line cost this pass a tenth of its speed on Zen 2. */
KERNEL_TARGET static void rows_kernel(const piece *p) {
    float x[8 * ROWS_MAX_K] __attribute__((aligned(64)));
    for (int i = 0; i < p->m; i++)
        for (int q = 0; q < p->k; q++)
            x[i * p->k + q] = p->a[(size_t)i * p->lda + q];
    rows_fn pass = p->m == 8 ? rows_8 : p->m == 7 ? rows_7 : p->m == 6 ? rows_6 : rows_5;
    for (int n = 0; n < p->n; n++)
        pass(p->k, x, p->k, p->b + (size_t)n * p->ldb, p->c + n, p->ldc, p->alpha, p->beta);
}

/* C = alpha X W^T + beta C for X m x k (m <= KERNEL_MAX_ROWS), W n x k: W in
 * slices that stay in the L2 cache while every block of rows passes over them.
 * The first pass brings a slice from memory; with more than one row it also
 * prefetches the next block's weight rows, since the hardware prefetcher alone
 * left the multiply-adds waiting for memory (on Zen 2, 4 rows x 896 x 4864
 * took 1.3x one row's time, 1.05x with the prefetch; one row streams best
 * without it). */
static void kernel(const piece *p) {
    if (p->m >= 5 && p->m <= 8 && p->k >= ROWS_MIN_K && p->k <= ROWS_MAX_K) {
        rows_kernel(p);
        return;
    }
    int slice = KERNEL_BLOCK_BYTES / (int)sizeof(float) / (p->k > 0 ? p->k : 1) / 4 * 4;
    if (slice < 4)
        slice = 4;
    for (int n0 = 0; n0 < p->n; n0 += slice) {
        int n1 = n0 + slice < p->n ? n0 + slice : p->n;
        for (int m0 = 0; m0 < p->m;) {
            int mb = p->m - m0 >= 4 ? 4 : p->m - m0 >= 2 ? 2 : 1;
            int nb = mb == 4 ? 3 : 4;
            block_fn wide = mb == 4 ? block_4x3 : mb == 2 ? block_2x4 : block_1x4;
            block_fn one = mb == 4 ? block_4x1 : mb == 2 ? block_2x1 : block_1x1;
            const float *x = p->a + (size_t)m0 * p->lda;
            float *c = p->c + (size_t)m0 * p->ldc;
            int n = n0;
            for (; n + nb <= n1; n += nb) {
                const float *w = p->b + (size_t)n * p->ldb;
                const float *ahead = p->m > 1 && m0 == 0 && n + 2 * nb <= p->n ? w + (size_t)nb * p->ldb : NULL;
                wide(p->k, x, p->lda, w, p->ldb, c + n, p->ldc, p->alpha, p->beta, ahead);
            }
            for (; n < n1; n++)
                one(p->k, x, p->lda, p->b + (size_t)n * p->ldb, p->ldb, c + n, p->ldc, p->alpha, p->beta, NULL);
            m0 += mb;
        }
    }
}

/* C = alpha X W + beta C for X m x k (m <= KERNEL_MAX_ROWS) and W k x n, both
 * row-major: W not transposed, as attention's probabilities times the values
 * (7 query heads x the keys by the keys x 64 on the 0.5B). OpenBLAS took
 * 10-15 us a call for these, 384 calls in an 8-row step of the 0.5B. Two rows
 * by 32 columns at a time: each W vector loaded once for both rows, 8 chains
 * in flight. Every output is one chain of fused multiply-adds over k in order,
 * in its vector lane or, past the last 8 columns, in fmaf: the same
 * operations whichever block or piece it falls in. */
#define NN_BLOCK(MB, NV)                                                                                      \
    KERNEL_TARGET static void nn_##MB##x##NV(int k, const float *x, int ldx, const float *w, int ldw,         \
                                            float *c, int ldc, float alpha, float beta) {                     \
        __m256 acc[MB][NV];                                                                                   \
        for (int i = 0; i < MB; i++)                                                                          \
            for (int j = 0; j < NV; j++)                                                                      \
                acc[i][j] = _mm256_setzero_ps();                                                              \
        for (int p = 0; p < k; p++) {                                                                         \
            __m256 wv[NV];                                                                                    \
            for (int j = 0; j < NV; j++)                                                                      \
                wv[j] = _mm256_loadu_ps(w + (size_t)p * ldw + 8 * j);                                         \
            for (int i = 0; i < MB; i++) {                                                                    \
                __m256 xv = _mm256_broadcast_ss(x + (size_t)i * ldx + p);                                     \
                for (int j = 0; j < NV; j++)                                                                  \
                    acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);                                        \
            }                                                                                                 \
        }                                                                                                     \
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);                                         \
        for (int i = 0; i < MB; i++)                                                                          \
            for (int j = 0; j < NV; j++) {                                                                    \
                float *out = c + (size_t)i * ldc + 8 * j;                                                     \
                __m256 r = _mm256_mul_ps(va, acc[i][j]);                                                      \
                if (beta != 0.0f)                                                                             \
                    r = _mm256_add_ps(r, _mm256_mul_ps(vb, _mm256_loadu_ps(out)));                            \
                _mm256_storeu_ps(out, r);                                                                     \
            }                                                                                                 \
    }
NN_BLOCK(2, 4)
NN_BLOCK(1, 4)
NN_BLOCK(2, 1)
NN_BLOCK(1, 1)

KERNEL_TARGET static void kernel_nn(const piece *p) {
    for (int i0 = 0; i0 < p->m; i0 += 2) {
        int two = p->m - i0 >= 2;
        const float *x = p->a + (size_t)i0 * p->lda;
        float *c = p->c + (size_t)i0 * p->ldc;
        int n = 0;
        for (; n + 32 <= p->n; n += 32)
            (two ? nn_2x4 : nn_1x4)(p->k, x, p->lda, p->b + n, p->ldb, c + n, p->ldc, p->alpha, p->beta);
        for (; n + 8 <= p->n; n += 8)
            (two ? nn_2x1 : nn_1x1)(p->k, x, p->lda, p->b + n, p->ldb, c + n, p->ldc, p->alpha, p->beta);
        for (int i = 0; i < 1 + two; i++)
            for (int j = n; j < p->n; j++) {
                float s = 0.0f;
                for (int q = 0; q < p->k; q++)
                    s = fmaf(x[(size_t)i * p->lda + q], p->b[(size_t)q * p->ldb + j], s);
                float *out = c + (size_t)i * p->ldc + j;
                *out = p->beta == 0.0f ? p->alpha * s : p->alpha * s + p->beta * *out;
            }
    }
}

static int kernel_runs_here(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
static void kernel(const piece *p) { (void)p; }
static void kernel_nn(const piece *p) { (void)p; }
static int kernel_runs_here(void) { return 0; }
#endif

/* A spin-wait's pause: it frees the core's other hyperthread and saves power. */
static inline void relax(void) {
#if defined(__x86_64__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void run(const piece *p) {
    if (p->kind == KERNEL)
        kernel(p);
    else if (p->kind == KERNEL_NN)
        kernel_nn(p);
    else if (p->kind == REAL_GEMV)
        real_sgemv(ROW_MAJOR, p->ta, p->m, p->n, p->alpha, p->a, p->lda, p->b, p->incx, p->beta, p->c, p->incy);
    else
        real_sgemm(ROW_MAJOR, p->ta, p->tb, p->m, p->n, p->k, p->alpha, p->a, p->lda, p->b, p->ldb, p->beta, p->c,
                   p->ldc);
}

/* A worker spins for WORKER_SPIN_NS (the next matmul of a forward pass comes
 * within microseconds, or within a layer's attention and its statistics:
 * several hundred at one row), then sleeps until the next dispatch. With
 * 300 us the worker fell asleep within each layer of a one-row step of the
 * 0.5B and the step took 109.9 ms (median of 10) against 102.9 with 1 ms; 8
 * rows 168.2 against 167.2 (alternating in one process). */
static void *work(void *arg) {
    int id = (int)(size_t)arg;
    unsigned seen = born_at[id]; /* not the generation now: a dispatch may already have come */
    for (;;) {
        unsigned now = atomic_load(&generation);
        long until = now == seen ? now_ns() + WORKER_SPIN_NS : 0;
        for (int spins = 1; now == seen; spins++) {
            relax();
            now = atomic_load(&generation);
            if (spins % 256 == 0 && now_ns() > until)
                break;
        }
        if (now == seen) {
            pthread_mutex_lock(&wake_lock);
            while ((now = atomic_load(&generation)) == seen)
                pthread_cond_wait(&wake, &wake_lock);
            pthread_mutex_unlock(&wake_lock);
        }
        seen = now;
        if (id < active) {
            run(&pieces[id]);
            atomic_fetch_sub(&pending, 1);
        }
    }
    return NULL;
}

static int ensure_workers(int n) {
    for (; started < n - 1; started++) {
        born_at[started + 1] = atomic_load(&generation);
        if (pthread_create(&workers[started], NULL, work, (void *)(size_t)(started + 1)) != 0)
            return started + 1;
    }
    return n;
}

/* Run pieces[0..n) with the caller taking piece 0. */
static void run_pieces(int n) {
    active = n;
    atomic_store(&pending, n - 1);
    pthread_mutex_lock(&wake_lock);
    atomic_fetch_add(&generation, 1);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&wake_lock);
    run(&pieces[0]);
    for (long spins = 0; atomic_load(&pending) > 0; spins++)
        if (spins > CALLER_SPINS)
            sched_yield();
        else
            relax();
    atomic_fetch_add(&split_calls, 1);
}

/* How many pieces a product of `work` multiply-adds with `length` outputs
 * along the split dimension gets; 1 runs it unsplit on the caller. */
static int pieces_for(long work, long min_work, int length) {
    int n = threads;
    if (n > length / ALIGN)
        n = length / ALIGN;
    if (n < 2 || work < min_work || pthread_mutex_trylock(&dispatch) != 0)
        return 1;
    n = ensure_workers(n);
    if (n < 2)
        pthread_mutex_unlock(&dispatch);
    return n;
}

/* Start of piece i of n over `length`, on ALIGN boundaries. */
static int bound(int i, int n, int length) {
    if (i == n)
        return length;
    return (int)((long)length * i / n / ALIGN * ALIGN);
}

void cblas_sgemm(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                 const float *b, int ldb, float beta, float *c, int ldc) {
    if (order == COL_MAJOR) { /* C^T = B^T A^T, row-major */
        int t = ta; ta = tb; tb = t;
        t = m; m = n; n = t;
        const float *p = a; a = b; b = p;
        t = lda; lda = ldb; ldb = t;
    }
    /* Every product of this shape takes the kernel, whatever its size or the
     * threads, so that a row's result never depends on the rows beside it. */
    int kind = !atomic_load(&kernel_on) || ta != NO_TRANS || m > KERNEL_MAX_ROWS ? REAL_GEMM
               : tb == NO_TRANS                                                    ? KERNEL_NN
                                                                                   : KERNEL;
    int along_n = kind != REAL_GEMM || n >= m, length = along_n ? n : m;
    int count = pieces_for((long)m * n * k, GEMM_MIN_WORK, length);
    if (kind != REAL_GEMM)
        atomic_fetch_add(&kernel_calls, 1);
    if (count < 2) {
        piece whole = {kind, ta, tb, m, n, k, lda, ldb, ldc, 0, 0, alpha, beta, a, b, c};
        run(&whole);
        return;
    }
    for (int i = 0; i < count; i++) {
        int lo = bound(i, count, length), hi = bound(i + 1, count, length);
        piece p = {kind, ta, tb, m, n, k, lda, ldb, ldc, 0, 0, alpha, beta, a, b, c};
        if (along_n) {
            p.n = hi - lo;
            p.b = b + (tb == NO_TRANS ? (size_t)lo : (size_t)lo * ldb);
            p.c = c + lo;
        } else {
            p.m = hi - lo;
            p.a = a + (ta == NO_TRANS ? (size_t)lo * lda : (size_t)lo);
            p.c = c + (size_t)lo * ldc;
        }
        pieces[i] = p;
    }
    run_pieces(count);
    pthread_mutex_unlock(&dispatch);
}

void cblas_sgemv(int order, int ta, int m, int n, float alpha, const float *a, int lda, const float *x,
                 int incx, float beta, float *y, int incy) {
    if (order == COL_MAJOR) { /* the same memory read row-major is the transpose */
        int t = m; m = n; n = t;
        ta = ta == NO_TRANS ? NO_TRANS + 1 : NO_TRANS;
    }
    int rows = ta == NO_TRANS, length = rows ? m : n;
    int count = incx > 0 && incy > 0 ? pieces_for((long)m * n, GEMV_MIN_WORK, length) : 1;
    if (count < 2) {
        real_sgemv(ROW_MAJOR, ta, m, n, alpha, a, lda, x, incx, beta, y, incy);
        return;
    }
    for (int i = 0; i < count; i++) {
        int lo = bound(i, count, length), hi = bound(i + 1, count, length);
        piece p = {REAL_GEMV, ta, 0, m, n, 0, lda, 0, 0, incx, incy, alpha, beta, a, x, y + (size_t)lo * incy};
        if (rows) {
            p.m = hi - lo;
            p.a = a + (size_t)lo * lda;
        } else {
            p.n = hi - lo;
            p.a = a + lo;
        }
        pieces[i] = p;
    }
    run_pieces(count);
    pthread_mutex_unlock(&dispatch);
}

/* A child made by fork() has none of the workers: it makes its own. */
static void forget_workers(void) {
    started = 0;
    atomic_store(&pending, 0);
    pthread_mutex_init(&dispatch, NULL);
    pthread_mutex_init(&wake_lock, NULL);
    pthread_cond_init(&wake, NULL);
}

/* Bind to the real library (already loaded); its own threading goes to one
 * thread, since the split does the threading. Returns 0, or -1 if a routine is missing. */
int mlxe_split_bind(const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return -1;
    real_sgemm = (sgemm_fn)dlsym(lib, "cblas_sgemm");
    real_sgemv = (sgemv_fn)dlsym(lib, "cblas_sgemv");
    void (*set)(int) = (void (*)(int))dlsym(lib, "openblas_set_num_threads");
    if (real_sgemm == NULL || real_sgemv == NULL || set == NULL)
        return -1;
    set(1);
    atomic_store(&kernel_on, kernel_runs_here());
    pthread_atfork(NULL, NULL, forget_workers);
    return 0;
}

/* Whether products of a few rows take the kernel (on by default where the CPU
 * has AVX2 and FMA; 0 sends them to the real BLAS, to compare). Returns the setting. */
int mlxe_split_use_kernel(int on) {
    atomic_store(&kernel_on, on && kernel_runs_here());
    return atomic_load(&kernel_on);
}

/* Products that took the kernel so far. */
long mlxe_split_kernel_calls(void) { return atomic_load(&kernel_calls); }

/* Threads for the next products (1: each runs unsplit on the caller). */
void mlxe_split_set_threads(int n) {
    threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

/* Products run split so far (tests check that MLX's matmuls come here). */
long mlxe_split_calls(void) { return atomic_load(&split_calls); }

/* Step lists: a run of prepared ops executed by one call (mc_steps_run).
 *
 * Calling the kernels one by one from Python costs about two microseconds per op (the
 * session loop, the kernel's closure, the cffi call); a MobileNet at 128x128 has 65 ops in
 * well under a millisecond. A step list, built once per session by the cpu device
 * (mace_cpu/fused.py), holds per op its entry point (kind), its plan or parameters and the
 * indices of the buffers it reads and writes, so the whole partition runs in C with the
 * same kernel calls, in the same order, on the same buffers: the results are identical.
 * Buffers are pointers in one table: arena slots and constants fixed when the list is
 * built, graph inputs and per-run outputs set before each call.
 *
 * With stats, a list on a pool of several threads also picks, run by run, whether its jobs
 * use the workers or the caller alone: it keeps the time of its runs either way (smoothed
 * for the way it runs, the latest for the other) and runs the faster, trying the other
 * every `every` runs (PROBE_MIN, doubling up to PROBE_MAX while probes find the other way
 * well slower: two probe runs in 16 made 12% of a MobileNet's runs at 2 threads take 1.8x
 * as long). A parallel probe comes after one untimed parallel run (warm: workers that slept
 * through the serial runs wake late); a serial one needs none. While a list runs in
 * parallel, the pool's own fallback to serial jobs is off (mc_threads_decide): the list
 * decides. That fallback, tripped by one late worker, ran the rest of the run and the next
 * ones serially: the first parallel run after many serial ones wakes sleeping workers
 * late, so a probe timed a serial run and the list stayed serial (MobileNetV2 at 2 threads
 * in the benchmark's interleaved rounds: 3.4 ms instead of 1.9 ms), and beside a process
 * busy half the time it made most runs serial. Workers may be slow in
 * ways no single job shows: a virtual CPU whose host core is busy, or the OS placing both
 * threads on one core; there a serial run beats a parallel one (results are the same
 * either way: jobs split along outputs only).
 */
#include <time.h>

#include "internal.h"

#define PROBE_MIN 16
#define PROBE_MAX 128
#define PROBE_SLOWER 1.25 /* a probe this much slower than the way chosen: probe less often */
#define SMOOTH 0.25 /* weight of the newest run in the smoothed times */
#define SERIAL_MARGIN 0.9 /* serial runs only when 10% faster: noise rarely flips it */

static const float *in_buf(float *const *bufs, int index) {
    return index >= 0 ? bufs[index] : NULL;
}

static int run_step(const mc_step *s, float *const *bufs, mc_threads *t) {
    const float *a = in_buf(bufs, s->in[0]), *b = in_buf(bufs, s->in[1]),
                *c = in_buf(bufs, s->in[2]);
    float *y = s->out >= 0 ? bufs[s->out] : NULL;
    if (!a || !y) return MC_ERR_ARG;
    switch (s->kind) {
    case MC_STEP_CONV:
        return mc_conv_run((const mc_conv *)s->op, t, a, y);
    case MC_STEP_BLOCK:
        return mc_block_run((const mc_block *)s->op, t, a, y);
    case MC_STEP_CONVT:
        return mc_convt_run((const mc_convt *)s->op, t, a, y);
    case MC_STEP_GEMM:
        return mc_gemm_run((const mc_gemm *)s->op, t, a, b, c, y);
    case MC_STEP_BINARY:
        return mc_binary(t, s->isa, s->code, s->outer, s->mid, s->inner, a, b, s->swap, s->act,
                         s->act_a, s->act_b, y);
    case MC_STEP_UNARY:
        return mc_unary(t, s->isa, s->outer, a, s->code, s->act_a, s->act_b, y);
    case MC_STEP_GAP:
        return mc_global_avg_pool(t, s->isa, s->outer, s->mid, a, y);
    case MC_STEP_POOL:
        return mc_pool2d((const mc_pool_params *)s->op, t, s->isa, a, y);
    default:
        return MC_ERR_ARG;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int mc_steps_run(const mc_step *steps, int count, float *const *bufs, mc_threads *t,
                 mc_steps_stats *stats, int *failed, double *seconds) {
    const int adapt = stats && mc_threads_n(t) > 1;
    int serial = 0, probe = 0, warm = 0;
    double start = 0.0;
    if (adapt) {
        const int faster = stats->seconds[1] > 0.0 &&
                           stats->seconds[1] < SERIAL_MARGIN * stats->seconds[0];
        if (stats->every < PROBE_MIN) stats->every = PROBE_MIN;
        const long phase = ++stats->runs % stats->every;
        probe = phase == 0;
        warm = phase == stats->every - 1 && faster; /* only a parallel probe needs one */
        serial = stats->seconds[0] == 0.0 ? 0 : stats->seconds[1] == 0.0 ? 1
                                                : probe || warm ? !faster : faster;
        mc_threads_set_serial(t, serial);
        if (!serial) {
            mc_threads_spread(t);
            mc_threads_linger(t, 1);
        }
        mc_threads_decide(t, !serial);
        start = now_s();
    }
    int rc = MC_OK;
    double mark = seconds ? now_s() : 0.0;
    for (int i = 0; i < count && rc == MC_OK; i++) {
        rc = run_step(&steps[i], bufs, t);
        if (rc != MC_OK && failed) *failed = i;
        if (seconds) {
            const double end = now_s();
            seconds[i] = end - mark;
            mark = end;
        }
    }
    if (adapt) {
        mc_threads_set_serial(t, 0);
        mc_threads_decide(t, 0);
        if (!serial) mc_threads_linger(t, 0);
    }
    if (adapt && !warm) {
        double *smooth = &stats->seconds[serial], took = now_s() - start;
        if (probe) { /* the other way is still much slower: look again later */
            const double chosen = stats->seconds[!serial];
            stats->every = chosen > 0.0 && took > PROBE_SLOWER * chosen
                               ? (stats->every < PROBE_MAX ? 2 * stats->every : PROBE_MAX)
                               : PROBE_MIN;
            stats->runs = 0;
        }
        *smooth = *smooth == 0.0 || probe ? took : (1.0 - SMOOTH) * *smooth + SMOOTH * took;
    }
    return rc;
}

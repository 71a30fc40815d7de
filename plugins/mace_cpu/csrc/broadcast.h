/* N-d numpy broadcasting for the elementwise kernels that take any broadcast (select.c,
 * pow.c): the output box of `rank` axes (<= MC_BC_RANK) and, per operand, its strides in
 * elements (0 along the axes it is broadcast on). The caller merges axes beforehand where
 * every operand is contiguous across them, so the last axis is usually long and its strides
 * 0 or 1.
 *
 * A task covers a flat range of output elements [first, last) and walks it in runs along
 * the last axis: mc_bc_start finds the operands' offsets of a run's first element; a run
 * ends at the end of a row or of the range.
 */
#ifndef MACE_CPU_BROADCAST_H
#define MACE_CPU_BROADCAST_H

#include "internal.h"

#define MC_BC_RANK 8
#define MC_BC_OPS 3

typedef struct {
    int rank, nops;
    long shape[MC_BC_RANK];
    long st[MC_BC_OPS][MC_BC_RANK];
    long total;
} mc_bc;

/* Fills b from the public arguments; MC_ERR_ARG when they are out of range. strides holds
 * nops x rank values, operand by operand. */
static inline int mc_bc_init(mc_bc *b, int nops, int rank, const long *shape,
                             const long *strides) {
    if (rank < 1 || rank > MC_BC_RANK || nops < 1 || nops > MC_BC_OPS) return MC_ERR_ARG;
    b->rank = rank;
    b->nops = nops;
    b->total = 1;
    for (int a = 0; a < rank; a++) {
        if (shape[a] < 0) return MC_ERR_ARG;
        b->shape[a] = shape[a];
        b->total *= shape[a];
        for (int k = 0; k < nops; k++) b->st[k][a] = strides[k * rank + a];
    }
    return MC_OK;
}

/* Offsets (off[k]) of flat output element e; returns its index along the last axis. */
static inline long mc_bc_start(const mc_bc *b, long e, long *off) {
    const int last = b->rank - 1;
    long rem = e / b->shape[last], pos = e % b->shape[last];
    for (int k = 0; k < b->nops; k++) off[k] = pos * b->st[k][last];
    for (int a = last - 1; a >= 0; a--) {
        long i = rem % b->shape[a];
        rem /= b->shape[a];
        for (int k = 0; k < b->nops; k++) off[k] += i * b->st[k][a];
    }
    return pos;
}

/* Tasks for `total` elements of `bytes` each (reads and writes): about 4 per thread worth
 * using (*threads), and the elements per task. */
static inline long mc_bc_split(mc_threads *t, long total, double bytes, int *threads) {
    *threads = mc_threads_for(t, (double)total * bytes * MC_NS_PER_BYTE);
    long tasks = *threads > 1 ? MC_MAX(1, MC_MIN(total, 4L * *threads)) : 1;
    return MC_MAX(1, MC_CEIL_DIV(total, tasks));
}

/* Runs fn over `total` elements of `bytes` each as one op on the pool: *per_task (read by
 * the tasks through job) is set first, then the tasks cover [0, total) in order. */
static inline void mc_bc_run(mc_threads *t, long total, double bytes, long *per_task,
                             mc_task_fn fn, void *job) {
    int threads;
    *per_task = mc_bc_split(t, total, bytes, &threads);
    mc_op_begin(t);
    mc_parallel(t, threads, MC_CEIL_DIV(total, *per_task), fn, job);
    mc_op_end(t);
}

#endif

/* Winograd convolution for 3x3, stride 1, dilation 1 (winograd.c), a conv plan's
 * algorithm "winograd". Not part of the public API. */
#ifndef MACE_CPU_WINOGRAD_H
#define MACE_CPU_WINOGRAD_H

#include "internal.h"

typedef struct mc_wino mc_wino;

/* The output tile (4: F(4,3), 2: F(2,3)) this conv should run with, 0 for another
 * algorithm: $MACE_CPU_CONV_ALGO when set (read here, at plan time), else the cost model. */
int mc_wino_choose(const mc_conv_params *p, const mc_isa_info *isa);
/* weight: M x C/group x 3 x 3; transformed and packed here. NULL on OOM. */
mc_wino *mc_wino_create(const mc_conv_params *p, const mc_isa_info *isa, int tile,
                        const float *weight);
void mc_wino_destroy(mc_wino *w);
int mc_wino_tile(const mc_wino *w);
/* Bytes of the transformed, packed weights the plan holds (fp32). */
long mc_wino_weight_bytes(const mc_wino *w);
/* y = act(conv(x) + bias); bias: M floats. */
int mc_wino_run(const mc_wino *w, mc_threads *t, const float *x, const float *bias, float *y);

#endif

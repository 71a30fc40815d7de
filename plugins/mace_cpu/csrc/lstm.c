/* LSTM (ONNX semantics, fp32): default activations (sigmoid, tanh, tanh), optional clip,
 * input_forget and peepholes, forward / reverse / bidirectional, layout 0 or 1, every
 * sequence of the batch the full length.
 *
 * Per direction, the input and recurrence weights are put side by side, [W | R] (4H rows of
 * I + H), and packed once into a GEMM plan (gemm_plan.c; with few rows, the skinny kernel)
 * whose column bias is Wb + Rb. Each step is then one product of the batch's rows
 * [x_t | h_(t-1)] (B x (I + H)) with that matrix, giving the four gates (i, o, f, c) of
 * every row, and the cell update:
 *   i = f(gi + Pi c),  f = f(gf + Pf c) (1 - i with input_forget),  g = tanh(gc)
 *   c' = f c + i g,    o = f(go + Po c'),  h' = o tanh(c')
 * with the gate pre-activations clipped to [-clip, clip] when clip is set. h' is written
 * straight into the h part of the next step's rows. The GEMM uses the pool; the cell
 * update runs on the calling thread (B x 4H elements a step).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct mc_lstm {
    mc_lstm_params p;
    int isa;
    mc_gemm *gemm[2];   /* per direction: rows [x | h] times [W | R]^T */
    float *bias[2];     /* Wb + Rb (4H), NULL without B */
    float *peep[2];     /* Pi, Po, Pf (3H), NULL without P */
    float *rows;        /* B x (I + H): the step's [x_t | h] */
    float *gates;       /* B x 4H */
    float *cell;        /* B x H: the cell state */
};

void mc_lstm_destroy(mc_lstm *plan) {
    if (!plan) return;
    for (int d = 0; d < 2; d++) {
        mc_gemm_destroy(plan->gemm[d]);
        free(plan->bias[d]);
        free(plan->peep[d]);
    }
    mc_aligned_free(plan->rows);
    mc_aligned_free(plan->gates);
    mc_aligned_free(plan->cell);
    free(plan);
}

mc_lstm *mc_lstm_create(const mc_lstm_params *p, const float *w, const float *r,
                        const float *b, const float *peep, int isa) {
    if (!mc_isa_get(isa) || p->seq <= 0 || p->batch <= 0 || p->input <= 0 || p->hidden <= 0 ||
        (p->dirs != 1 && p->dirs != 2))
        return NULL;
    mc_lstm *plan = calloc(1, sizeof *plan);
    if (!plan) return NULL;
    plan->p = *p;
    plan->isa = isa;
    const long in = p->input, hid = p->hidden, k = in + hid, n = 4 * hid;
    plan->rows = mc_aligned_alloc(sizeof(float) * (size_t)(p->batch * k));
    plan->gates = mc_aligned_alloc(sizeof(float) * (size_t)(p->batch * n));
    plan->cell = mc_aligned_alloc(sizeof(float) * (size_t)(p->batch * hid));
    float *wr = malloc(sizeof(float) * (size_t)(n * k));
    int ok = plan->rows && plan->gates && plan->cell && wr;
    for (int d = 0; ok && d < p->dirs; d++) {
        for (long j = 0; j < n; j++) { /* row j of [W | R] */
            memcpy(wr + j * k, w + (d * n + j) * in, sizeof(float) * (size_t)in);
            memcpy(wr + j * k + in, r + (d * n + j) * hid, sizeof(float) * (size_t)hid);
        }
        if (b) {
            plan->bias[d] = malloc(sizeof(float) * (size_t)n);
            ok = plan->bias[d] != NULL;
            for (long j = 0; ok && j < n; j++)
                plan->bias[d][j] = b[d * 2 * n + j] + b[d * 2 * n + n + j];
        }
        if (ok && peep) {
            plan->peep[d] = malloc(sizeof(float) * (size_t)(3 * hid));
            ok = plan->peep[d] != NULL;
            if (ok) memcpy(plan->peep[d], peep + d * 3 * hid, sizeof(float) * (size_t)(3 * hid));
        }
        mc_gemm_params gp = {.m = p->batch, .n = (int)n, .k = (int)k, .trans_b = 1,
                             .alpha = 1.0f, .beta = 1.0f,
                             .bias_kind = b ? MC_BIAS_COL : MC_BIAS_NONE};
        if (ok) plan->gemm[d] = mc_gemm_create(&gp, wr, isa);
        ok = ok && plan->gemm[d] != NULL;
    }
    free(wr);
    if (!ok) {
        mc_lstm_destroy(plan);
        return NULL;
    }
    return plan;
}

static void clip_run(float *v, long n, float clip) {
    for (long i = 0; i < n; i++) v[i] = v[i] < -clip ? -clip : (v[i] > clip ? clip : v[i]);
}

/* The cell update of one batch row: gates g (i, o, f, c; overwritten), cell c (updated),
 * new hidden state into h. */
static void cell_row(const mc_lstm *plan, int d, float *g, float *c, float *h) {
    const long hid = plan->p.hidden;
    const float clip = plan->p.clip;
    const float *pp = plan->peep[d];
    float *gi = g, *go = g + hid, *gf = g + 2 * hid, *gc = g + 3 * hid;
    const mc_act sig = {MC_ACT_SIGMOID, 0.0f, 0.0f}, tanh_act = {MC_ACT_TANH, 0.0f, 0.0f};
    if (pp)
        for (long j = 0; j < hid; j++) {
            gi[j] += pp[j] * c[j];
            gf[j] += pp[2 * hid + j] * c[j];
        }
    if (clip > 0.0f) {
        clip_run(gi, hid, clip);
        clip_run(gf, 2 * hid, clip); /* f and c */
    }
    mc_act_apply(&sig, plan->isa, gi, gi, hid);
    if (plan->p.input_forget)
        for (long j = 0; j < hid; j++) gf[j] = 1.0f - gi[j];
    else
        mc_act_apply(&sig, plan->isa, gf, gf, hid);
    mc_act_apply(&tanh_act, plan->isa, gc, gc, hid);
    for (long j = 0; j < hid; j++) c[j] = gf[j] * c[j] + gi[j] * gc[j];
    if (pp)
        for (long j = 0; j < hid; j++) go[j] += pp[hid + j] * c[j];
    if (clip > 0.0f) clip_run(go, hid, clip);
    mc_act_apply(&sig, plan->isa, go, go, hid);
    mc_act_apply(&tanh_act, plan->isa, c, gc, hid); /* gc is free now: tanh(c') */
    for (long j = 0; j < hid; j++) h[j] = go[j] * gc[j];
}

int mc_lstm_run(mc_lstm *plan, mc_threads *t, const float *x, const float *h0,
                const float *c0, float *y, float *yh, float *yc) {
    const mc_lstm_params *p = &plan->p;
    if (!mc_isa_get(plan->isa)) return MC_ERR_ISA;
    const long seq = p->seq, batch = p->batch, in = p->input, hid = p->hidden,
               dirs = p->dirs, k = in + hid, n = 4 * hid;
    for (int d = 0; d < dirs; d++) {
        const int reverse = p->reverse || d == 1;
        for (long bi = 0; bi < batch; bi++) { /* initial states (dirs x B x H, or B x dirs) */
            long at = (p->layout ? bi * dirs + d : d * batch + bi) * hid;
            float *h = plan->rows + bi * k + in, *c = plan->cell + bi * hid;
            if (h0) memcpy(h, h0 + at, sizeof(float) * (size_t)hid);
            else memset(h, 0, sizeof(float) * (size_t)hid);
            if (c0) memcpy(c, c0 + at, sizeof(float) * (size_t)hid);
            else memset(c, 0, sizeof(float) * (size_t)hid);
        }
        for (long s = 0; s < seq; s++) {
            const long step = reverse ? seq - 1 - s : s;
            for (long bi = 0; bi < batch; bi++)
                memcpy(plan->rows + bi * k,
                       x + (p->layout ? bi * seq + step : step * batch + bi) * in,
                       sizeof(float) * (size_t)in);
            int rc = mc_gemm_run(plan->gemm[d], t, plan->rows, NULL, plan->bias[d],
                                 plan->gates);
            if (rc) return rc;
            for (long bi = 0; bi < batch; bi++) {
                float *h = plan->rows + bi * k + in;
                cell_row(plan, d, plan->gates + bi * n, plan->cell + bi * hid, h);
                if (y) /* Y: seq x dirs x B x H, or B x seq x dirs x H */
                    memcpy(y + (p->layout ? (bi * seq + step) * dirs + d
                                          : (step * dirs + d) * batch + bi) * hid,
                           h, sizeof(float) * (size_t)hid);
            }
        }
        for (long bi = 0; bi < batch; bi++) {
            long at = (p->layout ? bi * dirs + d : d * batch + bi) * hid;
            if (yh) memcpy(yh + at, plan->rows + bi * k + in, sizeof(float) * (size_t)hid);
            if (yc) memcpy(yc + at, plan->cell + bi * hid, sizeof(float) * (size_t)hid);
        }
    }
    return MC_OK;
}

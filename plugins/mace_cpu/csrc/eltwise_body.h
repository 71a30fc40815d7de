/* Binary elementwise loops, included once per ISA by eltwise.c with ELT_NAME(name) (adds
 * the ISA suffix) and ELT_TARGET (the target attribute) defined; plain loops the compiler
 * vectorises for that target. */

/* y[i] = a[i] op b[i] (b op a when swapped) */
ELT_TARGET static void ELT_NAME(bin_vec)(int op, int swap, const float *a, const float *b,
                                         float *y, long n) {
    switch (op) {
    case MC_BIN_ADD: for (long i = 0; i < n; i++) y[i] = a[i] + b[i]; break;
    case MC_BIN_MUL: for (long i = 0; i < n; i++) y[i] = a[i] * b[i]; break;
    case MC_BIN_DIV:
        if (swap)
            for (long i = 0; i < n; i++) y[i] = b[i] / a[i];
        else
            for (long i = 0; i < n; i++) y[i] = a[i] / b[i];
        break;
    default:
        if (swap)
            for (long i = 0; i < n; i++) y[i] = b[i] - a[i];
        else
            for (long i = 0; i < n; i++) y[i] = a[i] - b[i];
    }
}

/* y[i] = a[i] op s (s op a when swapped) */
ELT_TARGET static void ELT_NAME(bin_scalar)(int op, int swap, const float *a, float s,
                                            float *y, long n) {
    switch (op) {
    case MC_BIN_ADD: for (long i = 0; i < n; i++) y[i] = a[i] + s; break;
    case MC_BIN_MUL: for (long i = 0; i < n; i++) y[i] = a[i] * s; break;
    case MC_BIN_DIV:
        if (swap)
            for (long i = 0; i < n; i++) y[i] = s / a[i];
        else
            for (long i = 0; i < n; i++) y[i] = a[i] / s;
        break;
    default:
        if (swap)
            for (long i = 0; i < n; i++) y[i] = s - a[i];
        else
            for (long i = 0; i < n; i++) y[i] = a[i] - s;
    }
}

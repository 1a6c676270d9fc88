/* SPDX-License-Identifier: MIT */
/* --plot for benchmarks: gnuplot when it is installed, a clear message when it is not. */
#ifndef THPVM_BENCH_PLOT_H
#define THPVM_BENCH_PLOT_H

/*
 * Writes data to a temporary file and runs gnuplot on script, in which
 * "$DATA" stands for that file's path and "$PNG" for png_path. Returns 0,
 * or -errno after printing a one-line error (-ENOENT: no gnuplot).
 */
int bench_plot(const char *png_path, const char *script, const char *data);

#endif

/* The modes of sculpt-replay.  Each takes the whole command line (getopt
 * state reset) and returns the process exit code: 0 success, 1 failure,
 * 2 usage error. */
#ifndef SC_DRIVER_REPLAY_CLI_H
#define SC_DRIVER_REPLAY_CLI_H

/* Default: per-VM usage traces through allocation policies. */
int drv_replay_usage_cli(int argc, char **argv);

/* --pack: a trace's VMs packed onto hosts under every policy (pack.h). */
int drv_replay_pack_cli(int argc, char **argv);

/* --bench-predict: the cost of one blueprint, one next-step prediction and
 * one VPA recommendation on predictors warmed on a real trace. */
int drv_replay_bench_cli(int argc, char **argv);

/* --arrivals: request-arrival traces through pre-sculpting pool policies
 * (driver/arrival_cli.c). */
int drv_replay_arrivals_cli(int argc, char **argv);

#endif

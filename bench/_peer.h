/* _peer.h: what the C peers of the benchmarks share — one clock, the fork
 * of a child that dies with its parent and runs where it is pinned, and the
 * command line and timing of round trips.
 * Static functions in a header: each peer is one translation unit, built by
 * bench/_harness.ts (cc -O2 -Wall bench/<name>.c). */
#ifndef SYSIPC_BENCH_PEER_H
#define SYSIPC_BENCH_PEER_H
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* fork(2); in the child: killed when the parent dies, and with cpu >= 0 run
 * on that CPU only (a child that cannot be pinned exits 2). Returns what
 * fork() returned. */
static inline pid_t fork_pinned(int cpu) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0) {
      perror("sched_setaffinity");
      _exit(2);
    }
  }
  return 0;
}

/* `PEER self ROUNDS [WARMUP=1000] [MAX_MS=0] [CHILD_CPU=-1]`, as
 * bench/_harness.ts starts a semaphore peer's own round trips. */
struct round_trips {
  long rounds, warmup;
  long long max_ns; /* 0: no limit */
  int child_cpu;    /* -1: not pinned */
};

/* The round-trip arguments from argv[2] on (ROUNDS). */
static inline struct round_trips round_trip_args(int argc, char **argv) {
  struct round_trips r;
  r.rounds = atol(argv[2]);
  r.warmup = argc > 3 ? atol(argv[3]) : 1000;
  r.max_ns = (argc > 4 ? atoll(argv[4]) : 0) * 1000000LL;
  r.child_cpu = argc > 5 ? atoi(argv[5]) : -1;
  return r;
}

/* WARMUP untimed calls of once(arg), then up to ROUNDS timed ones (fewer
 * once MAX_MS has passed; checked every 256 rounds). Returns the timed
 * rounds and sets *ns to their total time, or returns -1 as soon as once()
 * fails (returns nonzero). */
static inline long time_round_trips(const struct round_trips *r, int (*once)(void *), void *arg,
                                    long long *ns) {
  long long t0 = now_ns();
  long done = 0;
  for (long i = 0; i < r->warmup + r->rounds; i++) {
    if (i == r->warmup) t0 = now_ns();
    if (once(arg) != 0) return -1;
    if (i >= r->warmup && (++done & 255) == 0 && r->max_ns > 0 && now_ns() - t0 > r->max_ns) break;
  }
  *ns = now_ns() - t0;
  return done;
}

#endif

/* _peer.h: what the C peers of the benchmarks share — one clock, and the
 * fork of a child that dies with its parent and runs where it is pinned.
 * Static functions in a header: each peer is one translation unit, built by
 * bench/_harness.ts (cc -O2 -Wall bench/<name>.c). */
#ifndef SYSIPC_BENCH_PEER_H
#define SYSIPC_BENCH_PEER_H
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdio.h>
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

#endif

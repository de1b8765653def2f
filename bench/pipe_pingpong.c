/* pipe_pingpong: 64-byte (or SIZE-byte) round trips over two pipes.
 *
 *   pipe_pingpong self ROUNDS [SIZE=64] [WARMUP=1000] [MAX_MS=0] [CHILD_CPU=-1]
 *       Makes two pipes and forks; the parent sends SIZE bytes, the child
 *       echoes them back, ROUNDS times after WARMUP untimed rounds (or fewer
 *       when MAX_MS > 0 and that many milliseconds have passed; checked every
 *       128 rounds). Prints {"rounds":<timed rounds>,"ns":<total>} to stdout.
 *       CHILD_CPU ≥ 0 pins the echoing child to that CPU (sched_setaffinity).
 *   pipe_pingpong pong RFD WFD [SIZE=64]
 *       Echoes SIZE-byte messages read from RFD to WFD until end of file
 *       (the peer for a ping side written in TypeScript).
 *
 * Peer for bench/pipe_bench.ts. Blocking reads and writes.
 */
#define _GNU_SOURCE
#include "_peer.h"
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* 1 = got size bytes, 0 = EOF before any byte, -1 = error. */
static int read_full(int fd, char *buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buf + got, size - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) return got == 0 ? 0 : -1;
    got += (size_t)n;
  }
  return 1;
}

static int write_full(int fd, const char *buf, size_t size) {
  size_t put = 0;
  while (put < size) {
    ssize_t n = write(fd, buf + put, size - put);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    put += (size_t)n;
  }
  return 0;
}

static int echo(int rfd, int wfd, size_t size) {
  char *buf = malloc(size);
  if (!buf) return 1;
  for (;;) {
    int r = read_full(rfd, buf, size);
    if (r == 0) return 0;
    if (r < 0 || write_full(wfd, buf, size) < 0) return 2;
  }
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  if (argc >= 4 && strcmp(argv[1], "pong") == 0) {
    size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
    return echo(atoi(argv[2]), atoi(argv[3]), size);
  }
  if (argc < 3 || strcmp(argv[1], "self") != 0) {
    fprintf(stderr, "usage: %s self ROUNDS [SIZE] [WARMUP] [MAX_MS] [CHILD_CPU] | pong RFD WFD [SIZE]\n",
            argv[0]);
    return 1;
  }
  long rounds = atol(argv[2]);
  size_t size = argc > 3 ? (size_t)atol(argv[3]) : 64;
  long warmup = argc > 4 ? atol(argv[4]) : 1000;
  long long max_ns = argc > 5 ? atoll(argv[5]) * 1000000LL : 0;
  int child_cpu = argc > 6 ? atoi(argv[6]) : -1;
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0) {
    perror("pipe2");
    return 2;
  }
  pid_t pid = fork_pinned(child_cpu);
  if (pid < 0) {
    perror("fork");
    return 2;
  }
  if (pid == 0) {
    close(to[1]);
    close(from[0]);
    _exit(echo(to[0], from[1], size));
  }
  close(to[0]);
  close(from[1]);
  char *buf = calloc(1, size);
  if (!buf) return 1;
  long long t0 = 0;
  long done = 0;
  for (long i = 0; i < warmup + rounds; i++) {
    if (i == warmup) t0 = now_ns();
    if (write_full(to[1], buf, size) < 0 || read_full(from[0], buf, size) != 1) {
      perror("pipe_pingpong: round trip");
      return 2;
    }
    if (i >= warmup && (++done & 127) == 0 && max_ns > 0 && now_ns() - t0 > max_ns) break;
  }
  long long ns = now_ns() - t0;
  close(to[1]);
  int st;
  waitpid(pid, &st, 0);
  printf("{\"rounds\":%ld,\"ns\":%lld}\n", done, ns);
  return 0;
}

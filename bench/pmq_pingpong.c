/* pmq_pingpong: POSIX message queue round trips and one-way traffic, the C
 * baseline for bench/mq_bench.ts. Plain blocking mq_send(3)/mq_receive(3).
 *
 *   pmq_pingpong self ROUNDS [SIZE=64] [WARMUP=1000] [MAX_MS=0] [CHILD_CPU=-1]
 *       Makes two queues (/sysipc_bench_<pid>_a and _b, unlinked at once
 *       after both sides opened them) and forks; the parent sends SIZE bytes
 *       on a, the child echoes them on b. ROUNDS timed round trips after
 *       WARMUP untimed ones (fewer when MAX_MS > 0 and that many ms have
 *       passed). Prints {"rounds":<timed>,"ns":<total>}. CHILD_CPU pins the child.
 *   pmq_pingpong pong IN OUT [SIZE=64]
 *       The peer of a ping side written in TypeScript: receives from queue
 *       IN, sends the same bytes to OUT, until it receives an empty message.
 *   pmq_pingpong oneway COUNT [SIZE=64] [CHILD_CPU=-1]
 *       Forks a child that sends COUNT messages of SIZE bytes; the parent
 *       receives them, timing from the first receive to the last. Prints
 *       {"messages":<COUNT - 1>,"ns":<first → last>}.
 *   pmq_pingpong send NAME COUNT [SIZE=64]
 *       Sends COUNT messages of SIZE bytes to the queue NAME.
 *
 * Queues are made with mq_maxmsg 10 and mq_msgsize max(SIZE, 64): Linux's
 * defaults for an unprivileged user (fs.mqueue.msg_max = 10). Exit 1 on a
 * usage error, 2 if a call fails.
 */
#define _GNU_SOURCE
#include "_peer.h"
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static char buf[65536];

static mqd_t make(const char *name, size_t size) {
  struct mq_attr attr = {.mq_maxmsg = 10, .mq_msgsize = size < 64 ? 64 : (long)size};
  return mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
}

static int snd(mqd_t q, size_t size) {
  while (mq_send(q, buf, size, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return 0;
}

/* The length received, or -1. */
static long rcv(mqd_t q) {
  for (;;) {
    ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
    if (n >= 0) return n;
    if (errno != EINTR) return -1;
  }
}

static int echo(mqd_t in, mqd_t out) {
  for (;;) {
    long n = rcv(in);
    if (n < 0) {
      perror("pmq_pingpong pong");
      return 2;
    }
    if (n == 0) return 0;
    if (snd(out, (size_t)n) < 0) {
      perror("pmq_pingpong pong");
      return 2;
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s self|pong|oneway|send ...\n", argv[0]);
    return 1;
  }
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  memset(buf, 'x', sizeof buf);
  if (strcmp(argv[1], "pong") == 0) {
    if (argc < 4) return 1;
    mqd_t in = mq_open(argv[2], O_RDONLY), out = mq_open(argv[3], O_WRONLY);
    if (in == (mqd_t)-1 || out == (mqd_t)-1) {
      perror("mq_open");
      return 2;
    }
    return echo(in, out);
  }
  if (strcmp(argv[1], "send") == 0) {
    if (argc < 4) return 1;
    mqd_t q = mq_open(argv[2], O_WRONLY);
    long count = atol(argv[3]);
    size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
    if (q == (mqd_t)-1) {
      perror("mq_open");
      return 2;
    }
    for (long i = 0; i < count; i++) {
      if (snd(q, size) < 0) {
        perror("pmq_pingpong send");
        return 2;
      }
    }
    return 0;
  }
  char a[64], b[64];
  snprintf(a, sizeof a, "/sysipc_bench_%d_a", (int)getpid());
  snprintf(b, sizeof b, "/sysipc_bench_%d_b", (int)getpid());
  int self = strcmp(argv[1], "self") == 0;
  if (!self && strcmp(argv[1], "oneway") != 0) {
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 1;
  }
  size_t size = argc > 3 ? (size_t)atol(argv[3]) : 64;
  mqd_t qa = make(a, size), qb = make(b, size);
  mq_unlink(a);
  mq_unlink(b);
  if (qa == (mqd_t)-1 || qb == (mqd_t)-1) {
    perror("mq_open");
    return 2;
  }
  long long t0 = 0, ns = 0, done = 0;
  int status = 0;
  if (self) {
    long rounds = atol(argv[2]);
    long warmup = argc > 4 ? atol(argv[4]) : 1000;
    long long max_ns = (argc > 5 ? atoll(argv[5]) : 0) * 1000000LL;
    pid_t pid = fork_pinned(argc > 6 ? atoi(argv[6]) : -1);
    if (pid < 0) {
      perror("fork");
      return 2;
    }
    if (pid == 0) _exit(echo(qa, qb));
    for (long i = 0; i < warmup + rounds; i++) {
      if (i == warmup) t0 = now_ns();
      if (snd(qa, size) < 0 || rcv(qb) < 0) {
        perror("pmq_pingpong: round trip");
        status = 2;
        break;
      }
      if (i >= warmup && (++done & 127) == 0 && max_ns > 0 && now_ns() - t0 > max_ns) break;
    }
    ns = now_ns() - t0;
    snd(qa, 0); /* stop */
    waitpid(pid, NULL, 0);
    if (status == 0) printf("{\"rounds\":%lld,\"ns\":%lld}\n", done, ns);
    return status;
  }
  long count = atol(argv[2]);
  pid_t pid = fork_pinned(argc > 4 ? atoi(argv[4]) : -1);
  if (pid < 0) {
    perror("fork");
    return 2;
  }
  if (pid == 0) {
    for (long i = 0; i < count; i++) {
      if (snd(qa, size) < 0) _exit(2);
    }
    _exit(0);
  }
  for (long i = 0; i < count; i++) {
    if (rcv(qa) < 0) {
      perror("pmq_pingpong oneway");
      status = 2;
      break;
    }
    if (i == 0) t0 = now_ns();
  }
  ns = now_ns() - t0;
  waitpid(pid, NULL, 0);
  if (status == 0) printf("{\"messages\":%ld,\"ns\":%lld}\n", count - 1, ns);
  return status;
}

/* msg_pingpong: System V message queue round trips and one-way traffic,
 * the C baseline for bench/mq_bench.ts. Plain blocking msgsnd(2)/msgrcv(2),
 * as C programs do.
 *
 *   msg_pingpong self ROUNDS [SIZE=64] [WARMUP=1000] [MAX_MS=0] [CHILD_CPU=-1]
 *       Makes an IPC_PRIVATE queue and forks; the parent sends SIZE bytes as
 *       type 1, the child answers each with the same bytes as type 2.
 *       ROUNDS timed round trips after WARMUP untimed ones (fewer when
 *       MAX_MS > 0 and that many ms have passed; checked every 128 rounds).
 *       Prints {"rounds":<timed>,"ns":<total>}. CHILD_CPU ≥ 0 pins the child.
 *   msg_pingpong pong ID [SIZE=64]
 *       The peer of a ping side written in TypeScript: receives type 1 from
 *       queue ID and answers with type 2, until the queue is removed.
 *   msg_pingpong oneway COUNT [SIZE=64] [CHILD_CPU=-1]
 *       Forks a child that sends COUNT messages of SIZE bytes (type 1); the
 *       parent receives them, timing from the first receive to the last.
 *       Prints {"messages":<COUNT - 1>,"ns":<first → last>}.
 *   msg_pingpong send ID COUNT [SIZE=64]
 *       Sends COUNT messages of SIZE bytes, type 1, to queue ID.
 *
 * Exit 1 on a usage error, 2 if a system call fails.
 */
#define _GNU_SOURCE
#include "_peer.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>

struct msg {
  long type;
  char text[65536];
};

static struct msg buf;

/* 0 = sent, 1 = the queue is gone, -1 = other error. */
static int snd(int id, long type, size_t size) {
  buf.type = type;
  while (msgsnd(id, &buf, size, 0) < 0) {
    if (errno == EINTR) continue;
    return errno == EIDRM || errno == EINVAL ? 1 : -1;
  }
  return 0;
}

static int rcv(int id, long type) {
  while (msgrcv(id, &buf, sizeof buf.text, type, 0) < 0) {
    if (errno == EINTR) continue;
    return errno == EIDRM || errno == EINVAL ? 1 : -1;
  }
  return 0;
}

static int pong(int id, size_t size) {
  for (;;) {
    int r = rcv(id, 1);
    if (r == 0) r = snd(id, 2, size);
    if (r == 1) return 0;
    if (r < 0) {
      perror("msg_pingpong pong");
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
  memset(buf.text, 'x', sizeof buf.text);
  if (strcmp(argv[1], "pong") == 0) {
    return pong(atoi(argv[2]), argc > 3 ? (size_t)atol(argv[3]) : 64);
  }
  if (strcmp(argv[1], "send") == 0) {
    if (argc < 4) return 1;
    int id = atoi(argv[2]);
    long count = atol(argv[3]);
    size_t size = argc > 4 ? (size_t)atol(argv[4]) : 64;
    for (long i = 0; i < count; i++) {
      if (snd(id, 1, size) != 0) {
        perror("msg_pingpong send");
        return 2;
      }
    }
    return 0;
  }
  int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (id < 0) {
    perror("msgget");
    return 2;
  }
  long long t0 = 0, ns = 0, done = 0;
  int status = 0;
  if (strcmp(argv[1], "self") == 0) {
    long rounds = atol(argv[2]);
    size_t size = argc > 3 ? (size_t)atol(argv[3]) : 64;
    long warmup = argc > 4 ? atol(argv[4]) : 1000;
    long long max_ns = (argc > 5 ? atoll(argv[5]) : 0) * 1000000LL;
    int child_cpu = argc > 6 ? atoi(argv[6]) : -1;
    pid_t pid = fork_pinned(child_cpu);
    if (pid < 0) {
      perror("fork");
      msgctl(id, IPC_RMID, NULL);
      return 2;
    }
    if (pid == 0) _exit(pong(id, size));
    for (long i = 0; i < warmup + rounds; i++) {
      if (i == warmup) t0 = now_ns();
      if (snd(id, 1, size) != 0 || rcv(id, 2) != 0) {
        perror("msg_pingpong: round trip");
        status = 2;
        break;
      }
      if (i >= warmup && (++done & 127) == 0 && max_ns > 0 && now_ns() - t0 > max_ns) break;
    }
    ns = now_ns() - t0;
    msgctl(id, IPC_RMID, NULL);
    waitpid(pid, NULL, 0);
    if (status == 0) printf("{\"rounds\":%lld,\"ns\":%lld}\n", done, ns);
    return status;
  }
  if (strcmp(argv[1], "oneway") == 0) {
    long count = atol(argv[2]);
    size_t size = argc > 3 ? (size_t)atol(argv[3]) : 64;
    int child_cpu = argc > 4 ? atoi(argv[4]) : -1;
    pid_t pid = fork_pinned(child_cpu);
    if (pid < 0) {
      perror("fork");
      msgctl(id, IPC_RMID, NULL);
      return 2;
    }
    if (pid == 0) {
      for (long i = 0; i < count; i++) {
        if (snd(id, 1, size) != 0) _exit(2);
      }
      _exit(0);
    }
    for (long i = 0; i < count; i++) {
      if (rcv(id, 0) != 0) {
        perror("msg_pingpong oneway");
        status = 2;
        break;
      }
      if (i == 0) t0 = now_ns();
    }
    ns = now_ns() - t0;
    msgctl(id, IPC_RMID, NULL);
    waitpid(pid, NULL, 0);
    if (status == 0) printf("{\"messages\":%ld,\"ns\":%lld}\n", count - 1, ns);
    return status;
  }
  msgctl(id, IPC_RMID, NULL);
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 1;
}

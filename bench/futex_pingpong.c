/* futex_pingpong: 64-byte round trips between two processes over shared
 * memory, sleeping on a futex — the floor a shared-memory channel can reach.
 *
 *   futex_pingpong self ROUNDS [MSG=64] [WARMUP=1000] [MAX_MS=0] [CHILD_CPU=-1]
 *
 * One MAP_SHARED anonymous page, two slots (ping, pong), each a sequence
 * word, a "sleeping" flag, a futex word and MSG bytes, each on its own
 * cache lines. A side sends by copying the message into its slot, bumping
 * the sequence (sequentially consistent) and, only if the other side said
 * it sleeps, bumping the futex word and FUTEX_WAKE. A side waits by looking
 * at the sequence without a system call for SPIN_NS when it may run beside
 * its peer (its CPU mask has more than one CPU, or the child is pinned to a
 * CPU of its own) — the policy sysipc's Channel follows, which spins 10 µs
 * there — then setting its flag, reading the futex word, looking once more
 * and FUTEX_WAIT (shared, not _PRIVATE: the two processes are two mms).
 * The parent pings, the child (fork) copies the message out and pongs it
 * back. Prints {"rounds":<timed rounds>,"ns":<total>,"futexWaits","futexWakes"}.
 *
 * Peer for bench/channel_bench.ts. */
#define _GNU_SOURCE
#include "_peer.h"
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define SPIN_NS 10000LL

struct slot {
  uint32_t seq;
  uint32_t pad0[15];
  uint32_t sleeping, word;
  uint32_t pad1[14];
  unsigned char msg[256];
};

static int spin_first;
static size_t msg_len = 64;
static long waits, wakes;

static inline uint32_t ld(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

static void put(struct slot *s, const unsigned char *m) {
  memcpy(s->msg, m, msg_len);
  __atomic_add_fetch(&s->seq, 1, __ATOMIC_SEQ_CST);
  if (ld(&s->sleeping)) {
    __atomic_add_fetch(&s->word, 1, __ATOMIC_SEQ_CST);
    wakes++;
    syscall(SYS_futex, &s->word, FUTEX_WAKE, 1, NULL, NULL, 0);
  }
}

/* Waits until s->seq moves past *seen, then copies the message out. */
static void get(struct slot *s, uint32_t *seen, unsigned char *m) {
  for (;;) {
    if (ld(&s->seq) != *seen) break;
    if (spin_first) {
      long long until = now_ns() + SPIN_NS;
      int got = 0;
      while (now_ns() < until) {
        if (ld(&s->seq) != *seen) { got = 1; break; }
        __builtin_ia32_pause();
      }
      if (got) break;
    }
    __atomic_exchange_n(&s->sleeping, 1, __ATOMIC_SEQ_CST);
    uint32_t w = ld(&s->word);
    if (ld(&s->seq) == *seen) {
      waits++;
      syscall(SYS_futex, &s->word, FUTEX_WAIT, w, NULL, NULL, 0);
    }
    __atomic_store_n(&s->sleeping, 0, __ATOMIC_SEQ_CST);
  }
  *seen = ld(&s->seq);
  memcpy(m, s->msg, msg_len);
}

struct pair {
  struct slot ping, pong;
  uint32_t seen;
  unsigned char out[256], in[256];
};

static int round_trip(void *arg) {
  struct pair *p = arg;
  put(&p->ping, p->out);
  get(&p->pong, &p->seen, p->in);
  return 0;
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  if (argc < 3 || strcmp(argv[1], "self") != 0) {
    fprintf(stderr, "usage: %s self ROUNDS [MSG] [WARMUP] [MAX_MS] [CHILD_CPU]\n", argv[0]);
    return 1;
  }
  /* round_trip_args reads ROUNDS WARMUP MAX_MS CHILD_CPU from argv[2]; MSG sits at 3. */
  msg_len = argc > 3 ? (size_t)atol(argv[3]) : 64;
  if (msg_len > 256) return 1;
  char *args[7] = {argv[0], argv[1], argv[2], argc > 4 ? argv[4] : "1000", argc > 5 ? argv[5] : "0",
                   argc > 6 ? argv[6] : "-1", NULL};
  struct round_trips r = round_trip_args(6, args);
  cpu_set_t set;
  int cpus = sched_getaffinity(0, sizeof set, &set) < 0 ? 1 : CPU_COUNT(&set);
  spin_first = cpus > 1 || r.child_cpu >= 0;

  struct pair *p = mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); return 2; }
  memset(p->out, 'p', sizeof p->out);
  pid_t pid = fork_pinned(r.child_cpu);
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    uint32_t seen = 0;
    unsigned char buf[256];
    for (;;) {
      get(&p->ping, &seen, buf);
      put(&p->pong, buf);
    }
  }
  long long ns = 0;
  long done = time_round_trips(&r, round_trip, p, &ns);
  kill(pid, SIGKILL);
  int st;
  waitpid(pid, &st, 0);
  printf("{\"rounds\":%ld,\"ns\":%lld,\"futexWaits\":%ld,\"futexWakes\":%ld}\n", done, ns, waits,
         wakes);
  return 0;
}

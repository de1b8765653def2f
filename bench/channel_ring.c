/* channel_ring: one-way streaming over a single-producer/single-consumer
 * ring in shared memory with futex sleeping — written from
 * channel/LAYOUT.md (layout version 1), so the C reference moves its bytes
 * exactly the way a sysipc Channel does, and doubles as a check that the
 * document is enough to implement a side.
 *
 *   channel_ring self BYTES [CHUNK=65536] [CAPACITY=1048576] [CHILD_CPU=-1] [NEED=half]
 *       Makes a channel (memfd, the header page, capacity per ring) as side
 *       0 and forks; the child attaches as side 1 (compare-and-swap of
 *       pid1). The parent sends BYTES in CHUNK-byte messages on ring 0, then
 *       closes; the child receives until the end (a copy of each message out
 *       of the ring into a buffer, as receive() does) and prints
 *       {"bytes","timedBytes","ns","messages","futex":{"tx":{"wait","wake"},"rx":{…}}}
 *       — the clock from the first message received to the end, so neither
 *       start-up is counted. CHILD_CPU >= 0 pins the child to that CPU.
 *       NEED: what a producer waiting for room asks for in producer_need —
 *       `half` (capacity / 2: woken once the ring is half empty, the policy
 *       that doubled one-core C streaming) or `record` (the one record it
 *       needs, as sysipc's Channel does).
 *   channel_ring sink FD
 *       Side 1 of a channel made by sysipc (its memory on descriptor FD):
 *       receives on ring 0 until the end, then prints the same JSON line
 *       (tx counts are 0). The peer for "Deno send → C sink".
 *
 * Waiting, as LAYOUT.md says: a side that must wait looks at the ring
 * without a system call for SPIN_NS when it may run beside its peer (its
 * CPU mask has more than one CPU, or the parent pinned the child to its
 * own CPU), then announces itself (consumer_waiting / producer_need), reads
 * its futex word, looks once more, and FUTEX_WAITs. The other side wakes
 * it only when it announced itself.
 *
 * Peer for bench/channel_bench.ts. */
#define _GNU_SOURCE
#include "_peer.h"
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAGIC 0x43737973u
#define VERSION 1u
#define HEADER 4096u
#define WRAP 0xFFFFFFFFu
#define SPIN_NS 10000LL /* what sysipc's Channel spins on more than one CPU (10 µs) */

/* A ring's control block (LAYOUT.md): offsets in bytes from its start. */
struct ring {
  uint32_t *head, *producer_closed, *tail, *consumer_closed;
  uint32_t *consumer_waiting, *consumer_wake, *producer_need, *producer_wake;
  unsigned char *data;
  uint32_t cap;
};

static struct ring ring_at(unsigned char *base, int r, uint32_t cap) {
  unsigned char *c = base + 64 + 192 * r;
  struct ring x = {
      (uint32_t *)(c + 0),   (uint32_t *)(c + 4),   (uint32_t *)(c + 64),  (uint32_t *)(c + 68),
      (uint32_t *)(c + 128), (uint32_t *)(c + 132), (uint32_t *)(c + 136), (uint32_t *)(c + 140),
      base + HEADER + (size_t)r * cap, cap};
  return x;
}

static long futex_calls_wait, futex_calls_wake;
static int spin_first; /* look without a system call before sleeping */
static int need_half = 1;

static void wake(uint32_t *word) {
  __atomic_fetch_add(word, 1, __ATOMIC_SEQ_CST);
  futex_calls_wake++;
  syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void sleep_on(uint32_t *word, uint32_t seen) {
  futex_calls_wait++;
  syscall(SYS_futex, word, FUTEX_WAIT, seen, NULL, NULL, 0);
}

static inline uint32_t ld(uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void st_sc(uint32_t *p, uint32_t v) { __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }

static inline uint32_t record_bytes(uint32_t len) { return 8 + ((len + 7) & ~7u); }

/* Sends one message of len bytes (producer, steps 1-7 of LAYOUT.md). */
static int send_msg(struct ring *r, uint32_t *head, const unsigned char *msg, uint32_t len) {
  uint32_t rec = record_bytes(len);
  for (;;) {
    uint32_t pos = *head & (r->cap - 1), to_end = r->cap - pos;
    uint32_t need = rec <= to_end ? rec : to_end + rec;
    if (ld(r->consumer_closed)) return -1;
    uint32_t tail = ld(r->tail);
    if (r->cap - (*head - tail) < need) {
      if (spin_first) {
        long long until = now_ns() + SPIN_NS;
        int got = 0;
        while (now_ns() < until) {
          if (r->cap - (*head - ld(r->tail)) >= need) { got = 1; break; }
          __builtin_ia32_pause();
        }
        if (got) continue;
      }
      uint32_t ask = need_half && need < r->cap / 2 ? r->cap / 2 : need;
      st_sc(r->producer_need, ask);
      uint32_t w = ld(r->producer_wake);
      if (ld(r->consumer_closed) || r->cap - (*head - ld(r->tail)) >= need) {
        st_sc(r->producer_need, 0);
        continue;
      }
      sleep_on(r->producer_wake, w);
      st_sc(r->producer_need, 0);
      continue;
    }
    if (rec > to_end) {
      *(uint32_t *)(r->data + pos) = WRAP;
      *head += to_end;
      pos = 0;
    }
    uint32_t *rh = (uint32_t *)(r->data + pos);
    rh[0] = len;
    rh[1] = 0;
    memcpy(r->data + pos + 8, msg, len);
    *head += rec;
    st_sc(r->head, *head);
    if (ld(r->consumer_waiting)) wake(r->consumer_wake);
    return 0;
  }
}

/* Receives one message into out (consumer); returns its length, or -1 at the end. */
static long recv_msg(struct ring *r, uint32_t *tail, unsigned char *out) {
  for (;;) {
    uint32_t head = ld(r->head);
    if (head == *tail) {
      if (ld(r->producer_closed) && ld(r->head) == *tail) return -1;
      if (spin_first) {
        long long until = now_ns() + SPIN_NS;
        int got = 0;
        while (now_ns() < until) {
          if (ld(r->head) != *tail || ld(r->producer_closed)) { got = 1; break; }
          __builtin_ia32_pause();
        }
        if (got) continue;
      }
      st_sc(r->consumer_waiting, 1);
      uint32_t w = ld(r->consumer_wake);
      if (ld(r->head) != *tail || ld(r->producer_closed)) {
        st_sc(r->consumer_waiting, 0);
        continue;
      }
      sleep_on(r->consumer_wake, w);
      st_sc(r->consumer_waiting, 0);
      continue;
    }
    uint32_t pos = *tail & (r->cap - 1);
    uint32_t len = *(uint32_t *)(r->data + pos);
    if (len == WRAP) {
      *tail += r->cap - pos;
      pos = 0;
      len = *(uint32_t *)(r->data);
    }
    if (len > r->cap / 2 - 8 || record_bytes(len) > head - *tail) {
      fprintf(stderr, "channel_ring: corrupt record of %u bytes at %u\n", len, pos);
      exit(3);
    }
    memcpy(out, r->data + pos + 8, len);
    *tail += record_bytes(len);
    st_sc(r->tail, *tail);
    uint32_t need = ld(r->producer_need);
    if (need != 0 && r->cap - (ld(r->head) - *tail) >= need) wake(r->producer_wake);
    return (long)len;
  }
}

/* What the consumer measured (in memory both processes see, for self). */
struct result {
  long long bytes, first, ns, messages;
  long rx_wait, rx_wake;
};

/* Receives ring 0 of the channel at base to the end. */
static void consume(unsigned char *base, uint32_t cap, struct result *out) {
  struct ring r = ring_at(base, 0, cap);
  unsigned char *buf = malloc(cap / 2);
  uint32_t tail = ld(r.tail);
  long long bytes = 0, first = 0, t0 = 0, messages = 0;
  for (;;) {
    long n = recv_msg(&r, &tail, buf);
    if (n < 0) break;
    if (messages == 0) {
      t0 = now_ns();
      first = n;
    }
    messages++;
    bytes += n;
  }
  out->ns = messages ? now_ns() - t0 : 0;
  out->bytes = bytes;
  out->first = first;
  out->messages = messages;
  out->rx_wait = futex_calls_wait;
  out->rx_wake = futex_calls_wake;
}

static void print_result(const struct result *x, long tx_wait, long tx_wake) {
  printf("{\"bytes\":%lld,\"timedBytes\":%lld,\"ns\":%lld,\"messages\":%lld,"
         "\"futex\":{\"tx\":{\"wait\":%ld,\"wake\":%ld},\"rx\":{\"wait\":%ld,\"wake\":%ld}}}\n",
         x->bytes, x->bytes - x->first, x->ns, x->messages, tx_wait, tx_wake, x->rx_wait,
         x->rx_wake);
}

static int cpus_allowed(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) < 0) return 1;
  return CPU_COUNT(&set);
}

int main(int argc, char **argv) {
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the benchmark */
  if (argc == 3 && strcmp(argv[1], "sink") == 0) {
    int fd = atoi(argv[2]);
    unsigned char *hdr = mmap(NULL, HEADER, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (hdr == MAP_FAILED) { perror("channel_ring sink: mmap"); return 2; }
    uint32_t *h = (uint32_t *)hdr;
    if (ld(&h[0]) != MAGIC || h[1] != VERSION) { fprintf(stderr, "not a channel\n"); return 2; }
    uint32_t cap = h[2];
    munmap(hdr, HEADER);
    unsigned char *base = mmap(NULL, HEADER + 2 * (size_t)cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) { perror("channel_ring sink: mmap"); return 2; }
    h = (uint32_t *)base;
    uint32_t zero = 0;
    if (!__atomic_compare_exchange_n(&h[5], &zero, (uint32_t)getpid(), 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) {
      fprintf(stderr, "channel_ring sink: both sides taken\n");
      return 2;
    }
    wake(ring_at(base, 0, cap).producer_wake);
    wake(ring_at(base, 1, cap).consumer_wake);
    futex_calls_wake = 0;
    spin_first = cpus_allowed() > 1;
    struct result x;
    consume(base, cap, &x);
    print_result(&x, 0, 0);
    return 0;
  }
  if (argc < 3 || strcmp(argv[1], "self") != 0) {
    fprintf(stderr, "usage: %s self BYTES [CHUNK] [CAPACITY] [CHILD_CPU] [half|record] | sink FD\n",
            argv[0]);
    return 1;
  }
  long long total = atoll(argv[2]);
  uint32_t chunk = argc > 3 ? (uint32_t)atol(argv[3]) : 65536;
  uint32_t cap = argc > 4 ? (uint32_t)atol(argv[4]) : 1u << 20;
  int child_cpu = argc > 5 ? atoi(argv[5]) : -1;
  need_half = !(argc > 6 && strcmp(argv[6], "record") == 0);
  if (cap < 4096 || (cap & (cap - 1)) || chunk > cap / 2 - 8) return 1;
  spin_first = cpus_allowed() > 1 || child_cpu >= 0;

  int fd = memfd_create("channel_ring", MFD_CLOEXEC);
  size_t size = HEADER + 2 * (size_t)cap;
  if (fd < 0 || ftruncate(fd, size) < 0) { perror("memfd"); return 2; }
  unsigned char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) { perror("mmap"); return 2; }
  uint32_t *h = (uint32_t *)base;
  h[1] = VERSION;
  h[2] = cap;
  h[4] = (uint32_t)getpid();
  __atomic_store_n(&h[0], MAGIC, __ATOMIC_RELEASE);

  struct result *res = mmap(NULL, sizeof *res, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (res == MAP_FAILED) { perror("mmap"); return 2; }
  pid_t pid = fork_pinned(child_cpu);
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    uint32_t zero = 0;
    if (!__atomic_compare_exchange_n(&h[5], &zero, (uint32_t)getpid(), 0, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST)) _exit(2);
    consume(base, cap, res);
    _exit(0);
  }
  struct ring r = ring_at(base, 0, cap);
  unsigned char *msg = malloc(chunk);
  memset(msg, 'x', chunk);
  uint32_t head = ld(r.head);
  for (long long left = total; left > 0; left -= chunk) {
    uint32_t n = left < chunk ? (uint32_t)left : chunk;
    if (send_msg(&r, &head, msg, n) < 0) { fprintf(stderr, "consumer closed\n"); return 2; }
  }
  st_sc(r.producer_closed, 1); /* close: the consumer reads the rest, then the end */
  wake(r.consumer_wake);
  int st;
  waitpid(pid, &st, 0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 2;
  print_result(res, futex_calls_wait, futex_calls_wake - 1); /* less the close's wake */
  return 0;
}

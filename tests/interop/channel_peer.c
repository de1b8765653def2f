/* channel_peer: the other end of a sysipc Channel, written from
 * channel/LAYOUT.md alone (C11 atomics, futexes through syscall()).
 *
 *   channel_peer [WHERE] MODE [ARGS]
 *
 * WHERE:
 *   (nothing)              side 1 on the descriptor named by SYSIPC_CHANNEL_FD
 *   --open NAME            side 1 of the named channel NAME (shm_open, attach, shm_unlink)
 *   --create NAME CAP      side 0: create NAME with CAP data bytes a ring, print
 *                          {"created":NAME,"pid":…}, wait until side 1 attaches,
 *                          print {"peer":PID1}; unlink NAME when closing
 * MODE:
 *   echo                   send every message back until the channel ends
 *   send N SIZE            send N messages (SIZE bytes each, or "varied": see
 *                          msg_size()) filled with pattern(), then close
 *   receive                read until the channel ends
 *
 * Each mode closes its side as the document says and prints one JSON line:
 * {"mode":…,"messages":…,"bytes":…,"checksum":…,"waits":…,"wakes":…,"stalls":…}
 * — checksum is CRC-32 (zlib's) over each message's length (4 bytes,
 * little-endian) and then its bytes; waits/wakes count FUTEX_WAIT/FUTEX_WAKE
 * calls; stalls counts waits that ran to their timeout although what they
 * waited for had happened (a wake that should have come and did not).
 *
 * Exit 1 on a usage error, 2 if a call fails, 3 on a refused or corrupt
 * channel, 4 if the peer died or went silent for 60 s.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x43737973u
#define VERSION 1u
#define WRAP 0xFFFFFFFFu
#define HEADER 4096u
#define SLICE_MS 2000 /* one FUTEX_WAIT at most; then look at the peer */
#define SILENT_SLICES 30

typedef _Atomic uint32_t a32;

static void die(const char *what) {
  perror(what);
  exit(2);
}

static void refuse(const char *why) {
  fprintf(stderr, "channel_peer: %s\n", why);
  exit(3);
}

/* ---- the memory ---------------------------------------------------------- */

static uint8_t *mem;
static size_t mem_size;
static uint32_t capacity;
static int side;
static const char *created_name; /* side 0 of a named channel */

static a32 *word(size_t offset) { return (a32 *)(mem + offset); }

/* A ring's control block, as offsets from the start of the memory. */
typedef struct {
  size_t block;  /* 64 or 256 */
  uint8_t *data; /* 4096 or 4096 + capacity */
  uint32_t mine; /* our copy of head (producing) or tail (consuming) */
} ring_t;

static a32 *head_of(ring_t *r) { return word(r->block + 0); }
static a32 *producer_closed_of(ring_t *r) { return word(r->block + 4); }
static a32 *tail_of(ring_t *r) { return word(r->block + 64); }
static a32 *consumer_closed_of(ring_t *r) { return word(r->block + 68); }
static a32 *consumer_waiting_of(ring_t *r) { return word(r->block + 128); }
static a32 *consumer_wake_of(ring_t *r) { return word(r->block + 132); }
static a32 *producer_need_of(ring_t *r) { return word(r->block + 136); }
static a32 *producer_wake_of(ring_t *r) { return word(r->block + 140); }

static ring_t out_ring, in_ring; /* the ring we produce, the ring we consume */

static uint64_t waits, wakes, stalls;
static int silent; /* consecutive timed-out waits with nothing new */

/* Wakes the side that sleeps on w: add 1 to the word, then FUTEX_WAKE it. */
static void futex_wake(a32 *w) {
  wakes++;
  atomic_fetch_add(w, 1);
  syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static pid_t peer_pid(void) {
  int32_t p = (int32_t)atomic_load(word(side == 0 ? 20 : 16));
  return (pid_t)p;
}

/* FUTEX_WAIT on w while it holds expected, for one slice; returns 1 on a timeout. */
static int futex_wait(a32 *w, uint32_t expected) {
  struct timespec ts = {SLICE_MS / 1000, (SLICE_MS % 1000) * 1000000L};
  waits++;
  long r = syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, expected, &ts, NULL, 0);
  if (r == 0 || errno == EAGAIN || errno == EINTR) {
    silent = 0;
    return 0;
  }
  if (errno != ETIMEDOUT) die("futex");
  pid_t p = peer_pid();
  if (p > 0 && kill(p, 0) < 0 && errno == ESRCH) {
    fprintf(stderr, "channel_peer: the peer (pid %d) died\n", p);
    exit(4);
  }
  if (++silent >= SILENT_SLICES) {
    fprintf(stderr, "channel_peer: nothing from the peer for %d s\n", SLICE_MS * silent / 1000);
    exit(4);
  }
  return 1;
}

static uint32_t round8(uint32_t n) { return (n + 7u) & ~7u; }

/* ---- sending (the producer) ---------------------------------------------- */

/* Returns 0, or -1 when the consumer has closed (EPIPE). */
static int ring_send(ring_t *r, const uint8_t *msg, uint32_t length) {
  uint32_t rec = 8 + round8(length);
  for (;;) {
    uint32_t head = r->mine;
    uint32_t pos = head & (capacity - 1);
    uint32_t to_end = capacity - pos;
    uint32_t need = rec <= to_end ? rec : to_end + rec;
    if (atomic_load(consumer_closed_of(r)) == 1) return -1;
    uint32_t tail = atomic_load_explicit(tail_of(r), memory_order_acquire);
    if (capacity - (head - tail) < need) {
      /* Waiting for room. */
      atomic_store(producer_need_of(r), need);
      uint32_t w = atomic_load(producer_wake_of(r));
      tail = atomic_load(tail_of(r));
      if (capacity - (head - tail) >= need || atomic_load(consumer_closed_of(r)) == 1) {
        atomic_store(producer_need_of(r), 0);
        continue;
      }
      if (futex_wait(producer_wake_of(r), w)) {
        uint32_t now = atomic_load(tail_of(r));
        if (capacity - (head - now) >= need || atomic_load(consumer_closed_of(r)) == 1) stalls++;
      }
      atomic_store(producer_need_of(r), 0);
      continue;
    }
    if (rec > to_end) {
      memcpy(r->data + pos, &(uint32_t){WRAP}, 4);
      head += to_end;
      pos = 0;
    }
    uint32_t hdr[2] = {length, 0};
    memcpy(r->data + pos, hdr, 8);
    memcpy(r->data + pos + 8, msg, length);
    memset(r->data + pos + 8 + length, 0, round8(length) - length);
    r->mine = head + rec;
    atomic_store(head_of(r), r->mine); /* sequentially consistent */
    if (atomic_load(consumer_waiting_of(r)) == 1) futex_wake(consumer_wake_of(r));
    silent = 0;
    return 0;
  }
}

/* ---- receiving (the consumer) -------------------------------------------- */

/*
 * Copies the next message into buf (capacity / 2 bytes); returns its length,
 * or -1 once the producer has closed and everything was read.
 */
static int64_t ring_receive(ring_t *r, uint8_t *buf) {
  for (;;) {
    uint32_t tail = r->mine;
    uint32_t head = atomic_load_explicit(head_of(r), memory_order_acquire);
    if (head == tail) {
      if (atomic_load(producer_closed_of(r)) == 1) {
        head = atomic_load_explicit(head_of(r), memory_order_acquire);
        if (head == tail) return -1;
        continue;
      }
      /* Waiting for a message. */
      atomic_store(consumer_waiting_of(r), 1);
      uint32_t w = atomic_load(consumer_wake_of(r));
      head = atomic_load(head_of(r));
      if (head != tail || atomic_load(producer_closed_of(r)) == 1) {
        atomic_store(consumer_waiting_of(r), 0);
        continue;
      }
      if (futex_wait(consumer_wake_of(r), w)) {
        if (atomic_load(head_of(r)) != tail || atomic_load(producer_closed_of(r)) == 1) stalls++;
      }
      atomic_store(consumer_waiting_of(r), 0);
      continue;
    }
    uint32_t pos = tail & (capacity - 1);
    uint32_t length;
    memcpy(&length, r->data + pos, 4);
    if (length == WRAP) {
      tail += capacity - pos;
      pos = 0;
      memcpy(&length, r->data, 4);
    }
    if (length > capacity / 2 - 8 || 8 + round8(length) > head - tail) {
      fprintf(stderr, "channel_peer: corrupt record: length %" PRIu32 " at %" PRIu32
                      " (head %" PRIu32 ", tail %" PRIu32 ")\n",
              length, pos, head, tail);
      exit(3);
    }
    memcpy(buf, r->data + pos + 8, length);
    r->mine = tail + 8 + round8(length);
    atomic_store(tail_of(r), r->mine); /* sequentially consistent */
    uint32_t need = atomic_load(producer_need_of(r));
    if (need != 0) {
      head = atomic_load(head_of(r));
      if (capacity - (head - r->mine) >= need) futex_wake(producer_wake_of(r));
    }
    silent = 0;
    return length;
  }
}

/* ---- closing -------------------------------------------------------------- */

static void close_side(void) {
  atomic_store(producer_closed_of(&out_ring), 1);
  atomic_store(consumer_closed_of(&in_ring), 1);
  futex_wake(consumer_wake_of(&out_ring));
  futex_wake(producer_wake_of(&in_ring));
  if (munmap(mem, mem_size) < 0) die("munmap");
  if (created_name != NULL && shm_unlink(created_name) < 0 && errno != ENOENT) die("shm_unlink");
}

/* ---- creating and attaching ------------------------------------------------ */

static int power_of_two_in_range(uint32_t c) {
  return c >= 4096 && c <= (1u << 30) && (c & (c - 1)) == 0;
}

static void map_fd(int fd, size_t size) {
  mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) die("mmap");
  mem_size = size;
}

static void set_rings(void) {
  ring_t r0 = {64, mem + HEADER, 0}, r1 = {256, mem + HEADER + capacity, 0};
  out_ring = side == 0 ? r0 : r1;
  in_ring = side == 0 ? r1 : r0;
  /* Our copies of the counters we own (0 for a new channel). */
  out_ring.mine = atomic_load(head_of(&out_ring));
  in_ring.mine = atomic_load(tail_of(&in_ring));
}

static void attach(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) die("fstat");
  if (st.st_size < HEADER) refuse("smaller than the header page");
  map_fd(fd, (size_t)st.st_size);
  if (atomic_load_explicit(word(0), memory_order_acquire) != MAGIC) refuse("bad magic");
  if (atomic_load(word(4)) != VERSION) refuse("unknown version");
  capacity = atomic_load(word(8));
  if (!power_of_two_in_range(capacity)) refuse("bad capacity");
  if ((uint64_t)st.st_size < HEADER + 2ull * capacity) refuse("smaller than 4096 + 2 x capacity");
  uint32_t expected = 0;
  if (!atomic_compare_exchange_strong(word(20), &expected, (uint32_t)getpid())) {
    refuse("both sides are taken");
  }
  side = 1;
  set_rings();
  /* Wake the creator's two futex words: ring 0's producer_wake and ring 1's consumer_wake. */
  ring_t r0 = {64, NULL, 0}, r1 = {256, NULL, 0};
  futex_wake(producer_wake_of(&r0));
  futex_wake(consumer_wake_of(&r1));
}

static void create(const char *name, uint32_t cap) {
  if (!power_of_two_in_range(cap)) refuse("bad capacity");
  int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) die("shm_open");
  size_t size = HEADER + 2ull * cap;
  if (ftruncate(fd, (off_t)size) < 0) die("ftruncate");
  map_fd(fd, size);
  close(fd);
  created_name = name;
  capacity = cap;
  atomic_store_explicit(word(4), VERSION, memory_order_relaxed);
  atomic_store_explicit(word(8), cap, memory_order_relaxed);
  atomic_store_explicit(word(16), (uint32_t)getpid(), memory_order_relaxed);
  atomic_store_explicit(word(0), MAGIC, memory_order_release);
  side = 0;
  set_rings();
  printf("{\"created\":\"%s\",\"pid\":%d}\n", name, (int)getpid());
  fflush(stdout);
  /* Side 1 wakes ring 1's consumer_wake (among others) when it attaches. */
  while (atomic_load(word(20)) == 0) {
    uint32_t w = atomic_load(consumer_wake_of(&in_ring));
    if (atomic_load(word(20)) != 0) break;
    if (futex_wait(consumer_wake_of(&in_ring), w) && atomic_load(word(20)) != 0) stalls++;
  }
  printf("{\"peer\":%d}\n", (int)(int32_t)atomic_load(word(20)));
  fflush(stdout);
}

/* ---- the messages ---------------------------------------------------------- */

/* Message i's size in "varied" mode: 0, the largest, and sizes in between. */
static uint32_t msg_size(uint32_t i, uint32_t max) {
  switch (i % 8) {
  case 0: return 0;
  case 1: return max;
  case 2: return 1;
  case 3: return 8;
  case 4: return ((i * 2654435761u) >> 7) % (max + 1);
  case 5: return max - 1;
  case 6: return (i * 40503u) % 64;
  default: return ((i * 2246822519u) >> 3) % (max + 1);
  }
}

/* Byte j of message i. */
static uint8_t pattern(uint32_t i, uint32_t j) { return (uint8_t)(i * 131u + j * 7u + (j >> 8)); }

/* CRC-32 as zlib computes it (reflected, polynomial 0xEDB88320). */
static uint32_t crc32(uint32_t crc, const uint8_t *p, size_t n) {
  static uint32_t table[256];
  if (table[1] == 0) {
    for (uint32_t k = 0; k < 256; k++) {
      uint32_t c = k;
      for (int b = 0; b < 8; b++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[k] = c;
    }
  }
  crc = ~crc;
  for (size_t k = 0; k < n; k++) crc = table[(crc ^ p[k]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

static uint32_t checksum(uint32_t crc, const uint8_t *msg, uint32_t length) {
  uint8_t len[4] = {(uint8_t)length, (uint8_t)(length >> 8), (uint8_t)(length >> 16),
                    (uint8_t)(length >> 24)};
  return crc32(crc32(crc, len, 4), msg, length);
}

static void report(const char *mode, uint64_t n, uint64_t bytes, uint32_t sum) {
  printf("{\"mode\":\"%s\",\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"checksum\":%" PRIu32
         ",\"waits\":%" PRIu64 ",\"wakes\":%" PRIu64 ",\"stalls\":%" PRIu64 "}\n",
         mode, n, bytes, sum, waits, wakes, stalls);
  fflush(stdout);
}

int main(int argc, char **argv) {
  int a = 1;
  if (a < argc && !strcmp(argv[a], "--create") && a + 2 < argc) {
    create(argv[a + 1], (uint32_t)strtoul(argv[a + 2], NULL, 10));
    a += 3;
  } else if (a < argc && !strcmp(argv[a], "--open") && a + 1 < argc) {
    int fd = shm_open(argv[a + 1], O_RDWR, 0);
    if (fd < 0) die("shm_open");
    attach(fd);
    close(fd);
    if (shm_unlink(argv[a + 1]) < 0 && errno != ENOENT) die("shm_unlink");
    a += 2;
  } else {
    const char *env = getenv("SYSIPC_CHANNEL_FD");
    if (env == NULL) {
      fprintf(stderr, "channel_peer: no SYSIPC_CHANNEL_FD\n");
      return 1;
    }
    int fd = atoi(env);
    attach(fd);
    close(fd);
  }
  if (a >= argc) return 1;
  const char *mode = argv[a];
  uint8_t *buf = malloc(capacity / 2);
  if (buf == NULL) die("malloc");
  uint64_t n = 0, bytes = 0;
  uint32_t sum = 0;

  if (!strcmp(mode, "echo") && a + 1 == argc) {
    int64_t len;
    while ((len = ring_receive(&in_ring, buf)) >= 0) {
      sum = checksum(sum, buf, (uint32_t)len);
      n++;
      bytes += (uint64_t)len;
      if (ring_send(&out_ring, buf, (uint32_t)len) < 0) break;
    }
  } else if (!strcmp(mode, "send") && a + 3 == argc) {
    uint32_t count = (uint32_t)strtoul(argv[a + 1], NULL, 10);
    int varied = !strcmp(argv[a + 2], "varied");
    uint32_t fixed = (uint32_t)strtoul(argv[a + 2], NULL, 10);
    uint32_t max = capacity / 2 - 8;
    if (!varied && fixed > max) return 1;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t len = varied ? msg_size(i, max) : fixed;
      for (uint32_t j = 0; j < len; j++) buf[j] = pattern(i, j);
      if (ring_send(&out_ring, buf, len) < 0) {
        fprintf(stderr, "channel_peer: the peer closed after %" PRIu32 " messages\n", i);
        return 3;
      }
      sum = checksum(sum, buf, len);
      n++;
      bytes += len;
    }
  } else if (!strcmp(mode, "receive") && a + 1 == argc) {
    int64_t len;
    while ((len = ring_receive(&in_ring, buf)) >= 0) {
      sum = checksum(sum, buf, (uint32_t)len);
      n++;
      bytes += (uint64_t)len;
    }
  } else {
    return 1;
  }
  close_side();
  report(mode, n, bytes, sum);
  free(buf);
  return 0;
}

/**
 * The bytes of a channel's shared memory, as `channel/LAYOUT.md` documents
 * them for peers in other languages: a 4096-byte header page, then ring 0's
 * data, then ring 1's. Offsets here are in 32-bit words of the header (byte
 * offset / 4) unless named `…_BYTES`.
 *
 * @module
 */

/** `"sysC"` read as a little-endian u32: the first word of every channel. */
export const MAGIC = 0x43737973;
/** The layout version this code writes and accepts. */
export const VERSION = 1;

/** The header page; the rings' data follow it. */
export const HEADER_BYTES = 4096;

/** Header words. */
export const H = {
  MAGIC: 0,
  VERSION: 1,
  /** Data bytes per ring: a power of two. */
  CAPACITY: 2,
  FLAGS: 3,
  /** The creator's pid (side 0). */
  PID0: 4,
  /** The other side's pid (side 1): 0 until it attaches, then set once (compare-and-swap). */
  PID1: 5,
} as const;

/** Ring `r`'s control block starts at this word: 64 bytes in, 192 bytes each. */
export const ringControl = (r: 0 | 1): number => (64 + 192 * r) / 4;

/**
 * Words of a ring's control block, from its start. Each group is on a
 * 64-byte line of its own, so the producer's and the consumer's stores do not
 * share a cache line.
 */
export const R = {
  /** Bytes ever written (u32, wrapping); only the producer stores it. */
  HEAD: 0,
  /** 1 once the producer has closed its end. */
  PRODUCER_CLOSED: 1,
  /** Bytes ever consumed (u32, wrapping); only the consumer stores it. */
  TAIL: 16,
  /** 1 once the consumer has closed its end. */
  CONSUMER_CLOSED: 17,
  /** 1 while the consumer sleeps (or is about to). */
  CONSUMER_WAITING: 32,
  /** The consumer's futex word: whoever wakes it adds 1 first. */
  CONSUMER_WAKE: 33,
  /** While the producer sleeps: the free bytes it needs; 0 otherwise. */
  PRODUCER_NEED: 34,
  /** The producer's futex word: whoever wakes it adds 1 first. */
  PRODUCER_WAKE: 35,
} as const;

/** The byte offset of ring `r`'s data. */
export const ringData = (r: 0 | 1, capacity: number): number => HEADER_BYTES + r * capacity;

/** A message record: u32 length, u32 reserved (0), the bytes, padding to 8. */
export const RECORD_HEADER = 8;
/** A length that says "nothing more before the end of the ring: go on at offset 0". */
export const WRAP = 0xffff_ffff;

/** The bytes a message of `length` bytes takes in a ring. */
export const recordBytes = (length: number): number => RECORD_HEADER + ((length + 7) & ~7);

/** The smallest, default and largest capacity per direction. */
export const CAPACITY = { MIN: 4096, DEFAULT: 1 << 20, MAX: 1 << 30 } as const;

/** The largest message a ring of `capacity` bytes carries: half of it, less a record header. */
export const maxMessage = (capacity: number): number => capacity / 2 - RECORD_HEADER;

/** The environment variable that tells a child which descriptor holds its channel. */
export const CHANNEL_FD_ENV = "SYSIPC_CHANNEL_FD";

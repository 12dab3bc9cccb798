/*
 * TUN offloads, pure (no N-API, no syscalls): the segmenter for super-packets
 * the kernel hands us (TSO/USO, or a packet that still needs its checksum),
 * and the coalescer that turns a batch of received MTU-sized packets back into
 * super-packets for one writev each. Built into the addon and, on its own, into
 * test/native/offload_test.c (natively and under qemu for arm and big-endian
 * s390x). Every length comes from the caller's buffer; nothing reads past it.
 *
 * The virtio-net header is the 10-byte legacy struct virtio_net_hdr,
 * little-endian: the host's order on little-endian machines (TUN's default),
 * and asked for with TUNSETVNETLE on big-endian ones (tun.c).
 */
#ifndef SCROOGE_OFFLOAD_H
#define SCROOGE_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VNET_HDR_LEN 10
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_UDP 3 /* UFO: never accepted (it means IP fragmentation, not segments) */
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_ECN 0x80

/* A super-packet is split into at most this many segments per call (the rest waits for the next batch). */
#define OFFLOAD_MAX_SUPER 65535
/* Members of one coalesced write: the kernel's UDP_MAX_SEGMENTS, and a bound on the iovec. */
#define GRO_MAX_SEGMENTS 64
/* Flows one batch keeps open for coalescing; the oldest is closed when a new one needs room. */
#define GRO_MAX_FLOWS 16

typedef struct {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} vnet_hdr_t;

void vnet_decode(const uint8_t *b, vnet_hdr_t *h);
void vnet_encode(uint8_t *b, const vnet_hdr_t *h);

/* Internet checksum helpers (RFC 1071), host-order accumulators. */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n);
uint16_t csum_fold(uint64_t sum); /* folded, not inverted */

/*
 * The segmenter. `pkt[0..len)` is one TUN read after its virtio-net header
 * `h`. Writes packets into `out` slots: slot i's packet starts at
 * slab + (first + i) * slot_size + headroom and may use `room` bytes.
 *
 * split_plan() checks the packet once and returns how many segments it makes
 * (>= 1), or a negative SPLIT_* reason (the packet is dropped). split_emit()
 * then writes segments [from, from + count) into consecutive slots, with
 * lengths into lens[]; segments are independent, so a super-packet can be
 * emitted across several batches.
 */
enum {
  SPLIT_BAD_HEADER = -1,  /* virtio header inconsistent with the packet */
  SPLIT_BAD_PACKET = -2,  /* IP/transport header truncated or not what the gso type says */
  SPLIT_TOO_BIG = -3,     /* a segment would not fit a slot */
};

typedef struct {
  vnet_hdr_t h;
  uint32_t len;      /* bytes after the virtio header */
  uint32_t l4;       /* transport header offset */
  uint32_t hdr_len;  /* IP + transport headers (recomputed, not trusted from h) */
  uint32_t segments; /* >= 1 */
  uint8_t v6, tcp;
} split_plan_t;

int split_plan(const vnet_hdr_t *h, const uint8_t *pkt, size_t len, size_t room, split_plan_t *plan);
void split_emit(const split_plan_t *plan, const uint8_t *pkt, uint32_t from, uint32_t count, uint8_t *const *dst,
                uint32_t *lens);

/*
 * The coalescer. Given n packets (ptrs[i], lens[i]) in arrival order, groups
 * them into write items: a single packet (virtio header all zero, so the
 * kernel checks its checksums as usual), or a run of in-order TCP segments
 * (or same-size UDP datagrams when `udp` is set) of one flow, whose checksums
 * were verified here, written as one super-packet with NEEDS_CSUM. Packets of
 * one flow keep their order; different flows may interleave differently.
 *
 * gro_plan() fills items (at most n) and returns their count. Each item's
 * members are linked through next[] from items[k].first. gro_iov() then
 * builds item k's iovec (header scratch `hdr` of GRO_HDR_ROOM bytes, which
 * holds the virtio header and the rewritten IP/transport header of a merged
 * item) and returns the iovec count.
 */
#define GRO_HDR_ROOM 128

typedef struct {
  int32_t first, last;
  uint32_t members;
  uint32_t total; /* bytes of the (merged) IP packet */
  uint32_t l4, hdr_len, gso_size;
  uint32_t next_seq; /* TCP: the next in-order sequence number */
  uint16_t next_id;  /* IPv4 without DF: the next IP id */
  uint8_t v6, tcp, open, psh;
} gro_item_t;

typedef struct {
  uint32_t coalesced; /* packets that joined an earlier one */
  uint32_t bad_csum;  /* candidates written alone because a checksum did not verify */
} gro_stats_t;

uint32_t gro_plan(uint8_t *const *ptrs, const uint32_t *lens, uint32_t n, int udp, gro_item_t *items, int32_t *next,
                  gro_stats_t *st);
int gro_iov(const gro_item_t *it, uint8_t *const *ptrs, const uint32_t *lens, const int32_t *next, uint8_t *hdr,
            struct iovec *iov);

#endif

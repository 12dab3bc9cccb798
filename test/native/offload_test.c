/*
 * dataplane/native/offload.c on the machine it runs on: built with
 * AddressSanitizer and UBSan by test/native-c.test.ts where the compiler has
 * them, and by test/cross/matrix.ts for arm64, armv7 and big-endian s390x.
 *
 * Checks the checksum against RFC 1071's worked example (byte order), then
 * fuzzes the segmenter and the coalescer with structured random packets in
 * buffers of exactly their length (any read past the end is an ASan error),
 * and checks that every iovec the coalescer builds stays inside its packet
 * and that every packet is written exactly once.
 *
 * Prints TAP; exits 1 on any failure.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../dataplane/native/offload.h"
#include "tap.h"


static uint32_t rs = 0x12345678;
static uint32_t rnd(void) {
  rs ^= rs << 13;
  rs ^= rs >> 17;
  rs ^= rs << 5;
  return rs;
}

/* A packet-shaped buffer: IPv4 or IPv6, TCP or UDP or other, plausible or random lengths. */
static uint8_t *shaped(size_t *len_out) {
  size_t len = rnd() % 4 == 0 ? rnd() % 80 : rnd() % 3000;
  if (rnd() % 16 == 0) len = rnd() % 66000;
  uint8_t *p = malloc(len ? len : 1);
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rnd();
  if (len >= 40) {
    int v6 = rnd() & 1;
    p[0] = v6 ? 0x60 : (rnd() % 4 ? 0x45 : (uint8_t)(0x40 | (rnd() & 15)));
    uint8_t proto = rnd() % 8 == 0 ? (uint8_t)rnd() : (rnd() & 1 ? 6 : 17);
    if (v6) {
      p[6] = proto;
      uint16_t pl = rnd() % 4 ? (uint16_t)(len - 40) : (uint16_t)rnd();
      p[4] = (uint8_t)(pl >> 8);
      p[5] = (uint8_t)pl;
    } else {
      p[9] = proto;
      uint16_t tl = rnd() % 4 ? (uint16_t)len : (uint16_t)rnd();
      p[2] = (uint8_t)(tl >> 8);
      p[3] = (uint8_t)tl;
      if (rnd() % 4) p[6] = 0x40, p[7] = 0;
    }
    size_t l4 = v6 ? 40 : (size_t)(p[0] & 15) * 4;
    if (l4 + 20 <= len) {
      if (rnd() % 4) p[l4 + 12] = (uint8_t)((5 + rnd() % 11) << 4);
      if (rnd() % 2) p[l4 + 13] = rnd() & 1 ? 0x10 : 0x18;
    }
  }
  *len_out = len;
  return p;
}

static void fuzz_split(int iters) {
  int ok = 1, planned = 0;
  for (int it = 0; it < iters && ok; it++) {
    size_t len;
    uint8_t *p = shaped(&len);
    vnet_hdr_t h = {
        .flags = (uint8_t)(rnd() & 1),
        .gso_type = (uint8_t)(rnd() % 3 ? (uint8_t[]){0, 1, 4, 5, 3, 0x81}[rnd() % 6] : rnd()),
        .hdr_len = (uint16_t)rnd(),
        .gso_size = (uint16_t)(rnd() % 4 ? 1 + rnd() % 1500 : rnd()),
        .csum_start = (uint16_t)(rnd() % 2 ? rnd() % 80 : rnd()),
        .csum_offset = (uint16_t)(rnd() % 2 ? (rnd() & 1 ? 16 : 6) : rnd()),
    };
    size_t room = 1420 + rnd() % 200;
    split_plan_t plan;
    int s = split_plan(&h, p, len, room, &plan);
    if (s > 0) {
      planned++;
      if (s > 2000) s = 2000; /* emit the first segments only */
      uint8_t *dst[2000];
      uint32_t lens[2000];
      for (int i = 0; i < s; i++) dst[i] = malloc(room);
      split_emit(&plan, p, 0, (uint32_t)s, dst, lens);
      for (int i = 0; i < s; i++) {
        if (lens[i] > room) ok = 0;
        free(dst[i]);
      }
    } else if (s < SPLIT_TOO_BIG) {
      ok = 0;
    }
    free(p);
  }
  check(ok, "split: every planned packet's segments fit their slots; every other one has a reason");
  check(planned > iters / 50, "split: the fuzz reached the emit path");
}

/* The segments of a valid random TCP or UDP super-packet (checksums right, seqs consecutive), as packets of exact size. */
static uint32_t segments_of_super(uint8_t **ptrs, uint32_t *lens, uint32_t max) {
  int v6 = rnd() & 1, tcp = rnd() % 3 != 0;
  size_t l4 = v6 ? 40 : 20, hl = l4 + (tcp ? 20 + 4 * (rnd() % 3) : 8);
  uint32_t gso = 1 + rnd() % 1360;
  size_t len = hl + 1 + rnd() % (gso * (1 + rnd() % 20));
  if (len > 65000) len = 65000;
  uint8_t *p = malloc(len);
  for (size_t i = 0; i < len; i++) p[i] = (uint8_t)rnd();
  if (v6) {
    p[0] = 0x60;
    p[6] = tcp ? 6 : 17;
  } else {
    p[0] = 0x45;
    p[6] = 0x40;
    p[7] = 0;
    p[9] = tcp ? 6 : 17;
  }
  if (tcp) {
    p[l4 + 12] = (uint8_t)(((hl - l4) / 4) << 4);
    p[l4 + 13] = rnd() & 1 ? 0x10 : 0x18;
  }
  vnet_hdr_t h = {VNET_F_NEEDS_CSUM, (uint8_t)(tcp ? (v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4) : VNET_GSO_UDP_L4),
                  (uint16_t)hl, (uint16_t)gso, (uint16_t)l4, (uint16_t)(tcp ? 16 : 6)};
  split_plan_t plan;
  int s = split_plan(&h, p, len, 1500, &plan);
  uint32_t n = 0;
  if (s > 0) {
    uint8_t *dst[1024];
    uint32_t dl[1024];
    n = (uint32_t)s < max ? (uint32_t)s : max;
    for (uint32_t i = 0; i < n; i++) dst[i] = malloc(1500);
    split_emit(&plan, p, 0, n, dst, dl);
    for (uint32_t i = 0; i < n; i++) {
      ptrs[i] = malloc(dl[i]);
      memcpy(ptrs[i], dst[i], dl[i]);
      lens[i] = dl[i];
      free(dst[i]);
    }
  }
  free(p);
  return n;
}

static void fuzz_coalesce(int iters) {
  int ok = 1;
  uint32_t merged = 0;
  static gro_item_t items[256];
  static int32_t next[256];
  for (int it = 0; it < iters && ok; it++) {
    uint32_t n = 1 + rnd() % 64;
    uint8_t *ptrs[256];
    uint32_t lens[256];
    /* half the time a real run (a split super-packet, a few bytes flipped), then copies of a template and noise */
    uint32_t first = rnd() & 1 ? segments_of_super(ptrs, lens, n) : 0;
    for (uint32_t i = 0; i < first; i++)
      if (rnd() % 8 == 0) ptrs[i][rnd() % lens[i]] ^= (uint8_t)(1 + rnd() % 255);
    size_t tl;
    uint8_t *tmpl = shaped(&tl);
    for (uint32_t i = first; i < n; i++) {
      size_t len;
      uint8_t *p;
      if (rnd() % 3 && tl > 0) {
        len = tl;
        p = malloc(len);
        memcpy(p, tmpl, len);
        if (len > 60 && rnd() % 2) p[rnd() % len] ^= (uint8_t)rnd();
      } else {
        p = shaped(&len);
      }
      if (len == 0) {
        free(p);
        p = malloc(1);
        p[0] = 0x45;
        len = 1;
      }
      ptrs[i] = p;
      lens[i] = (uint32_t)len;
    }
    free(tmpl);
    gro_stats_t st = {0};
    uint32_t k = gro_plan(ptrs, lens, n, (int)(rnd() & 1), items, next, &st);
    uint32_t members = 0;
    int seen[256] = {0};
    uint8_t hdr[GRO_HDR_ROOM];
    struct iovec iov[GRO_MAX_SEGMENTS + 2];
    for (uint32_t j = 0; j < k && ok; j++) {
      members += items[j].members;
      int c = gro_iov(&items[j], ptrs, lens, next, hdr, iov);
      if (c < 2 || c > GRO_MAX_SEGMENTS + 1) ok = 0;
      size_t total = 0;
      for (int m = 1; m < c; m++) {
        uint8_t *b = iov[m].iov_base;
        int inside = 0;
        for (uint32_t i = 0; i < n; i++)
          if (b >= ptrs[i] && b + iov[m].iov_len <= ptrs[i] + lens[i]) inside = 1;
        if (!inside) ok = 0;
        total += iov[m].iov_len;
      }
      if (items[j].members > 1 && total + iov[0].iov_len - VNET_HDR_LEN > 65535) ok = 0;
      for (int32_t m = items[j].first; m >= 0; m = next[m]) seen[m]++;
    }
    for (uint32_t i = 0; i < n; i++)
      if (seen[i] != 1) ok = 0;
    if (members != n) ok = 0;
    merged += st.coalesced;
    for (uint32_t i = 0; i < n; i++) free(ptrs[i]);
  }
  check(ok, "coalesce: every packet written once, every iovec inside its packet, super-packets <= 64 KiB");
  check(merged > 0, "coalesce: the fuzz merged some packets");
}

int main(void) {
  /* RFC 1071 section 3: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 */
  const uint8_t v[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  uint16_t s = csum_fold(csum_add(0, v, sizeof v));
  uint8_t b[2];
  memcpy(b, &s, 2);
  check(b[0] == 0xdd && b[1] == 0xf2, "checksum: RFC 1071 example, stored in network order");
  const uint8_t odd[] = {0x01, 0x02, 0x03};
  s = csum_fold(csum_add(0, odd, sizeof odd));
  memcpy(b, &s, 2);
  check(b[0] == 0x04 && b[1] == 0x02, "checksum: an odd length pads with zero");

  uint8_t raw[VNET_HDR_LEN];
  vnet_hdr_t h = {1, 4, 74, 1360, 40, 16}, back;
  vnet_encode(raw, &h);
  vnet_decode(raw, &back);
  check(memcmp(&h, &back, sizeof h) == 0 && raw[4] == (1360 & 255) && raw[5] == 1360 >> 8,
        "virtio header: little-endian, round trip");

  fuzz_split(20000);
  fuzz_coalesce(4000);
  return tap_done();
}

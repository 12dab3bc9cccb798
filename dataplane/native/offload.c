/* TUN offloads: segmenting super-packets, coalescing received segments. Pure: see offload.h. */
#include "offload.h"

#include <arpa/inet.h>
#include <string.h>

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}
/* A host-order checksum value stored as the packet's bytes (the sum was taken in host order). */
static inline void put_csum(uint8_t *p, uint16_t c) { memcpy(p, &c, 2); }

/* The virtio header is little-endian (tun.c asks for TUNSETVNETLE where the host is big-endian). */
void vnet_decode(const uint8_t *b, vnet_hdr_t *h) {
  h->flags = b[0];
  h->gso_type = b[1];
  h->hdr_len = (uint16_t)(b[2] | b[3] << 8);
  h->gso_size = (uint16_t)(b[4] | b[5] << 8);
  h->csum_start = (uint16_t)(b[6] | b[7] << 8);
  h->csum_offset = (uint16_t)(b[8] | b[9] << 8);
}

static inline void put_le16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

void vnet_encode(uint8_t *b, const vnet_hdr_t *h) {
  b[0] = h->flags;
  b[1] = h->gso_type;
  put_le16(b + 2, h->hdr_len);
  put_le16(b + 4, h->gso_size);
  put_le16(b + 6, h->csum_start);
  put_le16(b + 8, h->csum_offset);
}

/*
 * The one's-complement sum is independent of byte order (RFC 1071 §2(B)):
 * summing host-order words and storing the folded result in host order gives
 * the right bytes on little- and big-endian machines alike. 32-bit loads into
 * a 64-bit accumulator; `n` may be odd only for the last buffer of a sum.
 */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n) {
  while (n >= 16) {
    uint32_t a, b, c, d;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    memcpy(&c, p + 8, 4);
    memcpy(&d, p + 12, 4);
    sum += (uint64_t)a + b + c + d;
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    uint32_t a;
    memcpy(&a, p, 4);
    sum += a;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t a;
    memcpy(&a, p, 2);
    sum += a;
    p += 2;
    n -= 2;
  }
  if (n) {
    uint8_t last[2] = {p[0], 0};
    uint16_t a;
    memcpy(&a, last, 2);
    sum += a;
  }
  return sum;
}

uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* The pseudo-header of the transport header at ip + l4 (length l4len). */
static uint64_t pseudo(const uint8_t *ip, int v6, uint8_t proto, uint32_t l4len) {
  uint64_t s = v6 ? csum_add(0, ip + 8, 32) : csum_add(0, ip + 12, 8);
  return s + htons(proto) + htons((uint16_t)l4len);
}

static void ipv4_fix_csum(uint8_t *ip, uint32_t ihl) {
  ip[10] = ip[11] = 0;
  put_csum(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, ihl)));
}

/* Whether the transport checksum of a whole packet verifies. */
static int l4_csum_ok(const uint8_t *ip, uint32_t len, uint32_t l4, int v6, uint8_t proto) {
  uint64_t s = pseudo(ip, v6, proto, len - l4) + csum_add(0, ip + l4, len - l4);
  return csum_fold(s) == 0xffff;
}

/* --- the segmenter ------------------------------------------------------------------------------ */

int split_plan(const vnet_hdr_t *h, const uint8_t *pkt, size_t len, size_t room, split_plan_t *plan) {
  memset(plan, 0, sizeof *plan);
  plan->h = *h;
  plan->len = (uint32_t)len;
  plan->segments = 1;
  uint8_t g = h->gso_type & (uint8_t)~VNET_GSO_ECN;
  if (len == 0 || len > OFFLOAD_MAX_SUPER + 60) return SPLIT_BAD_PACKET;
  if (g == VNET_GSO_NONE) {
    if (len > room) return SPLIT_TOO_BIG;
    if ((h->flags & VNET_F_NEEDS_CSUM) &&
        ((size_t)h->csum_start >= len || (size_t)h->csum_start + h->csum_offset + 2 > len))
      return SPLIT_BAD_HEADER;
    return 1;
  }
  if (g != VNET_GSO_TCPV4 && g != VNET_GSO_TCPV6 && g != VNET_GSO_UDP_L4) return SPLIT_BAD_HEADER;
  if (h->gso_size == 0) return SPLIT_BAD_HEADER;
  if (len < 20) return SPLIT_BAD_PACKET;
  uint8_t proto;
  uint32_t l4;
  if (pkt[0] >> 4 == 4) {
    l4 = (uint32_t)(pkt[0] & 15) * 4;
    if (l4 < 20 || l4 > len) return SPLIT_BAD_PACKET;
    if (g == VNET_GSO_TCPV6) return SPLIT_BAD_HEADER;
    if ((pkt[6] & 0x3f) || pkt[7]) return SPLIT_BAD_PACKET; /* a fragment: never a GSO packet */
    proto = pkt[9];
  } else if (pkt[0] >> 4 == 6) {
    if (len < 40) return SPLIT_BAD_PACKET;
    if (g == VNET_GSO_TCPV4) return SPLIT_BAD_HEADER;
    l4 = 40;
    proto = pkt[6]; /* extension headers: not split (the kernel does not offload them to TUN) */
    plan->v6 = 1;
  } else {
    return SPLIT_BAD_PACKET;
  }
  plan->tcp = g != VNET_GSO_UDP_L4;
  if (proto != (plan->tcp ? IPPROTO_TCP_ : IPPROTO_UDP_)) return SPLIT_BAD_PACKET;
  uint32_t hl;
  if (plan->tcp) {
    if (l4 + 20 > len) return SPLIT_BAD_PACKET;
    uint32_t thl = (uint32_t)(pkt[l4 + 12] >> 4) * 4;
    if (thl < 20 || l4 + thl > len) return SPLIT_BAD_PACKET;
    hl = l4 + thl;
  } else {
    if (l4 + 8 > len) return SPLIT_BAD_PACKET;
    hl = l4 + 8;
  }
  uint32_t payload = (uint32_t)len - hl;
  plan->l4 = l4;
  plan->hdr_len = hl;
  plan->segments = payload == 0 ? 1 : (payload + h->gso_size - 1) / h->gso_size;
  uint32_t first = payload < h->gso_size ? payload : h->gso_size;
  if (hl + first > room) return SPLIT_TOO_BIG;
  return (int)plan->segments;
}

/* One packet that needs only its checksum finished (CHECKSUM_PARTIAL: the field holds the pseudo-header sum). */
static uint32_t emit_whole(const split_plan_t *plan, const uint8_t *pkt, uint8_t *dst) {
  const vnet_hdr_t *h = &plan->h;
  memcpy(dst, pkt, plan->len);
  if (h->flags & VNET_F_NEEDS_CSUM) {
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, dst + h->csum_start, plan->len - h->csum_start));
    put_csum(dst + h->csum_start + h->csum_offset, c ? c : 0xffff);
  }
  return plan->len;
}

void split_emit(const split_plan_t *plan, const uint8_t *pkt, uint32_t from, uint32_t count, uint8_t *const *dst,
                uint32_t *lens) {
  if ((plan->h.gso_type & (uint8_t)~VNET_GSO_ECN) == VNET_GSO_NONE) {
    if (count) lens[0] = emit_whole(plan, pkt, dst[0]);
    return;
  }
  const uint32_t hl = plan->hdr_len, l4 = plan->l4, gso = plan->h.gso_size;
  const uint32_t payload = plan->len - hl, last = plan->segments - 1;
  for (uint32_t k = 0; k < count; k++) {
    uint32_t i = from + k;
    uint32_t at = i * gso;
    uint32_t chunk = payload - at < gso ? payload - at : gso;
    uint8_t *o = dst[k];
    memcpy(o, pkt, hl);
    memcpy(o + hl, pkt + hl + at, chunk);
    uint32_t total = hl + chunk;
    if (plan->v6) {
      put16(o + 4, total - 40);
    } else {
      put16(o + 2, total);
      put16(o + 4, get16(pkt + 4) + i);
      ipv4_fix_csum(o, l4);
    }
    uint8_t *t = o + l4;
    if (plan->tcp) {
      put32(t + 4, get32(pkt + l4 + 4) + at);
      if (i != last) t[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
      if (i != 0) t[13] &= (uint8_t)~TCP_CWR;
      t[16] = t[17] = 0;
      put_csum(t + 16, (uint16_t)~csum_fold(pseudo(o, plan->v6, IPPROTO_TCP_, total - l4) + csum_add(0, t, total - l4)));
    } else {
      put16(t + 4, total - l4);
      t[6] = t[7] = 0;
      uint16_t c = (uint16_t)~csum_fold(pseudo(o, plan->v6, IPPROTO_UDP_, total - l4) + csum_add(0, t, total - l4));
      put_csum(t + 6, c ? c : 0xffff);
    }
    lens[k] = total;
  }
}

/* --- the coalescer ------------------------------------------------------------------------------ */

typedef struct {
  uint32_t l4, hdr_len, payload;
  uint8_t v6, tcp, flags;
} gro_pkt_t;

/* A coalescing candidate: plain IPv4 (no options, no fragment) or IPv6 (no extension header), exact lengths. */
static int gro_parse(const uint8_t *p, uint32_t len, int udp, gro_pkt_t *k) {
  uint8_t proto;
  if (len < 28) return 0;
  if (p[0] == 0x45) {
    if (get16(p + 2) != len || (p[6] & 0x3f) || p[7]) return 0;
    proto = p[9];
    k->l4 = 20;
    k->v6 = 0;
  } else if (p[0] >> 4 == 6) {
    if (len < 48 || get16(p + 4) + 40u != len) return 0;
    proto = p[6];
    k->l4 = 40;
    k->v6 = 1;
  } else {
    return 0;
  }
  if (proto == IPPROTO_TCP_) {
    if (len < k->l4 + 20) return 0;
    uint32_t thl = (uint32_t)(p[k->l4 + 12] >> 4) * 4;
    if (thl < 20 || k->l4 + thl >= len) return 0; /* no payload: a pure ACK goes alone */
    k->flags = p[k->l4 + 13];
    if (k->flags != TCP_ACK && k->flags != (TCP_ACK | TCP_PSH)) return 0;
    k->tcp = 1;
    k->hdr_len = k->l4 + thl;
  } else if (proto == IPPROTO_UDP_ && udp) {
    if (get16(p + k->l4 + 4) + k->l4 != len || len == k->l4 + 8) return 0;
    k->tcp = 0;
    k->flags = 0;
    k->hdr_len = k->l4 + 8;
  } else {
    return 0;
  }
  k->payload = len - k->hdr_len;
  return 1;
}

/* Same addresses and ports (and, for TCP, the same ack: a new ack is a new run, as in the kernel's GRO). */
static int same_flow(const uint8_t *a, const uint8_t *b, int v6, uint32_t l4, int tcp) {
  if (v6 ? memcmp(a + 8, b + 8, 32) : memcmp(a + 12, b + 12, 8)) return 0;
  return memcmp(a + l4, b + l4, 4) == 0 && (!tcp || memcmp(a + l4 + 8, b + l4 + 8, 4) == 0);
}

/* IP fields that must agree within a run: v4 TOS, TTL, DF; v6 class, flow label, hop limit. */
static int same_ip(const uint8_t *a, const uint8_t *b, int v6) {
  if (v6) return memcmp(a, b, 4) == 0 && a[7] == b[7];
  return a[1] == b[1] && a[8] == b[8] && (a[6] & 0xc0) == (b[6] & 0xc0);
}

static int csum_ok(const uint8_t *p, uint32_t len, const gro_pkt_t *k) {
  if (!k->v6 && csum_fold(csum_add(0, p, 20)) != 0xffff) return 0;
  return l4_csum_ok(p, len, k->l4, k->v6, k->tcp ? IPPROTO_TCP_ : IPPROTO_UDP_);
}

static void item_start(gro_item_t *it, int32_t i, const uint8_t *p, uint32_t len, const gro_pkt_t *k) {
  memset(it, 0, sizeof *it);
  it->first = it->last = i;
  it->members = 1;
  it->total = len;
  it->l4 = k->l4;
  it->hdr_len = k->hdr_len;
  it->gso_size = k->payload;
  it->v6 = k->v6;
  it->tcp = k->tcp;
  it->psh = k->tcp && (k->flags & TCP_PSH);
  it->open = !it->psh;
  if (k->tcp) it->next_seq = get32(p + k->l4 + 4) + k->payload;
  if (!k->v6) it->next_id = (uint16_t)(get16(p + 4) + 1);
}

uint32_t gro_plan(uint8_t *const *ptrs, const uint32_t *lens, uint32_t n, int udp, gro_item_t *items, int32_t *next,
                  gro_stats_t *st) {
  int32_t open[GRO_MAX_FLOWS]; /* indices of items still open for appending, oldest first */
  uint32_t nopen = 0, nitems = 0;
  for (uint32_t i = 0; i < n; i++) {
    next[i] = -1;
    const uint8_t *p = ptrs[i];
    uint32_t len = lens[i];
    gro_pkt_t k;
    int cand = gro_parse(p, len, udp, &k);
    int joined = 0;
    /* The open run of this packet's flow, if any (a flow has at most one). */
    for (uint32_t f = 0; f < nopen; f++) {
      gro_item_t *it = &items[open[f]];
      const uint8_t *q = ptrs[it->first];
      /* A packet that cannot join closes its flow's run, so the run is never written after it. */
      int match = cand ? it->v6 == k.v6 && it->tcp == k.tcp && same_flow(p, q, k.v6, k.l4, k.tcp)
                       : len >= 28 && (p[0] >> 4) == (it->v6 ? 6 : 4) && (it->v6 || p[0] == 0x45) &&
                             len >= it->l4 + 4 && memcmp(p + it->l4, q + it->l4, 4) == 0 &&
                             (it->v6 ? memcmp(p + 8, q + 8, 32) : memcmp(p + 12, q + 12, 8)) == 0;
      if (!match) continue;
      int ok = cand && it->open && it->members < GRO_MAX_SEGMENTS && k.payload <= it->gso_size &&
               it->total + k.payload <= 65535 && k.hdr_len == it->hdr_len && same_ip(p, q, k.v6) &&
               (k.v6 || (p[6] & 0x40) || get16(p + 4) == it->next_id);
      if (ok && k.tcp) {
        const uint8_t *a = p + k.l4, *b = q + k.l4;
        ok = get32(a + 4) == it->next_seq && a[12] == b[12] && a[14] == b[14] && a[15] == b[15] &&
             memcmp(a + 20, b + 20, k.hdr_len - k.l4 - 20) == 0;
      }
      if (ok && it->members == 1 && !csum_ok(q, lens[it->first], &k)) {
        st->bad_csum++;
        ok = 0; /* the run's first packet is bad: it goes alone, and this one starts a new run */
      }
      if (ok && !csum_ok(p, len, &k)) {
        st->bad_csum++;
        cand = 0; /* goes alone, after the run */
        ok = 0;
      }
      if (ok) {
        next[it->last] = (int32_t)i;
        it->last = (int32_t)i;
        it->members++;
        it->total += k.payload;
        if (k.tcp) it->next_seq += k.payload;
        if (!k.v6) it->next_id = (uint16_t)(get16(p + 4) + 1);
        if (k.payload < it->gso_size || (k.tcp && (k.flags & TCP_PSH))) {
          it->open = 0;
          it->psh = k.tcp && (k.flags & TCP_PSH);
        }
        st->coalesced++;
        joined = 1;
      } else {
        it->open = 0;
      }
      if (!it->open) {
        memmove(open + f, open + f + 1, (nopen - f - 1) * sizeof open[0]);
        nopen--;
      }
      break;
    }
    if (joined) continue;
    gro_item_t *it = &items[nitems];
    if (cand) {
      item_start(it, (int32_t)i, p, len, &k);
      if (it->open) {
        if (nopen == GRO_MAX_FLOWS) {
          items[open[0]].open = 0;
          memmove(open, open + 1, (GRO_MAX_FLOWS - 1) * sizeof open[0]);
          nopen--;
        }
        open[nopen++] = (int32_t)nitems;
      }
    } else {
      memset(it, 0, sizeof *it);
      it->first = it->last = (int32_t)i;
      it->members = 1;
      it->total = len;
    }
    nitems++;
  }
  return nitems;
}

int gro_iov(const gro_item_t *it, uint8_t *const *ptrs, const uint32_t *lens, const int32_t *next, uint8_t *hdr,
            struct iovec *iov) {
  const uint8_t *p = ptrs[it->first];
  if (it->members == 1) {
    memset(hdr, 0, VNET_HDR_LEN);
    iov[0].iov_base = hdr;
    iov[0].iov_len = VNET_HDR_LEN;
    iov[1].iov_base = (void *)p;
    iov[1].iov_len = lens[it->first];
    return 2;
  }
  uint8_t *h = hdr + VNET_HDR_LEN;
  const uint32_t l4 = it->l4, total = it->total;
  memcpy(h, p, it->hdr_len);
  if (it->v6) {
    put16(h + 4, total - 40);
  } else {
    put16(h + 2, total);
    ipv4_fix_csum(h, l4);
  }
  if (it->tcp) {
    if (it->psh) h[l4 + 13] |= TCP_PSH;
    put_csum(h + l4 + 16, csum_fold(pseudo(h, it->v6, IPPROTO_TCP_, total - l4)));
  } else {
    put16(h + l4 + 4, total - l4);
    put_csum(h + l4 + 6, csum_fold(pseudo(h, it->v6, IPPROTO_UDP_, total - l4)));
  }
  vnet_hdr_t vh = {
      .flags = VNET_F_NEEDS_CSUM,
      .gso_type = it->tcp ? (it->v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4) : VNET_GSO_UDP_L4,
      .hdr_len = (uint16_t)it->hdr_len,
      .gso_size = (uint16_t)it->gso_size,
      .csum_start = (uint16_t)l4,
      .csum_offset = it->tcp ? 16 : 6,
  };
  vnet_encode(hdr, &vh);
  iov[0].iov_base = hdr;
  iov[0].iov_len = VNET_HDR_LEN + it->hdr_len;
  int c = 1;
  for (int32_t m = it->first; m >= 0; m = next[m]) {
    iov[c].iov_base = ptrs[m] + it->hdr_len;
    iov[c].iov_len = lens[m] - it->hdr_len;
    c++;
  }
  return c;
}

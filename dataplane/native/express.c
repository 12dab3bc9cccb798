/*
 * The lone-packet path ("express"): a wake-up that brings exactly one packet
 * of an established tunnel is handled here in C, without entering
 * JavaScript. Our own code's time per ping went from 204-274 us through JS
 * to 76-124 (fastd: 72-96; bench/passes, doc/ARCHITECTURE.md); batches keep
 * the JS path, where its cost is shared by the batch.
 *
 *   UDP wake-up, one datagram on the current session of an express tunnel:
 *     replay check → open (aead.c) → replay accept → TUN write
 *     → read what the kernel answered → one packet: seal → sendto; more: the JS callback
 *   TUN wake-up, one packet (not part of a super-packet): seal → sendto
 *
 * The state is the JS tunnel's own, shared, never copied: the session's send
 * counter and replay window, and the tunnel's counters and timestamps live in
 * typed arrays both sides update (one thread: no races). JS arms a tunnel
 * (Express.arm) only while its current session is proven, its TUN device is
 * up, its peer is known and traffic control has no stage on it, and re-arms
 * it when any of these changes; everything else (pending and previous
 * sessions, rotation, roaming, keepalives we send, traffic control, errors
 * worth a log line) stays in JS. A packet the express path does not take is
 * left untouched for the JS path, so falling back is always safe (a bad tag
 * is the exception: OpenSSL has written over the payload by then, so it is
 * counted and dropped here).
 *
 * Unauthenticated input: a datagram creates no state here; the session id is
 * looked up in a table of armed tunnels only (bounded by the tunnels), and a
 * datagram that fails the replay check or comes from another address goes to
 * JS untouched, and one that does not authenticate changes nothing but the
 * dropBadTag counter.
 */
#include "scrooge.h"

#include <stdlib.h>
#include <sys/socket.h>

/* crypto/replay.ts COUNTER_ACCEPT_LIMIT: 2^53 - 2^4 - 1 (counters above it go to JS, which refuses them) */
#define COUNTER_ACCEPT_LIMIT 9007199254740975ull


static inline uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static inline double now_ms(const express_t *x) { return (double)uv_hrtime() / 1e6 + x->clock_offset; }

/* --- the session-id table of a UDP port (open addressing, linear probing) -- */

struct xtable {
  uint32_t cap, count, seed;
  uint32_t *ids;
  express_t **vals;
};

static uint32_t xt_slot(const xtable_t *t, uint32_t id) { return ((id ^ t->seed) * 0x9E3779B1u) & (t->cap - 1); }

express_t *xt_get(const xtable_t *t, uint32_t id) {
  if (!t || t->count == 0) return NULL;
  for (uint32_t i = xt_slot(t, id);; i = (i + 1) & (t->cap - 1)) {
    if (!t->vals[i]) return NULL;
    if (t->ids[i] == id) return t->vals[i];
  }
}


static int xt_grow(xtable_t *t) {
  uint32_t old_cap = t->cap, cap = old_cap ? old_cap * 2 : 16;
  uint32_t *old_ids = t->ids;
  express_t **old_vals = t->vals;
  uint32_t *ids = calloc(cap, sizeof *ids);
  express_t **vals = calloc(cap, sizeof *vals);
  if (!ids || !vals) {
    free(ids);
    free(vals);
    return 0;
  }
  t->ids = ids;
  t->vals = vals;
  t->cap = cap;
  t->count = 0;
  for (uint32_t i = 0; i < old_cap; i++)
    if (old_vals[i]) xt_put(t, old_ids[i], old_vals[i]);
  free(old_ids);
  free(old_vals);
  return 1;
}

int xt_put(xtable_t *t, uint32_t id, express_t *x) {
  if ((t->count + 1) * 2 > t->cap && !xt_grow(t)) return 0;
  for (uint32_t i = xt_slot(t, id);; i = (i + 1) & (t->cap - 1)) {
    if (!t->vals[i] || t->ids[i] == id) {
      if (!t->vals[i]) t->count++;
      t->ids[i] = id;
      t->vals[i] = x;
      return 1;
    }
  }
}

/* Removes id if it maps to x; backward-shift deletion keeps every probe chain whole. */
void xt_del(xtable_t *t, uint32_t id, const express_t *x) {
  if (!t || t->count == 0) return;
  uint32_t mask = t->cap - 1, i = xt_slot(t, id);
  for (;; i = (i + 1) & mask) {
    if (!t->vals[i]) return;
    if (t->ids[i] == id) break;
  }
  if (t->vals[i] != x) return;
  t->vals[i] = NULL;
  t->count--;
  for (uint32_t j = (i + 1) & mask; t->vals[j]; j = (j + 1) & mask) {
    uint32_t home = xt_slot(t, t->ids[j]);
    /* move j back to the hole at i unless its home lies cyclically in (i, j] */
    if (((j - home) & mask) >= ((j - i) & mask)) {
      t->ids[i] = t->ids[j];
      t->vals[i] = t->vals[j];
      t->vals[j] = NULL;
      i = j;
    }
  }
}

/* An empty table with a per-process seed (NULL without memory). */
xtable_t *xt_new(void) {
  xtable_t *t = calloc(1, sizeof *t);
  if (t) t->seed = (uint32_t)uv_hrtime() * 2654435761u;
  return t;
}

/* A UDP port closes: no express tunnel may use it any more. */
void express_port_closed(port_t *p) {
  if (p->express) {
    express_t *x = p->express;
    p->express = NULL;
    express_disarm(x);
  }
  xtable_t *t = p->xt;
  if (!t) return;
  for (uint32_t i = 0; i < t->cap; i++) {
    express_t *x = t->vals[i];
    if (x && x->udp == p) {
      x->udp = NULL; /* (the table goes away below) */
      express_disarm(x);
    }
  }
  free(t->ids);
  free(t->vals);
  free(t);
  p->xt = NULL;
}

/* --- replay window: the same algorithm as crypto/replay.ts, on its arrays --- */

int replay_check(const express_t *x, uint64_t n) {
  uint64_t last = (uint64_t)x->mark[0];
  if (n > last) return 1;
  if (last - n > x->window) return 0;
  uint64_t words = x->ring_words;
  return (x->ring[(n / 32) % words] & (1u << (n % 32))) == 0;
}

void replay_accept(express_t *x, uint64_t n) {
  uint64_t last = (uint64_t)x->mark[0], words = x->ring_words, index = n / 32;
  if (n > last) {
    uint64_t current = last / 32, diff = index - current < words ? index - current : words;
    for (uint64_t i = 1; i <= diff; i++) x->ring[(current + i) % words] = 0;
    x->mark[0] = (double)n;
  }
  x->ring[index % words] |= 1u << (n % 32);
}

/* --- the native latency keeper ----------------------------------------------------- */

/*
 * The JS keeper (dataplane.ts) keeps the JS path warm while traffic flows;
 * packets that never enter JS need the same for the CPU: a lone packet after
 * a pause otherwise finds the CPU halted and its caches cold, and pays for it
 * (its first user-space work runs many times slower). While express packets
 * flowed within hold_ms, a 1 ms timer seals a scratch packet (the AEAD's code
 * and tables stay in cache) in the intervals that carried no real packet.
 * It stops by itself; an idle daemon has no timer.
 */
static uv_timer_t keeper;
static int keeper_state; /* 0 uninitialised, 1 stopped, 2 running */
static uint64_t keeper_interval_ms = 1, keeper_hold_ms = 1000, keeper_last, keeper_passes;

static void keeper_tick(uv_timer_t *t) {
  uint64_t now = uv_now(t->loop);
  if (now - keeper_last > keeper_hold_ms) {
    uv_timer_stop(t);
    keeper_state = 1;
    return;
  }
  if (now - keeper_last < keeper_interval_ms) return; /* a real packet just ran the path */
  static uint8_t key[32], nonce[12], buf[64 + 16];
  aead_seal(key, nonce, buf, 16, buf + 16, 48, buf + 64);
  keeper_passes++;
}

/* As anyUnicast (dataplane/packet.ts): the kernel's own multicast chatter does not keep the keeper awake. */
static int unicast(const uint8_t *pkt, size_t len) {
  int version = len > 0 ? pkt[0] >> 4 : 0;
  if (version == 6 && len >= 40 && pkt[24] == 0xff) return 0;
  if (version == 4 && len >= 20 && (pkt[16] & 0xf0) == 0xe0) return 0;
  return 1;
}

/* A data packet went through: keep the keeper running (keepalives and multicast do not count). */
static void keeper_note(int data, const uv_loop_t *loop) {
  /* (one timer, on the loop that configured it: a data plane in a worker thread goes without) */
  if (keeper_state == 0 || keeper_interval_ms == 0 || !data || loop != keeper.loop) return;
  keeper_last = uv_now(keeper.loop);
  if (keeper_state == 1) {
    uv_timer_start(&keeper, keeper_tick, keeper_interval_ms, keeper_interval_ms);
    keeper_state = 2;
  }
}

/* Express.keeper(intervalMs, holdMs) -> scratch passes run so far; intervalMs 0 turns it off. */
napi_value express_keeper(napi_env env, napi_callback_info info) {
  int32_t interval, hold;
  if (args(env, info, "Express.keeper(intervalMs, holdMs)", "ii", &interval, &hold)) return NULL;
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  if (keeper_state != 0 && loop != keeper.loop) return make_i32(env, 0); /* another thread's loop */
  if (keeper_state == 0) {
    uv_timer_init(loop, &keeper);
    uv_unref((uv_handle_t *)&keeper); /* never keeps the process alive */
    keeper_state = 1;
  }
  keeper_interval_ms = interval > 0 ? (uint64_t)interval : 0;
  keeper_hold_ms = hold > 0 ? (uint64_t)hold : 0;
  if (keeper_interval_ms == 0 && keeper_state == 2) {
    uv_timer_stop(&keeper);
    keeper_state = 1;
  }
  napi_value v;
  napi_create_double(env, (double)keeper_passes, &v);
  return v;
}

/* --- the path ------------------------------------------------------------------ */

/*
 * Seals the packet of slot 0 of the TUN port t (payload at meta[0], with
 * header room before it and tag room after it) on the current session and
 * sends it to the peer. Returns 0, touching nothing, when the tunnel is not
 * armed for sending or the session may not send any more.
 */
int express_send(express_t *x, port_t *t) {
  if (!x->armed || !x->tx || !x->udp || x->udp->closed) return 0;
  double now = now_ms(x);
  double ctr = x->sess_tx[0];
  if (now >= x->expires_ms || ctr >= x->send_limit) return 0;
  int32_t off = t->meta[0], len = t->meta[1];
  if (off < DATA_HEADER_BYTES || len < 0 || (size_t)off + (size_t)len + TAG_BYTES > t->slab_len) return 0;
  uint8_t *h = t->slab + off - DATA_HEADER_BYTES, nonce[12] = {0};
  int data = len > 0 && unicast(h + DATA_HEADER_BYTES, (size_t)len); /* (before it is sealed) */
  uint64_t c = (uint64_t)ctr;
  x->sess_tx[0] = ctr + 1;
  h[0] = MSG_DATA_TYPE;
  h[1] = h[2] = h[3] = 0;
  wr32(h + 4, x->id);
  wr32(h + 8, (uint32_t)c);
  wr32(h + 12, (uint32_t)(c >> 32));
  memcpy(nonce + 4, h + 8, 8);
  double *k = x->counters;
  k[XC_LAST_SEND_MS] = now;
  if (!aead_seal(x->send_key, nonce, h, DATA_HEADER_BYTES, h + DATA_HEADER_BYTES, (size_t)len,
                 h + DATA_HEADER_BYTES + len)) {
    k[XC_DROP_SEND_ERROR] += 1; /* cannot happen once the known-answer test passed */
    return 1;
  }
  size_t w = (size_t)len + DATA_HEADER_BYTES + TAG_BYTES;
  ssize_t r;
  do {
    r = sendto(x->udp->fd, h, w, MSG_DONTWAIT, (struct sockaddr *)x->peer, x->peer_len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    last_errno = errno;
    k[XC_DROP_SEND_ERROR] += 1;
    return 1;
  }
  if (len == 0) k[XC_TX_KEEPALIVES] += 1;
  else {
    k[XC_TX_PACKETS] += 1;
    k[XC_TX_BYTES] += len;
  }
  k[XC_TX_WIRE] += (double)w;
  k[XC_FAST_TX] += 1;
  keeper_note(data, t->poll.loop);
  return 1;
}

/* After a TUN write: what the kernel answered inside it goes out now (one packet here, more through JS). */
static void express_drain(express_t *x) {
  port_t *t = x->tun;
  if (!t || t->closed || !t->active) return;
  int n = port_read(t);
  if (n <= 0) return; /* an error is reported at the next readiness, as with readNow */
  if (n == 1 && !tun_pending(t) && express_send(x, t)) return;
  port_deliver(t, n);
}

/*
 * The one datagram of UDP port p's batch (meta entry 0). Returns 1 when it
 * was handled (delivered, or a forgery dropped and counted), 0 to leave it,
 * untouched, to the JS path.
 */
int express_receive(port_t *p) {
  int32_t off = p->meta[0], len = p->meta[1], slot = p->meta[3];
  if (off < 0 || len < DATA_HEADER_BYTES + TAG_BYTES || (size_t)off + (size_t)len > p->slab_len) return 0;
  uint8_t *d = p->slab + off;
  if (d[0] != MSG_DATA_TYPE || (d[1] | d[2] | d[3]) != 0) return 0;
  express_t *x = xt_get(p->xt, rd32(d + 4));
  if (!x || !x->armed || !x->rx || !x->tun) return 0;
  double now = now_ms(x);
  if (now >= x->expires_ms) return 0;
  uint64_t ctr = (uint64_t)rd32(d + 12) << 32 | rd32(d + 8);
  if (ctr >= COUNTER_ACCEPT_LIMIT || !replay_check(x, ctr)) return 0;
  /* from the peer's known address only: a move (roaming) is for JS to follow */
  if (!p->addrs || slot < 0 || (size_t)(slot + 1) * ADDR_STRIDE > p->addrs_len ||
      memcmp(p->addrs + (size_t)slot * ADDR_STRIDE, x->peer, x->peer_len) != 0)
    return 0;
  uint8_t nonce[12] = {0};
  memcpy(nonce + 4, d + 8, 8);
  size_t plen = (size_t)len - DATA_HEADER_BYTES - TAG_BYTES;
  uint8_t *payload = d + DATA_HEADER_BYTES;
  double *k = x->counters;
  if (!aead_open(x->recv_key, nonce, d, DATA_HEADER_BYTES, payload, plen, payload + plen)) {
    k[XC_DROP_BAD_TAG] += 1;
    return 1;
  }
  replay_accept(x, ctr);
  keeper_note(plen > 0 && unicast(payload, plen), p->poll.loop);
  k[XC_LAST_AUTH_RECV_MS] = now;
  k[XC_RX_WIRE] += len;
  k[XC_FAST_RX] += 1;
  if (plen == 0) {
    k[XC_RX_KEEPALIVES] += 1;
    return 1;
  }
  k[XC_RX_PACKETS] += 1;
  k[XC_RX_BYTES] += (double)plen;
  if (tun_write_one(x->tun, payload, (uint32_t)plen) != 1) {
    k[XC_DROP_DEVICE_ERROR] += 1;
    return 1;
  }
  if (x->drain) express_drain(x);
  return 1;
}

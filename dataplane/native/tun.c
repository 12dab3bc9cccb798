/* TUN devices: open, probe offloads, read and write batches. */
#include "scrooge.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static __thread uint8_t *seg_dst[MAX_MSGS * 4];
static __thread uint32_t seg_len[MAX_MSGS * 4];

/* Hands out segments of the pending super-packet into slots [n, max_batch); returns the new n. */
static uint32_t tun_emit_pending(port_t *p, uint32_t n) {
  uint32_t want = p->pend.segments - p->pend_next, room = p->max_batch - n;
  uint32_t c = want < room ? want : room;
  for (uint32_t k = 0; k < c; k++) seg_dst[k] = p->slab + (size_t)(n + k) * p->slot_size + p->headroom;
  split_emit(&p->pend, p->scratch + VNET_HDR_LEN, p->pend_next, c, seg_dst, seg_len);
  for (uint32_t k = 0; k < c; k++) {
    int32_t *m = p->meta + (size_t)(n + k) * META_STRIDE;
    m[0] = (int32_t)((size_t)(n + k) * p->slot_size + p->headroom);
    m[1] = (int32_t)seg_len[k];
    m[2] = m[3] = 0;
    p->stats[ST_READ_BYTES] += seg_len[k];
  }
  p->pend_next += c;
  return n + c;
}

/*
 * A TUN device with a virtio-net header: every read is the header and one
 * packet, up to a 64 KiB super-packet. Each is split (offload.c) into
 * MTU-sized packets in the slots, so the rest of the path sees what it sees
 * without offloads. A super-packet larger than the batch's free slots is
 * finished in the next batch (tun_pending: the Port calls back at once).
 */
static int tun_read_vnet(port_t *p) {
  uint32_t n = 0;
  size_t room = p->slot_size - p->headroom - p->tailroom;
  while (n < p->max_batch) {
    if (tun_pending(p)) {
      n = tun_emit_pending(p, n);
      continue;
    }
    ssize_t r = read(p->fd, p->scratch, TUN_SCRATCH_BYTES);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      last_errno = errno;
      p->stats[ST_READ_ERRORS] += 1;
      if (n == 0) return -errno;
      break;
    }
    if (r == 0) break;
    if ((size_t)r > TUN_SCRATCH_BYTES) {
      p->stats[ST_TRUNCATED] += 1;
      continue;
    }
    vnet_hdr_t h;
    if (r < VNET_HDR_LEN) {
      p->stats[ST_OFFLOAD_BAD] += 1;
      continue;
    }
    vnet_decode(p->scratch, &h);
    int s = split_plan(&h, p->scratch + VNET_HDR_LEN, (size_t)r - VNET_HDR_LEN, room, &p->pend);
    if (s < 0) {
      p->pend.segments = p->pend_next = 0;
      p->stats[s == SPLIT_TOO_BIG ? ST_TRUNCATED : ST_OFFLOAD_BAD] += 1;
      continue;
    }
    if ((h.gso_type & (uint8_t)~VNET_GSO_ECN) != VNET_GSO_NONE) p->stats[ST_SUPER_READS] += 1;
    p->pend_next = 0;
  }
  p->stats[ST_READ_PACKETS] += n;
  if (n == p->max_batch) p->stats[ST_FULL_BATCHES] += 1;
  return (int)n;
}

int tun_read_batch(port_t *p) {
  if (p->vnet) return tun_read_vnet(p);
  uint32_t n = 0;
  size_t room = p->slot_size - p->headroom - p->tailroom;
  while (n < p->max_batch) {
    size_t off = (size_t)n * p->slot_size + p->headroom;
    /* netlink: only the kernel (port 0) reports links and addresses; any local process may unicast to us */
    struct sockaddr_nl from = {0};
    socklen_t fl = sizeof from;
    ssize_t r = p->kind == KIND_NETLINK ? recvfrom(p->fd, p->slab + off, room, 0, (struct sockaddr *)&from, &fl)
                                        : read(p->fd, p->slab + off, room);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS && p->kind == KIND_NETLINK) {
        /* the kernel dropped notifications (our queue overran): an empty entry says "re-read everything" */
        p->stats[ST_OVERFLOW] += 1;
        int32_t *m = p->meta + (size_t)n++ * META_STRIDE;
        m[0] = (int32_t)off;
        m[1] = m[2] = m[3] = 0;
        continue;
      }
      last_errno = errno;
      p->stats[ST_READ_ERRORS] += 1;
      if (n == 0) return -errno;
      break;
    }
    if (r == 0) break;
    if (p->kind == KIND_NETLINK && from.nl_pid != 0) {
      p->stats[ST_FOREIGN] += 1;
      continue;
    }
    if ((size_t)r > room) {
      /* tun_put_user returns the packet's full length even when it copied only `room`
         bytes: the packet is truncated. Drop it (counted); never hand JS a length past the slot. */
      p->stats[ST_TRUNCATED] += 1;
      continue;
    }
    int32_t *m = p->meta + (size_t)n * META_STRIDE;
    m[0] = (int32_t)off;
    m[1] = (int32_t)r;
    m[2] = 0;
    m[3] = 0;
    p->stats[ST_READ_BYTES] += (double)r;
    n++;
  }
  p->stats[ST_READ_PACKETS] += n;
  if (n == p->max_batch) p->stats[ST_FULL_BATCHES] += 1;
  return (int)n;
}

#ifndef IFF_VNET_HDR
#define IFF_VNET_HDR 0x4000
#endif
#ifndef TUNSETVNETLE
#define TUNSETVNETLE _IOW('T', 220, int)
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

/*
 * tunOpen(name, multiQueue, offload) -> { fd, name, vnetHdr, tso, uso }.
 * With offload: a virtio-net header on every read and write (IFF_VNET_HDR),
 * and TUNSETOFFLOAD with checksum offload, TSO for IPv4 and IPv6, and USO
 * where the kernel has it (6.2+), falling back step by step. vnetHdr false
 * (no offload asked, or a kernel without IFF_VNET_HDR): plain packets.
 */
napi_value tun_open(napi_env env, napi_callback_info info) {
  char name[IFNAMSIZ];
  bool mq, offload;
  if (args(env, info, "tunOpen(name (<16 chars), multiQueue, offload)", "sbb", name, sizeof name, &mq, &offload))
    return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno, "/dev/net/tun");
  struct ifreq ifr;
  bool vnet = offload, tso = false, uso = false;
  for (;;) {
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0) | (vnet ? IFF_VNET_HDR : 0);
    memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1)); /* ifr is zeroed: NUL-terminated */
    if (ioctl(fd, TUNSETIFF, &ifr) == 0) break;
    if (!vnet || errno != EINVAL) return throw_errno_close(env, fd, "ioctl(TUNSETIFF)", name);
    vnet = false; /* a kernel without the virtio header: plain packets */
  }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  /* offload.c reads the header as little-endian: ask for that, or do without offloads */
  int le = 1;
  if (vnet && ioctl(fd, TUNSETVNETLE, &le) < 0) {
    close(fd);
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return throw_errno(env, "open", errno, "/dev/net/tun");
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0);
    memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) return throw_errno_close(env, fd, "ioctl(TUNSETIFF)", name);
    vnet = false;
  }
#endif
  if (vnet) {
    unsigned long base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (ioctl(fd, TUNSETOFFLOAD, base | TUN_F_USO4 | TUN_F_USO6) == 0) tso = uso = true;
    else if (ioctl(fd, TUNSETOFFLOAD, base) == 0) tso = true;
    /* else: no TSO, but the header stays (writes may still carry coalesced super-packets) */
  }
  return result(env, "fd name vnetHdr tso uso", "isbbb", fd, ifr.ifr_name, vnet, tso, uso);
}

/*
 * tunProbeOffload() -> { vnetHdr, csum, tso, uso }: what the kernel accepts on
 * a TUN device opened with a virtio-net header (IFF_VNET_HDR + TUNSETOFFLOAD).
 * Uses an unnamed, non-persistent device: it vanishes when the fd closes.
 * Throws (with errno) when /dev/net/tun cannot be opened or TUNSETIFF fails.
 */
napi_value tun_probe_offload(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno, "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
  bool vnet = true, csum = false, tso = false, uso = false;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    vnet = false;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      return throw_errno_close(env, fd, "ioctl(TUNSETIFF)", "probe");
    }
  }
  if (vnet) {
    csum = ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0;
    tso = ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) == 0;
    uso = ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6)) == 0;
  }
  close(fd);
  return result(env, "vnetHdr csum tso uso", "bbbb", vnet, csum, tso, uso);
}

static ssize_t writev_retry(int fd, const struct iovec *iov, int n) {
  ssize_t r;
  do {
    r = writev(fd, iov, n);
  } while (r < 0 && errno == EINTR);
  return r;
}

static __thread uint8_t *w_ptrs[MAX_IOV];
static __thread uint32_t w_lens[MAX_IOV];
static __thread int32_t w_next[MAX_IOV];
static __thread gro_item_t w_items[MAX_IOV];
static __thread struct iovec w_iov[GRO_MAX_SEGMENTS + 2];
static __thread uint8_t w_hdr[GRO_HDR_ROOM];

/* Collects the valid entries of meta[start, start + count) (at most MAX_IOV) into w_ptrs/w_lens. */
static uint32_t gather(uint8_t *buf, size_t buf_len, const int32_t *meta, int32_t start, int32_t count) {
  uint32_t n = 0;
  for (int32_t i = start; i < start + count && n < MAX_IOV; i++) {
    int32_t off = meta[i * META_STRIDE], len = meta[i * META_STRIDE + 1];
    if (off < 0 || len <= 0 || (size_t)off + (size_t)len > buf_len) continue;
    w_ptrs[n] = buf + off;
    w_lens[n] = (uint32_t)len;
    n++;
  }
  return n;
}

/* Writes the packets of w_ptrs[0..n) through the coalescer; returns how many packets went out. */
static int32_t write_vnet(int fd, uint32_t n, int udp, double *st) {
  gro_stats_t gs = {0};
  uint32_t items = gro_plan(w_ptrs, w_lens, n, udp, w_items, w_next, &gs);
  int32_t ok = 0;
  for (uint32_t k = 0; k < items; k++) {
    const gro_item_t *it = &w_items[k];
    int c = gro_iov(it, w_ptrs, w_lens, w_next, w_hdr, w_iov);
    if (writev_retry(fd, w_iov, c) >= 0) {
      ok += (int32_t)it->members;
      if (it->members > 1) {
        st[ST_GRO_WRITES] += 1;
        st[ST_GRO_MERGED] += it->members;
      }
      continue;
    }
    last_errno = errno;
    st[ST_WRITE_ERRORS] += 1;
    if (it->members == 1) continue;
    /* The kernel refused the super-packet: each packet alone (they are unchanged in buf). */
    for (int32_t m = it->first; m >= 0; m = w_next[m]) {
      gro_item_t one = {.first = m, .last = m, .members = 1, .total = w_lens[m]};
      c = gro_iov(&one, w_ptrs, w_lens, w_next, w_hdr, w_iov);
      if (writev_retry(fd, w_iov, c) >= 0) ok++;
      else st[ST_WRITE_ERRORS] += 1;
    }
  }
  st[ST_GRO_BAD_CSUM] += gs.bad_csum;
  return ok;
}

/* One packet to the Port's device (the lone-packet path): 1 if written; errors are counted in its stats. */
int tun_write_one(port_t *p, uint8_t *pkt, uint32_t len) {
  if (p->closed || p->fd < 0) return 0;
  if (p->vnet) {
    w_ptrs[0] = pkt;
    w_lens[0] = len;
    return write_vnet(p->fd, 1, 0, p->stats);
  }
  ssize_t r;
  do {
    r = write(p->fd, pkt, len);
  } while (r < 0 && errno == EINTR);
  if (r >= 0) return 1;
  last_errno = errno;
  p->stats[ST_WRITE_ERRORS] += 1;
  return 0;
}

#define TUN_WRITE_USAGE "tunWriteBatch(fd, buf, meta, start, count, mode (0 plain, 1 vnet, 3 vnet + UDP), stats)"

/*
 * tunWriteBatch(fd, buf, meta, start, count, mode, stats) -> packets written.
 * Never throws for I/O errors. mode 0: one write() per packet. With a virtio
 * header (mode & 1): runs of one flow's segments are coalesced (TCP; UDP too
 * when mode & 2) and each write item goes out with one writev.
 */
napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  int32_t fd, start, count, mode, *meta;
  uint8_t *buf;
  double *st;
  size_t buf_len, meta_len, st_len;
  if (args(env, info, TUN_WRITE_USAGE, "iuIiiif", &fd, &buf, &buf_len, &meta, &meta_len, &start, &count, &mode, &st,
           &st_len))
    return NULL;
  if (start < 0 || count < 0 || ((size_t)start + (size_t)count) * META_STRIDE > meta_len || st_len < ST_COUNT)
    return throw_type(env, TUN_WRITE_USAGE);
  int32_t ok = 0;
  if (mode & 1) {
    for (int64_t at = start; at < (int64_t)start + count; at += MAX_IOV) {
      int32_t chunk = (int64_t)start + count - at < MAX_IOV ? (int32_t)((int64_t)start + count - at) : MAX_IOV;
      ok += write_vnet(fd, gather(buf, buf_len, meta, (int32_t)at, chunk), mode & 2, st);
    }
    return make_i32(env, ok);
  }
  for (int32_t i = start; i < start + count; i++) {
    int32_t off = meta[i * META_STRIDE], len = meta[i * META_STRIDE + 1];
    if (off < 0 || len <= 0 || (size_t)off + (size_t)len > buf_len) continue;
    ssize_t r;
    do {
      r = write(fd, buf + off, (size_t)len);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      last_errno = errno;
      st[ST_WRITE_ERRORS] += 1;
    } else {
      ok++;
    }
  }
  return make_i32(env, ok);
}

/*
 * Test entry points for the pure offload code (no device): the fuzz and
 * correctness tests drive the segmenter and the coalescer through these.
 *
 * tunSegment(input, length, slab, meta, slotSize, headroom, tailroom) -> segments written,
 * or a negative SPLIT_* reason. input[0..10) is the virtio header; fewer
 * slots than segments -> -4.
 */
napi_value tun_segment(napi_env env, napi_callback_info info) {
  const char *usage = "tunSegment(input, length, slab, meta, slotSize, headroom, tailroom)";
  uint8_t *in, *slab;
  size_t in_len, slab_len, meta_len;
  int32_t len, *meta, slot, head, tail;
  if (args(env, info, usage, "uiuIiii", &in, &in_len, &len, &slab, &slab_len, &meta, &meta_len, &slot, &head, &tail))
    return NULL;
  if (len < VNET_HDR_LEN || (size_t)len > in_len || slot <= head + tail || head < 0 || tail < 0)
    return throw_type(env, usage);
  size_t slots = slab_len / (size_t)slot;
  if (slots > meta_len / META_STRIDE) slots = meta_len / META_STRIDE;
  if (slots > MAX_MSGS * 4) slots = MAX_MSGS * 4;
  vnet_hdr_t h;
  split_plan_t plan;
  vnet_decode(in, &h);
  int s = split_plan(&h, in + VNET_HDR_LEN, (size_t)len - VNET_HDR_LEN, (size_t)(slot - head - tail), &plan);
  if (s < 0) return make_i32(env, s);
  if ((size_t)s > slots) return make_i32(env, -4);
  for (int i = 0; i < s; i++) seg_dst[i] = slab + (size_t)i * (size_t)slot + (size_t)head;
  split_emit(&plan, in + VNET_HDR_LEN, 0, (uint32_t)s, seg_dst, seg_len);
  for (int i = 0; i < s; i++) {
    meta[i * META_STRIDE] = i * slot + head;
    meta[i * META_STRIDE + 1] = (int32_t)seg_len[i];
  }
  return make_i32(env, s);
}

/*
 * tunCoalesce(buf, meta, start, count, udp, out, outMeta) -> write items: what
 * tunWriteBatch would write, each item's bytes (virtio header first) laid
 * end to end in out, outMeta [offset, length, members, 0] per item. Throws
 * when out or outMeta is too small.
 */
napi_value tun_coalesce(napi_env env, napi_callback_info info) {
  const char *usage = "tunCoalesce(buf, meta, start, count, udp, out, outMeta)";
  uint8_t *buf, *out;
  size_t buf_len, meta_len, out_len, om_len;
  int32_t *meta, start, count, *om;
  bool udp;
  if (args(env, info, usage, "uIiibuI", &buf, &buf_len, &meta, &meta_len, &start, &count, &udp, &out, &out_len, &om,
           &om_len))
    return NULL;
  if (start < 0 || count < 0 || count > MAX_IOV || ((size_t)start + (size_t)count) * META_STRIDE > meta_len)
    return throw_type(env, usage);
  uint32_t n = gather(buf, buf_len, meta, start, count);
  gro_stats_t gs = {0};
  uint32_t items = gro_plan(w_ptrs, w_lens, n, udp, w_items, w_next, &gs);
  size_t at = 0;
  for (uint32_t k = 0; k < items; k++) {
    int c = gro_iov(&w_items[k], w_ptrs, w_lens, w_next, w_hdr, w_iov);
    size_t start_at = at;
    for (int j = 0; j < c; j++) {
      if (at + w_iov[j].iov_len > out_len) return throw_type(env, "tunCoalesce: out too small");
      memcpy(out + at, w_iov[j].iov_base, w_iov[j].iov_len);
      at += w_iov[j].iov_len;
    }
    if ((size_t)(k + 1) * META_STRIDE > om_len) return throw_type(env, "tunCoalesce: outMeta too small");
    om[k * META_STRIDE] = (int32_t)start_at;
    om[k * META_STRIDE + 1] = (int32_t)(at - start_at);
    om[k * META_STRIDE + 2] = (int32_t)w_items[k].members;
    om[k * META_STRIDE + 3] = 0;
  }
  return make_i32(env, (int32_t)items);
}

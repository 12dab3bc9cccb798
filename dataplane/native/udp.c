/* UDP sockets: open, multicast groups, batched receive (GRO) and send (GSO). */
#include "scrooge.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cmsg.h"

#define CMSG_BYTES 128 /* per message: pktinfo (v4 or v6) + UDP_GRO */

static __thread struct mmsghdr rx_msgs[MAX_MSGS];
static __thread struct iovec rx_iov[MAX_MSGS];
static __thread struct sockaddr_in6 rx_names[MAX_MSGS];
static __thread char rx_cmsg[MAX_MSGS][CMSG_BYTES] __attribute__((aligned(8)));

int udp_read_batch(port_t *p) {
  uint32_t want = p->max_batch;
  if (want > MAX_MSGS) want = MAX_MSGS;
  for (uint32_t i = 0; i < want; i++) {
    rx_iov[i].iov_base = p->slab + (size_t)i * p->slot_size;
    rx_iov[i].iov_len = p->slot_size;
    memset(&rx_msgs[i].msg_hdr, 0, sizeof(struct msghdr));
    rx_msgs[i].msg_hdr.msg_name = &rx_names[i];
    rx_msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
    rx_msgs[i].msg_hdr.msg_iov = &rx_iov[i];
    rx_msgs[i].msg_hdr.msg_iovlen = 1;
    rx_msgs[i].msg_hdr.msg_control = rx_cmsg[i];
    rx_msgs[i].msg_hdr.msg_controllen = CMSG_BYTES;
  }
  int got;
  do {
    got = recvmmsg(p->fd, rx_msgs, want, MSG_DONTWAIT, NULL);
  } while (got < 0 && errno == EINTR);
  if (got < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    last_errno = errno;
    p->stats[ST_READ_ERRORS] += 1;
    /* ICMP-induced errors (ECONNREFUSED etc.) are per-datagram noise, not fatal. */
    if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH || errno == EMSGSIZE) return 0;
    return -errno;
  }
  size_t max_entries = p->meta_len / META_STRIDE;
  size_t e = 0;
  for (int i = 0; i < got; i++) {
    struct msghdr *h = &rx_msgs[i].msg_hdr;
    size_t len = rx_msgs[i].msg_len;
    if (h->msg_flags & MSG_TRUNC) {
      p->stats[ST_TRUNCATED] += 1;
      continue;
    }
    int32_t ifindex;
    int seg;
    cmsg_parse_rx(h, &ifindex, &seg);
    if (p->addrs && (size_t)(i + 1) * ADDR_STRIDE <= p->addrs_len) {
      memset(p->addrs + (size_t)i * ADDR_STRIDE, 0, ADDR_STRIDE);
      size_t nl = h->msg_namelen < 28 ? h->msg_namelen : 28;
      memcpy(p->addrs + (size_t)i * ADDR_STRIDE, &rx_names[i], nl);
    }
    size_t base = (size_t)i * p->slot_size;
    if (seg <= 0 || (size_t)seg >= len) {
      if (e >= max_entries) {
        p->stats[ST_OVERFLOW] += 1;
        continue;
      }
      int32_t *m = p->meta + e * META_STRIDE;
      m[0] = (int32_t)base;
      m[1] = (int32_t)len;
      m[2] = ifindex;
      m[3] = i;
      e++;
    } else {
      p->stats[ST_GRO_MESSAGES] += 1;
      for (size_t off = 0; off < len; off += (size_t)seg) {
        if (e >= max_entries) {
          p->stats[ST_OVERFLOW] += 1;
          continue;
        }
        int32_t *m = p->meta + e * META_STRIDE;
        m[0] = (int32_t)(base + off);
        m[1] = (int32_t)((len - off) < (size_t)seg ? (len - off) : (size_t)seg);
        m[2] = ifindex;
        m[3] = i;
        e++;
      }
    }
    p->stats[ST_READ_BYTES] += (double)len;
  }
  p->stats[ST_READ_PACKETS] += (double)e;
  if ((uint32_t)got == want) p->stats[ST_FULL_BATCHES] += 1;
  return (int)e;
}

static int set_int(int fd, int level, int opt, int val) { return setsockopt(fd, level, opt, &val, sizeof val); }

static void set_buf(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  if (set_int(fd, SOL_SOCKET, force_opt, bytes) < 0) set_int(fd, SOL_SOCKET, opt, bytes);
}

/*
 * udpOpen({ family: 4|6, address?: Uint8Array(4|16), port, scopeId?, v6only?, pktinfo?,
 *           gro?, rcvbuf?, sndbuf?, device?: string, mcastLoop? })
 *   -> { fd, port, gso: bool, gro: bool }
 */
napi_value udp_open(napi_env env, napi_callback_info info) {
  napi_value o;
  if (args(env, info, "udpOpen(options)", "o", &o)) return NULL;
  int family = field_i32(env, o, "family", 6) == 4 ? AF_INET : AF_INET6;
  int port = field_i32(env, o, "port", 0);
  if (port < 0 || port > 65535) return throw_type(env, "udpOpen: port");
  const char *usage = "udpOpen: address must be 4 or 16 bytes matching family; device a name";
  uint8_t *addr;
  size_t alen;
  napi_value dev;
  char device[IFNAMSIZ] = {0};
  if (fields(env, o, usage, "address device", "Uv", &addr, &alen, &dev)) return NULL;
  if ((addr && alen != (family == AF_INET ? 4u : 16u))) return throw_type(env, usage);
  napi_valuetype dt;
  if (napi_typeof(env, dev, &dt) == napi_ok && dt == napi_string && fields(env, o, usage, "device", "s", device, sizeof device))
    return NULL;

  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return throw_errno(env, "socket", errno, "udp");
  if (family == AF_INET6) {
    set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, field_i32(env, o, "v6only", 0));
    if (field_i32(env, o, "pktinfo", 0)) {
      set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
      set_int(fd, IPPROTO_IP, IP_PKTINFO, 1); /* v4-mapped datagrams on a dual-stack socket */
    }
    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, field_i32(env, o, "mcastLoop", 0));
    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1);
  } else if (field_i32(env, o, "pktinfo", 0)) {
    set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
  }
  set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, field_i32(env, o, "rcvbuf", 0));
  set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, field_i32(env, o, "sndbuf", 0));
  if (device[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)) < 0) {
    return throw_errno_close(env, fd, "setsockopt(SO_BINDTODEVICE)", device);
  }
  int r;
  if (family == AF_INET6) {
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    if (addr) memcpy(&sa.sin6_addr, addr, 16);
    sa.sin6_scope_id = (uint32_t)field_i32(env, o, "scopeId", 0);
    r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  } else {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (addr) memcpy(&sa.sin_addr, addr, 4);
    r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  }
  if (r < 0) {
    return throw_errno_close(env, fd, "bind", "udp");
  }
  struct sockaddr_in6 bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bl);
  int bound_port = ntohs(family == AF_INET6 ? bound.sin6_port : ((struct sockaddr_in *)&bound)->sin_port);

  /* Offloads, detected at run time. GSO: the option exists (>= 4.18). GRO: it can be enabled (>= 5.0). */
  int seg = 0;
  socklen_t sl = sizeof seg;
  bool gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &sl) == 0;
  bool gro = false;
  if (field_i32(env, o, "gro", 0)) gro = set_int(fd, SOL_UDP, UDP_GRO, 1) == 0;

  return result(env, "fd port gso gro", "iibb", fd, bound_port, gso, gro);
}

/* udpJoinGroup(fd, group16, ifindex, join) */
napi_value udp_join_group(napi_env env, napi_callback_info info) {
  const char *usage = "udpJoinGroup(fd, group (16 bytes), ifindex, join)";
  struct ipv6_mreq m;
  uint8_t *group;
  size_t len;
  int32_t fd, ifindex;
  bool join;
  if (args(env, info, usage, "iAib", &fd, &group, &len, &ifindex, &join)) return NULL;
  if (len != 16) return throw_type(env, usage);
  memcpy(&m.ipv6mr_multiaddr, group, 16);
  m.ipv6mr_interface = (unsigned)ifindex;
  if (setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m, sizeof m) < 0) {
    if (!join && (errno == EADDRNOTAVAIL || errno == ENODEV)) return NULL;
    if (join && errno == EADDRINUSE) return NULL; /* already a member */
    return throw_errno(env, join ? "setsockopt(IPV6_JOIN_GROUP)" : "setsockopt(IPV6_LEAVE_GROUP)", errno, NULL);
  }
  return NULL;
}

int sockaddr_len(const uint8_t *sa, size_t len) {
  uint16_t fam;
  if (len < 2) return -1;
  memcpy(&fam, sa, 2);
  if (fam == AF_INET6 && len >= sizeof(struct sockaddr_in6)) return sizeof(struct sockaddr_in6);
  if (fam == AF_INET && len >= sizeof(struct sockaddr_in)) return sizeof(struct sockaddr_in);
  return -1;
}

/* udpSendTo(fd, buf, offset, length, sockaddr) -> bytes sent or -errno */
napi_value udp_send_to(napi_env env, napi_callback_info info) {
  const char *usage = "udpSendTo(fd, buf, offset, length, sockaddr)";
  int32_t fd, off, len;
  uint8_t *buf, *sa;
  size_t buf_len, sa_len;
  if (args(env, info, usage, "iuiiu", &fd, &buf, &buf_len, &off, &len, &sa, &sa_len)) return NULL;
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > buf_len) return throw_type(env, usage);
  int sl = sockaddr_len(sa, sa_len);
  if (sl < 0) return throw_type(env, "udpSendTo: bad sockaddr");
  ssize_t r;
  do {
    r = sendto(fd, buf + off, (size_t)len, 0, (struct sockaddr *)sa, (socklen_t)sl);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    last_errno = errno;
    return make_i32(env, -errno);
  }
  return make_i32(env, (int32_t)r);
}

static __thread struct mmsghdr tx_msgs[MAX_MSGS];
static __thread struct iovec tx_iov[MAX_IOV];
static __thread char tx_cmsg[MAX_MSGS][SEGMENT_CMSG_SPACE] __attribute__((aligned(8)));
static __thread int tx_msg_first[MAX_MSGS]; /* first packet index of each message */
static __thread int tx_msg_count[MAX_MSGS]; /* packets in each message */

/*
 * udpSendBatch(fd, buf, meta, start, count, sockaddr, gso) -> packets sent.
 * Packets [start, start+count) of meta ([offset, length, ...] stride 4) all
 * go to one destination. With gso, runs of equal-length packets (the last of
 * a run may be shorter) become one UDP_SEGMENT message each. On failure the
 * return is the number sent before it and lastErrno() tells why; EIO/EINVAL
 * on a GSO message mean the path cannot segment: retry without gso.
 */
napi_value udp_send_batch(napi_env env, napi_callback_info info) {
  const char *usage = "udpSendBatch(fd, buf, meta, start, count, sockaddr, gso)";
  int32_t fd, start, count, *meta;
  uint8_t *buf, *sa;
  size_t buf_len, meta_len, sa_len;
  bool gso;
  if (args(env, info, usage, "iuIiiub", &fd, &buf, &buf_len, &meta, &meta_len, &start, &count, &sa, &sa_len, &gso))
    return NULL;
  if (start < 0 || count < 0 || (size_t)(start + count) * META_STRIDE > meta_len) return throw_type(env, usage);
  int sl = sockaddr_len(sa, sa_len);
  if (sl < 0) return throw_type(env, "udpSendBatch: bad sockaddr");
  if (count > MAX_IOV) count = MAX_IOV;

  int32_t sent_packets = 0;
  int i = 0;
  while (i < count) {
    /* Build up to MAX_MSGS messages. */
    int nmsg = 0;
    while (i < count && nmsg < MAX_MSGS) {
      int32_t *m = meta + (size_t)(start + i) * META_STRIDE;
      int32_t off = m[0], len = m[1];
      if (off < 0 || len < 0 || (size_t)off + (size_t)len > buf_len) {
        i++; /* skip malformed entries (JS bug guard) */
        continue;
      }
      struct msghdr *h = &tx_msgs[nmsg].msg_hdr;
      memset(h, 0, sizeof *h);
      h->msg_name = sa;
      h->msg_namelen = (socklen_t)sl;
      h->msg_iov = &tx_iov[i];
      tx_iov[i].iov_base = buf + off;
      tx_iov[i].iov_len = (size_t)len;
      int segs = 1;
      size_t total = (size_t)len;
      if (gso && len > 0) {
        while (i + segs < count && segs < GSO_MAX_SEGMENTS) {
          int32_t *n = meta + (size_t)(start + i + segs) * META_STRIDE;
          if (n[1] > len || n[1] <= 0 || n[0] < 0 || (size_t)n[0] + (size_t)n[1] > buf_len) break;
          if (total + (size_t)n[1] > GSO_MAX_BYTES) break;
          tx_iov[i + segs].iov_base = buf + n[0];
          tx_iov[i + segs].iov_len = (size_t)n[1];
          total += (size_t)n[1];
          segs++;
          if (n[1] < len) break; /* a shorter packet ends the run */
        }
      }
      h->msg_iovlen = (size_t)segs;
      if (segs > 1) cmsg_put_segment(h, tx_cmsg[nmsg], (uint16_t)len);
      tx_msg_first[nmsg] = i;
      tx_msg_count[nmsg] = segs;
      nmsg++;
      i += segs;
    }
    int done = 0;
    while (done < nmsg) {
      int r = sendmmsg(fd, tx_msgs + done, (unsigned)(nmsg - done), MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        last_errno = errno;
        return make_i32(env, sent_packets);
      }
      for (int k = done; k < done + r; k++) sent_packets += tx_msg_count[k];
      done += r;
    }
  }
  return make_i32(env, sent_packets);
}


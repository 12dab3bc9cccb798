/* TUN devices: open, probe offloads, read and write batches. */
#include "scrooge.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <linux/netlink.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int tun_read_batch(port_t *p) {
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

/* tunOpen(name, multiQueue) -> { fd, name } */
napi_value tun_open(napi_env env, napi_callback_info info) {
  char name[IFNAMSIZ];
  bool mq;
  if (args(env, info, "tunOpen(name (<16 chars), multiQueue)", "sb", name, sizeof name, &mq)) return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno, "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1)); /* ifr is zeroed: NUL-terminated */
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    return throw_errno_close(env, fd, "ioctl(TUNSETIFF)", name);
  }
  return result(env, "fd name", "is", fd, ifr.ifr_name);
}

#ifndef IFF_VNET_HDR
#define IFF_VNET_HDR 0x4000
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

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

/* tunWriteBatch(fd, buf, meta, start, count) -> packets written. Never throws for I/O errors. */
napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  const char *usage = "tunWriteBatch(fd, buf, meta, start, count)";
  int32_t fd, start, count, *meta;
  uint8_t *buf;
  size_t buf_len, meta_len;
  if (args(env, info, usage, "iuIii", &fd, &buf, &buf_len, &meta, &meta_len, &start, &count)) return NULL;
  if (start < 0 || count < 0 || (size_t)(start + count) * META_STRIDE > meta_len) return throw_type(env, usage);
  int32_t ok = 0;
  for (int32_t i = start; i < start + count; i++) {
    int32_t off = meta[i * META_STRIDE], len = meta[i * META_STRIDE + 1];
    if (off < 0 || len <= 0 || (size_t)off + (size_t)len > buf_len) continue;
    ssize_t r;
    do {
      r = write(fd, buf + off, (size_t)len);
    } while (r < 0 && errno == EINTR);
    if (r < 0) last_errno = errno;
    else ok++;
  }
  return make_i32(env, ok);
}


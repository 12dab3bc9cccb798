/* Links and addresses: ioctl for MTU and flags, rtnetlink for addresses. */
#include "scrooge.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1)); /* callers zero ifr */
  int r = ioctl(s, req, ifr);
  int e = errno;
  close(s);
  return r < 0 ? -e : 0;
}

/* linkSetMtu(name, mtu) */
napi_value link_set_mtu(napi_env env, napi_callback_info info) {
  char name[IFNAMSIZ];
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (args(env, info, "linkSetMtu(name, mtu)", "si", name, sizeof name, &ifr.ifr_mtu)) return NULL;
  int r = ifreq_ioctl(name, SIOCSIFMTU, &ifr);
  if (r < 0) return throw_errno(env, "ioctl(SIOCSIFMTU)", -r, name);
  return NULL;
}

/* linkSetUp(name, up) */
napi_value link_set_up(napi_env env, napi_callback_info info) {
  char name[IFNAMSIZ];
  bool up;
  if (args(env, info, "linkSetUp(name, up)", "sb", name, sizeof name, &up)) return NULL;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  int r = ifreq_ioctl(name, SIOCGIFFLAGS, &ifr);
  if (r < 0) return throw_errno(env, "ioctl(SIOCGIFFLAGS)", -r, name);
  if (up) ifr.ifr_flags |= IFF_UP;
  else ifr.ifr_flags &= ~IFF_UP;
  r = ifreq_ioctl(name, SIOCSIFFLAGS, &ifr);
  if (r < 0) return throw_errno(env, "ioctl(SIOCSIFFLAGS)", -r, name);
  return NULL;
}

/* linkIndex(name) -> ifindex or 0 */
napi_value link_index(napi_env env, napi_callback_info info) {
  char name[IFNAMSIZ];
  if (args(env, info, "linkIndex(name)", "s", name, sizeof name)) return NULL;
  return make_i32(env, (int32_t)if_nametoindex(name));
}

static void nl_attr(struct nlmsghdr *n, size_t max, int type, const void *data, size_t len) {
  size_t rtalen = RTA_LENGTH(len);
  if (NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rtalen) > max) return;
  struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
  rta->rta_type = (unsigned short)type;
  rta->rta_len = (unsigned short)rtalen;
  memcpy(RTA_DATA(rta), data, len);
  n->nlmsg_len = (uint32_t)(NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rtalen));
}

/* Sends one rtnetlink request and waits for its ACK. Returns 0 or -errno. */
static int nl_request(struct nlmsghdr *n) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  n->nlmsg_seq = 1;
  if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  char buf[4096];
  for (;;) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return -e;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)r); h = NLMSG_NEXT(h, r)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *err = NLMSG_DATA(h);
        close(fd);
        return err->error; /* 0 = ACK */
      }
      if (h->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return 0;
      }
    }
  }
}

/* addrAdd(ifindex, addressBytes(4|16), prefixLen, add) — IPv6 without DAD, so it is usable at once. */
napi_value addr_change(napi_env env, napi_callback_info info) {
  const char *usage = "addrChange(ifindex, address (4 or 16 bytes), prefixLen, add)";
  int32_t ifindex, plen;
  uint8_t *a;
  size_t alen;
  bool add;
  if (args(env, info, usage, "iAib", &ifindex, &a, &alen, &plen, &add)) return NULL;
  if (plen < 0 || plen > (int)alen * 8) return throw_type(env, usage);
  struct {
    struct nlmsghdr n;
    struct ifaddrmsg i;
    char attrs[128];
  } req;
  memset(&req, 0, sizeof req);
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
  req.n.nlmsg_type = add ? RTM_NEWADDR : RTM_DELADDR;
  req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? (NLM_F_CREATE | NLM_F_REPLACE) : 0);
  req.i.ifa_family = alen == 4 ? AF_INET : AF_INET6;
  req.i.ifa_prefixlen = (unsigned char)plen;
  req.i.ifa_index = (unsigned)ifindex;
  req.i.ifa_flags = alen == 16 ? (IFA_F_NODAD | IFA_F_PERMANENT) : IFA_F_PERMANENT;
  req.i.ifa_scope = (alen == 16 && a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
  nl_attr(&req.n, sizeof req, IFA_LOCAL, a, alen);
  nl_attr(&req.n, sizeof req, IFA_ADDRESS, a, alen);
  int r = nl_request(&req.n);
  if (r < 0 && !(add && r == -EEXIST) && !(!add && r == -EADDRNOTAVAIL))
    return throw_errno(env, add ? "netlink(RTM_NEWADDR)" : "netlink(RTM_DELADDR)", -r, NULL);
  return NULL;
}


/*
 * netlinkSubscribe(rcvbuf) -> fd: a non-blocking rtnetlink socket that receives
 * the kernel's link and address notifications (RTMGRP_LINK, IPv4 and IPv6
 * addresses). Poll it with a Port of kind KIND_NETLINK; an empty entry in a
 * batch means notifications were lost (ENOBUFS) and the state must be re-read.
 */
napi_value netlink_subscribe(napi_env env, napi_callback_info info) {
  int32_t rcvbuf;
  if (args(env, info, "netlinkSubscribe(rcvbuf)", "i", &rcvbuf)) return NULL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, "socket", errno, "netlink");
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    return throw_errno_close(env, fd, "bind", "netlink");
  }
  return make_i32(env, fd);
}

/*
 * Ancillary data of the UDP path, in one place so it can be tested on its
 * own (test/native/cmsg_test.c, run natively and under qemu for arm and
 * big-endian s390x). The widths follow the kernel exactly:
 *   receive IPV6_PKTINFO: struct in6_pktinfo   (ipi6_ifindex is unsigned int)
 *   receive IP_PKTINFO:   struct in_pktinfo    (ipi_ifindex is int)
 *   receive UDP_GRO:      int                  (udp_cmsg_recv: put_cmsg(..., sizeof(int), &gso_size))
 *   send    UDP_SEGMENT:  u16                  (__udp_cmsg_send: *(__u16 *)CMSG_DATA(cmsg))
 * Reading 16 bits of the UDP_GRO int works on little-endian machines only.
 */
#ifndef SCROOGE_CMSG_H
#define SCROOGE_CMSG_H

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* Room for one UDP_SEGMENT control message. */
#define SEGMENT_CMSG_SPACE CMSG_SPACE(sizeof(uint16_t))

/* The receiving interface (0 if not reported) and the GRO segment size (0 if not coalesced). */
static inline void cmsg_parse_rx(struct msghdr *h, int32_t *ifindex, int *gso_size) {
  *ifindex = 0;
  *gso_size = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
        c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      *ifindex = (int32_t)pi.ipi6_ifindex;
    } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
               c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      *ifindex = (int32_t)pi.ipi_ifindex;
    } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int s;
      memcpy(&s, CMSG_DATA(c), sizeof s);
      *gso_size = s;
    }
  }
}

/* Attaches one UDP_SEGMENT message (segment size `seg`) to `h`, using `space` (SEGMENT_CMSG_SPACE bytes). */
static inline void cmsg_put_segment(struct msghdr *h, void *space, uint16_t seg) {
  h->msg_control = space;
  h->msg_controllen = SEGMENT_CMSG_SPACE;
  struct cmsghdr *c = CMSG_FIRSTHDR(h);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  memcpy(CMSG_DATA(c), &seg, sizeof seg);
}

#endif

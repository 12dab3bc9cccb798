/*
 * dataplane/native/cmsg.h on the machine it runs on: built by
 * test/native-c.test.ts (host) and test/cross/matrix.ts (arm64, armv7 and
 * big-endian s390x under qemu). qemu-user passes IP(V6)_PKTINFO, UDP_GRO and
 * UDP_SEGMENT ancillary data through unconverted between a big-endian guest
 * and a little-endian host, so on s390x these values can only be tested
 * here, as the kernel writes them: put_cmsg() copies native-order values.
 *
 * Prints TAP; exits 1 on any failure.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>

#include "../../dataplane/native/cmsg.h"
#include "tap.h"


/* Appends one control message as the kernel's put_cmsg() does. */
static struct cmsghdr *put(struct msghdr *h, struct cmsghdr *at, int level, int type, const void *data, size_t len) {
  struct cmsghdr *c = at ? CMSG_NXTHDR(h, at) : CMSG_FIRSTHDR(h);
  c->cmsg_level = level;
  c->cmsg_type = type;
  c->cmsg_len = CMSG_LEN(len);
  memcpy(CMSG_DATA(c), data, len);
  return c;
}

int main(void) {
  union {
    char buf[256];
    struct cmsghdr align;
  } ctl;
  struct msghdr h;
  int32_t ifindex;
  int seg;

  /* IPV6_PKTINFO then UDP_GRO, as a dual-stack socket with both options reports them */
  memset(&ctl, 0, sizeof ctl);
  memset(&h, 0, sizeof h);
  h.msg_control = ctl.buf;
  h.msg_controllen = sizeof ctl.buf;
  struct in6_pktinfo pi6;
  memset(&pi6, 0, sizeof pi6);
  pi6.ipi6_ifindex = 7;
  struct cmsghdr *c = put(&h, NULL, IPPROTO_IPV6, IPV6_PKTINFO, &pi6, sizeof pi6);
  int gro = 1200;
  c = put(&h, c, SOL_UDP, UDP_GRO, &gro, sizeof gro);
  h.msg_controllen = (size_t)((char *)c + CMSG_SPACE(sizeof gro) - ctl.buf);
  cmsg_parse_rx(&h, &ifindex, &seg);
  check(ifindex == 7, "IPV6_PKTINFO: ifindex 7");
  check(seg == 1200, "UDP_GRO (an int): segment size 1200");
  uint16_t low16;
  memcpy(&low16, CMSG_DATA(c), sizeof low16);
  printf("# the first 16 bits of that int read as a u16: %u (the old reader's value; 0 on big-endian)\n", low16);

  /* IP_PKTINFO (v4-mapped datagrams on the dual-stack socket) */
  memset(&ctl, 0, sizeof ctl);
  h.msg_controllen = sizeof ctl.buf;
  struct in_pktinfo pi4;
  memset(&pi4, 0, sizeof pi4);
  pi4.ipi_ifindex = 300;
  c = put(&h, NULL, IPPROTO_IP, IP_PKTINFO, &pi4, sizeof pi4);
  h.msg_controllen = CMSG_SPACE(sizeof pi4);
  cmsg_parse_rx(&h, &ifindex, &seg);
  check(ifindex == 300, "IP_PKTINFO: ifindex 300 (more than 8 bits)");
  check(seg == 0, "no UDP_GRO: segment size 0");

  /* a truncated UDP_GRO message is ignored, not over-read */
  memset(&ctl, 0, sizeof ctl);
  h.msg_controllen = sizeof ctl.buf;
  uint16_t short_gro = 1200;
  c = put(&h, NULL, SOL_UDP, UDP_GRO, &short_gro, sizeof short_gro);
  h.msg_controllen = CMSG_SPACE(sizeof short_gro);
  cmsg_parse_rx(&h, &ifindex, &seg);
  check(seg == 0 && ifindex == 0, "a UDP_GRO message shorter than an int is ignored");

  /* no control data at all */
  h.msg_control = NULL;
  h.msg_controllen = 0;
  cmsg_parse_rx(&h, &ifindex, &seg);
  check(ifindex == 0 && seg == 0, "no control data: ifindex 0, segment size 0");

  /* UDP_SEGMENT: what __udp_cmsg_send reads, a u16 of exactly CMSG_LEN(2) */
  char space[SEGMENT_CMSG_SPACE] __attribute__((aligned(8)));
  memset(&h, 0, sizeof h);
  cmsg_put_segment(&h, space, 1420);
  struct cmsghdr *s = CMSG_FIRSTHDR(&h);
  uint16_t got;
  memcpy(&got, CMSG_DATA(s), sizeof got);
  check(s->cmsg_level == SOL_UDP && s->cmsg_type == UDP_SEGMENT, "UDP_SEGMENT: level and type");
  check(s->cmsg_len == CMSG_LEN(sizeof(uint16_t)), "UDP_SEGMENT: length is CMSG_LEN(2), as the kernel requires");
  check(got == 1420, "UDP_SEGMENT: segment size 1420 as a native u16");

  return tap_done();
}

/*
 * scrooge native I/O: TUN devices, UDP sockets, link setup. N-API, GNU C11.
 *
 * The boundary (see doc/ARCHITECTURE.md):
 *   - JS owns all packet memory. A Port borrows a JS slab (Uint8Array), a
 *     meta array (Int32Array) and a stats array (Float64Array) for its whole
 *     life and keeps references so they cannot be collected.
 *   - Readiness comes from uv_poll (level-triggered) on a non-blocking fd.
 *     On each wake-up the Port reads up to maxBatch packets (read() for TUN,
 *     recvmmsg() for UDP) into slab slots and calls its JS callback ONCE with
 *     the number of meta entries. JS consumes the batch synchronously.
 *   - Writes are batched too: tunWriteBatch() loops write() per packet in one
 *     call; udpSendBatch() builds UDP GSO runs and sends them with sendmmsg().
 *   - Nothing here aborts the process: setup failures throw a JS Error with
 *     code/errno/syscall; data-path failures are return values and counters.
 *
 * Meta layout (stride 4 int32 per entry):
 *   TUN read : [offset, length, 0, 0]  (with offloads: one entry per segment of a super-packet)
 *   UDP read : [offset, length, ifindex (pktinfo, 0 if unknown), addrSlot]
 *              the source sockaddr of entry e is at addrs[addrSlot*32 .. +28)
 *              (several entries share a slot when GRO coalesced them).
 *
 * Files: napi.c (errors, argument tables), port.c (the polled Port), tun.c,
 * udp.c, link.c (ioctl + rtnetlink), module.c (the exports).
 */
#ifndef SCROOGE_H
#define SCROOGE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "offload.h"

/* Batch sizes: base/constants.ts NATIVE has the same values (test/constants.test.ts). */
#define META_STRIDE 4
#define ADDR_STRIDE 32
#define MAX_MSGS 256 /* messages per recvmmsg/sendmmsg call */
#define MAX_IOV 1024 /* packets per send batch */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000

/* Stats slots shared with JS (Float64Array). Keep in sync with dataplane/native.ts. */
enum {
  ST_WAKEUPS = 0,
  ST_READ_PACKETS,
  ST_READ_BYTES,
  ST_READ_ERRORS,
  ST_TRUNCATED,
  ST_FULL_BATCHES,
  ST_GRO_MESSAGES,
  ST_OVERFLOW, /* datagrams (or GRO segments) dropped because the batch's meta array was full */
  ST_FOREIGN,  /* netlink messages not from the kernel (another process's unicast), dropped */
  /* TUN with a virtio-net header (offloads). Reads: */
  ST_SUPER_READS,  /* reads that carried a GSO super-packet */
  ST_OFFLOAD_BAD,  /* reads dropped: the virtio header or the packet's headers did not add up */
  /* Writes (tunWriteBatch's stats argument): */
  ST_GRO_WRITES,   /* super-packets written (two or more packets coalesced) */
  ST_GRO_MERGED,   /* packets that went out inside a super-packet */
  ST_GRO_BAD_CSUM, /* coalescing candidates written alone because a checksum did not verify */
  ST_WRITE_ERRORS, /* failed write()/writev() calls */
  ST_COUNT
};

/* The data packet (dataplane/packet.ts): type 1, 3 zero bytes, session id, 64-bit counter; a 16-byte tag. */
#define MSG_DATA_TYPE 1
#define DATA_HEADER_BYTES 16
#define TAG_BYTES 16

/*
 * Slots of a tunnel's shared counters (TunnelCounters in dataplane/session.ts
 * has the same order: test/express.test.ts checks it against
 * express_slot_names).
 */
enum {
  XC_TX_PACKETS = 0,
  XC_TX_BYTES,
  XC_TX_WIRE,
  XC_TX_KEEPALIVES,
  XC_RX_PACKETS,
  XC_RX_BYTES,
  XC_RX_WIRE,
  XC_RX_KEEPALIVES,
  XC_DROP_MALFORMED,
  XC_DROP_BAD_TAG,
  XC_DROP_REPLAY,
  XC_DROP_STALE,
  XC_DROP_NO_SESSION,
  XC_DROP_QUEUE_FULL,
  XC_DROP_DEVICE_ERROR,
  XC_DROP_SEND_ERROR,
  XC_ROTATIONS,
  XC_FAST_RX,
  XC_FAST_TX,
  XC_LAST_SEND_MS,
  XC_LAST_AUTH_RECV_MS,
  XC_COUNT
};

typedef struct express express_t;
typedef struct xtable xtable_t;

/* A netlink Port reads with read() like a TUN Port: one message batch per slot. */
enum { KIND_TUN = 0, KIND_UDP = 1, KIND_NETLINK = 2 };

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int kind;
  int active;      /* uv_poll started */
  int closed;      /* uv_close requested */
  int handle_gone; /* close callback ran */
  int finalized;   /* JS wrapper collected */
  napi_ref self, cb, slab_ref, meta_ref, stats_ref, addrs_ref;
  napi_async_context actx;
  uint8_t *slab;
  size_t slab_len;
  int32_t *meta;
  size_t meta_len;
  double *stats;
  uint8_t *addrs;
  size_t addrs_len;
  uint32_t slot_size, headroom, tailroom, max_batch;
  /* TUN with a virtio-net header: one read's buffer, and the super-packet still being split. */
  int vnet;
  uint8_t *scratch;
  split_plan_t pend;
  uint32_t pend_next; /* next segment of `pend` to emit; pend.segments when none is pending */
  express_t *express; /* TUN: the tunnel's lone-packet path while armed */
  xtable_t *xt;       /* UDP: session id -> armed express tunnel (express.c) */
} port_t;

/* A tunnel's lone-packet path (express.c): the current session and where its packets go. */
struct express {
  napi_env env;
  napi_ref counters_ref, tx_ref, mark_ref, ring_ref;
  double *counters; /* XC_* slots, shared with TunnelCounters */
  int armed, finalized;
  int rx, tx, drain; /* directions allowed (no traffic-control stage); read the TUN after a write */
  port_t *udp, *tun;
  uint32_t id;
  uint8_t send_key[32], recv_key[32];
  double *sess_tx;  /* the session's send counter */
  double *mark;     /* its replay window's highest counter */
  uint32_t *ring;   /* and ring */
  size_t ring_words;
  uint64_t window;
  double expires_ms, send_limit, clock_offset;
  uint8_t peer[28];
  socklen_t peer_len;
};

/* A TUN read's buffer: the virtio header and the largest super-packet (64 KiB), with room to spare. */
#define TUN_SCRATCH_BYTES 66570 /* VNET_HDR_LEN + 64 KiB + 1 KiB */

/* --- napi.c: errors and arguments ---------------------------------------- */

/* errno of the most recent failed data-path syscall (lastErrno()). */
extern __thread int last_errno;
const char *errno_name(int e);
/* Throws Error(message) with .code = errno name, .errno, .syscall. Returns NULL. */
napi_value throw_errno(napi_env env, const char *syscall, int e, const char *what);
/* The same for a setup call that fails after opening fd: closes it first (errno kept). */
napi_value throw_errno_close(napi_env env, int fd, const char *syscall, const char *what);
napi_value throw_type(napi_env env, const char *msg);

/*
 * Reads a call's arguments by a format, one character per argument, and throws
 * TypeError(usage) if any is missing or of the wrong type (returns -1):
 *   i int32_t*           b bool*               s char *buf, size_t size
 *   u uint8_t**, size_t* (Uint8Array)          U the same, or NULL/0 for null/undefined
 *   A uint8_t**, size_t* (an IP address: a Uint8Array of 4 or 16 bytes)
 *   I int32_t**, size_t* (Int32Array)          f double**, size_t* (Float64Array)
 *   v napi_value* (anything)                   F napi_value* (a function)
 *   o napi_value* (an object)
 */
int args(napi_env env, napi_callback_info info, const char *usage, const char *fmt, ...);
/* The same for the named properties of an object: names are space-separated, one per format character. */
int fields(napi_env env, napi_value obj, const char *usage, const char *names, const char *fmt, ...);
/* An optional property as int32 (booleans as 0/1), or `def`. */
int32_t field_i32(napi_env env, napi_value obj, const char *key, int32_t def);

/* A result object, by names (space-separated) and a format: i int32, b bool (as int), s string. */
napi_value result(napi_env env, const char *names, const char *fmt, ...);
napi_value make_i32(napi_env env, int32_t x);
void put_i32(napi_env env, napi_value obj, const char *name, int32_t x);

/* --- the exported calls, by file ------------------------------------------ */

napi_value port_define(napi_env env);                               /* port.c */
/* The Port behind a JS value (NULL if it is not one). */
port_t *port_of(napi_env env, napi_value v);
int port_read(port_t *p);
/* Calls the Port's JS callback with a batch of n, then with the rest of a pending super-packet. */
void port_deliver(port_t *p, int n);
napi_value express_define(napi_env env);                            /* express.c */
int express_receive(port_t *p);
/* express.c's internals, for express_js.c (the class) */
extern const char *const express_slot_names[XC_COUNT];
xtable_t *xt_new(void);
express_t *xt_get(const xtable_t *t, uint32_t id);
int xt_put(xtable_t *t, uint32_t id, express_t *x);
void xt_del(xtable_t *t, uint32_t id, const express_t *x);
int replay_check(const express_t *x, uint64_t n);
void replay_accept(express_t *x, uint64_t n);
napi_value express_keeper(napi_env env, napi_callback_info info);
int express_send(express_t *x, port_t *t);
void express_disarm(express_t *x);
void express_port_closed(port_t *p);
int aead_ready(void);                                               /* aead.c */
const char *aead_why_not(void);
const char *aead_version(void);
int aead_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad, size_t ad_len, uint8_t *data,
              size_t len, uint8_t tag[16]);
int aead_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad, size_t ad_len, uint8_t *data,
              size_t len, const uint8_t tag[16]);
int tun_write_one(port_t *p, uint8_t *pkt, uint32_t len);          /* tun.c */
int sockaddr_len(const uint8_t *sa, size_t len);                    /* udp.c */
int tun_read_batch(port_t *p);                                      /* tun.c */
napi_value tun_open(napi_env env, napi_callback_info info);
napi_value tun_probe_offload(napi_env env, napi_callback_info info);
napi_value tun_write_batch(napi_env env, napi_callback_info info);
napi_value tun_segment(napi_env env, napi_callback_info info);
napi_value tun_coalesce(napi_env env, napi_callback_info info);
/* Whether a super-packet read earlier still has segments to hand out (the Port calls back again at once). */
static inline int tun_pending(const port_t *p) { return p->vnet && p->pend_next < p->pend.segments; }
int udp_read_batch(port_t *p);                                      /* udp.c */
napi_value udp_open(napi_env env, napi_callback_info info);
napi_value udp_join_group(napi_env env, napi_callback_info info);
napi_value udp_send_to(napi_env env, napi_callback_info info);
napi_value udp_send_batch(napi_env env, napi_callback_info info);
napi_value link_set_mtu(napi_env env, napi_callback_info info);     /* link.c */
napi_value link_set_up(napi_env env, napi_callback_info info);
napi_value link_index(napi_env env, napi_callback_info info);
napi_value addr_change(napi_env env, napi_callback_info info);
napi_value netlink_subscribe(napi_env env, napi_callback_info info);

#endif

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
 *   TUN read : [offset, length, 0, 0]
 *   UDP read : [offset, length, ifindex (pktinfo, 0 if unknown), addrSlot]
 *              the source sockaddr of entry e is at addrs[addrSlot*32 .. +28)
 *              (several entries share a slot when GRO coalesced them).
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cmsg.h"

#define META_STRIDE 4
#define ADDR_STRIDE 32
#define MAX_MSGS 256   /* messages per recvmmsg/sendmmsg call */
#define MAX_IOV 1024   /* packets per send batch */
#define CMSG_BYTES 128 /* per message: pktinfo (v4 or v6) + UDP_GRO */
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
  ST_COUNT
};

/* ------------------------------------------------------------------------ */
/* errors                                                                    */

static __thread int last_errno = 0;

/*
 * errno names from our own table: strerrorname_np needs glibc >= 2.32, and a
 * prebuilt binary must load on older glibc (Node 20 itself needs 2.28) and
 * must not depend on the libc it was built against.
 */
static const char *errno_name(int e) {
  switch (e) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(ENXIO) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY)
    E(EEXIST) E(ENODEV) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOTTY) E(ENOSPC) E(EPIPE) E(ERANGE) E(ENOSYS)
    E(ENOBUFS) E(EOPNOTSUPP) E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH)
    E(ECONNREFUSED) E(EHOSTUNREACH) E(EMSGSIZE) E(ENOPROTOOPT) E(EPROTONOSUPPORT) E(ENOTSOCK) E(EDESTADDRREQ)
    E(ENOTCONN) E(ETIMEDOUT) E(EBADFD) E(ENAMETOOLONG) E(ERFKILL)
#undef E
  }
  return "EUNKNOWN";
}

/* Throws Error(message) with .code = errno name, .errno, .syscall. Returns NULL. */
static napi_value throw_errno(napi_env env, const char *syscall, int e, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s%s%s: %s (%s)", what ? what : "", what ? " " : "", syscall, strerror(e), errno_name(e));
  napi_value m, err, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_string_utf8(env, errno_name(e), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "code", v);
  napi_create_int32(env, e, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  napi_throw(env, err);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
  return NULL;
}

#define NAPI_OK(call)                                      \
  do {                                                     \
    if ((call) != napi_ok) return throw_type(env, #call); \
  } while (0)

/* ------------------------------------------------------------------------ */
/* argument helpers                                                          */

/* A typed array of exactly type `want`: its data and element count. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type t;
  size_t n;
  void *d;
  napi_value ab;
  size_t off;
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  if (napi_get_typedarray_info(env, v, &t, &n, &d, &ab, &off) != napi_ok) return -1;
  if (t != want) return -1;
  *data = d;
  *len = n;
  return 0;
}

static int get_u8(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  return get_typed(env, v, napi_uint8_array, (void **)data, len);
}

static int get_i32arr(napi_env env, napi_value v, int32_t **data, size_t *len) {
  return get_typed(env, v, napi_int32_array, (void **)data, len);
}

static int get_f64arr(napi_env env, napi_value v, double **data, size_t *len) {
  return get_typed(env, v, napi_float64_array, (void **)data, len);
}

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

/* A string of at most size - 1 bytes (a 15-character interface name fits IFNAMSIZ 16); longer is an error, not a truncation. */
static int get_str(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len, n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len > size - 1) return -1;
  if (napi_get_value_string_utf8(env, v, buf, size, &n) != napi_ok) return -1;
  return n == len ? 0 : -1;
}

static napi_value make_i32(napi_env env, int32_t x) {
  napi_value v;
  napi_create_int32(env, x, &v);
  return v;
}

/* obj[name] = x, for the result objects of setup calls */
static void put_i32(napi_env env, napi_value obj, const char *name, int32_t x) {
  napi_set_named_property(env, obj, name, make_i32(env, x));
}

static void put_bool(napi_env env, napi_value obj, const char *name, bool x) {
  napi_value v;
  napi_get_boolean(env, x, &v);
  napi_set_named_property(env, obj, name, v);
}

/* ------------------------------------------------------------------------ */
/* Port: one fd + uv_poll + a JS callback per batch                          */

enum { KIND_TUN = 0, KIND_UDP = 1 };

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int kind;
  int active;     /* uv_poll started */
  int closed;     /* uv_close requested */
  int handle_gone;/* close callback ran */
  int finalized;  /* JS wrapper collected */
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
} port_t;

/*
 * Lets go of the JS objects a Port uses while it polls: the callback (which
 * closes over the owning Tunnel, which holds this Port's wrapper: a cycle
 * through a strong reference that the GC cannot break) and the arrays. Called
 * once the Port is closed: nothing reads into the arrays or calls back after
 * that. Without it every closed tunnel stayed in memory for good.
 */
static void port_release_js(port_t *p) {
  napi_env env = p->env;
  napi_ref *refs[] = {&p->cb, &p->slab_ref, &p->meta_ref, &p->stats_ref, &p->addrs_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i]) napi_delete_reference(env, *refs[i]);
    *refs[i] = NULL;
  }
  p->slab = NULL;
  p->meta = NULL;
  p->stats = NULL;
  p->addrs = NULL;
}

static void port_free(port_t *p) {
  napi_env env = p->env;
  port_release_js(p);
  if (p->self) napi_delete_reference(env, p->self);
  if (p->actx) napi_async_destroy(env, p->actx);
  free(p);
}

static void on_handle_closed(uv_handle_t *h) {
  port_t *p = h->data;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
  p->handle_gone = 1;
  if (p->finalized) port_free(p);
}

static void port_close(port_t *p) {
  if (p->closed) return;
  p->closed = 1;
  if (p->active) {
    uv_poll_stop(&p->poll);
    p->active = 0;
    if (!p->finalized) napi_reference_unref(p->env, p->self, NULL);
  }
  if (!p->finalized) port_release_js(p); /* (in a finalizer the env must not be touched; port_free does it) */
  uv_close((uv_handle_t *)&p->poll, on_handle_closed);
}

static void port_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  port_t *p = data;
  p->finalized = 1;
  if (!p->closed) port_close(p);
  else if (p->handle_gone) port_free(p);
}

/* Calls the JS callback with one int argument. */
static void port_emit(port_t *p, int32_t n) {
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, self, arg, result;
  if (napi_get_reference_value(env, p->cb, &cb) == napi_ok && cb &&
      napi_get_reference_value(env, p->self, &self) == napi_ok && self) {
    napi_create_int32(env, n, &arg);
    /*
     * napi_call_function, not napi_make_callback: the data-path callbacks are
     * synchronous by contract (no promises, no nextTick), and skipping the
     * callback scope saves ~15-30 us per cold wake-up on the latency path.
     */
    napi_status st = napi_call_function(env, self, cb, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc); /* surfaces as 'uncaughtException' */
    }
  }
  napi_close_handle_scope(env, scope);
}

static int tun_read_batch(port_t *p) {
  uint32_t n = 0;
  size_t room = p->slot_size - p->headroom - p->tailroom;
  while (n < p->max_batch) {
    size_t off = (size_t)n * p->slot_size + p->headroom;
    ssize_t r = read(p->fd, p->slab + off, room);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      last_errno = errno;
      p->stats[ST_READ_ERRORS] += 1;
      if (n == 0) return -errno;
      break;
    }
    if (r == 0) break;
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

static __thread struct mmsghdr rx_msgs[MAX_MSGS];
static __thread struct iovec rx_iov[MAX_MSGS];
static __thread struct sockaddr_in6 rx_names[MAX_MSGS];
static __thread char rx_cmsg[MAX_MSGS][CMSG_BYTES] __attribute__((aligned(8)));

static int udp_read_batch(port_t *p) {
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

static void on_poll(uv_poll_t *h, int status, int events) {
  port_t *p = h->data;
  if (p->closed) return;
  p->stats[ST_WAKEUPS] += 1;
  if (status < 0) {
    port_emit(p, status); /* libuv status is a negative errno */
    return;
  }
  if (!(events & UV_READABLE)) return;
  int n = p->kind == KIND_TUN ? tun_read_batch(p) : udp_read_batch(p);
  if (n == 0) return;
  if (n < 0) {
    /* A persistent error would spin the loop: stop polling, let JS decide. */
    if (p->active) {
      uv_poll_stop(&p->poll);
      p->active = 0;
      napi_reference_unref(p->env, p->self, NULL);
    }
  }
  port_emit(p, n);
}

/* new Port(kind, fd, slab, meta, stats, addrs|null, slotSize, headroom, tailroom, maxBatch, callback) */
static napi_value port_new(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11], self;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc != 11) return throw_type(env, "Port: expected 11 arguments");
  int32_t kind, fd, slot, head, tail, batch;
  if (get_i32(env, argv[0], &kind) || (kind != KIND_TUN && kind != KIND_UDP)) return throw_type(env, "Port: bad kind");
  if (get_i32(env, argv[1], &fd) || fd < 0) return throw_type(env, "Port: bad fd");
  if (get_i32(env, argv[6], &slot) || get_i32(env, argv[7], &head) || get_i32(env, argv[8], &tail) ||
      get_i32(env, argv[9], &batch))
    return throw_type(env, "Port: bad sizes");
  if (slot <= head + tail || head < 0 || tail < 0 || batch <= 0 || batch > MAX_MSGS * 4)
    return throw_type(env, "Port: bad slot geometry");
  napi_valuetype cbt;
  napi_typeof(env, argv[10], &cbt);
  if (cbt != napi_function) return throw_type(env, "Port: callback must be a function");

  port_t *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, "calloc", ENOMEM, "Port");
  p->env = env;
  p->fd = -1;
  p->kind = kind;
  p->slot_size = (uint32_t)slot;
  p->headroom = (uint32_t)head;
  p->tailroom = (uint32_t)tail;
  p->max_batch = (uint32_t)batch;
  size_t stats_len;
  if (get_u8(env, argv[2], &p->slab, &p->slab_len) || get_i32arr(env, argv[3], &p->meta, &p->meta_len) ||
      get_f64arr(env, argv[4], &p->stats, &stats_len)) {
    free(p);
    return throw_type(env, "Port: slab must be Uint8Array, meta Int32Array, stats Float64Array");
  }
  napi_valuetype at;
  napi_typeof(env, argv[5], &at);
  if (at != napi_null && at != napi_undefined) {
    if (get_u8(env, argv[5], &p->addrs, &p->addrs_len)) {
      free(p);
      return throw_type(env, "Port: addrs must be Uint8Array or null");
    }
  }
  if (p->slab_len < (size_t)slot * (size_t)batch || p->meta_len < (size_t)batch * META_STRIDE || stats_len < ST_COUNT ||
      (kind == KIND_UDP && p->addrs && p->addrs_len < (size_t)batch * ADDR_STRIDE)) {
    free(p);
    return throw_type(env, "Port: arrays too small for maxBatch x slotSize");
  }
  napi_create_reference(env, argv[2], 1, &p->slab_ref);
  napi_create_reference(env, argv[3], 1, &p->meta_ref);
  napi_create_reference(env, argv[4], 1, &p->stats_ref);
  if (p->addrs) napi_create_reference(env, argv[5], 1, &p->addrs_ref);
  napi_create_reference(env, argv[10], 1, &p->cb);
  napi_value name;
  napi_create_string_utf8(env, kind == KIND_TUN ? "scrooge:tun" : "scrooge:udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->actx);

  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int r = uv_poll_init(loop, &p->poll, fd);
  if (r < 0) {
    port_free(p);
    return throw_errno(env, "uv_poll_init", -r, "Port");
  }
  p->fd = fd;
  p->poll.data = p;
  if (napi_wrap(env, self, p, port_finalize, NULL, &p->self) != napi_ok) {
    p->finalized = 1;
    port_close(p);
    return throw_type(env, "Port: wrap failed");
  }
  return self;
}

static port_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  port_t *p;
  if (napi_unwrap(env, self, (void **)&p) != napi_ok) return NULL;
  return p;
}

static napi_value port_start(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  port_t *p = unwrap(env, info, &argc, NULL);
  if (!p) return throw_type(env, "Port.start: not a Port");
  if (p->closed) return throw_errno(env, "uv_poll_start", EBADF, "Port closed;");
  if (p->active) return NULL;
  int r = uv_poll_start(&p->poll, UV_READABLE, on_poll);
  if (r < 0) return throw_errno(env, "uv_poll_start", -r, NULL);
  p->active = 1;
  napi_reference_ref(env, p->self, NULL);
  return NULL;
}

static napi_value port_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  port_t *p = unwrap(env, info, &argc, NULL);
  if (!p) return throw_type(env, "Port.stop: not a Port");
  if (p->active && !p->closed) {
    uv_poll_stop(&p->poll);
    p->active = 0;
    napi_reference_unref(env, p->self, NULL);
  }
  return NULL;
}

/*
 * Reads one batch right now (non-blocking) and calls the callback with it
 * synchronously if anything was there. Returns the count. Used right after a
 * TUN write: the kernel often answers inside the write (ping, TCP ACKs), and
 * draining now saves an event-loop round trip on the latency path.
 */
static napi_value port_poll_now(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  port_t *p = unwrap(env, info, &argc, NULL);
  if (!p) return throw_type(env, "Port.pollNow: not a Port");
  if (p->closed || !p->active) return make_i32(env, 0);
  int n = p->kind == KIND_TUN ? tun_read_batch(p) : udp_read_batch(p);
  if (n > 0) port_emit(p, n);
  return make_i32(env, n > 0 ? n : 0);
}

/* Closes the poll handle and the fd (asynchronously, after libuv lets go). */
static napi_value port_close_js(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  port_t *p = unwrap(env, info, &argc, NULL);
  if (!p) return throw_type(env, "Port.close: not a Port");
  port_close(p);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* TUN                                                                       */

/* tunOpen(name, multiQueue) -> { fd, name } */
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  if (argc < 1 || get_str(env, argv[0], name, sizeof name)) return throw_type(env, "tunOpen: name (<16 chars)");
  bool mq = false;
  if (argc > 1) napi_get_value_bool(env, argv[1], &mq);
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open", errno, "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1)); /* ifr is zeroed: NUL-terminated */
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "ioctl(TUNSETIFF)", e, name);
  }
  napi_value out, v;
  napi_create_object(env, &out);
  put_i32(env, out, "fd", fd);
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "name", v);
  return out;
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
static napi_value tun_probe_offload(napi_env env, napi_callback_info info) {
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
      int e = errno;
      close(fd);
      return throw_errno(env, "ioctl(TUNSETIFF)", e, "probe");
    }
  }
  if (vnet) {
    csum = ioctl(fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) == 0;
    tso = ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) == 0;
    uso = ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_USO4 | TUN_F_USO6)) == 0;
  }
  close(fd);
  napi_value out;
  napi_create_object(env, &out);
  put_bool(env, out, "vnetHdr", vnet);
  put_bool(env, out, "csum", csum);
  put_bool(env, out, "tso", tso);
  put_bool(env, out, "uso", uso);
  return out;
}

/* tunWriteBatch(fd, buf, meta, start, count) -> packets written. Never throws for I/O errors. */
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, start, count;
  uint8_t *buf;
  size_t buf_len, meta_len;
  int32_t *meta;
  if (argc != 5 || get_i32(env, argv[0], &fd) || get_u8(env, argv[1], &buf, &buf_len) ||
      get_i32arr(env, argv[2], &meta, &meta_len) || get_i32(env, argv[3], &start) || get_i32(env, argv[4], &count) ||
      start < 0 || count < 0 || (size_t)(start + count) * META_STRIDE > meta_len)
    return throw_type(env, "tunWriteBatch(fd, buf, meta, start, count)");
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

/* ------------------------------------------------------------------------ */
/* UDP                                                                       */

static int set_int(int fd, int level, int opt, int val) { return setsockopt(fd, level, opt, &val, sizeof val); }

static void set_buf(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  if (set_int(fd, SOL_SOCKET, force_opt, bytes) < 0) set_int(fd, SOL_SOCKET, opt, bytes);
}

static int get_prop_i32(napi_env env, napi_value obj, const char *key, int32_t def) {
  napi_value v;
  bool has;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return def;
  napi_get_named_property(env, obj, key, &v);
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_boolean) {
    bool b;
    napi_get_value_bool(env, v, &b);
    return b ? 1 : 0;
  }
  int32_t x;
  if (napi_get_value_int32(env, v, &x) != napi_ok) return def;
  return x;
}

/*
 * udpOpen({ family: 4|6, address?: Uint8Array(4|16), port, scopeId?, v6only?, pktinfo?,
 *           gro?, rcvbuf?, sndbuf?, device?: string, mcastLoop? })
 *   -> { fd, port, gso: bool, gro: bool }
 */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 1) return throw_type(env, "udpOpen(options)");
  napi_value o = argv[0];
  int family = get_prop_i32(env, o, "family", 6) == 4 ? AF_INET : AF_INET6;
  int port = get_prop_i32(env, o, "port", 0);
  if (port < 0 || port > 65535) return throw_type(env, "udpOpen: port");
  uint8_t *addr = NULL;
  size_t alen = 0;
  bool has;
  napi_has_named_property(env, o, "address", &has);
  if (has) {
    napi_value v;
    napi_get_named_property(env, o, "address", &v);
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t != napi_undefined && t != napi_null) {
      if (get_u8(env, v, &addr, &alen) || alen != (family == AF_INET ? 4u : 16u))
        return throw_type(env, "udpOpen: address must be 4 or 16 bytes matching family");
    }
  }
  char device[IFNAMSIZ] = {0};
  napi_has_named_property(env, o, "device", &has);
  if (has) {
    napi_value v;
    napi_get_named_property(env, o, "device", &v);
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_string && get_str(env, v, device, sizeof device)) return throw_type(env, "udpOpen: device name");
  }

  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return throw_errno(env, "socket", errno, "udp");
  if (family == AF_INET6) {
    set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, get_prop_i32(env, o, "v6only", 0));
    if (get_prop_i32(env, o, "pktinfo", 0)) {
      set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
      set_int(fd, IPPROTO_IP, IP_PKTINFO, 1); /* v4-mapped datagrams on a dual-stack socket */
    }
    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, get_prop_i32(env, o, "mcastLoop", 0));
    set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 1);
  } else if (get_prop_i32(env, o, "pktinfo", 0)) {
    set_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
  }
  set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, get_prop_i32(env, o, "rcvbuf", 0));
  set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, get_prop_i32(env, o, "sndbuf", 0));
  if (device[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(SO_BINDTODEVICE)", e, device);
  }
  int r;
  if (family == AF_INET6) {
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)port);
    if (addr) memcpy(&sa.sin6_addr, addr, 16);
    sa.sin6_scope_id = (uint32_t)get_prop_i32(env, o, "scopeId", 0);
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
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e, "udp");
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
  if (get_prop_i32(env, o, "gro", 0)) gro = set_int(fd, SOL_UDP, UDP_GRO, 1) == 0;

  napi_value out;
  napi_create_object(env, &out);
  put_i32(env, out, "fd", fd);
  put_i32(env, out, "port", bound_port);
  put_bool(env, out, "gso", gso);
  put_bool(env, out, "gro", gro);
  return out;
}

/* udpSetGro(fd, on) -> bool (now enabled) */
static napi_value udp_set_gro(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  bool on;
  if (argc != 2 || get_i32(env, argv[0], &fd) || napi_get_value_bool(env, argv[1], &on) != napi_ok)
    return throw_type(env, "udpSetGro(fd, on)");
  napi_value v;
  napi_get_boolean(env, set_int(fd, SOL_UDP, UDP_GRO, on ? 1 : 0) == 0 && on, &v);
  return v;
}

/* udpJoinGroup(fd, group16, ifindex, join) */
static napi_value udp_join_group(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, ifindex;
  uint8_t *g;
  size_t gl;
  bool join;
  if (argc != 4 || get_i32(env, argv[0], &fd) || get_u8(env, argv[1], &g, &gl) || gl != 16 ||
      get_i32(env, argv[2], &ifindex) || napi_get_value_bool(env, argv[3], &join) != napi_ok)
    return throw_type(env, "udpJoinGroup(fd, group16, ifindex, join)");
  struct ipv6_mreq m;
  memcpy(&m.ipv6mr_multiaddr, g, 16);
  m.ipv6mr_interface = (unsigned)ifindex;
  if (setsockopt(fd, IPPROTO_IPV6, join ? IPV6_JOIN_GROUP : IPV6_LEAVE_GROUP, &m, sizeof m) < 0) {
    if (!join && (errno == EADDRNOTAVAIL || errno == ENODEV)) return NULL;
    if (join && errno == EADDRINUSE) return NULL; /* already a member */
    return throw_errno(env, join ? "setsockopt(IPV6_JOIN_GROUP)" : "setsockopt(IPV6_LEAVE_GROUP)", errno, NULL);
  }
  return NULL;
}

static int sockaddr_len(const uint8_t *sa, size_t len) {
  uint16_t fam;
  if (len < 2) return -1;
  memcpy(&fam, sa, 2);
  if (fam == AF_INET6 && len >= sizeof(struct sockaddr_in6)) return sizeof(struct sockaddr_in6);
  if (fam == AF_INET && len >= sizeof(struct sockaddr_in)) return sizeof(struct sockaddr_in);
  return -1;
}

/* udpSendTo(fd, buf, offset, length, sockaddr) -> bytes sent or -errno */
static napi_value udp_send_to(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, off, len;
  uint8_t *buf, *sa;
  size_t buf_len, sa_len;
  if (argc != 5 || get_i32(env, argv[0], &fd) || get_u8(env, argv[1], &buf, &buf_len) || get_i32(env, argv[2], &off) ||
      get_i32(env, argv[3], &len) || get_u8(env, argv[4], &sa, &sa_len) || off < 0 || len < 0 ||
      (size_t)off + (size_t)len > buf_len)
    return throw_type(env, "udpSendTo(fd, buf, offset, length, sockaddr)");
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
static napi_value udp_send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, start, count;
  uint8_t *buf, *sa;
  size_t buf_len, meta_len, sa_len;
  int32_t *meta;
  bool gso;
  if (argc != 7 || get_i32(env, argv[0], &fd) || get_u8(env, argv[1], &buf, &buf_len) ||
      get_i32arr(env, argv[2], &meta, &meta_len) || get_i32(env, argv[3], &start) || get_i32(env, argv[4], &count) ||
      get_u8(env, argv[5], &sa, &sa_len) || napi_get_value_bool(env, argv[6], &gso) != napi_ok || start < 0 ||
      count < 0 || (size_t)(start + count) * META_STRIDE > meta_len)
    return throw_type(env, "udpSendBatch(fd, buf, meta, start, count, sockaddr, gso)");
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

/* ------------------------------------------------------------------------ */
/* links and addresses                                                       */

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  memcpy(ifr->ifr_name, name, strnlen(name, IFNAMSIZ - 1)); /* callers zero ifr */
  int r = ioctl(s, req, ifr);
  int e = errno;
  close(s);
  return r < 0 ? -e : 0;
}

/* (name, int) → one SIOCSIF* ioctl that sets an int field of ifreq. */
static napi_value link_set_int(napi_env env, napi_callback_info info, const char *usage, unsigned long req,
                               const char *req_name, bool mtu) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  int32_t v;
  if (argc != 2 || get_str(env, argv[0], name, sizeof name) || get_i32(env, argv[1], &v)) return throw_type(env, usage);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (mtu) ifr.ifr_mtu = v;
  else ifr.ifr_qlen = v;
  int r = ifreq_ioctl(name, req, &ifr);
  if (r < 0) return throw_errno(env, req_name, -r, name);
  return NULL;
}

/* linkSetMtu(name, mtu) */
static napi_value link_set_mtu(napi_env env, napi_callback_info info) {
  return link_set_int(env, info, "linkSetMtu(name, mtu)", SIOCSIFMTU, "ioctl(SIOCSIFMTU)", true);
}

/* linkSetTxQueueLen(name, qlen) */
static napi_value link_set_txqlen(napi_env env, napi_callback_info info) {
  return link_set_int(env, info, "linkSetTxQueueLen(name, qlen)", SIOCSIFTXQLEN, "ioctl(SIOCSIFTXQLEN)", false);
}

/* linkSetUp(name, up) */
static napi_value link_set_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  bool up;
  if (argc != 2 || get_str(env, argv[0], name, sizeof name) || napi_get_value_bool(env, argv[1], &up) != napi_ok)
    return throw_type(env, "linkSetUp(name, up)");
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
static napi_value link_index(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ];
  if (argc != 1 || get_str(env, argv[0], name, sizeof name)) return throw_type(env, "linkIndex(name)");
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
static napi_value addr_change(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t ifindex, plen;
  uint8_t *a;
  size_t alen;
  bool add;
  if (argc != 4 || get_i32(env, argv[0], &ifindex) || get_u8(env, argv[1], &a, &alen) || (alen != 4 && alen != 16) ||
      get_i32(env, argv[2], &plen) || napi_get_value_bool(env, argv[3], &add) != napi_ok || plen < 0 ||
      plen > (int)alen * 8)
    return throw_type(env, "addrChange(ifindex, address, prefixLen, add)");
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

/* closeFd(fd) for fds never handed to a Port. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc != 1 || get_i32(env, argv[0], &fd)) return throw_type(env, "closeFd(fd)");
  if (fd >= 0) close(fd);
  return NULL;
}

/* lastErrno() -> the errno of the most recent failed data-path syscall (0 if none). */
static napi_value last_errno_js(napi_env env, napi_callback_info info) {
  (void)info;
  return make_i32(env, last_errno);
}

/* errnoName(n) -> "EAGAIN" etc. */
static napi_value errno_name_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], v;
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t e;
  if (argc != 1 || get_i32(env, argv[0], &e)) return throw_type(env, "errnoName(n)");
  napi_create_string_utf8(env, errno_name(e < 0 ? -e : e), NAPI_AUTO_LENGTH, &v);
  return v;
}

/* ------------------------------------------------------------------------ */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor port_methods[] = {
      {"start", NULL, port_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, port_stop, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, port_close_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"pollNow", NULL, port_poll_now, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value port_class;
  napi_define_class(env, "Port", NAPI_AUTO_LENGTH, port_new, NULL, 4, port_methods, &port_class);
  napi_set_named_property(env, exports, "Port", port_class);

  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"tunOpen", tun_open},          {"tunWriteBatch", tun_write_batch}, {"udpOpen", udp_open},
      {"udpSetGro", udp_set_gro},     {"udpJoinGroup", udp_join_group},   {"udpSendTo", udp_send_to},
      {"udpSendBatch", udp_send_batch}, {"linkSetMtu", link_set_mtu},     {"linkSetTxQueueLen", link_set_txqlen},
      {"linkSetUp", link_set_up},     {"linkIndex", link_index},          {"addrChange", addr_change},
      {"closeFd", close_fd},          {"lastErrno", last_errno_js},       {"errnoName", errno_name_js},
      {"tunProbeOffload", tun_probe_offload},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_value v;
  napi_create_int32(env, ST_COUNT, &v);
  napi_set_named_property(env, exports, "STATS_SLOTS", v);
  napi_create_int32(env, META_STRIDE, &v);
  napi_set_named_property(env, exports, "META_STRIDE", v);
  napi_create_int32(env, ADDR_STRIDE, &v);
  napi_set_named_property(env, exports, "ADDR_STRIDE", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

/* Port: one fd + uv_poll + a JS callback per batch. */
#include "scrooge.h"

#include <stdlib.h>
#include <unistd.h>

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
  free(p->scratch);
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

static void port_stop_polling(port_t *p) {
  if (!p->active) return;
  uv_poll_stop(&p->poll);
  p->active = 0;
  if (!p->finalized) napi_reference_unref(p->env, p->self, NULL);
}

static void port_close(port_t *p) {
  if (p->closed) return;
  p->closed = 1;
  express_port_closed(p);
  port_stop_polling(p);
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

int port_read(port_t *p) { return p->kind == KIND_UDP ? udp_read_batch(p) : tun_read_batch(p); }

/* The rest of a super-packet that did not fit the batch: more batches now, not at the next readiness. */
static void port_finish_pending(port_t *p) {
  while (!p->closed && p->active && tun_pending(p)) {
    int n = port_read(p);
    if (n <= 0) break;
    port_emit(p, n);
  }
}

void port_deliver(port_t *p, int n) {
  port_emit(p, n);
  port_finish_pending(p);
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
  int n = port_read(p);
  if (n == 0) return;
  if (n < 0) port_stop_polling(p); /* a persistent error would spin the loop: let JS decide */
  /* a lone packet of an armed tunnel: no JS at all (express.c) */
  else if (n == 1 && (p->kind == KIND_UDP ? p->xt && express_receive(p)
                                          : p->express && !tun_pending(p) && express_send(p->express, p)))
    return;
  port_emit(p, n);
  port_finish_pending(p);
}

#define PORT_USAGE                                                                                   \
  "new Port({ kind, fd, slab: Uint8Array, meta: Int32Array, stats: Float64Array, addrs: Uint8Array " \
  "| null, slotSize, headroom, tailroom, maxBatch, vnet? }, onBatch)"

static const napi_type_tag PORT_TAG = {0x73637267706f7274ULL, 0x9b1d4c2e5f0a7d31ULL};

port_t *port_of(napi_env env, napi_value v) {
  bool tagged = false;
  port_t *p;
  if (napi_check_object_type_tag(env, v, &PORT_TAG, &tagged) != napi_ok || !tagged) return NULL;
  if (napi_unwrap(env, v, (void **)&p) != napi_ok) return NULL;
  return p->closed ? NULL : p;
}

/* new Port(options, onBatch) */
static napi_value port_new(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self, o, cb, slab, meta, stats, addrs;
  napi_get_cb_info(env, info, &argc, NULL, &self, NULL);
  if (args(env, info, PORT_USAGE, "oF", &o, &cb)) return NULL;
  port_t *p = calloc(1, sizeof *p);
  if (!p) return throw_errno(env, "calloc", ENOMEM, "Port");
  int32_t kind, fd, slot, head, tail, batch;
  size_t stats_len;
  if (fields(env, o, PORT_USAGE, "kind fd slotSize headroom tailroom maxBatch", "iiiiii", &kind, &fd, &slot, &head,
             &tail, &batch) ||
      fields(env, o, PORT_USAGE, "slab meta stats addrs", "uIfU", &p->slab, &p->slab_len, &p->meta, &p->meta_len,
             &p->stats, &stats_len, &p->addrs, &p->addrs_len) ||
      fields(env, o, PORT_USAGE, "slab meta stats addrs", "vvvv", &slab, &meta, &stats, &addrs)) {
    free(p);
    return NULL;
  }
  if ((kind != KIND_TUN && kind != KIND_UDP && kind != KIND_NETLINK) || fd < 0 || slot <= head + tail || head < 0 || tail < 0 || batch <= 0 ||
      batch > MAX_MSGS * 4 || p->slab_len < (size_t)slot * (size_t)batch ||
      p->meta_len < (size_t)batch * META_STRIDE || stats_len < ST_COUNT ||
      (kind == KIND_UDP && p->addrs && p->addrs_len < (size_t)batch * ADDR_STRIDE)) {
    free(p);
    return throw_type(env, "Port: bad kind or fd, or arrays too small for maxBatch x slotSize");
  }
  p->env = env;
  p->fd = -1;
  p->kind = kind;
  p->slot_size = (uint32_t)slot;
  p->headroom = (uint32_t)head;
  p->tailroom = (uint32_t)tail;
  p->max_batch = (uint32_t)batch;
  if (kind == KIND_TUN && field_i32(env, o, "vnet", 0)) {
    p->vnet = 1;
    p->scratch = malloc(TUN_SCRATCH_BYTES);
    if (!p->scratch) {
      free(p);
      return throw_errno(env, "malloc", ENOMEM, "Port");
    }
  }
  napi_create_reference(env, slab, 1, &p->slab_ref);
  napi_create_reference(env, meta, 1, &p->meta_ref);
  napi_create_reference(env, stats, 1, &p->stats_ref);
  if (p->addrs) napi_create_reference(env, addrs, 1, &p->addrs_ref);
  napi_create_reference(env, cb, 1, &p->cb);
  napi_value name;
  napi_create_string_utf8(env, kind == KIND_UDP ? "scrooge:udp" : "scrooge:tun", NAPI_AUTO_LENGTH, &name);
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
  napi_type_tag_object(env, self, &PORT_TAG);
  return self;
}

static port_t *unwrap(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self;
  port_t *p;
  if (napi_get_cb_info(env, info, &argc, NULL, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, (void **)&p) != napi_ok) return NULL;
  return p;
}

static napi_value port_start(napi_env env, napi_callback_info info) {
  port_t *p = unwrap(env, info);
  if (!p) return throw_type(env, "Port.start: not a Port");
  if (p->closed) return throw_errno(env, "uv_poll_start", EBADF, "Port closed;");
  if (p->active) return NULL;
  int r = uv_poll_start(&p->poll, UV_READABLE, on_poll);
  if (r < 0) return throw_errno(env, "uv_poll_start", -r, NULL);
  p->active = 1;
  napi_reference_ref(env, p->self, NULL);
  return NULL;
}

/* Stops polling until start() (the fd stays open; what arrives meanwhile waits in the kernel). */
static napi_value port_stop_js(napi_env env, napi_callback_info info) {
  port_t *p = unwrap(env, info);
  if (!p) return throw_type(env, "Port.stop: not a Port");
  port_stop_polling(p);
  return NULL;
}

/*
 * Reads one batch right now (non-blocking) and calls the callback with it
 * synchronously if anything was there. Returns the count. For callers that
 * want the callback without waiting for readiness (the cross-architecture
 * probe, the control socket ending a pause); the tunnel drains after a TUN
 * write with readNow instead.
 */
static napi_value port_poll_now(napi_env env, napi_callback_info info) {
  port_t *p = unwrap(env, info);
  if (!p) return throw_type(env, "Port.pollNow: not a Port");
  if (p->closed || !p->active) return make_i32(env, 0);
  int n = port_read(p);
  if (n > 0) {
    port_emit(p, n);
    port_finish_pending(p);
  }
  return make_i32(env, n > 0 ? n : 0);
}

/*
 * readNow(more) -> count: reads one batch right now (non-blocking) into the
 * slab and returns the count WITHOUT calling back: the caller handles it
 * itself (a JS-to-JS call instead of C calling into JS). more = true reads
 * only the rest of a super-packet the last batch could not hold (0 if none).
 */
static napi_value port_read_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value self, arg;
  port_t *p;
  bool more = false;
  if (napi_get_cb_info(env, info, &argc, &arg, &self, NULL) != napi_ok || napi_unwrap(env, self, (void **)&p) != napi_ok)
    return throw_type(env, "Port.readNow: not a Port");
  if (argc > 0) napi_get_value_bool(env, arg, &more);
  if (p->closed || !p->active || (more && !tun_pending(p))) return make_i32(env, 0);
  int n = port_read(p);
  return make_i32(env, n > 0 ? n : 0);
}

/* Closes the poll handle and the fd (asynchronously, after libuv lets go). */
static napi_value port_close_js(napi_env env, napi_callback_info info) {
  port_t *p = unwrap(env, info);
  if (!p) return throw_type(env, "Port.close: not a Port");
  port_close(p);
  return NULL;
}

/* The Port class: start(), pollNow(), readNow(), close(). */
napi_value port_define(napi_env env) {
  napi_property_descriptor methods[] = {
      {"start", NULL, port_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, port_stop_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, port_close_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"pollNow", NULL, port_poll_now, NULL, NULL, NULL, napi_default_method, NULL},
      {"readNow", NULL, port_read_now, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value cls;
  napi_define_class(env, "Port", NAPI_AUTO_LENGTH, port_new, NULL, sizeof methods / sizeof methods[0], methods, &cls);
  return cls;
}

/*
 * The Express class: how JS arms a tunnel's lone-packet path (express.c) and
 * lets go of it, plus the test entries that hold the native AEAD and replay
 * window to the JavaScript ones.
 */
#include "scrooge.h"

#include <stdlib.h>

const char *const express_slot_names[XC_COUNT] = {
    "txPackets",   "txBytes",          "txWireBytes",  "txKeepalives",  "rxPackets",      "rxBytes",
    "rxWireBytes", "rxKeepalives",     "dropMalformed", "dropBadTag",   "dropReplay",     "dropStaleSession",
    "dropNoSession", "dropQueueFull",  "dropDeviceError", "dropSendError", "rotations",   "fastRxPackets",
    "fastTxPackets", "lastSendMs",     "lastAuthRecvMs",
};

static void express_release_session(express_t *x) {
  napi_ref *refs[] = {&x->tx_ref, &x->mark_ref, &x->ring_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i]) napi_delete_reference(x->env, *refs[i]);
    *refs[i] = NULL;
  }
  x->sess_tx = x->mark = NULL;
  x->ring = NULL;
  memset(x->send_key, 0, sizeof x->send_key);
  memset(x->recv_key, 0, sizeof x->recv_key);
}

/* Out of every table, no session: packets take the JS path. Safe to call twice. */
void express_disarm(express_t *x) {
  if (x->udp && x->udp->xt) xt_del(x->udp->xt, x->id, x);
  if (x->tun && x->tun->express == x) x->tun->express = NULL;
  x->udp = NULL;
  x->tun = NULL;
  x->armed = 0;
  if (!x->finalized) express_release_session(x);
}

static void express_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  express_t *x = data;
  express_disarm(x);
  x->finalized = 1;
  napi_ref *refs[] = {&x->tx_ref, &x->mark_ref, &x->ring_ref, &x->counters_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
    if (*refs[i]) napi_delete_reference(env, *refs[i]);
  memset(x->send_key, 0, sizeof x->send_key);
  memset(x->recv_key, 0, sizeof x->recv_key);
  free(x);
}

static express_t *express_unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  express_t *x;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, (void **)&x) != napi_ok) return NULL;
  return x;
}

#define EXPRESS_USAGE "new Express(counters: Float64Array of EXPRESS_SLOTS.length)"

/* new Express(counters) */
static napi_value express_new(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value self, arr;
  double *counters;
  size_t n;
  napi_get_cb_info(env, info, &argc, NULL, &self, NULL);
  if (args(env, info, EXPRESS_USAGE, "f", &counters, &n)) return NULL;
  if (args(env, info, EXPRESS_USAGE, "v", &arr)) return NULL;
  if (n < XC_COUNT) return throw_type(env, EXPRESS_USAGE);
  express_t *x = calloc(1, sizeof *x);
  if (!x) return throw_errno(env, "calloc", ENOMEM, "Express");
  x->env = env;
  x->counters = counters;
  napi_create_reference(env, arr, 1, &x->counters_ref);
  if (napi_wrap(env, self, x, express_finalize, NULL, NULL) != napi_ok) {
    napi_delete_reference(env, x->counters_ref);
    free(x);
    return throw_type(env, "Express: wrap failed");
  }
  return self;
}

#define ARM_USAGE                                                                                              \
  "express.arm(udp: Port, tun: Port, { id, sendKey, recvKey (32 bytes each), sendCounter: Float64Array(1), " \
  "replayMark: Float64Array(1), replayRing: Uint32Array, replayWindow, expiresMs, sendLimit, peer: sockaddr, " \
  "clockOffsetMs, rx, tx, drain })"

static int ref_typed(napi_env env, napi_value o, const char *name, napi_ref *ref) {
  napi_value v;
  if (napi_get_named_property(env, o, name, &v) != napi_ok) return -1;
  return napi_create_reference(env, v, 1, ref) == napi_ok ? 0 : -1;
}

/* arm(udpPort, tunPort, session): the tunnel's packets may take the express path (re-arming replaces all). */
static napi_value express_arm(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  express_t *x = express_unwrap(env, info, &argc, argv);
  if (!x || argc < 3) return throw_type(env, ARM_USAGE);
  port_t *udp = port_of(env, argv[0]), *tun = port_of(env, argv[1]);
  if (!udp || !tun || udp->kind != KIND_UDP || tun->kind != KIND_TUN) return throw_type(env, ARM_USAGE);
  napi_value o = argv[2];
  uint8_t *sk, *rk, *peer;
  size_t skl, rkl, peerl, txl, markl, ringl;
  double *tx, *mark;
  uint32_t *ring;
  int32_t id;
  bool rx_ok, tx_ok, drain;
  double window, expires, limit, offset;
  napi_value ring_v;
  if (fields(env, o, ARM_USAGE, "sendKey recvKey peer sendCounter replayMark replayRing", "uuuffv", &sk, &skl, &rk,
             &rkl, &peer, &peerl, &tx, &txl, &mark, &markl, &ring_v) ||
      fields(env, o, ARM_USAGE, "id rx tx drain", "ibbb", &id, &rx_ok, &tx_ok, &drain))
    return NULL;
  napi_typedarray_type rt;
  napi_value ab;
  size_t bo;
  if (napi_get_typedarray_info(env, ring_v, &rt, &ringl, (void **)&ring, &ab, &bo) != napi_ok ||
      rt != napi_uint32_array)
    return throw_type(env, ARM_USAGE);
  napi_value v;
  if (napi_get_named_property(env, o, "replayWindow", &v) != napi_ok || napi_get_value_double(env, v, &window) != napi_ok ||
      napi_get_named_property(env, o, "expiresMs", &v) != napi_ok || napi_get_value_double(env, v, &expires) != napi_ok ||
      napi_get_named_property(env, o, "sendLimit", &v) != napi_ok || napi_get_value_double(env, v, &limit) != napi_ok ||
      napi_get_named_property(env, o, "clockOffsetMs", &v) != napi_ok ||
      napi_get_value_double(env, v, &offset) != napi_ok)
    return throw_type(env, ARM_USAGE);
  int plen = sockaddr_len(peer, peerl);
  if (skl != 32 || rkl != 32 || txl < 1 || markl < 1 || ringl == 0 || window < 0 || window >= (double)ringl * 32 ||
      plen < 0 || (size_t)plen > sizeof x->peer)
    return throw_type(env, ARM_USAGE);
  if (!aead_ready()) return throw_type(env, "Express.arm: no native AEAD (Express.available() is false)");
  express_disarm(x);
  if (!udp->xt && !(udp->xt = xt_new())) return throw_errno(env, "calloc", ENOMEM, "Express.arm");
  if (xt_get(udp->xt, (uint32_t)id)) return throw_type(env, "Express.arm: the session id is armed by another tunnel");
  if (ref_typed(env, o, "sendCounter", &x->tx_ref) || ref_typed(env, o, "replayMark", &x->mark_ref) ||
      napi_create_reference(env, ring_v, 1, &x->ring_ref) != napi_ok || !xt_put(udp->xt, (uint32_t)id, x)) {
    express_release_session(x);
    return throw_errno(env, "calloc", ENOMEM, "Express.arm");
  }
  x->id = (uint32_t)id;
  memcpy(x->send_key, sk, 32);
  memcpy(x->recv_key, rk, 32);
  memcpy(x->peer, peer, (size_t)plen);
  x->peer_len = (socklen_t)plen;
  x->sess_tx = tx;
  x->mark = mark;
  x->ring = ring;
  x->ring_words = ringl;
  x->window = (uint64_t)window;
  x->expires_ms = expires;
  x->send_limit = limit;
  x->clock_offset = offset;
  x->rx = rx_ok;
  x->tx = tx_ok;
  x->drain = drain;
  x->udp = udp;
  if (tun->express && tun->express != x) express_disarm(tun->express);
  tun->express = x;
  x->tun = tun;
  x->armed = 1;
  return NULL;
}

static napi_value express_disarm_js(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  express_t *x = express_unwrap(env, info, &argc, NULL);
  if (!x) return throw_type(env, "Express.disarm: not an Express");
  express_disarm(x);
  return NULL;
}

static napi_value express_armed_js(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  express_t *x = express_unwrap(env, info, &argc, NULL);
  napi_value b;
  napi_get_boolean(env, x != NULL && x->armed, &b);
  return b;
}

/* Express.available() -> null when the path can run, else why not. */
static napi_value express_available(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  if (aead_ready()) napi_get_null(env, &v);
  else napi_create_string_utf8(env, aead_why_not(), NAPI_AUTO_LENGTH, &v);
  return v;
}

/* Express.aead(seal, key, nonce, ad, data, tag) -> ok: the native AEAD, for the cross-tests with libsodium. */
static napi_value express_aead(napi_env env, napi_callback_info info) {
  const char *usage = "Express.aead(seal: boolean, key (32), nonce (12), ad, data, tag (16))";
  bool seal;
  uint8_t *key, *nonce, *ad, *data, *tag;
  size_t kl, nl, al, dl, tl;
  if (args(env, info, usage, "buuuuu", &seal, &key, &kl, &nonce, &nl, &ad, &al, &data, &dl, &tag, &tl)) return NULL;
  if (kl != 32 || nl != 12 || tl != 16) return throw_type(env, usage);
  if (!aead_ready()) return throw_type(env, aead_why_not());
  napi_value b;
  napi_get_boolean(env, seal ? aead_seal(key, nonce, ad, al, data, dl, tag) : aead_open(key, nonce, ad, al, data, dl, tag),
                   &b);
  return b;
}

/*
 * Express.replay(mark, ring, window, counter, accept) -> whether counter passes the check (and,
 * with accept, was then marked): the native replay window on a ReplayWindow's own arrays, for the
 * tests that hold it to crypto/replay.ts.
 */
static napi_value express_replay(napi_env env, napi_callback_info info) {
  const char *usage = "Express.replay(mark: Float64Array(1), ring: Uint32Array, window, counter, accept)";
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double *mark, window, n;
  size_t ml, rl;
  bool accept;
  if (args(env, info, usage, "f", &mark, &ml)) return NULL;
  napi_typedarray_type rt;
  void *ring;
  napi_value ab;
  size_t bo;
  if (argc < 5 || napi_get_typedarray_info(env, argv[1], &rt, &rl, &ring, &ab, &bo) != napi_ok ||
      rt != napi_uint32_array || napi_get_value_double(env, argv[2], &window) != napi_ok ||
      napi_get_value_double(env, argv[3], &n) != napi_ok || napi_get_value_bool(env, argv[4], &accept) != napi_ok ||
      ml < 1 || rl == 0 || window < 0 || window >= (double)rl * 32 || n < 0 || n >= 9007199254740992.0)
    return throw_type(env, usage);
  express_t x = {.mark = mark, .ring = ring, .ring_words = rl, .window = (uint64_t)window};
  uint64_t c = (uint64_t)n;
  int ok = replay_check(&x, c);
  if (ok && accept) replay_accept(&x, c);
  napi_value b;
  napi_get_boolean(env, ok, &b);
  return b;
}

napi_value express_define(napi_env env) {
  napi_property_descriptor props[] = {
      {"arm", NULL, express_arm, NULL, NULL, NULL, napi_default_method, NULL},
      {"disarm", NULL, express_disarm_js, NULL, NULL, NULL, napi_default_method, NULL},
      {"armed", NULL, NULL, express_armed_js, NULL, NULL, napi_default_jsproperty, NULL},
      {"available", NULL, express_available, NULL, NULL, NULL, napi_static, NULL},
      {"aead", NULL, express_aead, NULL, NULL, NULL, napi_static, NULL},
      {"keeper", NULL, express_keeper, NULL, NULL, NULL, napi_static, NULL},
      {"replay", NULL, express_replay, NULL, NULL, NULL, napi_static, NULL},
  };
  napi_value cls, names, s;
  napi_define_class(env, "Express", NAPI_AUTO_LENGTH, express_new, NULL, sizeof props / sizeof props[0], props, &cls);
  napi_create_array_with_length(env, XC_COUNT, &names);
  for (uint32_t i = 0; i < XC_COUNT; i++) {
    napi_create_string_utf8(env, express_slot_names[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, names, i, s);
  }
  napi_set_named_property(env, cls, "SLOTS", names);
  napi_value ver;
  napi_create_string_utf8(env, aead_ready() ? aead_version() : "", NAPI_AUTO_LENGTH, &ver);
  napi_set_named_property(env, cls, "AEAD", ver);
  return cls;
}

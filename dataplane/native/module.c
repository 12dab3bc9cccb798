/* The addon's exports. */
#include "scrooge.h"

#include <unistd.h>

/* closeFd(fd) for fds never handed to a Port. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (args(env, info, "closeFd(fd)", "i", &fd)) return NULL;
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
  napi_value v;
  int32_t e;
  if (args(env, info, "errnoName(n)", "i", &e)) return NULL;
  napi_create_string_utf8(env, errno_name(e < 0 ? -e : e), NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_set_named_property(env, exports, "Port", port_define(env));
  napi_set_named_property(env, exports, "Express", express_define(env));
  struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"tunOpen", tun_open},           {"tunWriteBatch", tun_write_batch},   {"tunProbeOffload", tun_probe_offload},
      {"udpOpen", udp_open},           {"udpJoinGroup", udp_join_group},     {"udpSendTo", udp_send_to},
      {"udpSendBatch", udp_send_batch}, {"linkSetMtu", link_set_mtu},        {"linkSetUp", link_set_up},
      {"linkIndex", link_index},       {"addrChange", addr_change},          {"closeFd", close_fd},
      {"lastErrno", last_errno_js},    {"errnoName", errno_name_js},         {"netlinkSubscribe", netlink_subscribe},
      {"tunSegment", tun_segment},     {"tunCoalesce", tun_coalesce},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  put_i32(env, exports, "STATS_SLOTS", ST_COUNT);
  put_i32(env, exports, "META_STRIDE", META_STRIDE);
  put_i32(env, exports, "ADDR_STRIDE", ADDR_STRIDE);
  put_i32(env, exports, "VNET_HDR_LEN", VNET_HDR_LEN);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

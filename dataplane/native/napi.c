/* Errors and argument tables shared by every call of the addon. */
#include "scrooge.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

__thread int last_errno = 0;

/*
 * errno names from our own table: strerrorname_np needs glibc >= 2.32, and a
 * prebuilt binary must load on older glibc (Node 20 itself needs 2.28) and
 * must not depend on the libc it was built against.
 */
const char *errno_name(int e) {
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

napi_value throw_errno(napi_env env, const char *syscall, int e, const char *what) {
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

napi_value throw_errno_close(napi_env env, int fd, const char *syscall, const char *what) {
  int e = errno;
  close(fd);
  return throw_errno(env, syscall, e, what);
}

napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
  return NULL;
}

/* A typed array of exactly type `want`: its data and element count. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok) return -1;
  return t == want ? 0 : -1;
}

/* A string of at most size - 1 bytes (a 15-character interface name fits IFNAMSIZ 16); longer is an error, not a truncation. */
static int get_str(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len, n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len > size - 1) return -1;
  if (napi_get_value_string_utf8(env, v, buf, size, &n) != napi_ok) return -1;
  return n == len ? 0 : -1;
}

static bool is_type(napi_env env, napi_value v, napi_valuetype want) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == want;
}

/* One value by its format character (see scrooge.h); 0 or -1. */
static int get_one(napi_env env, napi_value v, char c, va_list *ap) {
  switch (c) {
    case 'i':
      return napi_get_value_int32(env, v, va_arg(*ap, int32_t *)) == napi_ok ? 0 : -1;
    case 'b':
      return napi_get_value_bool(env, v, va_arg(*ap, bool *)) == napi_ok ? 0 : -1;
    case 's': {
      char *buf = va_arg(*ap, char *);
      return get_str(env, v, buf, va_arg(*ap, size_t));
    }
    case 'U':
      if (is_type(env, v, napi_null) || is_type(env, v, napi_undefined)) {
        *va_arg(*ap, uint8_t **) = NULL;
        *va_arg(*ap, size_t *) = 0;
        return 0;
      }
      /* fall through */
    case 'u': {
      void **d = (void **)va_arg(*ap, uint8_t **);
      return get_typed(env, v, napi_uint8_array, d, va_arg(*ap, size_t *));
    }
    case 'A': {
      uint8_t **d = va_arg(*ap, uint8_t **);
      size_t *n = va_arg(*ap, size_t *);
      return get_typed(env, v, napi_uint8_array, (void **)d, n) || (*n != 4 && *n != 16) ? -1 : 0;
    }
    case 'I': {
      void **d = (void **)va_arg(*ap, int32_t **);
      return get_typed(env, v, napi_int32_array, d, va_arg(*ap, size_t *));
    }
    case 'f': {
      void **d = (void **)va_arg(*ap, double **);
      return get_typed(env, v, napi_float64_array, d, va_arg(*ap, size_t *));
    }
    case 'F':
    case 'o':
      if (!is_type(env, v, c == 'F' ? napi_function : napi_object)) return -1;
      /* fall through */
    case 'v':
      *va_arg(*ap, napi_value *) = v;
      return 0;
  }
  return -1;
}

#define MAX_ARGS 8

int args(napi_env env, napi_callback_info info, const char *usage, const char *fmt, ...) {
  size_t want = strlen(fmt), argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  if (want > MAX_ARGS || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    throw_type(env, usage);
    return -1;
  }
  va_list ap;
  va_start(ap, fmt);
  int bad = 0;
  for (size_t i = 0; i < want && !bad; i++) bad = get_one(env, argv[i], fmt[i], &ap);
  va_end(ap);
  if (bad) throw_type(env, usage);
  return bad ? -1 : 0;
}

int fields(napi_env env, napi_value obj, const char *usage, const char *names, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int bad = 0;
  const char *at = names;
  for (size_t i = 0; fmt[i] && !bad; i++) {
    char key[32];
    size_t n = strcspn(at, " ");
    if (n == 0 || n >= sizeof key) {
      bad = -1;
      break;
    }
    memcpy(key, at, n);
    key[n] = 0;
    at += n + (at[n] == ' ');
    napi_value v;
    bad = napi_get_named_property(env, obj, key, &v) != napi_ok || get_one(env, v, fmt[i], &ap);
  }
  va_end(ap);
  if (bad) throw_type(env, usage);
  return bad ? -1 : 0;
}

int32_t field_i32(napi_env env, napi_value obj, const char *key, int32_t def) {
  napi_value v;
  bool has, b;
  int32_t x;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok || !has) return def;
  napi_get_named_property(env, obj, key, &v);
  if (is_type(env, v, napi_boolean)) return napi_get_value_bool(env, v, &b) == napi_ok && b ? 1 : 0;
  return napi_get_value_int32(env, v, &x) == napi_ok ? x : def;
}

napi_value result(napi_env env, const char *names, const char *fmt, ...) {
  napi_value out, v;
  napi_create_object(env, &out);
  va_list ap;
  va_start(ap, fmt);
  const char *at = names;
  for (size_t i = 0; fmt[i]; i++) {
    char key[32];
    size_t n = strcspn(at, " ");
    if (n >= sizeof key) n = sizeof key - 1;
    memcpy(key, at, n);
    key[n] = 0;
    at += n + (at[n] == ' ');
    if (fmt[i] == 's') napi_create_string_utf8(env, va_arg(ap, const char *), NAPI_AUTO_LENGTH, &v);
    else if (fmt[i] == 'b') napi_get_boolean(env, va_arg(ap, int) != 0, &v);
    else napi_create_int32(env, va_arg(ap, int32_t), &v);
    napi_set_named_property(env, out, key, v);
  }
  va_end(ap);
  return out;
}

napi_value make_i32(napi_env env, int32_t x) {
  napi_value v;
  napi_create_int32(env, x, &v);
  return v;
}

/* obj[name] = x, for the result objects of setup calls */
void put_i32(napi_env env, napi_value obj, const char *name, int32_t x) {
  napi_set_named_property(env, obj, name, make_i32(env, x));
}

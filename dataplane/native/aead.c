/*
 * ChaCha20-Poly1305 (RFC 8439, the tunnel's AEAD) for the native lone-packet
 * path (express.c), from the OpenSSL that the Node binary carries.
 *
 * Why this source: the data path's batches use libsodium through
 * sodium-native, which exports no C symbols an addon could call; vendoring a
 * second copy of libsodium would add a large C build to every install; and
 * writing our own cipher would be new crypto. Every official Node build links
 * OpenSSL and exports its symbols to addons (they are how node-gyp addons
 * reach it; a Node linked to a shared libcrypto has them in the process too),
 * so the addon binds to them when it loads (weak symbols, below): no headers,
 * no link flags, nothing new to install. Where they are missing (a Node built
 * without crypto) or the cipher fails its known-answer test, aead_ready() is
 * false and every packet takes the JavaScript path, as before.
 *
 * One cipher context per thread, reused for every packet.
 */
#include "scrooge.h"

typedef struct ossl_ctx OSSL_CTX;
typedef struct ossl_cipher OSSL_CIPHER;

/*
 * The EVP calls we use (stable across OpenSSL 1.1 and 3.x), declared weak: the
 * dynamic linker binds them to the Node binary's exports when the addon loads
 * (as it binds napi_*), and leaves them NULL where Node has none. No dlsym, so
 * no libdl and no glibc 2.34 symbol (prebuilds load on glibc 2.28).
 */
#define WEAK __attribute__((weak))
extern OSSL_CTX *EVP_CIPHER_CTX_new(void) WEAK;
extern const OSSL_CIPHER *EVP_chacha20_poly1305(void) WEAK;
extern OSSL_CIPHER *EVP_CIPHER_fetch(void *libctx, const char *name, const char *props) WEAK; /* OpenSSL 3 only */
extern int EVP_CipherInit_ex(OSSL_CTX *, const OSSL_CIPHER *, void *engine, const uint8_t *key, const uint8_t *iv,
                             int enc) WEAK;
extern int EVP_CIPHER_CTX_ctrl(OSSL_CTX *, int type, int arg, void *ptr) WEAK;
extern int EVP_CipherUpdate(OSSL_CTX *, uint8_t *out, int *outl, const uint8_t *in, int inl) WEAK;
extern int EVP_CipherFinal_ex(OSSL_CTX *, uint8_t *out, int *outl) WEAK;
extern const char *OpenSSL_version(int) WEAK;

static struct {
  OSSL_CTX *(*ctx_new)(void);
  const OSSL_CIPHER *(*chacha)(void);
  OSSL_CIPHER *(*fetch)(void *libctx, const char *name, const char *props);
  int (*init)(OSSL_CTX *, const OSSL_CIPHER *, void *engine, const uint8_t *key, const uint8_t *iv, int enc);
  int (*ctrl)(OSSL_CTX *, int type, int arg, void *ptr);
  int (*update)(OSSL_CTX *, uint8_t *out, int *outl, const uint8_t *in, int inl);
  int (*final)(OSSL_CTX *, uint8_t *out, int *outl);
  const char *(*version)(int);
} ossl;

#define CTRL_AEAD_GET_TAG 0x10
#define CTRL_AEAD_SET_TAG 0x11

static int state = 0; /* 0 not tried, 1 ready, -1 unavailable */
static const char *why = "not initialised";
static __thread OSSL_CTX *ctx; /* one per thread (an addon may load in worker threads too) */
static const OSSL_CIPHER *cipher;

/* RFC 8439 section 2.8.2: the AEAD test vector (first 16 bytes of ciphertext, and the tag). */
static const uint8_t kat_key[32] = {0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a,
                                    0x8b, 0x8c, 0x8d, 0x8e, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x95,
                                    0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f};
static const uint8_t kat_nonce[12] = {0x07, 0x00, 0x00, 0x00, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47};
static const uint8_t kat_ad[12] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
static const char kat_text[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
                               "future, sunscreen would be it.";
static const uint8_t kat_ct16[16] = {0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb,
                                     0x7b, 0x86, 0xaf, 0xbc, 0x53, 0xef, 0x7e, 0xc2};
static const uint8_t kat_tag[16] = {0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a,
                                    0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91};

static int aead_run(int enc, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad, size_t ad_len,
                    uint8_t *data, size_t len, uint8_t tag[16]) {
  int l = 0;
  if (len > INT32_MAX || ad_len > INT32_MAX) return 0;
  if (!ctx && !(ctx = ossl.ctx_new())) return 0;
  if (ossl.init(ctx, cipher, NULL, key, nonce, enc) != 1) return 0;
  if (ad_len > 0 && ossl.update(ctx, NULL, &l, ad, (int)ad_len) != 1) return 0;
  if (len > 0 && ossl.update(ctx, data, &l, data, (int)len) != 1) return 0;
  if (!enc && ossl.ctrl(ctx, CTRL_AEAD_SET_TAG, 16, tag) != 1) return 0;
  if (ossl.final(ctx, data + len, &l) != 1) return 0; /* decrypt: 0 when the tag does not verify */
  if (enc && ossl.ctrl(ctx, CTRL_AEAD_GET_TAG, 16, tag) != 1) return 0;
  return 1;
}

int aead_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad, size_t ad_len, uint8_t *data,
              size_t len, uint8_t tag[16]) {
  return state == 1 && aead_run(1, key, nonce, ad, ad_len, data, len, tag);
}

int aead_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *ad, size_t ad_len, uint8_t *data,
              size_t len, const uint8_t tag[16]) {
  uint8_t t[16];
  memcpy(t, tag, 16);
  return state == 1 && aead_run(0, key, nonce, ad, ad_len, data, len, t);
}

static int known_answer(void) {
  uint8_t buf[sizeof kat_text], tag[16];
  size_t n = sizeof kat_text - 1;
  memcpy(buf, kat_text, n);
  if (!aead_run(1, kat_key, kat_nonce, kat_ad, sizeof kat_ad, buf, n, tag)) return 0;
  if (memcmp(buf, kat_ct16, 16) != 0 || memcmp(tag, kat_tag, 16) != 0) return 0;
  buf[5] ^= 1; /* a forgery must fail */
  if (aead_run(0, kat_key, kat_nonce, kat_ad, sizeof kat_ad, buf, n, tag)) return 0;
  memcpy(buf, kat_text, n); /* (a failed open leaves junk: encrypt again) */
  if (!aead_run(1, kat_key, kat_nonce, kat_ad, sizeof kat_ad, buf, n, tag)) return 0;
  if (!aead_run(0, kat_key, kat_nonce, kat_ad, sizeof kat_ad, buf, n, tag)) return 0;
  return memcmp(buf, kat_text, n) == 0;
}

#define LOOK(field, sym)                        \
  do {                                          \
    ossl.field = sym;                           \
    if (!ossl.field) {                          \
      why = "the Node binary exports no " #sym; \
      return 0;                                 \
    }                                           \
  } while (0)

static int aead_load(void) {
  LOOK(ctx_new, EVP_CIPHER_CTX_new);
  LOOK(chacha, EVP_chacha20_poly1305);
  LOOK(init, EVP_CipherInit_ex);
  LOOK(ctrl, EVP_CIPHER_CTX_ctrl);
  LOOK(update, EVP_CipherUpdate);
  LOOK(final, EVP_CipherFinal_ex);
  ossl.fetch = EVP_CIPHER_fetch;
  ossl.version = OpenSSL_version;
  /* OpenSSL 3: an explicitly fetched cipher skips the provider lookup every init does otherwise. */
  cipher = ossl.fetch ? ossl.fetch(NULL, "ChaCha20-Poly1305", NULL) : NULL;
  if (!cipher) cipher = ossl.chacha();
  if (!cipher) {
    why = "OpenSSL has no ChaCha20-Poly1305";
    return 0;
  }
  if (!known_answer()) {
    why = "OpenSSL's ChaCha20-Poly1305 failed the RFC 8439 known-answer test";
    return 0;
  }
  return 1;
}

int aead_ready(void) {
  if (state == 0) {
    state = 1; /* aead_run is called by the known-answer test */
    state = aead_load() ? 1 : -1;
    if (state == 1) why = NULL;
  }
  return state == 1;
}

const char *aead_why_not(void) { return state == 1 ? NULL : why; }

const char *aead_version(void) { return ossl.version ? ossl.version(0) : "OpenSSL"; }

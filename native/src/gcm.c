#include "gcm.h"

#include <stdlib.h>

int gcm_seal(gcm_t *g, uint8_t *packet, size_t len) {
  int outlen = 0;
  unsigned char lastiv[1];
  size_t data_len = len - GCM_TAG;
  if (!g->ctx) return -1;
  if (!EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_IV_GEN, 1, lastiv)) return -1;
  if (!EVP_EncryptUpdate(g->ctx, NULL, &outlen, packet, 4) || outlen != 4) return -1;
  if (EVP_EncryptUpdate(g->ctx, packet + 4, &outlen, packet + 4, (int)(data_len - 4)) != 1 ||
      (size_t)outlen != data_len - 4)
    return -1;
  if (!EVP_EncryptFinal_ex(g->ctx, NULL, &outlen)) return -1;
  if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_AEAD_GET_TAG, GCM_TAG, packet + data_len) != 1) return -1;
  g->count++;
  return 0;
}

int gcm_open(gcm_t *g, const uint8_t len_bytes[4], uint8_t *body, size_t len, uint8_t *tag) {
  int outlen;
  unsigned char lastiv[1];
  if (!g->ctx) return -1;
  if (!EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_IV_GEN, 1, lastiv)) return -1;
  if (!EVP_DecryptUpdate(g->ctx, NULL, &outlen, len_bytes, 4) || outlen != 4) return -1;
  if (EVP_DecryptUpdate(g->ctx, body, &outlen, body, (int)len) != 1 || (size_t)outlen != len) return -1;
  if (EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_AEAD_SET_TAG, GCM_TAG, tag) != 1) return -1;
  if (!EVP_DecryptFinal_ex(g->ctx, NULL, &outlen)) return -1;
  g->count++;
  return 0;
}

static void gcm_clear(gcm_t *g) {
  if (g->ctx) {
    EVP_CIPHER_CTX_free(g->ctx);
    g->ctx = NULL;
  }
}

static void gcm_finalize(napi_env env, void *data, void *hint) {
  gcm_clear(data);
  free(data);
}

gcm_t *gcm_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  gcm_t *g = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, (void **)&g) != napi_ok) return NULL;
  return g;
}

static napi_value gcm_construct(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  void *data;
  if (napi_get_cb_info(env, info, &argc, argv, &self, &data) != napi_ok) return NULL;
  int encrypt = data != NULL;
  char name[32];
  size_t n, key_len, iv_len;
  void *key, *iv;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &n) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &key, &key_len) != napi_ok ||
      napi_get_buffer_info(env, argv[2], &iv, &iv_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "(sslName, key, iv)");
    return NULL;
  }
  const EVP_CIPHER *cipher = EVP_get_cipherbyname(name);
  if (cipher == NULL || (cipher != EVP_aes_128_gcm() && cipher != EVP_aes_256_gcm())) {
    napi_throw_error(env, NULL, "Invalid AES GCM cipher name");
    return NULL;
  }
  gcm_t *g = calloc(1, sizeof *g);
  if (!g) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  int ok = (g->ctx = EVP_CIPHER_CTX_new()) != NULL &&
           EVP_CipherInit_ex(g->ctx, cipher, NULL, NULL, NULL, encrypt) == 1 &&
           EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)iv_len, NULL) &&
           (key_len == (size_t)EVP_CIPHER_CTX_key_length(g->ctx) || EVP_CIPHER_CTX_set_key_length(g->ctx, (int)key_len)) &&
           EVP_CipherInit_ex(g->ctx, NULL, NULL, key, iv, encrypt) == 1 &&
           EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IV_FIXED, -1, iv);
  if (!ok || napi_wrap(env, self, g, gcm_finalize, NULL, NULL) != napi_ok) {
    gcm_clear(g);
    free(g);
    napi_throw_error(env, NULL, "Failed to initialize AES GCM");
    return NULL;
  }
  EVP_CIPHER_CTX_set_padding(g->ctx, 0);
  return self;
}

static napi_value gcm_free_js(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  gcm_t *g = gcm_this(env, info, &argc, NULL);
  if (g) gcm_clear(g);
  return NULL;
}

static napi_value gcm_count(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  gcm_t *g = gcm_this(env, info, &argc, NULL);
  napi_value out;
  if (napi_create_double(env, g ? g->count : 0, &out) != napi_ok) return NULL;
  return out;
}

napi_status gcm_define_class(napi_env env, const char *name, int encrypt, const char *method_name,
                             napi_callback method, napi_value *out) {
  napi_property_descriptor props[] = {
      {method_name, NULL, method, NULL, NULL, NULL, napi_default, NULL},
      {"free", NULL, gcm_free_js, NULL, NULL, NULL, napi_default, NULL},
      {"count", NULL, NULL, gcm_count, NULL, NULL, napi_default, NULL},
  };
  /* the constructor's data says the direction: non-NULL seals */
  static int seal_marker;
  return napi_define_class(env, name, NAPI_AUTO_LENGTH, gcm_construct, encrypt ? &seal_marker : NULL,
                           sizeof props / sizeof props[0], props, out);
}

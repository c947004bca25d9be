/* AES-GCM as OpenSSH uses it (RFC 5647: the 4-byte packet length as
 * additional data, the IV's last 8 bytes counting packets), one context per
 * direction. Sealer and Opener, the classes that take the place of ssh2's
 * AESGCMCipher and AESGCMDecipher, are this struct with one method each. */
#ifndef CLOUDBRIDGE_GCM_H
#define CLOUDBRIDGE_GCM_H

#include <node_api.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define GCM_TAG 16

typedef struct gcm {
  EVP_CIPHER_CTX *ctx;
  double count; /* packets sealed or opened, in C or by ssh2 */
} gcm_t;

/* Seals packet[0..len) in place: length as AAD, the rest encrypted, the tag
 * in the last 16 bytes. 0, or -1 when OpenSSL refuses. */
int gcm_seal(gcm_t *g, uint8_t *packet, size_t len);

/* Opens `body` (the len bytes after the length field) in place. 0, or -1
 * when the tag does not verify or OpenSSL refuses. */
int gcm_open(gcm_t *g, const uint8_t len_bytes[4], uint8_t *body, size_t len, uint8_t *tag);

/* The gcm_t behind `this` of a method call, its arguments in argv. */
gcm_t *gcm_this(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv);

/* Defines the class `name`, constructed as ssh2 constructs its own
 * (sslName, key, iv), with `method` under `method_name`, free() and count. */
napi_status gcm_define_class(napi_env env, const char *name, int encrypt, const char *method_name,
                             napi_callback method, napi_value *out);

#endif

#ifndef SECRETFS_COPENSSL_SHIM_H
#define SECRETFS_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/hmac.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/bio.h>

// EVP_CIPHER_CTX_ctrl's tag calls take void*; keep them typed here. Reading the tag passes an output buffer through void*.
static inline int secretfs_gcm_get_tag(EVP_CIPHER_CTX *ctx, unsigned char *tag, int len) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, len, tag);
}
// Setting the expected tag passes a const buffer through a non-const void*.
static inline int secretfs_gcm_set_tag(EVP_CIPHER_CTX *ctx, const unsigned char *tag, int len) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, len, (void *)tag);
}
#endif

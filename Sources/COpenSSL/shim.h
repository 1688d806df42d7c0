#ifndef FLASHPUSH_COPENSSL_SHIM_H
#define FLASHPUSH_COPENSSL_SHIM_H
// Only the AES/ECB pieces of libcrypto that FMSProtocol's cipher needs.
#include <openssl/evp.h>
#include <openssl/err.h>

/// Returns the ECB cipher for a key of `keyLength` bytes (16, 24 or 32), or NULL.
static inline const EVP_CIPHER *fp_aes_ecb_cipher(int keyLength) {
    switch (keyLength) {
    case 16: return EVP_aes_128_ecb();
    case 24: return EVP_aes_192_ecb();
    case 32: return EVP_aes_256_ecb();
    default: return NULL;
    }
}
#endif

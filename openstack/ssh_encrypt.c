/* RSA encryption with an OpenSSH public key, as Zed's
 * nova.crypto.ssh_encrypt_text (cryptography's load_ssh_public_key and
 * PKCS1v15).  The key blob is RFC 4253's: string "ssh-rsa", mpint e,
 * mpint n. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/err.h"
#include "openstack/base64.h"
#include "openstack/ssh_encrypt.h"

#define RSA_PREFIX "ssh-rsa "

bool os_ssh_key_is_rsa(const char *key_data)
{
    return key_data && strncmp(key_data, RSA_PREFIX, strlen(RSA_PREFIX)) == 0;
}

/* The next length-prefixed field of the blob, or NULL past its end. */
static const unsigned char *blob_field(const unsigned char **p, const unsigned char *end,
                                       size_t *len)
{
    if (end - *p < 4)
        return NULL;
    uint32_t n = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 | (uint32_t)(*p)[2] << 8 |
                 (uint32_t)(*p)[3];
    *p += 4;
    if ((size_t)(end - *p) < n)
        return NULL;
    const unsigned char *f = *p;
    *p += n;
    *len = n;
    return f;
}

static EVP_PKEY *rsa_from_blob(const unsigned char *blob, size_t blob_len, struct err **err)
{
    const unsigned char *p = blob, *end = blob + blob_len;
    size_t tl, el, nl;
    const unsigned char *type = blob_field(&p, end, &tl);
    const unsigned char *e = type ? blob_field(&p, end, &el) : NULL;
    const unsigned char *n = e ? blob_field(&p, end, &nl) : NULL;
    if (!n || tl != 7 || memcmp(type, "ssh-rsa", 7) != 0) {
        err_set(err, ERR_INVALID, "not an ssh-rsa public key");
        return NULL;
    }
    BIGNUM *bn_e = BN_bin2bn(e, (int)el, NULL);
    BIGNUM *bn_n = BN_bin2bn(n, (int)nl, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *key = NULL;
    if (bn_e && bn_n && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        params = OSSL_PARAM_BLD_to_param(bld);
    if (params)
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        key = NULL;
        err_set(err, ERR_INVALID, "ssh-rsa public key refused by OpenSSL");
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_e);
    BN_free(bn_n);
    return key;
}

char *os_ssh_encrypt_b64(const char *key_data, const char *text, struct err **err)
{
    if (!os_ssh_key_is_rsa(key_data)) {
        err_set(err, ERR_INVALID, "not an ssh-rsa public key");
        return NULL;
    }
    const char *b64 = key_data + strlen(RSA_PREFIX);
    size_t b64_len = strcspn(b64, " \t\r\n");
    size_t blob_len;
    autofree char *blob = os_base64_decode(b64, b64_len, &blob_len, err);
    if (!blob)
        return NULL;
    EVP_PKEY *key = rsa_from_blob((const unsigned char *)blob, blob_len, err);
    if (!key)
        return NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    size_t out_len = 0;
    unsigned char *out = NULL;
    char *res = NULL;
    if (ctx && EVP_PKEY_encrypt_init(ctx) > 0 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
        EVP_PKEY_encrypt(ctx, NULL, &out_len, (const unsigned char *)text, strlen(text)) > 0) {
        out = xmalloc(out_len);
        if (EVP_PKEY_encrypt(ctx, out, &out_len, (const unsigned char *)text, strlen(text)) > 0)
            res = os_base64_encode(out, out_len, err);
        else
            err_set(err, ERR_INVALID, "the text is too long for the key (%zu bytes)",
                    strlen(text));
    } else {
        err_set(err, ERR_INVALID, "RSA encryption with the key failed");
    }
    free(out);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(key);
    return res;
}

json_t *os_password_sysmeta(const json_t *sysmeta, const char *b64, struct err **err)
{
    size_t len = strlen(b64);
    if (len > (size_t)OS_PASSWORD_CHUNKS * OS_PASSWORD_CHUNK_LEN) {
        err_set(err, ERR_INVALID, "an encrypted password of %zu characters (at most %d)", len,
                OS_PASSWORD_CHUNKS * OS_PASSWORD_CHUNK_LEN);
        return NULL;
    }
    json_t *out = json_is_object(sysmeta) ? json_deep_copy(sysmeta) : json_object();
    for (int k = 0; k < OS_PASSWORD_CHUNKS; k++) {
        size_t at = (size_t)k * OS_PASSWORD_CHUNK_LEN;
        size_t n = at >= len ? 0 : len - at > OS_PASSWORD_CHUNK_LEN ? OS_PASSWORD_CHUNK_LEN : len - at;
        char key[24];
        snprintf(key, sizeof(key), "password_%d", k);
        json_object_set_new(out, key, json_stringn(n ? b64 + at : "", n));
    }
    return out;
}

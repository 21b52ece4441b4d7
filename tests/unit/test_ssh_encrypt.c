/* A password encrypted with an instance's ssh-rsa key, as Zed's
 * nova.crypto.ssh_encrypt_text: a key made here, written in OpenSSH's
 * one-line form, encrypts; its private half decrypts the text back (PKCS
 * #1 v1.5, which is what `nova get-password` undoes with `openssl rsautl
 * -decrypt`).  Keys that are not RSA, that do not parse or whose blob
 * names another type are refused, as is a text too long for the key; the
 * base64 is split into system_metadata's four 255-character chunks as
 * convert_password does, other keys kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "common/alloc.h"
#include "common/err.h"
#include "openstack/base64.h"
#include "openstack/ssh_encrypt.h"

static void put_field(unsigned char **p, const void *data, size_t n)
{
    (*p)[0] = (unsigned char)(n >> 24);
    (*p)[1] = (unsigned char)(n >> 16);
    (*p)[2] = (unsigned char)(n >> 8);
    (*p)[3] = (unsigned char)n;
    memcpy(*p + 4, data, n);
    *p += 4 + n;
}

/* mpint: big-endian, a leading zero when the top bit is set */
static void put_mpint(unsigned char **p, const BIGNUM *bn)
{
    unsigned char buf[1024];
    int n = BN_bn2bin(bn, buf + 1);
    buf[0] = 0;
    bool pad = n > 0 && (buf[1] & 0x80);
    put_field(p, pad ? buf : buf + 1, (size_t)n + pad);
}

/* "TYPE BASE64 comment" for the key's public half, the blob naming `type` */
static char *openssh_line(EVP_PKEY *key, const char *type)
{
    BIGNUM *n = NULL, *e = NULL;
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n), 1);
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e), 1);
    unsigned char blob[2048], *p = blob;
    put_field(&p, type, strlen(type));
    put_mpint(&p, e);
    put_mpint(&p, n);
    BN_free(n);
    BN_free(e);
    struct err *err = NULL;
    autofree char *b64 = os_base64_encode(blob, (size_t)(p - blob), &err);
    assert_non_null(b64);
    return xasprintf("ssh-rsa %s sculpt@test\n", b64);
}

static char *decrypt_b64(EVP_PKEY *key, const char *b64)
{
    struct err *err = NULL;
    size_t n;
    autofree char *bin = os_base64_decode(b64, strlen(b64), &n, &err);
    assert_non_null(bin);
    assert_int_equal(n, 256); /* one RSA block of a 2048-bit key */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    unsigned char out[256];
    size_t out_len = sizeof(out);
    assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_decrypt(ctx, out, &out_len, (unsigned char *)bin, n), 1);
    EVP_PKEY_CTX_free(ctx);
    char *text = xmalloc(out_len + 1);
    memcpy(text, out, out_len);
    text[out_len] = '\0';
    return text;
}

static EVP_PKEY *key;

static int key_make(void **state)
{
    (void)state;
    key = EVP_RSA_gen(2048);
    return key ? 0 : -1;
}

static int key_free(void **state)
{
    (void)state;
    EVP_PKEY_free(key);
    return 0;
}

static void test_round_trip(void **state)
{
    (void)state;
    autofree char *line = openssh_line(key, "ssh-rsa");
    assert_true(os_ssh_key_is_rsa(line));
    struct err *err = NULL;
    autofree char *enc = os_ssh_encrypt_b64(line, "s3cret-pässword", &err);
    assert_non_null(enc);
    assert_int_equal(strlen(enc), 344);
    autofree char *back = decrypt_b64(key, enc);
    assert_string_equal(back, "s3cret-pässword");
    /* random padding: the same text encrypts differently each time */
    autofree char *again = os_ssh_encrypt_b64(line, "s3cret-pässword", &err);
    assert_non_null(again);
    assert_string_not_equal(again, enc);
}

static void test_refusals(void **state)
{
    (void)state;
    struct err *err = NULL;
    assert_false(os_ssh_key_is_rsa(NULL));
    assert_false(os_ssh_key_is_rsa("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE x@y"));
    assert_false(os_ssh_key_is_rsa("ssh-rsaAAAA"));
    assert_null(os_ssh_encrypt_b64("ssh-ed25519 AAAA", "pw", &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    assert_null(os_ssh_encrypt_b64("ssh-rsa not*base64 x@y", "pw", &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    /* a blob cut short */
    assert_null(os_ssh_encrypt_b64("ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB", "pw", &err));
    assert_non_null(strstr(err->msg, "not an ssh-rsa public key"));
    err_clear(&err);
    /* a blob of another type behind the ssh-rsa word */
    autofree char *dss = openssh_line(key, "ssh-dss");
    assert_null(os_ssh_encrypt_b64(dss, "pw", &err));
    assert_non_null(strstr(err->msg, "not an ssh-rsa public key"));
    err_clear(&err);
    /* PKCS #1 v1.5 holds 245 bytes in a 2048-bit block */
    char longer[300];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    autofree char *line = openssh_line(key, "ssh-rsa");
    assert_null(os_ssh_encrypt_b64(line, longer, &err));
    assert_non_null(strstr(err->msg, "too long for the key"));
    err_clear(&err);
    longer[245] = '\0';
    autofree char *fits = os_ssh_encrypt_b64(line, longer, &err);
    assert_non_null(fits);
}

static void test_sysmeta_chunks(void **state)
{
    (void)state;
    char b64[345];
    for (int k = 0; k < 344; k++)
        b64[k] = (char)('A' + k % 26);
    b64[344] = '\0';
    json_t *sm = json_pack("{s:s, s:s}", "image_os_type", "linux", "password_2", "stale");
    struct err *err = NULL;
    json_t *out = os_password_sysmeta(sm, b64, &err);
    assert_non_null(out);
    assert_string_equal(json_string_value(json_object_get(out, "image_os_type")), "linux");
    assert_int_equal(strlen(json_string_value(json_object_get(out, "password_0"))), 255);
    assert_memory_equal(json_string_value(json_object_get(out, "password_0")), b64, 255);
    assert_string_equal(json_string_value(json_object_get(out, "password_1")), b64 + 255);
    assert_string_equal(json_string_value(json_object_get(out, "password_2")), "");
    assert_string_equal(json_string_value(json_object_get(out, "password_3")), "");
    /* the input is not changed */
    assert_string_equal(json_string_value(json_object_get(sm, "password_2")), "stale");
    json_decref(out);
    /* four whole chunks fit, one character more does not */
    char full[1022];
    memset(full, 'Q', 1021);
    full[1020] = '\0';
    out = os_password_sysmeta(NULL, full, &err);
    assert_non_null(out);
    assert_int_equal(strlen(json_string_value(json_object_get(out, "password_3"))), 255);
    json_decref(out);
    full[1020] = 'Q';
    full[1021] = '\0';
    assert_null(os_password_sysmeta(sm, full, &err));
    assert_int_equal(err_code_of(err), ERR_INVALID);
    err_clear(&err);
    json_decref(sm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sysmeta_chunks),
    };
    return cmocka_run_group_tests(tests, key_make, key_free);
}

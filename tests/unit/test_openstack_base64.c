/* Base64 as Nova sends it, through OpenSSL's EVP coder: RFC 4648's test
 * vectors both ways, line-wrapped text (Python's encodebytes: a newline
 * every 76 characters), a 64 KiB binary round trip, and the refusals
 * with their messages: characters outside the alphabet (and `-`, which
 * EVP alone would take as the end of data), missing, misplaced or excess
 * padding, truncated text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/strbuf.h"
#include "openstack/base64.h"

static char *decode_ok(const char *text, size_t *n)
{
    struct err *err = NULL;
    char *dec = os_base64_decode(text, strlen(text), n, &err);
    if (!dec)
        fail_msg("`%s` refused: %s", text, err->msg);
    return dec;
}

/* RFC 4648 section 10 */
static void test_rfc_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *b64;
    } cases[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                 {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                 {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err *err = NULL;
        autofree char *enc = os_base64_encode(cases[i].plain, strlen(cases[i].plain), &err);
        assert_non_null(enc);
        assert_string_equal(enc, cases[i].b64);
        size_t n = 99;
        autofree char *dec = decode_ok(cases[i].b64, &n);
        assert_int_equal(n, strlen(cases[i].plain));
        assert_memory_equal(dec, cases[i].plain, n);
        assert_int_equal(dec[n], '\0');
    }
}

static void test_whitespace(void **state)
{
    (void)state;
    static const char *const texts[] = {"Zm9v\nYmFy\n", "Zm9v\r\nYmFy\r\n", " Zm9vYmFy ",
                                        "Zm 9v\tYm Fy", "\n\nZm9vYmFy"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t n;
        autofree char *dec = decode_ok(texts[i], &n);
        assert_int_equal(n, 6);
        assert_memory_equal(dec, "foobar", 6);
    }
    /* padding followed by a line break, and padding split by one */
    size_t n;
    autofree char *a = decode_ok("Zm9vYg==\n", &n);
    assert_int_equal(n, 4);
    autofree char *b = decode_ok("Zm9vYg=\n=", &n);
    assert_int_equal(n, 4);
    /* whitespace only is empty */
    autofree char *c = decode_ok(" \r\n", &n);
    assert_int_equal(n, 0);
}

/* 64 KiB of every byte value, encoded, and wrapped every 76 characters as
 * Python's base64.encodebytes does: both decode to the same bytes. */
static void test_64k_round_trip(void **state)
{
    (void)state;
    enum { N = 64 * 1024 };
    unsigned char *bin = xmalloc(N);
    unsigned v = 12345;
    for (size_t i = 0; i < N; i++) {
        v = v * 1103515245u + 12345u;
        bin[i] = (unsigned char)(v >> 16);
    }
    struct err *err = NULL;
    autofree char *enc = os_base64_encode(bin, N, &err);
    assert_non_null(enc);
    assert_int_equal(strlen(enc), (N + 2) / 3 * 4);
    assert_string_equal(enc + strlen(enc) - 1, "=");
    size_t n;
    autofree char *dec = decode_ok(enc, &n);
    assert_int_equal(n, N);
    assert_memory_equal(dec, bin, N);

    struct strbuf wrapped = STRBUF_INIT;
    for (size_t at = 0, len = strlen(enc); at < len; at += 76)
        strbuf_printf(&wrapped, "%.76s\n", enc + at);
    autofree char *dec2 = decode_ok(wrapped.s, &n);
    assert_int_equal(n, N);
    assert_memory_equal(dec2, bin, N);
    strbuf_release(&wrapped);
    free(bin);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"Zm9v!", "character `!` at offset 4"},
        {"Zm9v-garbage", "character `-` at offset 4"}, /* EVP's end marker */
        {"Zm9v_w==", "character `_` at offset 4"},     /* URL-safe alphabet */
        {"Zm9v\vYmFy", "byte 0x0b at offset 4"},
        {"Zm\xc3\xa9", "byte 0xc3 at offset 2"},
        {"Zg=", "truncated"},
        {"Zg", "truncated"},
        {"Zm9vY", "truncated"},
        {"=", "truncated"},
        {"Z===", "3 `=` of padding at offset 1"},
        {"Zg===", "3 `=` of padding at offset 2"},
        {"Zg==Zg==", "data after the padding `=` at offset 2"},
        {"=Zg=", "data after the padding `=` at offset 0"},
        {"Zm=v", "data after the padding `=` at offset 2"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err *err = NULL;
        size_t n = 7;
        assert_null(os_base64_decode(bad[i].text, strlen(bad[i].text), &n, &err));
        assert_int_equal(err_code_of(err), ERR_INVALID);
        if (!strstr(err->msg, "base64") || !strstr(err->msg, bad[i].msg))
            fail_msg("`%s`: got `%s`, want `%s`", bad[i].text, err->msg, bad[i].msg);
        assert_int_equal(n, 7);
        err_clear(&err);
    }
    /* a NUL byte inside the length is refused, not taken as the end */
    struct err *err = NULL;
    size_t n;
    assert_null(os_base64_decode("Zg==\0Zg==", 9, &n, &err));
    assert_non_null(strstr(err->msg, "byte 0x00 at offset 4"));
    err_clear(&err);
    /* only `len` characters are read */
    autofree char *dec = os_base64_decode("Zm9vYmFy!!!", 8, &n, &err);
    assert_non_null(dec);
    assert_int_equal(n, 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_vectors),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_64k_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

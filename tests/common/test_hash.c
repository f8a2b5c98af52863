/* Unit: hash_fnv1a64 and hash_fnv1a32 give FNV-1a's published values (the
 * offset bases and primes of the FNV reference), so every user hashes alike
 * (the e-mail request shards in Redis depend on the 32-bit values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hash.h"

static void test_reference_values(void **state)
{
    (void)state;
    assert_true(hash_fnv1a64("", 0) == 0xcbf29ce484222325ULL); /* the offset basis */
    assert_true(hash_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(hash_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
}

static void test_reference_values_32(void **state)
{
    (void)state;
    assert_true(hash_fnv1a32("") == 0x811c9dc5u); /* the offset basis */
    assert_true(hash_fnv1a32("a") == 0xe40c292cu);
    assert_true(hash_fnv1a32("foobar") == 0xbf9cf968u);
}

static void test_length_counts(void **state)
{
    const char key[] = "BTC-USD\0x";

    (void)state;
    /* Bytes past len are not read; a NUL inside len is hashed. */
    assert_true(hash_fnv1a64(key, 7) == hash_fnv1a64("BTC-USD", 7));
    assert_true(hash_fnv1a64(key, 8) != hash_fnv1a64(key, 7));
    assert_true(hash_fnv1a64("AAPL", 4) != hash_fnv1a64("AAPM", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_values),
        cmocka_unit_test(test_reference_values_32),
        cmocka_unit_test(test_length_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

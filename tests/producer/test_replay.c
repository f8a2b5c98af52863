/* Unit tests for replay: CSV line parsing (good and bad), loading, pacing,
 * looping and the shard that matches assets_shard. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "replay.h"

static enum replay_line_status line(const char *s, double *ts, char *t, double *p)
{
    char err[REPLAY_ERR_MAX];

    return replay_parse_line(s, strlen(s), ts, t, MSG_TICKER_MAX, p, err, sizeof(err));
}

static void test_good_lines(void **state)
{
    char t[MSG_TICKER_MAX];
    double ts, p;
    (void)state;
    assert_int_equal(line("1700000000,AAPL,178.52\n", &ts, t, &p), REPLAY_LINE_OK);
    assert_true(ts == 1700000000 && p == 178.52);
    assert_string_equal(t, "AAPL");
    assert_int_equal(line(" 1700000000.5 , gc=f , 2350.1 \r\n", &ts, t, &p), REPLAY_LINE_OK);
    assert_true(ts == 1700000000.5);
    assert_string_equal(t, "GC=F");
    assert_int_equal(line("1700000000123,BTC-USD,65000", &ts, t, &p), REPLAY_LINE_OK);
    assert_true(fabs(ts - 1700000000.123) < 1e-6); /* milliseconds */
    assert_int_equal(line("2023-11-14T22:13:20Z,MSFT,420", &ts, t, &p), REPLAY_LINE_OK);
    assert_true(ts == 1700000000);
    assert_int_equal(line("2023-11-14 22:13:20.250,MSFT,420", &ts, t, &p), REPLAY_LINE_OK);
    assert_true(fabs(ts - 1700000000.25) < 1e-6);
    assert_int_equal(line("2023-11-14T22:13:20+00:00,MSFT,1e2", &ts, t, &p), REPLAY_LINE_OK);
    assert_true(p == 100);
}

static void test_skipped_lines(void **state)
{
    char t[MSG_TICKER_MAX];
    double ts, p;
    (void)state;
    assert_int_equal(line("timestamp,ticker,price", &ts, t, &p), REPLAY_LINE_SKIP);
    assert_int_equal(line("TIMESTAMP , Ticker, Price\r\n", &ts, t, &p), REPLAY_LINE_SKIP);
    assert_int_equal(line("", &ts, t, &p), REPLAY_LINE_SKIP);
    assert_int_equal(line("   \r\n", &ts, t, &p), REPLAY_LINE_SKIP);
    assert_int_equal(line("# recorded 2024-05-01", &ts, t, &p), REPLAY_LINE_SKIP);
}

static void test_bad_lines(void **state)
{
    static const char *const bad[] = {
        "1700000000,AAPL",     /* too few fields */
        "1700000000,AAPL,1,2", /* too many */
        "1700000000,AAPL,",    /* empty price */
        "1700000000,AAPL,-3",  /* negative */
        "1700000000,AAPL,0",   /* zero */
        "1700000000,AAPL,nan", /* not finite */
        "1700000000,AAPL,inf",
        "1700000000,AAPL,1e999", /* overflow */
        "1700000000,AAPL,12abc", /* trailing junk */
        "1700000000,,5",         /* empty ticker */
        "1700000000,BAD TICKER,5",
        "1700000000,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,5",
        "yesterday,AAPL,5", /* bad time */
        "-5,AAPL,5",
        "2023-13-14T22:13:20Z,AAPL,5",      /* month 13 */
        "2023-11-14T22:13:20+02:00,AAPL,5", /* only UTC */
        "2023-11-14T22:13,AAPL,5",
    };
    char t[MSG_TICKER_MAX];
    double ts, p;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(line(bad[i], &ts, t, &p), REPLAY_LINE_BAD);
    /* An embedded NUL and an over-long line. */
    assert_int_equal(replay_parse_line("1,A\0B,5", 7, &ts, t, sizeof(t), &p, NULL, 0),
                     REPLAY_LINE_BAD);
    {
        char longl[REPLAY_LINE_MAX + 10];
        char err[REPLAY_ERR_MAX];
        memset(longl, ' ', sizeof(longl));
        memcpy(longl, "1,A,5", 5);
        assert_int_equal(
            replay_parse_line(longl, sizeof(longl), &ts, t, sizeof(t), &p, err, sizeof(err)),
            REPLAY_LINE_BAD);
    }
}

static char *write_file(const char *text)
{
    static char path[64];
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "/tmp/replay-test-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char csv[] = "timestamp,ticker,price\n"
                          "100,AAPL,10\n"
                          "this is not a row\n"
                          "102,MSFT,20\n"
                          "101,aapl,11\n" /* out of order: sorted in */
                          "101,NEWCO,5\n"
                          "103,AAPL,-1\n" /* bad price */
                          "104,MSFT,21\n";

static void test_load_sorts_and_counts(void **state)
{
    struct asset_list l = {0};
    struct replay r;
    char err[256];
    char *path = write_file(csv);
    (void)state;
    assert_int_equal(replay_load(&r, path, &l, 1, 1.0, 0, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(r.len, 5);
    assert_int_equal(r.bad_lines, 2);
    assert_int_equal(l.len, 3); /* AAPL, MSFT, NEWCO in order of appearance */
    assert_string_equal(l.items[2].ticker, "NEWCO");
    assert_true(r.rows[0].ts == 100 && r.rows[1].ts == 101 && r.rows[2].ts == 101);
    assert_int_equal(r.rows[1].asset, 0); /* equal times keep file order */
    assert_int_equal(r.rows[2].asset, 2);
    assert_true(r.rows[4].ts == 104 && r.rows[4].price == 21);
    replay_free(&r);
    assets_free(&l);
}

static void test_load_known_only(void **state)
{
    struct asset_list l = {0};
    struct replay r;
    char err[256];
    char *path = write_file(csv);
    (void)state;
    assert_int_equal(assets_parse(&l, "MSFT", err, sizeof(err)), 0);
    assert_int_equal(replay_load(&r, path, &l, 0, 1.0, 0, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(r.len, 2);
    assert_int_equal(r.skipped_rows, 3);
    assert_int_equal(l.len, 1);
    replay_free(&r);
    assert_int_equal(replay_load(&r, "/nonexistent/x.csv", &l, 0, 1, 0, err, sizeof(err)), -1);
    path = write_file("garbage\nmore garbage\n");
    assert_int_equal(replay_load(&r, path, &l, 1, 1, 0, err, sizeof(err)), -1);
    unlink(path);
    assets_free(&l);
}

static void test_pacing_and_loop(void **state)
{
    struct asset_list l = {0};
    struct replay r;
    char err[256];
    char *path = write_file("10,A,1\n11,B,2\n13,A,3\n");
    (void)state;
    /* speed 2: rows due at 0, 500 and 1500 ms */
    assert_int_equal(replay_load(&r, path, &l, 1, 2.0, 1, err, sizeof(err)), 0);
    unlink(path);
    replay_start(&r, 1000);
    assert_non_null(replay_next_due(&r, 1000));
    assert_null(replay_next_due(&r, 1499));
    assert_int_equal(replay_wait_ms(&r, 1499), 1);
    assert_true(replay_next_due(&r, 1500)->price == 2);
    assert_null(replay_next_due(&r, 2000));
    assert_true(replay_next_due(&r, 2500)->price == 3);
    assert_false(replay_finished(&r));
    /* looping: the next pass starts one mean spacing (750 ms) after the last row */
    assert_null(replay_next_due(&r, 3000));
    assert_true(replay_next_due(&r, 3250)->price == 1);
    replay_free(&r);

    path = write_file("10,A,1\n");
    assert_int_equal(replay_load(&r, path, &l, 1, 1.0, 0, err, sizeof(err)), 0);
    unlink(path);
    replay_start(&r, 0);
    assert_non_null(replay_next_due(&r, 0));
    assert_null(replay_next_due(&r, 100000));
    assert_true(replay_finished(&r));
    assert_int_equal(replay_wait_ms(&r, 5), -1);
    replay_free(&r);
    assets_free(&l);
}

/* Two instances replaying the same file play every row exactly once, each
 * with the symbol its own sharded list has at that index. */
static void test_shard_matches_assets(void **state)
{
    const char *text = "1,A,1\n2,B,2\n3,C,3\n4,D,4\n5,E,5\n6,A,6\n7,C,7\n";
    double seen = 0;
    size_t rows = 0;
    (void)state;
    for (size_t k = 0; k < 2; k++) {
        struct asset_list l = {0};
        struct replay r;
        char err[256];
        char *path = write_file(text);
        assert_int_equal(replay_load(&r, path, &l, 1, 1, 0, err, sizeof(err)), 0);
        unlink(path);
        assert_int_equal(assets_shard(&l, k, 2), 0);
        replay_shard(&r, k, 2);
        for (size_t i = 0; i < r.len; i++) {
            const char *t = l.items[r.rows[i].asset].ticker;
            assert_true(r.rows[i].asset < l.len);
            /* the price encodes the row; A=1,6 B=2 C=3,7 D=4 E=5 */
            assert_int_equal(t[0], "?ABCDEAC"[(int)r.rows[i].price]);
            seen += r.rows[i].price;
            rows++;
        }
        replay_free(&r);
        assets_free(&l);
    }
    assert_int_equal(rows, 7);
    assert_true(seen == 28);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_lines),
        cmocka_unit_test(test_skipped_lines),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_load_sorts_and_counts),
        cmocka_unit_test(test_load_known_only),
        cmocka_unit_test(test_pacing_and_loop),
        cmocka_unit_test(test_shard_matches_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_clsketch.c - the heavy-cell bitmap as Redis holds it: a sparse bitmap packs small and
 * comes back the same; a frame of another size, two frames, a truncated or foreign one are
 * refused without writing past the bitmap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/clsketch.h"

#define LOG2 16
#define WANT (PS_CLSKETCH_ROWS * ((size_t)1 << LOG2) / 8)

static void test_clsketch_heavy_bitmap_round_trips_small(void **state)
{
    static uint8_t bitmap[WANT], back[WANT + 1];
    struct ps_buf packed;
    struct ps_errdetail ed;

    (void)state;
    for (size_t i = 0; i < WANT; i += 97)
        bitmap[i] = (uint8_t)(1u << (i % 8));
    ps_buf_init(&packed, PS_BUF_NO_LIMIT);
    assert_int_equal(ps_clsketch_heavy_pack(bitmap, WANT, &packed, &ed), PS_OK);
    assert_true(packed.len < WANT / 10);
    back[WANT] = 0xAB;
    assert_int_equal(ps_clsketch_heavy_unpack(packed.data, packed.len, back, WANT, &ed), PS_OK);
    assert_memory_equal(back, bitmap, WANT);
    assert_int_equal(back[WANT], 0xAB);
    ps_buf_release(&packed);
}

static void test_clsketch_heavy_bitmap_refuses_other_frames(void **state)
{
    static uint8_t bitmap[WANT], back[WANT];
    struct ps_buf packed;
    struct ps_errdetail ed;

    (void)state;
    ps_buf_init(&packed, PS_BUF_NO_LIMIT);
    assert_int_equal(ps_clsketch_heavy_pack(bitmap, WANT / 2, &packed, &ed), PS_OK);
    /* a bitmap of another sketch size */
    assert_int_equal(ps_clsketch_heavy_unpack(packed.data, packed.len, back, WANT, &ed),
                     PS_ERR_PROTO);
    assert_non_null(strstr(ed.msg, "cluster bitmap"));
    /* two frames of half the size each */
    assert_int_equal(ps_clsketch_heavy_pack(bitmap, WANT / 2, &packed, &ed), PS_OK);
    assert_int_equal(ps_clsketch_heavy_unpack(packed.data, packed.len, back, WANT, &ed),
                     PS_ERR_PROTO);
    /* truncated, and no frame at all */
    ps_buf_reset(&packed);
    assert_int_equal(ps_clsketch_heavy_pack(bitmap, WANT, &packed, &ed), PS_OK);
    assert_int_equal(ps_clsketch_heavy_unpack(packed.data, packed.len - 1, back, WANT, &ed),
                     PS_ERR_PROTO);
    assert_int_equal(ps_clsketch_heavy_unpack(bitmap, 64, back, WANT, &ed), PS_ERR_PROTO);
    assert_int_equal(ps_clsketch_heavy_unpack("", 0, back, WANT, &ed), PS_ERR_PROTO);
    ps_buf_release(&packed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clsketch_heavy_bitmap_round_trips_small),
        cmocka_unit_test(test_clsketch_heavy_bitmap_refuses_other_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

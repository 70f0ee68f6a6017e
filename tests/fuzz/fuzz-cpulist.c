/* Fuzzes policy/cpulist.h: both CPU-list parsers, and parse -> format -> parse gives the same set. */
#include <errno.h>
#include <string.h>

#include "cpulist.h"
#include "fuzz.h"
#include "macro.h"

/* set formatted and parsed again, in both syntaxes, is set; the empty set formats as "". */
static void check_round_trip(hwloc_const_bitmap_t set) {
        _cleanup_free_ char *text = cpulist_format(set);
        assert_true(text);
        _cleanup_bitmap_ hwloc_bitmap_t again = NULL, again_libvirt = NULL;
        const char *reason = NULL;
        if (hwloc_bitmap_iszero(set)) {
                assert_true(text[0] == '\0');
                assert_true(cpulist_parse(text, &again, &reason) == -EINVAL && reason);
                return;
        }
        assert_true(cpulist_parse(text, &again, &reason) == 0);
        assert_true(hwloc_bitmap_isequal(again, set));
        assert_true(cpulist_parse_libvirt(text, &again_libvirt, &reason) == 0);
        assert_true(hwloc_bitmap_isequal(again_libvirt, set));
        _cleanup_free_ char *text_again = cpulist_format(again);
        assert_true(text_again && strcmp(text, text_again) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = fuzz_string(data, size);
        _cleanup_bitmap_ hwloc_bitmap_t kernel = NULL, libvirt = NULL;
        const char *reason = NULL, *reason_libvirt = NULL;

        int r = cpulist_parse(s, &kernel, &reason);
        assert_true(r == 0 || r == -EINVAL);
        assert_true(r == 0 ? kernel != NULL : reason != NULL);
        int r_libvirt = cpulist_parse_libvirt(s, &libvirt, &reason_libvirt);
        assert_true(r_libvirt == 0 || r_libvirt == -EINVAL);
        assert_true(r_libvirt == 0 ? libvirt != NULL : reason_libvirt != NULL);

        if (r == 0) {
                /* Kernel syntax is libvirt's without exclusions: a kernel list means the same to both. */
                assert_true(hwloc_bitmap_last(kernel) <= CPULIST_MAX_CPU);
                assert_true(r_libvirt == 0 && hwloc_bitmap_isequal(kernel, libvirt));
                assert_true(!hwloc_bitmap_iszero(kernel));
                check_round_trip(kernel);
        }
        if (r_libvirt == 0) {
                assert_true(hwloc_bitmap_last(libvirt) <= CPULIST_MAX_CPU);
                check_round_trip(libvirt);
        }
        return 0;
}

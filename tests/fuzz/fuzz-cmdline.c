/* Fuzzes probes/hostfacts.h's kernel command-line reader (doctor's nohz_full=, isolcpus=,
 * irqaffinity=): any line gives a value that is a piece of the line, or none. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "hostfacts.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *line = fuzz_string(data, size);
        static const char *const names[] = { "isolcpus", "nohz_full", "irqaffinity", "a" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *value = NULL;
                int r = hostfacts_cmdline_param(line, names[i], &value);
                assert_true(r == 0 || r == 1 || r == -ENOMEM);
                if (r != 1) {
                        assert_null(value);
                        continue;
                }
                assert_non_null(value);
                /* The value is text of the line (its quotes taken off). */
                assert_non_null(strstr(line, value));
                assert_non_null(strstr(line, names[i]));
        }
        return 0;
}

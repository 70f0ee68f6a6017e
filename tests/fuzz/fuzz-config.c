/* Fuzzes policy/config.h: the input as kvmtuned.conf and as a policy.d class file, then what reads a loaded config. */
#include <errno.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "macro.h"

static char *main_path, *policy_path, *policy_dir;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_topology();
        /* Written once so that the paths exist; every input replaces the files' contents. */
        main_path = fuzz_write_file("kvmtuned.conf", NULL, 0);
        policy_path = fuzz_write_file("policy.d/50-fuzz.conf", NULL, 0);
        policy_dir = strdup(policy_path);
        assert_true(policy_dir);
        *strrchr(policy_dir, '/') = '\0';
        return 0;
}

/* Domain names and metadata classes a policy's globs may match. */
static const char *const names[] = { "db-01", "win10", "gaming-1", "vdi-007", "tenant-a", "x", "" };

/* Uses a loaded configuration the way the daemon does, and checks what config.h promises. */
static void use_config(const Config *c) {
        assert_true(config_find_class(c, "default"));
        assert_true(!hwloc_bitmap_iszero(c->host.housekeeping));
        for (size_t i = 0; i < c->n_classes; i++) {
                const PolicyClass *cls = &c->classes[i];
                assert_true(config_find_class(c, cls->name));
                assert_true(config_class_equal(cls, cls));
                _cleanup_free_ char *settings = config_class_settings(cls);
                assert_true(settings);
                assert_true(cpu_policy_to_string(cls->cpu_policy) && thread_policy_to_string(cls->thread_policy) &&
                            cache_locality_to_string(cls->cache_locality) && core_kind_to_string(cls->core_kind) &&
                            helper_placement_to_string(cls->emulator_threads) &&
                            helper_placement_to_string(cls->io_threads) && memory_policy_to_string(cls->memory_policy));
        }
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *why = NULL, *why_meta = NULL;
                assert_true(config_match_class(c, names[i], NULL, &why));
                assert_true(why);
                assert_true(config_match_class(c, "vm", names[i], &why_meta));
                assert_true(why_meta);
        }
        assert_true(config_pools_equal(c, c));
}

/* Loads, checks the result against what config_load promises, uses it and frees everything. */
static void load(const char *config_path, const char *dir) {
        ConfigErrors errors = { 0 };
        Config *c = NULL;
        int r = config_load(config_path, dir, fuzz_topology(), &c, &errors);
        assert_true(r == 0 || r == -EINVAL);
        assert_true(r == 0 ? c != NULL : c == NULL && errors.n > 0);
        _cleanup_free_ char *text = config_errors_format(&errors);
        assert_true(text);
        for (size_t i = 0; i < errors.n; i++)
                assert_true(errors.items[i].message);
        config_errors_clear(&errors);
        if (c)
                use_config(c);
        config_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        free(fuzz_write_file("kvmtuned.conf", data, size));
        load(main_path, NULL);
        free(fuzz_write_file("policy.d/50-fuzz.conf", data, size));
        load(NULL, policy_dir);
        return 0;
}

/* Policy classes found by name and matched to a domain; when two classes or CPU pool sets are the same. */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

const PolicyClass *config_find_class(const Config *c, const char *name) {
        for (size_t i = 0; i < c->n_classes; i++)
                if (strcmp(c->classes[i].name, name) == 0)
                        return &c->classes[i];
        return NULL;
}

static bool list_has(char **list, const char *word) {
        for (char **p = list; p && *p; p++)
                if (strcmp(*p, word) == 0)
                        return true;
        return false;
}

/* The better of two candidates: higher Priority, then earlier in file order (lower index). */
static const PolicyClass *better(const PolicyClass *a, const PolicyClass *b) {
        if (!a)
                return b;
        return b->priority > a->priority ? b : a;
}

const PolicyClass *config_match_class(const Config *c, const char *domain_name, const char *metadata_class,
                                      char **ret_why) {
        const PolicyClass *best = NULL;
        *ret_why = NULL;
        if (metadata_class) {
                for (size_t i = 0; i < c->n_classes; i++)
                        if (strcmp(c->classes[i].name, metadata_class) == 0 ||
                            list_has(c->classes[i].match_metadata, metadata_class))
                                best = better(best, &c->classes[i]);
                if (best) {
                        if (asprintf(ret_why, "class %s: chosen by the domain's metadata (class=\"%s\")", best->name,
                                     metadata_class) < 0)
                                *ret_why = NULL;
                        return best;
                }
        }
        const char *glob = NULL;
        for (size_t i = 0; i < c->n_classes; i++)
                for (char **g = c->classes[i].match_name; g && *g; g++)
                        if (fnmatch(*g, domain_name, 0) == 0) {
                                const PolicyClass *b = better(best, &c->classes[i]);
                                if (b != best)
                                        glob = *g;
                                best = b;
                                break;
                        }
        if (best) {
                if (asprintf(ret_why, "class %s: name matches %s (Priority=%d)%s%s%s", best->name, glob, best->priority,
                             metadata_class ? "; metadata class \"" : "", metadata_class ? metadata_class : "",
                             metadata_class ? "\" names no class" : "") < 0)
                        *ret_why = NULL;
                return best;
        }
        best = config_find_class(c, "default");
        if (asprintf(ret_why, "class default: no class matches%s%s%s", metadata_class ? " (metadata class \"" : "",
                     metadata_class ? metadata_class : "", metadata_class ? "\" is unknown)" : "") < 0)
                *ret_why = NULL;
        return best;
}

static bool lists_equal(char **a, char **b) {
        for (; a && *a && b && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return (!a || !*a) && (!b || !*b);
}

bool config_class_equal(const PolicyClass *a, const PolicyClass *b) {
        return a->priority == b->priority && a->cpu_policy == b->cpu_policy && a->thread_policy == b->thread_policy &&
               a->cache_locality == b->cache_locality && a->core_kind == b->core_kind &&
               a->emulator_threads == b->emulator_threads && a->io_threads == b->io_threads &&
               a->memory_policy == b->memory_policy && a->mem_page_kib == b->mem_page_kib &&
               a->near_devices == b->near_devices && a->overcommit == b->overcommit &&
               lists_equal(a->match_name, b->match_name) && lists_equal(a->match_metadata, b->match_metadata);
}

char *config_class_settings(const PolicyClass *c) {
        char *text = NULL;
        if (asprintf(&text,
                     "cpu=%d thread=%d cache=%d kind=%d emulator=%d io=%d memory=%d page=%" PRIu64
                     " near=%d overcommit=%g",
                     (int) c->cpu_policy, (int) c->thread_policy, (int) c->cache_locality, (int) c->core_kind,
                     (int) c->emulator_threads, (int) c->io_threads, (int) c->memory_policy, c->mem_page_kib,
                     (int) c->near_devices, c->overcommit) < 0)
                return NULL;
        return text;
}

bool config_pools_equal(const Config *a, const Config *b) {
        return hwloc_bitmap_isequal(a->host.housekeeping, b->host.housekeeping) &&
               hwloc_bitmap_isequal(a->host.dedicated, b->host.dedicated) &&
               hwloc_bitmap_isequal(a->host.shared, b->host.shared) && a->host.hugepages == b->host.hugepages &&
               a->daemon.respect_explicit_pins == b->daemon.respect_explicit_pins;
}

/* Per-NUMA-node memory figures from sysfs: total and free memory, hugepage pools. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kfile.h"
#include "macro.h"
#include "nodemem.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir)

/* meminfo lines look like "Node 0 MemFree:   123456 kB". */
static int parse_meminfo(const char *text, NodeMemory *m) {
        bool have_total = false, have_free = false;
        uint64_t reclaimable_kib = 0;
        for (const char *line = text; *line;) {
                const char *nl = strchr(line, '\n');
                unsigned node;
                char key[32];
                uint64_t kib;
                if (sscanf(line, "Node %u %31[^:]: %" SCNu64, &node, key, &kib) != 3)
                        key[0] = '\0';
                if (strcmp(key, "MemTotal") == 0) {
                        m->total_bytes = kib * 1024;
                        have_total = true;
                } else if (strcmp(key, "MemFree") == 0) {
                        m->free_bytes = kib * 1024;
                        have_free = true;
                } else if (strcmp(key, "Active(file)") == 0 || strcmp(key, "Inactive(file)") == 0 ||
                           strcmp(key, "SReclaimable") == 0)
                        reclaimable_kib += kib;
                line = nl ? nl + 1 : line + strlen(line);
        }
        m->available_bytes = m->free_bytes + reclaimable_kib / 2 * 1024;
        return have_total && have_free ? 0 : -EINVAL;
}

static int cmp_page_size(const void *a, const void *b) {
        const NodeHugepages *x = a, *y = b;
        return (x->page_kib > y->page_kib) - (x->page_kib < y->page_kib);
}

static int read_hugepages(const char *sysfs, unsigned node, NodeMemory *m) {
        _cleanup_free_ char *rel = NULL, *dirpath = NULL;
        if (asprintf(&rel, "devices/system/node/node%u/hugepages", node) < 0)
                return -ENOMEM;
        int r = kfile_path(sysfs, rel, &dirpath);
        if (r < 0)
                return r;

        _cleanup_(closedirp) DIR *d = opendir(dirpath);
        if (!d)
                return errno == ENOENT ? 0 : -errno; /* no hugetlb support: no pools */

        struct dirent *de;
        while ((de = readdir(d))) {
                uint64_t kib;
                if (sscanf(de->d_name, "hugepages-%" SCNu64 "kB", &kib) != 1)
                        continue;
                if (m->n_hugepages >= NODEMEM_MAX_PAGE_SIZES)
                        break;
                NodeHugepages *h = &m->hugepages[m->n_hugepages];
                _cleanup_free_ char *p1 = NULL, *p2 = NULL;
                if (asprintf(&p1, "%s/%s/nr_hugepages", rel, de->d_name) < 0 ||
                    asprintf(&p2, "%s/%s/free_hugepages", rel, de->d_name) < 0)
                        return -ENOMEM;
                r = kfile_read_u64(sysfs, p1, &h->total);
                if (r < 0)
                        return r;
                r = kfile_read_u64(sysfs, p2, &h->free);
                if (r < 0)
                        return r;
                h->page_kib = kib;
                m->n_hugepages++;
        }
        qsort(m->hugepages, m->n_hugepages, sizeof(NodeHugepages), cmp_page_size);
        return 0;
}

int nodemem_read(const char *sysfs, unsigned node, NodeMemory *ret_memory) {
        NodeMemory m = { 0 };
        _cleanup_free_ char *rel = NULL, *text = NULL;
        if (asprintf(&rel, "devices/system/node/node%u/meminfo", node) < 0)
                return -ENOMEM;
        int r = kfile_read(sysfs, rel, &text);
        if (r < 0)
                return r;
        r = parse_meminfo(text, &m);
        if (r < 0)
                return r;
        r = read_hugepages(sysfs, node, &m);
        if (r < 0)
                return r;
        *ret_memory = m;
        return 0;
}

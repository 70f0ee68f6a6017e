/* Per-NUMA-node memory figures from sysfs: total and free memory, hugepage pools. */
#pragma once

#include <stdint.h>

#define NODEMEM_MAX_PAGE_SIZES 8

typedef struct NodeHugepages {
        uint64_t page_kib; /* 2048, 1048576, ... */
        uint64_t total; /* nr_hugepages */
        uint64_t free; /* free_hugepages */
} NodeHugepages;

typedef struct NodeMemory {
        uint64_t total_bytes;
        uint64_t free_bytes; /* MemFree */
        /* What a new domain can have: MemFree plus half of the reclaimable page cache and slab.
         * The kernel's MemAvailable counts nearly all of it; half stays back because a strictly
         * bound domain cannot fall back to another node while reclaim catches up. */
        uint64_t available_bytes;
        unsigned n_hugepages; /* sorted by page size */
        NodeHugepages hugepages[NODEMEM_MAX_PAGE_SIZES];
} NodeMemory;

/* Reads SYSFS/devices/system/node/nodeN/{meminfo,hugepages/}; sysfs is "/sys" or a fixture.
 * Returns 0, -ENOENT if the node does not exist, -EINVAL on content it cannot parse,
 * or another -errno from reading. */
int nodemem_read(const char *sysfs, unsigned node, NodeMemory *ret_memory);

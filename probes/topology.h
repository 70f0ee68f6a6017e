/* The host model: NUMA nodes, packages, L3 domains, cores, logical CPUs, CPU kinds and PCI
 * devices, read once with hwloc and immutable afterwards. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <hwloc.h>

/* Everything below uses kernel numbers for CPUs (TopoCpu.os) and nodes (TopoNode.os) where it
 * talks to the outside, and array indexes (int, -1 for "none") for links inside the model.
 * Every hwloc_bitmap_t holds kernel CPU numbers. */

typedef struct TopoCpu {
        unsigned os; /* kernel CPU number */
        int core; /* index into Topology.cores */
        int l3; /* index into Topology.l3s, -1: no L3 above it */
        int node; /* index into Topology.nodes, -1: no node has it as local CPU */
        int package; /* index into Topology.packages */
        int kind; /* index into Topology.kinds, -1: host reports no kinds */
        unsigned smt_index; /* position among its core's threads, 0 first */
} TopoCpu;

typedef struct TopoCore {
        int package, l3, node;
        hwloc_bitmap_t cpuset; /* its SMT siblings, itself included */
        unsigned n_cpus;
} TopoCore;

typedef struct TopoL3 {
        uint64_t size_bytes;
        hwloc_bitmap_t cpuset;
        hwloc_bitmap_t nodes; /* indexes of the nodes whose CPUs it covers (SNC: several) */
} TopoL3;

typedef struct TopoHugepages {
        uint64_t page_kib;
        int64_t total; /* pages in the pool, -1: unknown */
        int64_t free; /* free pages, -1: unknown (hwloc XML records only the pool size) */
} TopoHugepages;

typedef struct TopoNode {
        unsigned os; /* kernel node number */
        uint64_t memory_bytes; /* local memory, 0: unknown (CPUID-only topologies) */
        int64_t free_bytes; /* MemFree; -1: unknown (only the live host reports it) */
        int64_t available_bytes; /* what a new domain can have (NodeMemory.available_bytes), -1 */
        hwloc_bitmap_t cpuset; /* local CPUs; empty for a memory-only node */
        unsigned n_hugepages;
        TopoHugepages *hugepages; /* sorted by page size */
        uint64_t *distances; /* one per node index (ACPI SLIT, self = 10); NULL: unknown */
} TopoNode;

typedef struct TopoPackage {
        unsigned os; /* physical package id */
        hwloc_bitmap_t cpuset;
} TopoPackage;

typedef struct TopoGroup {
        char *type; /* "Die", "Group0", or the hwloc subtype ("Cluster") */
        hwloc_bitmap_t cpuset;
} TopoGroup;

typedef struct TopoKind {
        int efficiency; /* hwloc rank: 0 least performant; -1 when the host cannot rank kinds */
        char *info; /* "CoreType=IntelCore FrequencyMaxMHz=5000", may be empty */
        hwloc_bitmap_t cpuset;
} TopoKind;

typedef struct TopoDevice {
        char address[24]; /* PCI address as libvirt writes it: 0000:3b:00.0 (VMD domains: 10000:...) */
        uint16_t class_id, vendor_id, device_id;
        char *name; /* marketing name when hwloc knows it, else NULL */
        char *os_names; /* OS devices below it ("cuda0 nvidia0"), else NULL */
        int node; /* index of the one node it is local to, -1: several or none */
        hwloc_bitmap_t local_cpus;
} TopoDevice;

typedef struct Topology {
        char *source; /* "host", "xml FILE" or "synthetic STRING" */

        unsigned n_cpus, n_cores, n_l3s, n_nodes, n_packages, n_groups, n_kinds, n_devices;
        TopoCpu *cpus; /* sorted by kernel number */
        TopoCore *cores;
        TopoL3 *l3s;
        TopoNode *nodes; /* sorted by kernel number */
        TopoPackage *packages;
        TopoGroup *groups;
        TopoKind *kinds; /* hwloc order: least performant first */
        TopoDevice *devices;

        hwloc_bitmap_t cpuset; /* every usable CPU */
        hwloc_bitmap_t unavailable; /* CPUs that exist but are offline or disallowed */
        unsigned smt_min, smt_max; /* threads per core */

        unsigned max_os_cpu;
        int *cpu_by_os; /* max_os_cpu + 1 entries: kernel CPU number -> index, -1 */

        hwloc_topology_t hwloc;
} Topology;

typedef struct TopologySource {
        const char *xml_path; /* hwloc XML file, or NULL */
        const char *synthetic; /* hwloc synthetic description, or NULL */
        const char *sysfs; /* "/sys" or a fixture tree: memory figures of the live host */
} TopologySource;

/* Builds the model of the live host (xml_path and synthetic NULL), an XML file or a synthetic
 * description. Returns 0, -ENOENT / -EACCES for an unreadable file, -EINVAL when hwloc refuses
 * the input or it has no usable CPU, -ENOMEM. */
int topology_load(const TopologySource *src, Topology **ret_topology);

void topology_free(Topology *t);

/* Reads the free and available memory and the hugepage pools of every node again from
 * sysfs/devices/system/node (a node without figures there keeps the ones it has). Returns the
 * number of nodes read, or -ENOMEM. */
int topology_refresh_memory(Topology *t, const char *sysfs);

/* Returns the CPU with kernel number os, or NULL if the model has no such usable CPU. O(1). */
const TopoCpu *topology_cpu(const Topology *t, unsigned os);

/* Returns the index of the node with kernel number os, or -1. */
int topology_node_index(const Topology *t, unsigned os);

/* Returns the index of the PCI device with that address (any case, domain optional), or -1. */
int topology_device_index(const Topology *t, const char *address);

static inline void topology_freep(Topology **t) {
        if (*t)
                topology_free(*t);
}

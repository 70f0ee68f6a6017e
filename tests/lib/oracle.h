/* Test oracle: asks hwloc's own command-line tools what a topology holds, so model checks
 * compare against figures computed outside kvmtuned's code. */
#pragma once

#include <stdbool.h>

#include <hwloc.h>

typedef struct OracleCounts {
        int packages, numa_nodes, l3, cores, pus, pci_devices;
} OracleCounts;

/* Directory of the shared real-machine corpus, or NULL (after printing why) when absent. */
const char *oracle_corpus_dir(void);

/* Fills *ret_paths with the malloc'd paths of every *.xml in dir, sorted; returns the count
 * or -errno. */
int oracle_list_xml(const char *dir, char ***ret_paths);
void oracle_free_list(char **paths, int n);

/* Runs a shell command and returns its standard output (malloc'd), NULL if it failed. */
char *oracle_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Object counts as `hwloc-info` reports them for an XML file (PCI devices of all kinds).
 * A level hwloc does not have counts 0. Returns 0 or -EIO. */
int oracle_counts(const char *xml, OracleCounts *ret_counts);

/* Runs test once for every XML of the corpus as the cmocka group "group", each with its path
 * as state. Prints a SKIP line and returns 0 when the corpus is absent; else the failures. */
int oracle_run_corpus(const char *group, void (*test)(void **state));

/* Runs test (a corpus test) on this host exported by lstopo into a temporary XML file: a real
 * machine that is not in the corpus. Fails the calling test if lstopo fails. */
void oracle_test_host_export(void (*test)(void **state));

/* Parses a comma-separated index list printed by `hwloc-calc -I` (any order) into a new
 * bitmap; an empty output gives an empty bitmap. */
hwloc_bitmap_t oracle_parse_list(const char *s);

/* What the fuzz targets share: libFuzzer's entry points, the host and policy they plan on, a
 * private directory for the parsers that read files, and an assertion that aborts. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "planner.h"
#include "topology.h"

/* Called once per input, by libFuzzer or by replay.c; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional: called once before the first input when a target defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant is a cmocka assertion (assert_true, assert_int_equal, ...), as in the unit
 * tests: it prints the expression, file and line, and outside a cmocka run aborts (fuzz-common.c
 * sets CMOCKA_TEST_ABORT before main), which both libFuzzer and the replay count as a crash (the
 * input is kept). Never compiled out. */
#include <setjmp.h>
#include <stdarg.h>

#include <cmocka.h>

/* The host every target runs against, loaded once: 2 packages of 2 NUMA nodes (16 GiB each, 12 GiB
 * free, pools of 2M and 1G hugepages), 4 cores of 2 threads per node (CPUs 0-31), and one PCI device,
 * 0000:18:00.0, local to node 1. Aborts when it cannot be built. */
const Topology *fuzz_topology(void);

/* The configuration the planner targets use on that host, loaded once: the defaults, and a
 * policy with a class of each kind (the shipped ones and a mixed, an isolating and a hugepage
 * class). Aborts when it does not load. */
const Config *fuzz_config(void);

/* A private directory made once per process below $TMPDIR (or /tmp), removed at exit. */
const char *fuzz_tmpdir(void);

/* Writes size bytes of data to rel below fuzz_tmpdir() (replacing the file; rel may name one
 * subdirectory level, created as needed). Returns the malloc'd path; aborts on failure. */
char *fuzz_write_file(const char *rel, const uint8_t *data, size_t size);

/* data as a malloc'd NUL-terminated string (an embedded NUL ends it early, as it does for the
 * daemon's readers). Aborts on ENOMEM. */
char *fuzz_string(const uint8_t *data, size_t size);

/* pl as the allocations file holds it (persist_placement, written as plain JSON text), malloc'd.
 * Aborts on ENOMEM. */
char *fuzz_placement_text(const Placement *pl, const char *uuid);

/* What a restart does with pl, an admitted placement a planner made on fuzz_config(): reads its
 * text back and restores it into an empty planner the way the daemon does. It must fit (its
 * dedicated CPUs in today's pool) and be restored exactly as it was (the same text); aborts if not. */
void fuzz_check_restore(const Placement *pl, const char *uuid);

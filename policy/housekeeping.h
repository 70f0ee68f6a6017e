/* HousekeepingCPUs=auto: each node's least valuable core, and why it was chosen. */
#pragma once

#include <hwloc.h>

#include "topology.h"

/* Sets set to the automatic housekeeping CPUs of t (one core per node) and *ret_why to a
 * NULL-terminated list of malloc'd lines saying, per node, which core and why. Returns 0 or
 * -ENOMEM (set then partly filled, nothing in *ret_why). */
int housekeeping_auto(const Topology *t, hwloc_bitmap_t set, char ***ret_why);

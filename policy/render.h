/* Renders the host model and plans for people (text) and programs (JSON). */
#pragma once

#include <stdbool.h>

#include <json-c/json.h>

#include "macro.h"
#include "planner.h"
#include "topology.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

/* One line: "2 packages, 2 NUMA nodes, 4 L3, 32 cores, 64 CPUs, SMT 2".
 * Returns 0 and a malloc'd string in *ret_text, or -ENOMEM. */
int render_topology_summary(const Topology *t, char **ret_text);

/* The summary, then per node, L3 and core detail, CPU kinds and PCI devices.
 * Returns 0 and a malloc'd string in *ret_text, or -ENOMEM. */
int render_topology_text(const Topology *t, char **ret_text);

/* The same as a JSON object with kernel CPU and node numbers (README: "kvmtunectl topology").
 * Returns 0 and a new reference in *ret_json, or -ENOMEM. */
int render_topology_json(const Topology *t, json_object **ret_json);

/* The plan of every placement the planner holds, in placement order, as DESIGN's
 * {"domains": [...]} document. Returns 0 and a new reference in *ret_json, or -ENOMEM. */
int render_plan_json(const Planner *p, json_object **ret_json);

/* The same for people: per domain its class, CPUs, helpers, memory and why. Returns 0 and a
 * malloc'd string in *ret_text, or -ENOMEM. */
int render_plan_text(const Planner *p, char **ret_text);

/* Parts of a placement as JSON arrays (new references, NULL on ENOMEM): vCPUs with their
 * CPUs (and "dedicated" when asked), iothreads, hugepage reservations, explanation lines. */
json_object *render_vcpus_json(const Placement *pl, bool with_dedicated);
json_object *render_iothreads_json(const Placement *pl);
json_object *render_hugepages_json(const Placement *pl);
json_object *render_explain_json(const Placement *pl);

/* A JSON array of the kernel CPU numbers in set. Returns a new reference, NULL on ENOMEM. */
json_object *render_cpuset_json(hwloc_const_bitmap_t set);

/* Planner test worlds: a topology, a policy and a planner, domains placed on them by class, and
 * the invariants every planner state must keep (checked with cmocka asserts). */
#pragma once

#include <stdbool.h>

#include <hwloc.h>
#include <json-c/json.h>

#include "config.h"
#include "domain.h"
#include "planner.h"
#include "topology.h"

/* The scenarios' classes (ded, iso, numa, emu, perf, mix, vdi, huge, loose; req on SMT hosts). */
extern const char world_policy[];

typedef struct World {
        Topology *t;
        Config *c;
        Planner *p;
        char *root;
} World;

/* A world on topology t (owned from then on) with kvmtuned.conf main_conf and policy_text (NULL:
 * world_policy). Fails the test when the configuration does not load. */
World *world_new(Topology *t, const char *main_conf, const char *policy_text);
/* A world on an hwloc synthetic description. */
World *world_synthetic(const char *desc, const char *main_conf);
void world_free(World *w);

/* A domain of class cls with vcpus vCPUs and mem_mib of memory; extra goes inside <domain>. */
DomainRequest *request(const char *name, const char *cls, unsigned vcpus, unsigned mem_mib, const char *extra);
/* Places such a domain; the placement is the planner's. */
const Placement *place(World *w, const char *name, const char *cls, unsigned vcpus, unsigned mem_mib,
                       const char *extra);
/* The CPUs any of pl's vCPUs may run on (the caller frees it). */
hwloc_bitmap_t vcpu_union(const Placement *pl);
/* The plan as JSON text, after the shared CPUs are refreshed (the caller frees it). */
char *plan_json(World *w);
/* How many L3 domains (nodes: NUMA nodes) a set of CPUs touches, by the model's numbering. */
unsigned count_l3(const Topology *t, hwloc_const_bitmap_t set, bool nodes);
/* Asserts what every planner state keeps: no CPU held twice, dedicated vCPUs alone on their
 * CPUs, shared vCPUs off held CPUs, and Overcommit per node, each shared vCPU counted by its
 * share of its CPUs and as an equal split over their nodes. */
void check_invariants(World *w);

/* The plan JSON of one domain, after a refresh of the shared sets (a reference the caller puts;
 * fails the test when it is not there). */
json_object *world_domain_json(World *w, const char *name);
/* A field of a domain's plan JSON (inner of outer, or outer when inner is NULL) as plain JSON
 * text ("[1,3]"), for comparing; the caller frees it. */
char *world_field_text(World *w, const char *name, const char *outer, const char *inner);
/* Whether a line of pl's explanation holds text. */
bool world_explains(const Placement *pl, const char *text);

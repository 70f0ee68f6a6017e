/* Placements as JSON and back, with everything the planner needs to re-enter them exactly:
 * the allocations file the daemon keeps so a restart adopts what is applied. */
#pragma once

#include <json-c/json.h>

#include "planner.h"
#include "topology.h"

/* Returns a new JSON object for pl (kernel CPU and node numbers), NULL on ENOMEM. uuid may be NULL. */
json_object *persist_placement(const Placement *pl, const char *uuid, const Topology *t);

/* Parses what persist_placement wrote into a new placement spec (for planner_restore), its class
 * name and uuid (both malloc'd, uuid NULL if absent; ret_class NULL: the class is not required
 * and not returned, ret_uuid NULL: not returned). Returns 0, -EINVAL for a malformed object (a
 * CPU or node the host does not have is malformed), -ENOMEM. */
int persist_parse(json_object *o, const Topology *t, Placement **ret_spec, char **ret_class, char **ret_uuid);

/* The hugepages actuator: per-node pools grown for admitted domains (tuning_hugepages_reserve at
 * admission, _release at their end); its undo puts back the pools nobody holds pages of. */
#include "actuators.h"

static int hugepages_undo(ActuatorHost *h, ActuatorMemo *memo, char **ret_message) {
        (void) memo;
        /* A pool with reservations keeps its size until they are released. */
        return tuning_restore_owned(h->tuning, tuning_is_pool_key, tuning_pool_reserved, ret_message);
}

const Actuator actuator_hugepages = {
        .name = "hugepages",
        .journal_namespace = "devices/system/node/nodeN/hugepages/hugepages-SIZEkB/nr_hugepages",
        .owns_key = tuning_is_pool_key,
        .undo = hugepages_undo,
};

/* The libvirt actuator: applies a placement to a running domain with live-only calls
 * (vCPU, emulator and iothread pins, strict numatune nodeset) and verifies it by reading back. */
#pragma once

#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "planner.h"
#include "topology.h"

/* cpus: how many CPU numbers the host's maps hold (the topology's max_os_cpu + 1); these run on
 * worker threads and read nothing else of the host.
 *
 * Applies pl to dom and verifies it. Never touches the persistent definition. Returns 0, or
 * negative errno with a malloc'd one-line reason in *ret_error. */
int pin_apply(virDomainPtr dom, const Placement *pl, unsigned cpus, char **ret_error);

/* Compares dom's live pins with pl. Returns 0 when they match, -ESTALE with the first
 * difference in *ret_error, or another negative errno when libvirt cannot tell. */
int pin_verify(virDomainPtr dom, const Placement *pl, unsigned cpus, char **ret_error);

/* The flags that address a running domain's live state on a connection to driver (as
 * virConnectGetType names it): VIR_DOMAIN_AFFECT_LIVE, except for libvirt's test driver, which
 * accepts only AFFECT_CURRENT (for a running domain the same state). Never CURRENT for a real
 * driver: a domain that stops mid-call would have its persistent definition changed. */
unsigned pin_live_flags(const char *driver);

/* Whether dom's live vCPU and emulator pins equal pl's, as pin_verify but without a reason. */
bool pin_matches(virDomainPtr dom, const Placement *pl, unsigned cpus);

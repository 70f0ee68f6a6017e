/* Prometheus text exposition of kvmtuned's metrics (DESIGN §6), from a plain snapshot the
 * daemon fills: pure, so a golden file can pin the format down. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ExpoVcpu {
        const char *domain, *class_name;
        unsigned vcpu;
        double steal_seconds, run_seconds; /* counters */
        const char *cpus; /* kernel CPU list it may run on */
        int core, l3, node; /* of its CPU when dedicated; -1: spans several */
} ExpoVcpu;

typedef struct ExpoMemory {
        const char *domain;
        unsigned node;
        uint64_t bytes;
} ExpoMemory;

typedef struct ExpoNode {
        unsigned node;
        unsigned housekeeping, dedicated, shared, free; /* CPUs of each set */
        double shared_ratio;
} ExpoNode;

typedef struct ExpoHugepages {
        unsigned node;
        uint64_t page_kib, total, free, reserved;
} ExpoHugepages;

typedef struct ExpoAction {
        const char *action, *result;
        uint64_t count;
} ExpoAction;

typedef struct ExpoSnapshot {
        const ExpoVcpu *vcpus;
        size_t n_vcpus;
        const ExpoMemory *memory;
        size_t n_memory;
        const ExpoNode *nodes;
        size_t n_nodes;
        const ExpoHugepages *hugepages;
        size_t n_hugepages;
        const ExpoAction *actions;
        size_t n_actions;
        bool libvirt_connected;
        uint64_t reconnects;
} ExpoSnapshot;

/* Renders the snapshot with HELP and TYPE lines. Returns 0 and a malloc'd text, or -ENOMEM. */
int exposition_render(const ExpoSnapshot *s, char **ret_text);

/* What kvmtuned and kvmtunectl share on the command line: the host and policy options, and
 * loading the topology and configuration with errors printed to stderr. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include <json-c/json.h>

#include "config.h"
#include "topology.h"

#define CLI_DEFAULT_CONFIG "/etc/kvmtuned/kvmtuned.conf"
#define CLI_DEFAULT_POLICY_DIR "/etc/kvmtuned/policy.d"

typedef struct CliHost {
        const char *topology; /* --topology FILE */
        const char *sysfs; /* --sysfs-root, or ROOT/sys */
        const char *procfs; /* --procfs-root, or ROOT/proc */
        const char *config; /* --config FILE */
        const char *policy_dir; /* --policy-dir DIR */
        const char *runtime_dir; /* --runtime-dir DIR: control socket and allocations */
        char *root_sys, *root_proc;
} CliHost;

/* Long options both binaries accept; their values are CLI_OPT_* below. */
enum {
        CLI_OPT_TOPOLOGY = 0x1000,
        CLI_OPT_SYSFS_ROOT,
        CLI_OPT_PROCFS_ROOT,
        CLI_OPT_ROOT,
        CLI_OPT_CONFIG,
        CLI_OPT_POLICY_DIR,
        CLI_OPT_RUNTIME_DIR,
};

/* clang-format off */
#define CLI_HOST_OPTIONS                                                        \
        { "topology", required_argument, NULL, CLI_OPT_TOPOLOGY },              \
        { "sysfs-root", required_argument, NULL, CLI_OPT_SYSFS_ROOT },          \
        { "procfs-root", required_argument, NULL, CLI_OPT_PROCFS_ROOT },        \
        { "root", required_argument, NULL, CLI_OPT_ROOT },                      \
        { "config", required_argument, NULL, CLI_OPT_CONFIG },                  \
        { "policy-dir", required_argument, NULL, CLI_OPT_POLICY_DIR },          \
        { "runtime-dir", required_argument, NULL, CLI_OPT_RUNTIME_DIR }
/* clang-format on */

#define CLI_HOST_HELP                                                                                                  \
        "  --topology FILE     read an hwloc XML file instead of the live host\n"                                      \
        "  --config FILE       main configuration (default " CLI_DEFAULT_CONFIG ")\n"                                  \
        "  --policy-dir DIR    policy directory (default " CLI_DEFAULT_POLICY_DIR ")\n"                                \
        "  --sysfs-root DIR    read sysfs below DIR instead of /sys\n"                                                 \
        "  --procfs-root DIR   read procfs below DIR instead of /proc\n"                                               \
        "  --root DIR          the same as --sysfs-root DIR/sys --procfs-root DIR/proc\n"                              \
        "  --runtime-dir DIR   the daemon's control socket directory (default /run/kvmtuned)\n"

/* Handles one getopt result if it is a host option. Returns 1 if it was, 0 if not, -ENOMEM. */
int cli_host_option(CliHost *h, int opt, const char *arg);

void cli_host_done(CliHost *h);

/* Loads the topology; prints the reason and returns negative errno on failure. */
int cli_load_topology(const char *prog, const CliHost *h, Topology **ret_topology);

/* Loads config and policy (named paths, else the default ones when they exist) into
 * *ret_config, every error into errors. Returns 0, -EINVAL or -ENOMEM. */
int cli_config_paths_load(const CliHost *h, const Topology *t, Config **ret_config, ConfigErrors *errors);

/* How long a request may take, connect to reply: a daemon that does not answer must not hold
 * the caller (libvirtd waits for the hook). */
#define CLI_REQUEST_TIMEOUT_SEC 30
/* The most reply kvmtunectl reads. */
#define CLI_REPLY_MAX (64 * 1024 * 1024)

/* Sends one request to the daemon's socket (runtime_dir/socket: "control", or "hook" for the
 * libvirt hook) and returns its reply in *ret_reply. Returns 0, or negative errno with the
 * reason printed (daemon not running, no answer in time, ...). */
int cli_request(const char *prog, const CliHost *h, const char *socket, json_object *request,
                json_object **ret_reply);

/* Loads config and policy (the defaults when they were not named and do not exist); prints
 * every error as FILE:LINE: message and returns -EINVAL when there is one. */
int cli_load_config(const char *prog, const CliHost *h, const Topology *t, Config **ret_config);

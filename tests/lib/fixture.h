/* Fixture trees for probe and actuator tests: a private directory standing in for / . */
#pragma once

/* Creates a fresh directory under $TMPDIR (or /tmp); returns its malloc'd path. A failure fails the calling cmocka
 * test. */
char *fixture_new(void);

/* Writes content to root/rel, creating parent directories. A failure fails the calling test. */
void fixture_write(const char *root, const char *rel, const char *content);

/* Removes the tree (rm -rf) and frees the path. */
void fixture_free(char *root);

/* The files a kvmtuned (or an in-process Manager) runs on in the integration tier: a fixture
 * root with its configuration, policy, runtime and state directories, and sysfs and procfs
 * trees that hold a boot id and a THP file (host tuning never reaches the real /sys), and an
 * hwloc XML of the synthetic topology desc. Members are malloc'd paths below root. */
typedef struct DaemonFixture {
        char *root, *topology, *config, *policy_dir, *runtime, *state, *sysfs, *procfs;
} DaemonFixture;

/* Creates it (failures fail the calling test). */
void daemon_fixture_new(DaemonFixture *f, const char *desc);

/* Removes the tree and frees the paths. */
void daemon_fixture_free(DaemonFixture *f);

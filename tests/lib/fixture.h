/* Fixture trees for probe and actuator tests: a private directory standing in for / . */
#pragma once

/* Creates a fresh directory under $TMPDIR (or /tmp); returns its malloc'd path. A failure fails the calling cmocka
 * test. */
char *fixture_new(void);

/* Writes content to root/rel, creating parent directories. A failure fails the calling test. */
void fixture_write(const char *root, const char *rel, const char *content);

/* Removes the tree (rm -rf) and frees the path. */
void fixture_free(char *root);

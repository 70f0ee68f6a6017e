/* Plumbing the actuators share: writing a kernel file below a root prefix, and a one-line
 * error for the caller to log. */
#pragma once

/* Writes value to base/rel. Returns 0 or negative errno. */
int actuator_write(const char *base, const char *rel, const char *value);

/* Formats a malloc'd message into *ret_error (NULL on ENOMEM) and returns r, for
 * "return actuator_error(ret_error, r, ...)". */
int actuator_error(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

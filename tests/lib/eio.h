/* Writes the kernel refuses with EIO, on demand: a test linked with
 * LINKER:--wrap=actuator_write and kvmtuned_testeio sees every actuator_write to a path that
 * contains eio_match fail with -EIO (NULL: none fail). */
#pragma once

extern const char *eio_match;

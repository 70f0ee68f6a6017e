/* Metrics= addresses: one parser for the configuration check and for the daemon's socket. */
#pragma once

#include <sys/socket.h>

/* Parses "ADDRESS:PORT" (an IPv4 address or localhost) or "[IPV6]:PORT" with a port from 1 to
 * 65535 into *ret (when not NULL). Host names are not resolved: a daemon that starts before the
 * network must not depend on a resolver. Returns 0 or -EINVAL. */
int listen_parse(const char *text, struct sockaddr_storage *ret);

/* Metrics= addresses: "127.0.0.1:9655", "localhost:9655", "[::1]:9655". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"

int listen_parse(const char *text, struct sockaddr_storage *ret) {
        const char *colon = strrchr(text, ':');
        char host[INET6_ADDRSTRLEN + 2], *end;
        if (!colon || colon == text || (size_t) (colon - text) >= sizeof(host) || !colon[1] ||
            !strchr("0123456789", colon[1]))
                return -EINVAL;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 1 || port > 65535)
                return -EINVAL;
        memcpy(host, text, (size_t) (colon - text));
        host[colon - text] = '\0';

        struct sockaddr_storage ss = { 0 };
        size_t n = strlen(host);
        if (host[0] == '[') {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;
                if (n < 3 || host[n - 1] != ']')
                        return -EINVAL;
                host[n - 1] = '\0';
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
                        return -EINVAL;
        } else {
                struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &s4->sin_addr) != 1)
                        return -EINVAL;
        }
        if (ret)
                *ret = ss;
        return 0;
}

/* Daemon logging: structured journal entries (DOMAIN=, VCPU=, ACTION=, CPUS=) under systemd,
 * one readable line on stderr otherwise. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

typedef struct Logger {
        bool journal; /* stderr is connected to the journal (JOURNAL_STREAM) */
        int max_priority; /* LOG_INFO, or LOG_DEBUG with --debug */
} Logger;

/* Optional structured fields; NULL / -1 leave one out. */
typedef struct LogFields {
        const char *domain;
        const char *action;
        const char *cpus;
        const char *result;
        int vcpu;
} LogFields;

#define LOG_NO_FIELDS ((const LogFields *) NULL)

/* Chooses the journal when systemd connected stderr to it. */
void log_init(Logger *l, bool debug);

/* Logs one message at priority with the given fields (may be LOG_NO_FIELDS). */
void log_emit(const Logger *l, int priority, const LogFields *f, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* A small pool of threads for calls that may block (libvirt's): at most one job per key (a
 * domain's UUID) runs at a time, in the order submitted, and each job's end is delivered on the
 * sd-event loop, in the order jobs finished, over an eventfd. A job stuck in a call delays only
 * the jobs of its own key. */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

/* A job begins with this header (the rest is the caller's). */
typedef struct WorkerJob WorkerJob;

/* Runs on a worker thread: may block; must touch nothing but the job itself. */
typedef void (*WorkerRun)(WorkerJob *job);
/* Runs on the loop's thread after run (or instead of it, with ran false, when the pool stops
 * first); must free the job. */
typedef void (*WorkerDone)(void *userdata, WorkerJob *job, bool ran);

struct WorkerJob {
        char key[64];
        WorkerRun run;
        WorkerDone done;
        void *userdata;
        WorkerJob *next;
};

typedef struct Worker Worker;

/* Starts threads workers. Returns 0 or negative errno. */
int worker_new(sd_event *e, unsigned threads, Worker **ret_worker);

/* Stops the pool: jobs not started end with ran false; running ones get wait_usec to finish
 * (their done is then called). A thread still stuck in a call after that is left behind with
 * what it uses (the process is ending). */
void worker_free(Worker *w, uint64_t wait_usec);

/* Queues job under key (copied; "" for none: such jobs never wait for each other). */
void worker_submit(Worker *w, WorkerJob *job, const char *key, WorkerRun run, WorkerDone done, void *userdata);

/* Jobs queued, running, or finished and not yet delivered. */
unsigned worker_pending(const Worker *w);

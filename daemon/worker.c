/* A pool of threads for blocking calls, one job per key at a time, ends delivered on the loop. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"

typedef struct Slot {
        struct Worker *worker;
        const WorkerJob *job; /* running on this thread; NULL when idle */
} Slot;

struct Worker {
        sd_event_source *source;
        int efd;
        pthread_t *threads;
        Slot *slots;
        unsigned n_threads, n_started;

        pthread_mutex_t lock; /* everything below */
        pthread_cond_t wake; /* a job was queued, a key freed, or stop */
        pthread_cond_t ended; /* a job ended */
        WorkerJob *queue, **queue_tail;
        WorkerJob *finished, **finished_tail;
        unsigned queued, running, undelivered;
        bool stop;
};

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static bool key_running(const Worker *w, const char *key) {
        if (!key[0])
                return false;
        for (unsigned i = 0; i < w->n_started; i++)
                if (w->slots[i].job && strcmp(w->slots[i].job->key, key) == 0)
                        return true;
        return false;
}

/* The first queued job whose key is free, taken out of the queue; NULL if none. */
static WorkerJob *take_runnable(Worker *w) {
        for (WorkerJob **pp = &w->queue; *pp; pp = &(*pp)->next) {
                WorkerJob *j = *pp;
                /* An earlier job of the same key waits too: order within a key is kept because
                 * the scan stops at the first job of each key and that one must run first. */
                bool earlier_same = false;
                for (WorkerJob *e = w->queue; e != j && !earlier_same; e = e->next)
                        earlier_same = j->key[0] && strcmp(e->key, j->key) == 0;
                if (earlier_same || key_running(w, j->key))
                        continue;
                *pp = j->next;
                if (!*pp)
                        w->queue_tail = pp;
                j->next = NULL;
                w->queued--;
                return j;
        }
        return NULL;
}

static void *thread_main(void *userdata) {
        Slot *slot = userdata;
        Worker *w = slot->worker;
        pthread_mutex_lock(&w->lock);
        for (;;) {
                WorkerJob *j = NULL;
                while (!w->stop && !(j = take_runnable(w)))
                        pthread_cond_wait(&w->wake, &w->lock);
                if (!j)
                        break;
                slot->job = j;
                w->running++;
                pthread_mutex_unlock(&w->lock);

                j->run(j);

                pthread_mutex_lock(&w->lock);
                slot->job = NULL;
                w->running--;
                *w->finished_tail = j;
                w->finished_tail = &j->next;
                w->undelivered++;
                (void) eventfd_write(w->efd, 1);
                pthread_cond_broadcast(&w->wake); /* its key is free: a job of the same key may run */
                pthread_cond_broadcast(&w->ended);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

/* Hands the finished jobs to their done callbacks, on the loop. */
static void deliver(Worker *w, bool ran) {
        pthread_mutex_lock(&w->lock);
        WorkerJob *list = w->finished;
        w->finished = NULL;
        w->finished_tail = &w->finished;
        pthread_mutex_unlock(&w->lock);
        while (list) {
                WorkerJob *j = list;
                list = j->next;
                j->next = NULL;
                j->done(j->userdata, j, ran);
                pthread_mutex_lock(&w->lock);
                w->undelivered--;
                pthread_mutex_unlock(&w->lock);
        }
}

static int on_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) s;
        (void) revents;
        eventfd_t v;
        (void) eventfd_read(fd, &v);
        deliver(userdata, true);
        return 0;
}

int worker_new(sd_event *e, unsigned threads, Worker **ret_worker) {
        Worker *w = calloc(1, sizeof(Worker));
        if (!w)
                return -ENOMEM;
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        w->queue_tail = &w->queue;
        w->finished_tail = &w->finished;
        w->threads = calloc(threads, sizeof(pthread_t));
        w->slots = calloc(threads, sizeof(Slot));
        w->n_threads = threads;
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->wake, NULL);
        pthread_cond_init(&w->ended, &attr);
        pthread_condattr_destroy(&attr);
        int r = w->efd < 0 ? -errno : !w->threads || !w->slots ? -ENOMEM : 0;
        if (r == 0)
                r = sd_event_add_io(e, &w->source, w->efd, EPOLLIN, on_finished, w);
        for (unsigned i = 0; r == 0 && i < threads; i++) {
                w->slots[i].worker = w;
                pthread_mutex_lock(&w->lock); /* running threads read n_started */
                r = -pthread_create(&w->threads[i], NULL, thread_main, &w->slots[i]);
                if (r == 0)
                        w->n_started++;
                pthread_mutex_unlock(&w->lock);
        }
        if (r < 0) {
                worker_free(w, 0);
                return r;
        }
        *ret_worker = w;
        return 0;
}

void worker_submit(Worker *w, WorkerJob *job, const char *key, WorkerRun run, WorkerDone done, void *userdata) {
        size_t n = strlen(key ? key : "");
        memcpy(job->key, key ? key : "", n < sizeof(job->key) ? n + 1 : sizeof(job->key));
        job->key[sizeof(job->key) - 1] = '\0';
        job->run = run;
        job->done = done;
        job->userdata = userdata;
        job->next = NULL;
        pthread_mutex_lock(&w->lock);
        bool stopped = w->stop;
        if (!stopped) {
                *w->queue_tail = job;
                w->queue_tail = &job->next;
                w->queued++;
                pthread_cond_signal(&w->wake);
        }
        pthread_mutex_unlock(&w->lock);
        if (stopped)
                done(userdata, job, false);
}

unsigned worker_pending(const Worker *w) {
        Worker *mw = (Worker *) w; /* the lock is not part of what callers see */
        pthread_mutex_lock(&mw->lock);
        unsigned n = w->queued + w->running + w->undelivered;
        pthread_mutex_unlock(&mw->lock);
        return n;
}

void worker_free(Worker *w, uint64_t wait_usec) {
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        WorkerJob *unstarted = w->queue;
        w->queue = NULL;
        w->queue_tail = &w->queue;
        w->queued = 0;
        pthread_cond_broadcast(&w->wake);
        uint64_t end = now_usec() + wait_usec;
        struct timespec ts = { .tv_sec = (time_t) (end / 1000000), .tv_nsec = (long) (end % 1000000) * 1000 };
        while (w->running > 0 && pthread_cond_timedwait(&w->ended, &w->lock, &ts) != ETIMEDOUT)
                ;
        bool stuck = w->running > 0;
        pthread_mutex_unlock(&w->lock);

        while (unstarted) {
                WorkerJob *j = unstarted;
                unstarted = j->next;
                j->done(j->userdata, j, false);
        }
        deliver(w, false);
        sd_event_source_disable_unref(w->source);
        w->source = NULL;
        if (stuck) {
                /* A thread still in a call uses w and its job: both stay, the threads are left
                 * to the end of the process. */
                for (unsigned i = 0; i < w->n_started; i++)
                        pthread_detach(w->threads[i]);
                return;
        }
        for (unsigned i = 0; i < w->n_started; i++)
                pthread_join(w->threads[i], NULL);
        deliver(w, false);
        if (w->efd >= 0)
                close(w->efd);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->ended);
        pthread_mutex_destroy(&w->lock);
        free(w->threads);
        free(w->slots);
        free(w);
}

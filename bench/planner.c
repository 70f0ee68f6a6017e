/* bench/planner: per-decision latency of the planner (place and release) for 1000 mixed
 * domains on an 8192-CPU synthetic host and on the 384-CPU machines of the corpus, and the
 * process's peak RSS. Prints figures; never passes or fails on time. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "domain.h"
#include "macro.h"
#include "planner.h"
#include "topology.h"

#define N_DOMAINS 1000

static const char policy[] = "[Class ded]\nCPUPolicy=dedicated\nThreadPolicy=prefer\nCacheLocality=l3\n"
                             "[Class iso]\nCPUPolicy=dedicated\nThreadPolicy=isolate\nCacheLocality=l3\n"
                             "[Class numa]\nCPUPolicy=dedicated\nCacheLocality=numa\nEmulatorThreads=isolate\n"
                             "[Class vdi]\nCPUPolicy=shared\nCacheLocality=numa\nOvercommit=8\n"
                             "[Class huge]\nCPUPolicy=dedicated\nMemPageSize=2M\n";

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return (x > y) - (x < y);
}

static void stats(const char *what, double *v, unsigned n) {
        if (n == 0)
                return;
        qsort(v, n, sizeof(double), cmp_double);
        double sum = 0;
        for (unsigned i = 0; i < n; i++)
                sum += v[i];
        printf("    %-8s n=%-5u median %8.1f us   p99 %8.1f us   max %8.1f us   mean %8.1f us\n", what, n, v[n / 2],
               v[(unsigned) (n * 0.99)], v[n - 1], sum / n);
}

static DomainRequest *request(unsigned i) {
        static const char *classes[] = { "ded", "vdi", "iso", "vdi", "numa", "vdi", "huge", "ded" };
        static const unsigned sizes[] = { 2, 4, 8, 2, 16, 1, 4, 6, 3, 32 };
        const char *cls = classes[i % 8];
        char xml[1024];
        snprintf(xml, sizeof(xml),
                 "<domain><name>vm-%04u</name><vcpu>%u</vcpu><memory unit='MiB'>%u</memory>%s"
                 "<metadata><k:policy xmlns:k='urn:kvmtuned:policy:1' class='%s'/></metadata></domain>",
                 i, sizes[i % 10], 512 + 256 * (i % 4),
                 strcmp(cls, "huge") == 0 ? "<memoryBacking><hugepages/></memoryBacking>" : "", cls);
        DomainRequest *d = NULL;
        char *error = NULL;
        if (domain_parse(xml, strlen(xml), &d, &error) < 0) {
                fprintf(stderr, "bench: %s\n", error);
                exit(1);
        }
        return d;
}

static int run(const char *label, const TopologySource *src, const char *policy_dir) {
        _cleanup_(topology_freep) Topology *t = NULL;
        double t0 = now_us();
        int r = topology_load(src, &t);
        if (r < 0) {
                fprintf(stderr, "bench: cannot load %s: %s\n", label, strerror(-r));
                return r;
        }
        double load_ms = (now_us() - t0) / 1000;
        ConfigErrors errors = { 0 };
        _cleanup_(config_freep) Config *c = NULL;
        r = config_load(NULL, policy_dir, t, &c, &errors);
        if (r < 0) {
                char *text = config_errors_format(&errors);
                fprintf(stderr, "bench: %s", text ? text : "config error\n");
                free(text);
                return r;
        }
        _cleanup_(planner_freep) Planner *p = NULL;
        t0 = now_us();
        if (planner_new(t, c, &p) < 0)
                return -ENOMEM;
        double init_ms = (now_us() - t0) / 1000;

        DomainRequest **reqs = calloc(N_DOMAINS, sizeof(DomainRequest *));
        double *place = calloc(N_DOMAINS, sizeof(double)), *release = calloc(N_DOMAINS, sizeof(double));
        double *churn = calloc(N_DOMAINS, sizeof(double));
        t0 = now_us();
        for (unsigned i = 0; i < N_DOMAINS; i++)
                reqs[i] = request(i);
        double parse_us = (now_us() - t0) / N_DOMAINS;

        /* Fill: place all 1000 in order (the host fills up and later ones are refused). */
        unsigned admitted = 0;
        for (unsigned i = 0; i < N_DOMAINS; i++) {
                const Placement *pl;
                double a = now_us();
                if (planner_place(p, reqs[i], &pl) < 0)
                        return -ENOMEM;
                place[i] = now_us() - a;
                admitted += pl->admitted;
        }
        /* Churn: release one, place it again, across the whole set. */
        for (unsigned i = 0; i < N_DOMAINS; i++) {
                const Placement *pl;
                double a = now_us();
                planner_release(p, reqs[i]->name);
                if (planner_place(p, reqs[i], &pl) < 0)
                        return -ENOMEM;
                churn[i] = now_us() - a;
        }
        /* Drain: release everything. */
        for (unsigned i = 0; i < N_DOMAINS; i++) {
                double a = now_us();
                planner_release(p, reqs[i]->name);
                release[i] = now_us() - a;
        }

        printf("%s: %u CPUs, %u nodes, %u L3; topology load %.1f ms, planner init %.2f ms, XML parse %.1f us/domain\n",
               label, t->n_cpus, t->n_nodes, t->n_l3s, load_ms, init_ms, parse_us);
        printf("  %u of %u domains admitted while filling\n", admitted, N_DOMAINS);
        stats("place", place, N_DOMAINS);
        stats("churn", churn, N_DOMAINS);
        stats("release", release, N_DOMAINS);

        for (unsigned i = 0; i < N_DOMAINS; i++)
                domain_free(reqs[i]);
        free(reqs);
        free(place);
        free(release);
        free(churn);
        config_errors_clear(&errors);
        return 0;
}

int main(int argc, char **argv) {
        const char *corpus = argc > 1 ? argv[1] : KVMTUNED_TOPOLOGIES_DIR;
        char dir[] = "/tmp/kvmtuned-bench-XXXXXX";
        if (!mkdtemp(dir))
                return 1;
        char path[512];
        snprintf(path, sizeof(path), "%s/50-bench.conf", dir);
        FILE *f = fopen(path, "we");
        if (!f)
                return 1;
        fputs(policy, f);
        fclose(f);

        int r = run("synthetic pack:16 numa:8 l3:4 core:8 pu:2",
                    &(TopologySource){ .synthetic = "pack:16 numa:8(memory=256GiB) l3:4 core:8 pu:2" }, dir);
        static const char *files[] = { "amd-2s-epyc9654-zen4-384pu-24l3.xml", "intel-sgi-uv2000-24s-384pu-24numa.xml" };
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(files); i++) {
                char xml[1024];
                snprintf(xml, sizeof(xml), "%s/%s", corpus, files[i]);
                if (access(xml, R_OK) < 0) {
                        printf("%s: skipped, corpus not found at %s\n", files[i], corpus);
                        continue;
                }
                r = run(files[i], &(TopologySource){ .xml_path = xml }, dir);
        }

        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("peak RSS %.1f MiB\n", (double) ru.ru_maxrss / 1024);
        unlink(path);
        rmdir(dir);
        return r < 0 ? 1 : 0;
}

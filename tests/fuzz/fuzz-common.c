/* What the fuzz targets share: the host and policy they plan on, and a private directory. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "macro.h"
#include "persist.h"
#include "render.h"

/* A failed cmocka assertion outside a cmocka run would exit(-1); abort() instead, so that the
 * sanitizers print where and libFuzzer keeps the input as a crash. */
__attribute__((constructor)) static void fuzz_abort_on_failure(void) {
        setenv("CMOCKA_TEST_ABORT", "1", 1);
}

#define FUZZ_HOST "pack:2 numa:2(memory=16GiB) l3:1 core:4 pu:2"

/* The shipped policy (etc/policy.d) and the kinds of class it lacks. */
static const char fuzz_policy[] = "[Class default]\nCPUPolicy=shared\nCacheLocality=numa\nMemoryPolicy=preferred\n"
                                  "[Class latency]\nMatchName=db-*,lb-*,rt-*\nPriority=50\nCPUPolicy=dedicated\n"
                                  "CacheLocality=l3\nMemoryPolicy=strict\nMemPageSize=any\n"
                                  "[Class tenant]\nMatchName=tenant-*,app-*\nPriority=10\nCPUPolicy=shared\n"
                                  "MemoryPolicy=strict\nOvercommit=4.0\n"
                                  "[Class gaming]\nMatchName=win1*,gaming-*\nMatchMetadata=gaming\nPriority=100\n"
                                  "CPUPolicy=dedicated\nCoreKind=performance\nMemPageSize=1G\nNearDevices=yes\n"
                                  "[Class vdi]\nMatchName=vdi-*\nPriority=20\nCPUPolicy=shared\nOvercommit=8.0\n"
                                  "[Class mixed]\nMatchName=mixed-*\nCPUPolicy=mixed\nOvercommit=4\n"
                                  "[Class isolated]\nMatchName=iso-*\nCPUPolicy=dedicated\nThreadPolicy=isolate\n"
                                  "EmulatorThreads=isolate\nIOThreads=share\n"
                                  "[Class smt]\nMatchName=smt-*\nCPUPolicy=dedicated\nThreadPolicy=require\n"
                                  "CacheLocality=none\nMemoryPolicy=interleave\n"
                                  "[Class huge]\nMatchName=huge-*\nCPUPolicy=dedicated\nMemPageSize=2M\n";

static Topology *topology;
static Config *config;
static char *tmpdir;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        remove(path);
        return 0;
}

static void fuzz_cleanup(void) {
        config_free(config);
        config = NULL;
        topology_free(topology);
        topology = NULL;
        if (tmpdir)
                nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(tmpdir);
        tmpdir = NULL;
}

static void die(const char *what) {
        fprintf(stderr, "fuzz: %s\n", what);
        abort();
}

const char *fuzz_tmpdir(void) {
        if (tmpdir)
                return tmpdir;
        const char *base = getenv("TMPDIR");
        if (asprintf(&tmpdir, "%s/kvmtuned-fuzz-XXXXXX", base && *base ? base : "/tmp") < 0)
                die("out of memory");
        if (!mkdtemp(tmpdir))
                die("cannot make a temporary directory");
        atexit(fuzz_cleanup);
        return tmpdir;
}

char *fuzz_write_file(const char *rel, const uint8_t *data, size_t size) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", fuzz_tmpdir(), rel) < 0)
                die("out of memory");
        char *slash = strrchr(path, '/');
        if (slash > path + strlen(tmpdir)) {
                *slash = '\0';
                if (mkdir(path, 0700) < 0 && errno != EEXIST)
                        die("cannot make a directory");
                *slash = '/';
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                die("cannot write an input file");
        for (size_t off = 0; off < size;) {
                ssize_t k = write(fd, data + off, size - off);
                if (k <= 0)
                        die("cannot write an input file");
                off += (size_t) k;
        }
        close(fd);
        return path;
}

char *fuzz_string(const uint8_t *data, size_t size) {
        char *s = strndup((const char *) data, size);
        if (!s)
                die("out of memory");
        return s;
}

/* Live-looking figures for node n: free memory, and hugepage pools with free pages. */
static void add_figures(TopoNode *node) {
        node->free_bytes = 12LL << 30;
        node->available_bytes = 12LL << 30;
        free(node->hugepages);
        node->hugepages = calloc(2, sizeof(TopoHugepages));
        if (!node->hugepages)
                die("out of memory");
        node->hugepages[0] = (TopoHugepages){ .page_kib = 2048, .total = 1024, .free = 1024 };
        node->hugepages[1] = (TopoHugepages){ .page_kib = 1048576, .total = 2, .free = 2 };
        node->n_hugepages = 2;
}

/* A passthrough GPU next to node 1, for NearDevices=yes and <hostdev>. */
static void add_device(Topology *t) {
        TopoDevice *devices = realloc(t->devices, (t->n_devices + 1) * sizeof(TopoDevice));
        if (!devices)
                die("out of memory");
        t->devices = devices;
        TopoDevice *dev = &devices[t->n_devices];
        *dev = (TopoDevice){ .class_id = 0x0300, .vendor_id = 0x10de, .device_id = 0x2684, .node = 1 };
        snprintf(dev->address, sizeof(dev->address), "0000:18:00.0");
        if (!(dev->local_cpus = hwloc_bitmap_dup(t->nodes[1].cpuset)))
                die("out of memory");
        t->n_devices++;
}

const Topology *fuzz_topology(void) {
        if (topology)
                return topology;
        if (topology_load(&(TopologySource){ .synthetic = FUZZ_HOST }, &topology) < 0 || topology->n_nodes != 4)
                die("cannot build the synthetic host " FUZZ_HOST);
        for (unsigned n = 0; n < topology->n_nodes; n++)
                add_figures(&topology->nodes[n]);
        add_device(topology);
        fuzz_tmpdir(); /* its atexit frees the host too */
        return topology;
}

const Config *fuzz_config(void) {
        if (config)
                return config;
        const Topology *t = fuzz_topology();
        char *path =
                fuzz_write_file("fuzz-policy.d/50-fuzz.conf", (const uint8_t *) fuzz_policy, sizeof(fuzz_policy) - 1);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        ConfigErrors errors = { 0 };
        int r = config_load(NULL, path, t, &config, &errors);
        if (r < 0) {
                char *text = config_errors_format(&errors);
                fprintf(stderr, "fuzz: the fuzz policy does not load:\n%s", text ? text : "");
                free(text);
                die("no configuration");
        }
        config_errors_clear(&errors);
        free(path);
        return config;
}

char *fuzz_placement_text(const Placement *pl, const char *uuid) {
        json_object *o = persist_placement(pl, uuid, fuzz_topology());
        if (!o)
                die("out of memory");
        char *text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
        if (!text)
                die("out of memory");
        return text;
}

void fuzz_check_restore(const Placement *pl, const char *uuid) {
        const Topology *t = fuzz_topology();
        const Config *c = fuzz_config();
        _cleanup_free_ char *text = fuzz_placement_text(pl, uuid);
        _cleanup_(json_object_putp) json_object *o = json_tokener_parse(text);
        assert_true(o);

        _cleanup_(placement_freep) Placement *spec = NULL;
        _cleanup_free_ char *cls = NULL, *uuid_back = NULL;
        assert_true(persist_parse(o, t, &spec, &cls, &uuid_back) == 0);
        assert_true(strcmp(cls, pl->cls->name) == 0);
        assert_true(uuid ? uuid_back && strcmp(uuid, uuid_back) == 0 : !uuid_back);
        assert_true(spec->adopted || hwloc_bitmap_isincluded(spec->held, c->host.dedicated));

        _cleanup_(planner_freep) Planner *p = NULL;
        const Placement *restored = NULL;
        assert_true(planner_new(t, c, &p) == 0);
        assert_true(planner_restore(p, spec, cls, &restored) == 0);
        _cleanup_free_ char *again = fuzz_placement_text(restored, uuid_back);
        assert_true(strcmp(text, again) == 0);
}

// disc_cost.c: what discovery costs on the control channel in steady state.
//
//   disc_cost --nodes N --types T [--shared] [--warmup S] [--seconds S]
//
// Opens N nodes in this process (udpm, so run it in a private namespace:
// tests/netns-run build/bench/disc_cost ...), each declaring T types:
// distinct names per node, or with --shared the same T names on every node
// (the case where suppression matters). A further observer node, declaring
// nothing, counts the control bytes it receives from the others after a
// warm-up, when back-off has reached steady state. Prints one line of
// key=value, including the process CPU time per node per minute.
#include <dts/dts.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double
cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int
main(int argc, char **argv)
{
    int nodes = 10, types = 50, shared = 0;
    double warmup = 3, seconds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nodes") == 0 && i + 1 < argc)
            nodes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--types") == 0 && i + 1 < argc)
            types = atoi(argv[++i]);
        else if (strcmp(argv[i], "--shared") == 0)
            shared = 1;
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = atof(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: disc_cost --nodes N --types T [--shared] [--warmup S] [--seconds S]\n");
            return 2;
        }
    }
    if (nodes < 1 || nodes > 200 || types < 0 || types > 1000) return 2;
    dts_node **ns = calloc((size_t)nodes + 1, sizeof *ns);
    for (int i = 0; i <= nodes; i++) {
        if (dts_node_open(NULL, &ns[i]) != DTS_OK) {
            fprintf(stderr, "disc_cost: cannot open node %d\n", i);
            return 1;
        }
    }
    for (int i = 1; i <= nodes; i++) {
        for (int j = 0; j < types; j++) {
            char name[64];
            if (shared)
                snprintf(name, sizeof name, "bench.Type%d", j);
            else
                snprintf(name, sizeof name, "bench.n%d.Type%d", i, j);
            dts_type_declare(ns[i], name, DTS_FORMAT_JSON, "{}", 2);
        }
    }
    usleep((useconds_t)(warmup * 1e6));
    dts_node_counters c0, c1;
    dts_node_counters_get(ns[0], &c0);
    double cpu0 = cpu_s();
    usleep((useconds_t)(seconds * 1e6));
    dts_node_counters_get(ns[0], &c1);
    double cpu = cpu_s() - cpu0;
    double bps = (double)(c1.control_bytes_received - c0.control_bytes_received) / seconds;
    double fps = (double)(c1.control_received - c0.control_received) / seconds;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("nodes=%d types=%d shared=%d control_bytes_per_s=%.0f control_frames_per_s=%.1f "
           "cpu_ms_per_node_per_min=%.1f peak_rss_kb=%ld\n",
           nodes, types, shared, bps, fps, cpu * 1000.0 / (nodes + 1) * (60.0 / seconds),
           ru.ru_maxrss);
    for (int i = 0; i <= nodes; i++) dts_node_close(ns[i]);
    free(ns);
    return 0;
}

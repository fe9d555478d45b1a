// main.c: the dts command's entry point. Parses the global options (which
// come before the verb and override DTS_IFACE, DTS_PORT and DTS_TTL),
// installs the stderr log sink, and hands the rest of the command line to
// the verb. Unknown verbs get the closest known one suggested.
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

extern const cli_verb cli_verb_bench; // bench.c

static const cli_verb *const main_verbs[] = {
    &cli_verb_ls, &cli_verb_pub, &cli_verb_echo, &cli_verb_sub,    &cli_verb_query,
    &cli_verb_hz, &cli_verb_bw,  &cli_verb_spy,  &cli_verb_doctor, &cli_verb_bench,
};
#define MAIN_N_VERBS (sizeof main_verbs / sizeof main_verbs[0])

static const char main_usage[] =
    "usage: dts [-i IFACE] [--port N] [--ttl N] [-v|-vv] VERB [ARGS...]\n"
    "       dts help VERB | dts VERB --help | dts --version\n"
    "\n"
    "Share data structures over UDP multicast by their type: no addresses, no broker.\n"
    "\n"
    "verbs:\n";

static const char main_usage_tail[] =
    "\n"
    "global options (before the verb):\n"
    "  -i, --iface IFACE  interface name or IPv4 address to use   [env DTS_IFACE]\n"
    "                     (default: the interface of the multicast route, else lo)\n"
    "  --port N           UDP port, 1-65535 (default 5555)        [env DTS_PORT]\n"
    "  --ttl N            multicast TTL, 0-255 (default 1; 0 keeps traffic on this host)\n"
    "                                                             [env DTS_TTL]\n"
    "  -v, -vv            log more to stderr (info, then debug)\n"
    "  -h, --help         this help;  --version  the version\n"
    "\n"
    "examples:\n"
    "  dts pub brewery.Temperature '{\"tank\":\"T1\",\"celsius\":18.5}'\n"
    "  dts echo 'brewery.*'\n"
    "  dts -i eth0 spy\n"
    "  dts doctor\n"
    "\n"
    "Exit status: 0 success, 1 the verb failed (timeout, no answer, a problem found),\n"
    "2 the command line is wrong. See dts(1).\n";

// main_print_usage prints the global help with one line per verb.
static void
main_print_usage(FILE *f)
{
    fputs(main_usage, f);
    for (size_t i = 0; i < MAIN_N_VERBS; i++)
        fprintf(f, "  %-7s %s\n", main_verbs[i]->name, main_verbs[i]->summary);
    fprintf(f, "  %-7s %s\n", "help", "explain a verb with an example: dts help VERB");
    fputs(main_usage_tail, f);
}

// main_log_sink writes one library log line to stderr; a single fprintf
// keeps lines from several threads whole.
static void
main_log_sink(void *ud, dts_log_level level, dts_log_cat cat, const char *event, const char *msg)
{
    (void)ud;
    fprintf(stderr, "dts: %s %s%s%s: %s\n", dts_log_level_name(level), dts_log_cat_name(cat),
            event && event[0] ? " " : "", event ? event : "", msg);
}

// main_find_verb returns the verb called name, or NULL.
static const cli_verb *
main_find_verb(const char *name)
{
    for (size_t i = 0; i < MAIN_N_VERBS; i++)
        if (strcmp(main_verbs[i]->name, name) == 0) return main_verbs[i];
    return NULL;
}

// main_unknown_verb reports a verb nobody knows and suggests the closest
// by edit distance ("help" included) when it is close (cli_close_enough:
// 'dts fly' is not 'dts ls'), or the verb of a word other tools use for it
// ('dts list'). Returns CLI_EXIT_USAGE.
static int
main_unknown_verb(const char *name)
{
    static const char *const aliases[][2] = {
        {"list", "ls"}, {"publish", "pub"}, {"subscribe", "sub"}, {"listen", "echo"}};
    const char *best = "help";
    size_t best_d = cli_edit_distance(name, "help");
    for (size_t i = 0; i < MAIN_N_VERBS; i++) {
        size_t d = cli_edit_distance(name, main_verbs[i]->name);
        if (d < best_d) best = main_verbs[i]->name, best_d = d;
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcmp(name, aliases[i][0]) == 0) best = aliases[i][1], best_d = 0;
    if (cli_close_enough(name, best_d))
        fprintf(stderr, "dts: unknown verb '%s'. Did you mean 'dts %s'?\n", name, best);
    else
        fprintf(stderr, "dts: unknown verb '%s'.\n", name);
    fputs("Verbs: ls pub echo sub query hz bw spy doctor bench help. Run 'dts --help' for more.\n",
          stderr);
    return CLI_EXIT_USAGE;
}

// main_help runs `dts help [VERB]`.
static int
main_help(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        main_print_usage(stdout);
        return CLI_EXIT_OK;
    }
    const cli_verb *v = main_find_verb(argv[1]);
    if (!v) return main_unknown_verb(argv[1]);
    fputs(v->help, stdout);
    return CLI_EXIT_OK;
}

// main_wants_help says whether the verb's arguments ask for help (before
// any "--", after which everything is a value).
static int
main_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    }
    return 0;
}

// main_parse_globals parses the options before the verb into ctx. Returns
// -1 to go on, or an exit status.
static int
main_parse_globals(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"iface", required_argument, NULL, 'i'},
        {"port", required_argument, NULL, 'p'},
        {"ttl", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    long n;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:i:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (!optarg[0])
                return cli_usage(ctx, "--iface needs an interface name or IPv4 address, "
                                      "for example -i eth0");
            ctx->cfg.iface = optarg;
            break;
        case 'p':
            if (cli_parse_long(ctx, "--port", optarg, 1, 65535, "--port 5555", &n) < 0)
                return CLI_EXIT_USAGE;
            ctx->cfg.port = (uint16_t)n;
            break;
        case 't':
            if (cli_parse_long(ctx, "--ttl", optarg, 0, 255, "--ttl 1", &n) < 0)
                return CLI_EXIT_USAGE;
            ctx->cfg.ttl = (int)n;
            break;
        case 'v':
            ctx->verbose++;
            break;
        case 'h':
            main_print_usage(stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf("dts %d.%d.%d\n", DTS_VERSION_MAJOR, DTS_VERSION_MINOR, DTS_VERSION_PATCH);
            return CLI_EXIT_OK;
        case ':':
            return cli_usage(ctx, "option %s needs a value", argv[optind - 1]);
        default:
            if (strncmp(argv[optind - 1], "--", 2) == 0 && strchr(argv[optind - 1], '='))
                return cli_usage(ctx, "option %.*s takes no value",
                                 (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
            if (optopt) { // a short option, perhaps within a cluster such as -vx
                char o[3] = {'-', (char)optopt, 0};
                return cli_usage(ctx, "unknown global option '%s'", o);
            }
            return cli_usage(ctx, "unknown global option '%s' (ambiguous or misspelt)",
                             argv[optind - 1]);
        }
    }
    return -1;
}

// main_check_env refuses a DTS_* variable that dts_node_config_init would
// ignore for its value (DTS_PORT=70000 would have talked on 5555): the man
// page says they work as the options do. Returns -1 to go on, or an exit
// status.
static int
main_check_env(const cli_ctx *ctx)
{
    static const struct {
        const char *name;
        long lo, hi;
        const char *example;
    } vars[] = {
        {"DTS_PORT", 1, 65535, "DTS_PORT=5555"},
        {"DTS_TTL", 0, 255, "DTS_TTL=1"},
        {"DTS_SPIN_US", 0, DTS_SPIN_MAX_US, "DTS_SPIN_US=100"},
        {"DTS_ANSWER_SPIN_US", 0, DTS_SPIN_MAX_US, "DTS_ANSWER_SPIN_US=100"},
        {"DTS_RANDOM_LOSS", 0, 1, "DTS_RANDOM_LOSS=1"},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i].name);
        long n;
        if (v && *v &&
            cli_parse_long(ctx, vars[i].name, v, vars[i].lo, vars[i].hi, vars[i].example, &n) < 0)
            return CLI_EXIT_USAGE;
    }
    return -1;
}

int
main(int argc, char **argv)
{
    cli_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    dts_node_config_init(&ctx.cfg);
    int rc = main_check_env(&ctx);
    if (rc >= 0) return rc;
    rc = main_parse_globals(&ctx, argc, argv);
    if (rc >= 0) return rc;
    if (optind >= argc) {
        main_print_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    argc -= optind;
    argv += optind;
    if (strcmp(argv[0], "help") == 0) return main_help(argc, argv);
    const cli_verb *v = main_find_verb(argv[0]);
    if (!v) return main_unknown_verb(argv[0]);
    if (main_wants_help(argc, argv)) {
        fputs(v->help, stdout);
        return CLI_EXIT_OK;
    }
    ctx.verb = argv[0];
    dts_log_level lvl = ctx.verbose >= 2 ? DTS_LOG_DEBUG
                        : ctx.verbose    ? DTS_LOG_INFO
                                         : DTS_LOG_WARN;
    dts_log_set_sink(main_log_sink, NULL, lvl);
    cli_signals_install();
    optind = 0; // reinitialise getopt for the verb's own options
    rc = v->run(&ctx, argc, argv);
    dts_log_set_sink(NULL, NULL, DTS_LOG_ERROR);
    return rc;
}

// util.c: helpers shared by the verbs of the dts command: error messages,
// option values, interfaces, opening a node and running its loop on the
// main thread (DTS_RUN_CALLER mode), and signals.
#include "cli.h"

#include <dts/codec.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <math.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t util_stop_flag;
static dts_node *volatile util_interrupted; // cli_interrupt_node

// util_vreport prints "dts VERB: message" (or "dts: message" before a verb
// is known) to stderr.
static void
util_vreport(const cli_ctx *ctx, const char *fmt, va_list ap)
{
    if (ctx && ctx->verb)
        fprintf(stderr, "dts %s: ", ctx->verb);
    else
        fputs("dts: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int
cli_usage(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    util_vreport(ctx, fmt, ap);
    va_end(ap);
    if (ctx && ctx->verb)
        fprintf(stderr, "Run 'dts help %s' for the syntax and an example.\n", ctx->verb);
    else
        fputs("Run 'dts --help' for the syntax and examples.\n", stderr);
    return CLI_EXIT_USAGE;
}

int
cli_error(const cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    util_vreport(ctx, fmt, ap);
    va_end(ap);
    return CLI_EXIT_FAIL;
}

unsigned
cli_subscribers(dts_node *node, const char *type)
{
    dts_type_info *ti;
    size_t k;
    unsigned subs = 0;
    if (dts_node_types(node, &ti, &k) != DTS_OK) return 0;
    for (size_t i = 0; i < k; i++)
        if (!strcmp(ti[i].name, type)) subs = ti[i].subscribers - !!ti[i].local_sub;
    dts_free(ti);
    return subs;
}

// cli_edit_distance counts the edits from a to b, a swap of two adjacent
// letters as one ("ehco" is one from "echo"): the optimal string alignment
// distance.
size_t
cli_edit_distance(const char *a, const char *b)
{
    size_t la = strnlen(a, 63), lb = strnlen(b, 63);
    unsigned char d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (unsigned char)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (unsigned char)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            unsigned best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1u < best) best = d[i - 1][j] + 1u;
            if (d[i][j - 1] + 1u < best) best = d[i][j - 1] + 1u;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1u < best)
                best = d[i - 2][j - 2] + 1u;
            d[i][j] = (unsigned char)best;
        }
    }
    return d[la][lb];
}

int
cli_close_enough(const char *typed, size_t distance)
{
    return distance <= (strlen(typed) <= 4 ? 1u : 2u);
}

// util_closest_option names the option of opts closest to "--word" (the
// part before any '='), or NULL when none is close enough.
static const char *
util_closest_option(const char *arg, const struct option *opts)
{
    char word[64];
    if (!opts || strncmp(arg, "--", 2) != 0) return NULL;
    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (const struct option *o = opts; o->name; o++) {
        size_t d = cli_edit_distance(word, o->name);
        if (d < best_d) best = o->name, best_d = d;
    }
    return best && cli_close_enough(word, best_d) ? best : NULL;
}

// util_prefix_of lists in out the options of opts that "--word" (before
// any '=') begins; returns how many.
static int
util_prefix_of(const char *arg, const struct option *opts, char *out, size_t size)
{
    if (!opts || strncmp(arg, "--", 2) != 0) return 0;
    size_t len = strcspn(arg + 2, "="), used = 0;
    int k = 0;
    out[0] = '\0';
    for (const struct option *o = opts; o->name && len > 0; o++) {
        if (strncmp(o->name, arg + 2, len) != 0) continue;
        int w = snprintf(out + used, size - used, "%s--%s", k ? " or " : "", o->name);
        if (w > 0 && (size_t)w < size - used) used += (size_t)w;
        k++;
    }
    return k;
}

// cli_bad_option tells apart a missing option value, a global option placed
// after the verb, an abbreviation that fits several options, and an option
// nobody knows (with the closest one, if close).
int
cli_bad_option(const cli_ctx *ctx, const char *arg, int optopt_char, const struct option *opts)
{
    static const char *globals[] = {"-i", "--iface", "--port", "--ttl", "-v", "-vv"};
    char shortopt[3] = {'-', (char)optopt, 0};
    if (!arg) arg = "?";
    // An unknown short option: getopt names its letter (in a cluster such as
    // -vv, argv[optind - 1] is still the word before it). A digit is a
    // negative number meant as a value.
    // --json=1 (or --js=1): getopt found the option (optopt names it), which
    // takes no value; optopt is 0 for a long option it does not know.
    if (optopt_char == '?' && strncmp(arg, "--", 2) == 0 && strchr(arg, '=') && optopt)
        return cli_usage(ctx, "option %.*s takes no value", (int)strcspn(arg, "="), arg);
    if (optopt_char == '?' && optopt) arg = shortopt;
    if (optopt_char == '?' && ((optopt >= '0' && optopt <= '9') || optopt == '.'))
        return cli_usage(ctx,
                         "a value that starts with '-' goes after '--', which ends the "
                         "options: 'dts %s ... -- -5'",
                         ctx->verb);
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        size_t n = strlen(globals[i]);
        if (strncmp(arg, globals[i], n) == 0 && (arg[n] == '\0' || arg[n] == '='))
            return cli_usage(ctx,
                             "%s is a global option: put it before the verb, as in "
                             "'dts %s ... %s ...'",
                             globals[i], globals[i], ctx->verb);
    }
    if (optopt_char == ':') return cli_usage(ctx, "option %s needs a value", arg);
    char several[256];
    if (util_prefix_of(arg, opts, several, sizeof several) > 1)
        return cli_usage(ctx, "option '%.*s' is ambiguous: %s", (int)strcspn(arg, "="), arg,
                         several);
    const char *near = util_closest_option(arg, opts);
    if (near) return cli_usage(ctx, "unknown option '%s'. Did you mean '--%s'?", arg, near);
    return cli_usage(ctx, "unknown option '%s'", arg);
}

int
cli_name_too_long(const cli_ctx *ctx, const char *name)
{
    size_t n = strlen(name);
    if (n <= DTS_NAME_MAX) return -1;
    return cli_usage(ctx, "a type name is at most %d bytes; '%.32s...' has %zu", DTS_NAME_MAX, name,
                     n);
}

// util_number_start says whether s begins as a decimal number does (a sign,
// a digit or a point): strtod and strtol also skip leading spaces, and
// strtod reads hexadecimal ("0x10", 16) and "inf".
static int
util_number_start(const char *s)
{
    const char *p = s + (*s == '+' || *s == '-');
    return (*p >= '0' && *p <= '9') || *p == '.';
}

// cli_parse_double accepts a finite decimal number with nothing after it.
int
cli_parse_double(const cli_ctx *ctx, const char *opt, const char *s, double min, double max,
                 const char *example, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = s && util_number_start(s) && !strpbrk(s, "xX") ? strtod(s, &end) : 0;
    if (!s || end == s || !end || *end != '\0' || errno || !isfinite(v) || v < min || v > max) {
        cli_usage(ctx, "%s expects a number from %g to %g (for example %s), not '%s'", opt, min,
                  max, example, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

// cli_parse_long accepts a decimal integer with nothing after it.
int
cli_parse_long(const cli_ctx *ctx, const char *opt, const char *s, long min, long max,
               const char *example, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = s && util_number_start(s) ? strtol(s, &end, 10) : 0;
    if (!s || end == s || !end || *end != '\0' || errno || v < min || v > max) {
        cli_usage(ctx, "%s expects a whole number from %ld to %ld (for example %s), not '%s'", opt,
                  min, max, example, s ? s : "");
        return -1;
    }
    *out = v;
    return 0;
}

// util_iface_append adds "name" or "name (addr)" to the list in buf unless
// the name is already there with that address.
static void
util_iface_append(char *buf, size_t size, const char *name, const char *addr)
{
    char item[IF_NAMESIZE + INET_ADDRSTRLEN + 8];
    if (addr)
        snprintf(item, sizeof item, "%s (%s)", name, addr);
    else
        snprintf(item, sizeof item, "%s", name);
    if (strstr(buf, item)) return;
    size_t used = strlen(buf);
    snprintf(buf + used, size - used, "%s%s", used ? ", " : "", item);
}

// cli_ifaces_list lists every interface: those with IPv4 addresses with
// them, then the others (from if_nameindex) by name only.
void
cli_ifaces_list(char *buf, size_t size)
{
    struct ifaddrs *ifa = NULL;
    buf[0] = '\0';
    if (getifaddrs(&ifa) == 0) {
        for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
            if (!p->ifa_addr || p->ifa_addr->sa_family != AF_INET) continue;
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, a, sizeof a);
            util_iface_append(buf, size, p->ifa_name, a);
        }
        freeifaddrs(ifa);
    }
    struct if_nameindex *ni = if_nameindex();
    for (struct if_nameindex *p = ni; p && p->if_index; p++) {
        char probe[IF_NAMESIZE + 3];
        snprintf(probe, sizeof probe, "%s (", p->if_name);
        if (!strstr(buf, probe)) util_iface_append(buf, size, p->if_name, NULL);
    }
    if (ni) if_freenameindex(ni);
}

// cli_iface_exists checks a name with if_nametoindex and an IPv4 address
// against the addresses of the interfaces.
int
cli_iface_exists(const char *name)
{
    struct in_addr want;
    if (if_nametoindex(name) != 0) return 1;
    if (inet_pton(AF_INET, name, &want) != 1) return 0;
    struct ifaddrs *ifa = NULL;
    int found = 0;
    if (getifaddrs(&ifa) != 0) return 0;
    for (struct ifaddrs *p = ifa; p && !found; p = p->ifa_next) {
        if (p->ifa_addr && p->ifa_addr->sa_family == AF_INET)
            found = ((struct sockaddr_in *)p->ifa_addr)->sin_addr.s_addr == want.s_addr;
    }
    freeifaddrs(ifa);
    return found;
}

// util_url_iface returns the interface named by a "udpm://IFACE" URL, or
// NULL when the URL names none.
static const char *
util_url_iface(const char *url)
{
    if (!url || strncmp(url, "udpm://", 7) != 0 || url[7] == '\0') return NULL;
    return url + 7;
}

// util_unknown_iface prints the "no such interface" error with the list of
// interfaces that exist; returns CLI_EXIT_USAGE.
static int
util_unknown_iface(const cli_ctx *ctx, const char *name)
{
    char list[2048];
    cli_ifaces_list(list, sizeof list);
    fprintf(stderr,
            "dts: no interface '%s' here. Interfaces that exist: %s.\n"
            "Choose one with 'dts -i IFACE %s ...' or DTS_IFACE=IFACE (an interface name or "
            "one of its IPv4 addresses).\n",
            name, list[0] ? list : "(none)", ctx->verb ? ctx->verb : "VERB");
    return CLI_EXIT_USAGE;
}

// cli_node_open checks the interface (from -i, DTS_IFACE or the URL) before
// asking the library, so the error can list the interfaces that exist.
int
cli_node_open(const cli_ctx *ctx, dts_run_mode mode, dts_node **out)
{
    dts_node_config cfg = ctx->cfg;
    const char *iface = util_url_iface(cfg.url);
    if (!iface) iface = cfg.iface;
    if (iface && iface[0] && !cli_iface_exists(iface)) return util_unknown_iface(ctx, iface);
    cfg.run_mode = mode;
    cfg.compressor = dts_codec_compressor(); // publish compressed types, read any
    dts_err err = dts_node_open(&cfg, out);
    if (err == DTS_ENOENT && iface && iface[0]) return util_unknown_iface(ctx, iface);
    if (err != DTS_OK)
        return cli_error(ctx,
                         "cannot open a node: %s. Run 'dts doctor' to check multicast "
                         "on this host.",
                         dts_strerror(err));
    return 0;
}

static void
util_on_signal(int sig)
{
    (void)sig;
    util_stop_flag = 1;
    dts_node *n = util_interrupted;
    if (n) dts_node_interrupt(n); // async-signal-safe
}

void
cli_interrupt_node(dts_node *node)
{
    util_interrupted = node;
}

// cli_signals_install installs the handlers without SA_RESTART so that a
// blocking poll returns at once with EINTR.
void
cli_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = util_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int
cli_stopped(void)
{
    return util_stop_flag != 0;
}

void
cli_stop(void)
{
    util_stop_flag = 1;
}

// cli_step polls the node's descriptor and extra_fd. The wait is bounded by
// the node's own timer deadline and by CLI_POLL_MAX_MS so that the stop flag
// is seen soon even if the signal arrived just before poll.
int
cli_step(dts_node *node, int max_ms, int extra_fd)
{
    struct pollfd pfd[2];
    int n = 0, extra_ready = 0;
    int wait = max_ms < 0 || max_ms > CLI_POLL_MAX_MS ? CLI_POLL_MAX_MS : max_ms;
    if (extra_fd < 0) return dts_node_step_wait(node, wait) == DTS_OK ? 0 : -1;
    int node_wait = dts_node_timeout_ms(node);
    if (node_wait >= 0 && node_wait < wait) wait = node_wait;
    pfd[n++] = (struct pollfd){.fd = dts_node_fd(node), .events = POLLIN};
    if (extra_fd >= 0) pfd[n++] = (struct pollfd){.fd = extra_fd, .events = POLLIN};
    if (poll(pfd, (nfds_t)n, wait) > 0 && n > 1)
        extra_ready = (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    if (dts_node_step(node) != DTS_OK) return -1;
    return extra_ready;
}

void
cli_run_until(dts_node *node, int64_t deadline_ns, const int *done)
{
    while (!cli_stopped() && !(done && *done)) {
        int64_t now = dts_now_ns();
        if (deadline_ns && now >= deadline_ns) break;
        int ms = deadline_ns ? (int)((deadline_ns - now + 999999) / 1000000) : CLI_POLL_MAX_MS;
        if (cli_step(node, ms, -1) < 0) break;
    }
}

int64_t
cli_deadline(double s)
{
    if (s <= 0) return 0;
    return dts_now_ns() + (int64_t)(s * 1e9);
}

int
cli_out_flush(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    cli_stop();
    return -1;
}

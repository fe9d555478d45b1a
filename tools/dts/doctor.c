// doctor.c: `dts doctor`: check what makes multicast fail on this host and
// print, for each problem, the exact command that fixes it. The checks are
// the interfaces (up, multicast), a route covering 224.0.0.0/4, which
// interface dts uses when there are several, loopback multicast, the
// receive-buffer limit, a Docker bridge network, and finally a self-test:
// two nodes of this process exchange a probe type through the network.
// Problems (FAIL) make the exit status 1; warnings (WARN) do not; an
// interface named with -i that does not exist makes it 2.
#include "cli.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DOCTOR_IFACES_MAX 64
#define DOCTOR_PROBE_MS 1000       // the probe must come back within this
#define DOCTOR_PROBE_PERIOD_MS 100 // resend period while waiting
#define DOCTOR_RMEM_MIN 212992     // below the Linux default: a problem
#define DOCTOR_RMEM_GOOD (1 << 20) // below this: a warning for high rates
#define DOCTOR_PROBE_GROUP "239.255.0.1"

static const char doctor_help[] =
    "usage: dts doctor\n"
    "\n"
    "Check what makes multicast fail here and print, for each problem, the command that\n"
    "fixes it: no multicast-capable interface, no route covering 224.0.0.0/4, several\n"
    "interfaces (and which one dts uses), loopback multicast off, a small receive-buffer\n"
    "limit (net.core.rmem_max), a Docker bridge network; then a self-test publishes a\n"
    "probe type and checks it comes back within 1 s. Global options apply (-i, --port,\n"
    "--ttl), so 'dts -i eth0 doctor' checks eth0.\n"
    "\n"
    "Exit status 0 only if all is well (warnings allowed), 1 if a problem was found, 2 if\n"
    "the interface named with -i (or DTS_IFACE) does not exist.\n"
    "\n"
    "examples:\n"
    "  dts doctor\n"
    "  dts -i eth0 doctor\n";

typedef enum doctor_level { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL } doctor_level;

typedef struct doctor_iface {
    char name[IF_NAMESIZE];
    unsigned flags;             // IFF_UP, IFF_MULTICAST, IFF_LOOPBACK
    char addr[INET_ADDRSTRLEN]; // first IPv4 address, "" if none
} doctor_iface;

typedef struct doctor {
    const cli_ctx *ctx;
    doctor_iface ifs[DOCTOR_IFACES_MAX];
    size_t n_ifs;
    char route_dev[IF_NAMESIZE]; // interface of the route to the groups, "" if none
    const char *used;            // the interface dts uses
    const char *used_why;
    int no_iface; // the interface chosen does not exist: no self-test, exit 2
    int fails;
    int warns;
} doctor;

// doctor_say prints one check's verdict and, for a problem, the fix.
static void doctor_say(doctor *d, doctor_level lvl, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
doctor_say(doctor *d, doctor_level lvl, const char *fix, const char *fmt, ...)
{
    static const char *tags[] = {"ok  ", "WARN", "FAIL"};
    va_list ap;
    printf("  %s  ", tags[lvl]);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (fix && lvl != DOCTOR_OK) printf("        fix: %s\n", fix);
    d->fails += lvl == DOCTOR_FAIL;
    d->warns += lvl == DOCTOR_WARN;
}

// doctor_find returns the interface called name (or having that IPv4
// address), or NULL.
static doctor_iface *
doctor_find(doctor *d, const char *name)
{
    for (size_t i = 0; name && i < d->n_ifs; i++)
        if (strcmp(d->ifs[i].name, name) == 0 || strcmp(d->ifs[i].addr, name) == 0)
            return &d->ifs[i];
    return NULL;
}

// doctor_flags reads an interface's flags with SIOCGIFFLAGS.
static unsigned
doctor_flags(int fd, const char *name)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, sizeof ifr.ifr_name - 1);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return 0;
    return (unsigned)(unsigned short)ifr.ifr_flags;
}

// doctor_load_ifaces lists the interfaces with their flags,
// then adds the first IPv4 address of each from getifaddrs.
static void
doctor_load_ifaces(doctor *d)
{
    // if_nameindex asks the kernel (netlink) for this network namespace's
    // interfaces; /sys/class/net shows those of whoever mounted /sys, which
    // in a namespace made with 'unshare -n' are not these.
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct if_nameindex *ni = if_nameindex();
    for (struct if_nameindex *p = ni; p && p->if_index && d->n_ifs < DOCTOR_IFACES_MAX; p++) {
        if (strlen(p->if_name) >= IF_NAMESIZE) continue;
        doctor_iface *f = &d->ifs[d->n_ifs++];
        memcpy(f->name, p->if_name, strlen(p->if_name) + 1);
        f->flags = fd >= 0 ? doctor_flags(fd, f->name) : 0;
    }
    if (ni) if_freenameindex(ni);
    if (fd >= 0) close(fd);
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) != 0) return;
    for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
        doctor_iface *f = doctor_find(d, p->ifa_name);
        if (f && !f->addr[0] && p->ifa_addr && p->ifa_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, f->addr,
                      sizeof f->addr);
    }
    freeifaddrs(ifa);
}

static int
doctor_usable(const doctor_iface *f)
{
    return (f->flags & IFF_UP) && (f->flags & IFF_MULTICAST) && f->addr[0];
}

// doctor_check_ifaces: at least one interface must be up, have multicast
// on and an IPv4 address. Interfaces up without multicast get a warning
// (lo is left to doctor_check_loopback).
static void
doctor_check_ifaces(doctor *d)
{
    char list[512] = "";
    for (size_t i = 0; i < d->n_ifs; i++) {
        doctor_iface *f = &d->ifs[i];
        char fix[128];
        if (doctor_usable(f)) {
            size_t n = strlen(list);
            snprintf(list + n, sizeof list - n, "%s%s (%s)", n ? ", " : "", f->name, f->addr);
        } else if ((f->flags & IFF_UP) && !(f->flags & (IFF_MULTICAST | IFF_LOOPBACK))) {
            snprintf(fix, sizeof fix, "ip link set dev %s multicast on", f->name);
            doctor_say(d, DOCTOR_WARN, fix, "interface %s is up but has multicast off", f->name);
        }
    }
    if (list[0])
        doctor_say(d, DOCTOR_OK, NULL, "multicast-capable interfaces: %s", list);
    else
        doctor_say(d, DOCTOR_FAIL, "ip link set dev lo up multicast on",
                   "no interface is up with multicast on and an IPv4 address");
}

// doctor_route_line parses one line of /proc/net/route; returns the prefix
// length when the route is up and covers the probe group, else -1.
static int
doctor_route_line(const char *line, char *dev, size_t size)
{
    char name[IF_NAMESIZE];
    unsigned dst, gw, flags, mask;
    if (sscanf(line, "%15s %x %x %x %*d %*d %*d %x", name, &dst, &gw, &flags, &mask) != 5)
        return -1;
    struct in_addr group;
    inet_pton(AF_INET, DOCTOR_PROBE_GROUP, &group);
    if (!(flags & 0x1) || (group.s_addr & mask) != (dst & mask)) return -1;
    snprintf(dev, size, "%s", name);
    return __builtin_popcount(mask);
}

// doctor_check_route finds the most specific route covering the groups in
// /proc/net/route (the main table, as `ip route` shows it).
static void
doctor_check_route(doctor *d)
{
    FILE *f = fopen("/proc/net/route", "r");
    char line[256], dev[IF_NAMESIZE];
    int best = -1;
    while (f && fgets(line, sizeof line, f)) {
        int len = doctor_route_line(line, dev, sizeof dev);
        if (len > best) {
            best = len;
            snprintf(d->route_dev, sizeof d->route_dev, "%s", dev);
        }
    }
    if (f) fclose(f);
    if (best >= 0) {
        doctor_say(d, DOCTOR_OK, NULL, "route to the groups (%s): %s via %s", DOCTOR_PROBE_GROUP,
                   best == 0 ? "the default route" : "a route", d->route_dev);
        return;
    }
    const doctor_iface *pick = NULL;
    for (size_t i = 0; i < d->n_ifs && !pick; i++)
        if (doctor_usable(&d->ifs[i]) && !(d->ifs[i].flags & IFF_LOOPBACK)) pick = &d->ifs[i];
    const char *dev_name = d->ctx->cfg.iface && d->ctx->cfg.iface[0] ? d->ctx->cfg.iface
                           : pick                                    ? pick->name
                                                                     : "lo";
    char fix[128];
    snprintf(fix, sizeof fix, "ip route add 224.0.0.0/4 dev %s", dev_name);
    if (d->ctx->cfg.iface && d->ctx->cfg.iface[0]) { // dts sends on it all the same
        doctor_say(d, DOCTOR_WARN, fix,
                   "no route covers 224.0.0.0/4: dts sends on %s as -i (or DTS_IFACE) says, "
                   "but a dts without it falls back to lo",
                   dev_name);
        return;
    }
    // dts then falls back to lo: this host works, other hosts are not
    // reached, which is a problem only when there is a network to reach.
    doctor_say(d, pick ? DOCTOR_FAIL : DOCTOR_WARN, fix,
               "no route covers 224.0.0.0/4: dts falls back to lo, so only processes on "
               "this host hear each other%s",
               pick ? "" : " (no other interface is up here)");
}

// doctor_check_choice says which interface dts uses and why, and warns
// when several could be meant and none was chosen.
static void
doctor_check_choice(doctor *d)
{
    char others[256] = "", fix[sizeof others + 64];
    unsigned n = 0;
    const char *iface = d->ctx->cfg.iface;
    if (iface && iface[0])
        d->used = iface, d->used_why = "chosen with -i or DTS_IFACE";
    else if (d->route_dev[0])
        d->used = d->route_dev, d->used_why = "the interface of the multicast route";
    else
        d->used = "lo", d->used_why = "no multicast route, so loopback";
    for (size_t i = 0; i < d->n_ifs; i++) {
        if (!doctor_usable(&d->ifs[i]) || (d->ifs[i].flags & IFF_LOOPBACK)) continue;
        size_t len = strlen(others);
        snprintf(others + len, sizeof others - len, "%s%s", n++ ? ", " : "", d->ifs[i].name);
    }
    const doctor_iface *f = doctor_find(d, d->used);
    if (!f) {
        char list[1024];
        cli_ifaces_list(list, sizeof list);
        doctor_say(d, DOCTOR_FAIL, "dts -i IFACE doctor  (with one of the interfaces above)",
                   "interface '%s' does not exist; interfaces here: %s", d->used, list);
        d->no_iface = 1;
        return;
    }
    if (!doctor_usable(f)) {
        snprintf(fix, sizeof fix, "ip link set dev %s up multicast on", f->name);
        doctor_say(d, DOCTOR_FAIL, fix,
                   "dts uses %s (%s) but it is not up with multicast on "
                   "and an IPv4 address",
                   f->name, d->used_why);
        return;
    }
    if (n > 1 && !(iface && iface[0])) {
        snprintf(fix, sizeof fix, "export DTS_IFACE=IFACE  (or dts -i IFACE ...; one of %s)",
                 others);
        doctor_say(d, DOCTOR_WARN, fix, "several multicast interfaces (%s); dts uses %s (%s)",
                   others, d->used, d->used_why);
        return;
    }
    doctor_say(d, DOCTOR_OK, NULL, "dts uses %s (%s), TTL %d, port %u", d->used, d->used_why,
               d->ctx->cfg.ttl < 0 ? 1 : d->ctx->cfg.ttl,
               d->ctx->cfg.port ? d->ctx->cfg.port : DTS_PORT_DEFAULT);
}

// doctor_check_loopback: processes on one host hear each other through
// multicast loopback; on lo that also needs lo up with multicast on.
static void
doctor_check_loopback(doctor *d)
{
    const doctor_iface *lo = doctor_find(d, "lo");
    int used_lo = d->used && strcmp(d->used, "lo") == 0;
    if (lo && !((lo->flags & IFF_UP) && (lo->flags & IFF_MULTICAST))) {
        doctor_say(d, used_lo ? DOCTOR_FAIL : DOCTOR_WARN, "ip link set dev lo up multicast on",
                   "loopback interface lo is %s",
                   (lo->flags & IFF_UP) ? "up but multicast is "
                                          "off"
                                        : "down");
        return;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    unsigned char loop = 0;
    socklen_t len = sizeof loop;
    if (fd >= 0 && getsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, &len) == 0 && !loop)
        doctor_say(d, DOCTOR_WARN, NULL, "sockets start with multicast loopback off here");
    else if (d->ctx->cfg.loopback)
        doctor_say(d, DOCTOR_OK, NULL,
                   "multicast loopback on: processes on this host hear "
                   "each other");
    if (fd >= 0) close(fd);
}

// doctor_check_rmem reads net.core.rmem_max, the most a socket may ask for
// its receive buffer; small values drop bursts.
static void
doctor_check_rmem(doctor *d)
{
    FILE *f = fopen("/proc/sys/net/core/rmem_max", "r");
    long v = -1;
    if (f) {
        if (fscanf(f, "%ld", &v) != 1) v = -1;
        fclose(f);
    }
    const char *fix = "sysctl -w net.core.rmem_max=4194304";
    if (v < 0)
        doctor_say(d, DOCTOR_OK, NULL,
                   "net.core.rmem_max not readable here (network "
                   "namespace?); skipped");
    else if (v < DOCTOR_RMEM_MIN)
        doctor_say(d, DOCTOR_FAIL, fix,
                   "net.core.rmem_max is %ld bytes, below the Linux "
                   "default: bursts of messages will be dropped",
                   v);
    else if (v < DOCTOR_RMEM_GOOD)
        doctor_say(d, DOCTOR_WARN, fix,
                   "net.core.rmem_max is %ld bytes: fine for a few "
                   "messages, small for high rates",
                   v);
    else
        doctor_say(d, DOCTOR_OK, NULL, "net.core.rmem_max is %ld bytes", v);
}

// doctor_check_docker warns inside a Docker container on a bridge network
// (/.dockerenv, or an address in Docker's default 172.17.0.0/16): multicast
// then stays between the containers of that bridge.
static void
doctor_check_docker(doctor *d)
{
    const char *why = NULL;
    for (size_t i = 0; i < d->n_ifs && !why; i++)
        if (strncmp(d->ifs[i].addr, "172.17.", 7) == 0)
            why = "an interface has a Docker bridge address (172.17.x.x)";
    if (!why && access("/.dockerenv", F_OK) == 0) why = "/.dockerenv exists";
    if (why)
        doctor_say(d, DOCTOR_WARN, "docker run --network host ...  (to reach other hosts)",
                   "inside a Docker container (%s): on a bridge network multicast only "
                   "reaches the containers of that bridge",
                   why);
    else
        doctor_say(d, DOCTOR_OK, NULL, "not inside a Docker bridge network");
}

// What the probe subscription counts; written on the receiving node's
// thread, read on the main thread.
typedef struct doctor_probe {
    int got;
    int64_t latency_ns;
} doctor_probe;

static void
doctor_on_probe(void *ud, const dts_msg *msg)
{
    doctor_probe *p = ud;
    __atomic_store_n(&p->latency_ns, msg->received_ns - msg->sent_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&p->got, 1, __ATOMIC_RELEASE);
}

// doctor_probe_fix names the most likely fix when the probe was lost.
static const char *
doctor_probe_fix(const doctor *d, char *buf, size_t size)
{
    if (!d->route_dev[0])
        snprintf(buf, size, "ip route add 224.0.0.0/4 dev %s", d->used ? d->used : "lo");
    else
        snprintf(buf, size,
                 "nft list ruleset  (look for rules dropping UDP port %u or "
                 "224.0.0.0/4)",
                 d->ctx->cfg.port ? d->ctx->cfg.port : DTS_PORT_DEFAULT);
    return buf;
}

// doctor_exchange publishes the probe from tx every DOCTOR_PROBE_PERIOD_MS
// until rx hears it or DOCTOR_PROBE_MS pass. Returns 1 when it came back.
static int
doctor_exchange(dts_node *tx, const char *type, doctor_probe *probe)
{
    int64_t start = dts_now_ns(), last = 0;
    while (!__atomic_load_n(&probe->got, __ATOMIC_ACQUIRE) && !cli_stopped()) {
        int64_t now = dts_now_ns();
        if (now - start > (int64_t)DOCTOR_PROBE_MS * 1000000) return 0;
        if (now - last >= (int64_t)DOCTOR_PROBE_PERIOD_MS * 1000000) {
            dts_publish(tx, type, "probe", 5);
            last = now;
        }
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    return __atomic_load_n(&probe->got, __ATOMIC_ACQUIRE);
}

// doctor_self_test opens two nodes (each on its own thread), subscribes
// one to a probe type unique to this run, and publishes it from the other.
static void
doctor_self_test(doctor *d)
{
    dts_node *rx = NULL, *tx = NULL;
    dts_sub *sub = NULL;
    doctor_probe probe = {0};
    char type[64], fix[160];
    snprintf(type, sizeof type, "dts.doctor.probe_%u_%llx", (unsigned)getpid(),
             (unsigned long long)(dts_now_ns() & 0xffffff));
    if (d->no_iface) { // a node cannot open there; its error would only mislead
        printf("  --    self-test: skipped, no interface '%s' to test\n", d->used);
        return;
    }
    dts_node_config cfg = d->ctx->cfg;
    cfg.run_mode = DTS_RUN_THREAD;
    dts_err err = dts_node_open(&cfg, &rx);
    if (err == DTS_OK) err = dts_node_open(&cfg, &tx);
    if (err == DTS_OK) err = dts_subscribe(rx, type, doctor_on_probe, &probe, &sub);
    if (err == DTS_OK) err = dts_type_declare(tx, type, DTS_FORMAT_RAW, NULL, 0);
    if (err != DTS_OK) {
        doctor_say(d, DOCTOR_FAIL, doctor_probe_fix(d, fix, sizeof fix),
                   "self-test: cannot open a node: %s", dts_strerror(err));
    } else if (doctor_exchange(tx, type, &probe)) {
        doctor_say(d, DOCTOR_OK, NULL, "self-test: a probe came back through %s in %.1f ms",
                   d->used ? d->used : "the network", (double)probe.latency_ns / 1e6);
    } else {
        dts_node_counters c = {0};
        dts_node_counters_get(tx, &c);
        doctor_say(d, DOCTOR_FAIL, doctor_probe_fix(d, fix, sizeof fix),
                   "self-test: a probe did not come back within %d ms (%llu datagrams sent, "
                   "%llu send errors)",
                   DOCTOR_PROBE_MS, (unsigned long long)c.datagrams_sent,
                   (unsigned long long)c.send_errors);
    }
    if (sub) dts_sub_close(sub);
    if (tx) dts_node_close(tx);
    if (rx) dts_node_close(rx);
}

static int
doctor_run(cli_ctx *ctx, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage(ctx,
                         "doctor takes no argument (got '%s'); choose the interface with "
                         "'dts -i IFACE doctor'",
                         argv[1]);
    doctor d = {.ctx = ctx};
    doctor_load_ifaces(&d);
    printf("dts doctor: checking multicast on this host\n\n");
    doctor_check_ifaces(&d);
    doctor_check_route(&d);
    doctor_check_choice(&d);
    doctor_check_loopback(&d);
    doctor_check_rmem(&d);
    doctor_check_docker(&d);
    doctor_self_test(&d);
    printf("\n");
    if (d.fails == 0) {
        printf("all is well%s\n", d.warns ? " (see the warnings above)" : "");
        return CLI_EXIT_OK;
    }
    printf("%d problem%s found: run the fix command%s above (as root), then 'dts doctor' "
           "again\n",
           d.fails, d.fails > 1 ? "s" : "", d.fails > 1 ? "s" : "");
    // An interface named with -i or DTS_IFACE that does not exist is a
    // wrong command line, as for every other verb.
    return d.no_iface ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
}

const cli_verb cli_verb_doctor = {
    .name = "doctor",
    .summary = "check that multicast works here; print the fix for each problem",
    .help = doctor_help,
    .run = doctor_run,
};

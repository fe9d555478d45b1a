// spy.c: `dts spy`: every type on the network with its format, rate,
// bandwidth, publishers, gaps and last value. On a terminal the view is
// redrawn in place on the alternate screen and `q` quits (standard input
// in raw mode); otherwise a block of plain lines is printed periodically.
#include "cli.h"
#include "track.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SPY_WINDOW_DEFAULT 5.0
#define SPY_INTERVAL_TTY 0.5
#define SPY_INTERVAL_PLAIN 1.0
#define SPY_NAME_COLS 28
#define SPY_PLAIN_VALUE_COLS 120
#define SPY_QUERY_MS 300 // how long to wait for a last value

static const char spy_help[] =
    "usage: dts spy [--interval S] [--window S] [--duration S]\n"
    "\n"
    "Show every type on the network: name, format, messages per second, bandwidth,\n"
    "publishers, gaps (lost messages), incomplete (large messages with fragments missing),\n"
    "repaired (reliable mode) and the last value (decoded to JSON like 'dts echo'\n"
    "does), live. On a terminal the screen\n"
    "is redrawn in place and 'q' quits; when standard output is not a terminal a block of\n"
    "plain lines is printed every interval.\n"
    "\n"
    "  --interval S  redraw every S seconds (default 0.5 on a terminal, else 1)\n"
    "  --window S    rates cover the last S seconds (default 5)\n"
    "  --duration S  stop after S seconds (default: until q or Ctrl-C)\n"
    "\n"
    "examples:\n"
    "  dts spy\n"
    "  dts -i eth0 spy\n"
    "  dts spy --duration 10 > spy.log\n";

typedef struct spy_state {
    const cli_ctx *ctx;
    dts_node *node;
    track tr;
    int tty;        // stdout is a terminal
    int raw;        // stdin was put in raw mode
    unsigned nodes; // other nodes known
} spy_state;

static struct termios spy_saved_termios;
static int spy_termios_saved;

// spy_restore_tty leaves the alternate screen, shows the cursor and gives
// stdin its mode back. Safe to call twice; also registered with atexit.
static void
spy_restore_tty(void)
{
    if (spy_termios_saved) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &spy_saved_termios);
        spy_termios_saved = 0;
    }
}

// spy_tty_begin puts stdin in raw mode (no echo, no line buffering, but
// Ctrl-C still signals) and switches to the alternate screen.
static void
spy_tty_begin(spy_state *st)
{
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &spy_saved_termios) == 0) {
        struct termios t = spy_saved_termios;
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        spy_termios_saved = 1;
        atexit(spy_restore_tty);
        st->raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
    }
    fputs("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J", stdout);
    fflush(stdout);
}

static void
spy_tty_end(spy_state *st)
{
    fputs("\x1b[?25h\x1b[?1049l", stdout);
    fflush(stdout);
    spy_restore_tty();
}

// spy_screen returns the terminal's columns and rows (80x24 if unknown).
static void
spy_screen(int *cols, int *rows)
{
    struct winsize ws;
    *cols = 80, *rows = 24;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        *cols = ws.ws_col;
        *rows = ws.ws_row;
    }
}

// spy_utf8_count returns the number of UTF-8 code points in s.
static size_t
spy_utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

// spy_cut copies at most cols characters (UTF-8 code points) of s into out,
// ending with "..." when something was cut.
static void
spy_cut(const char *s, int cols, char *out, size_t size)
{
    size_t keep = cols < 4 ? 1 : (size_t)cols - 3, i = 0, n = 0;
    if (spy_utf8_count(s) <= (size_t)(cols < 4 ? 4 : cols) && strlen(s) < size) {
        memcpy(out, s, strlen(s) + 1);
        return;
    }
    while (s[i] && i + 4 < size) {
        if (((unsigned char)s[i] & 0xc0) != 0x80 && ++n > keep) break;
        i++;
    }
    snprintf(out, size, "%.*s...", (int)i, s);
}

// spy_on_msg feeds the tracker (loop thread = main thread).
static void
spy_on_msg(void *ud, const dts_msg *msg)
{
    spy_state *st = ud;
    track_add(&st->tr, msg);
}

// spy_query asks the publishers of a type that has not sent anything since
// spy started for their last value, once, briefly (types published only on
// change would otherwise show no value). Answers arrive through spy_on_msg.
static void
spy_query(spy_state *st, track_type *ty)
{
    char name[sizeof ty->name];
    ty->queried = 1;
    memcpy(name, ty->name, sizeof name);
    dts_query(st->node, name, SPY_QUERY_MS, 0, spy_on_msg, st, NULL);
}

// spy_merge_discovery adds the types known from discovery that have not
// sent anything yet, and records how many publishers each announces.
static void
spy_merge_discovery(spy_state *st)
{
    dts_type_info *types = NULL;
    dts_node_info *peers = NULL;
    size_t n = 0, np = 0;
    if (dts_node_types(st->node, &types, &n) == DTS_OK) {
        for (size_t i = 0; i < n; i++) {
            track_type *ty = track_find(&st->tr, types[i].type_id);
            if (!ty && types[i].name[0])
                ty = track_add_known(&st->tr, types[i].name, types[i].type_id, types[i].format,
                                     types[i].schema_id);
            if (ty) ty->known_pubs = types[i].publishers;
            if (ty && ty->known_pubs && !ty->last_value && !ty->queried) spy_query(st, ty);
        }
        dts_free(types);
    }
    if (dts_node_peers(st->node, &peers, &np) == DTS_OK) {
        st->nodes = np > 0 ? (unsigned)np - 1 : 0;
        dts_free(peers);
    }
}

// How a screen of cols columns is laid out: the name's width, and whether
// the GAPS, INCOMP and REPAIR columns fit. A row that wraps puts its last
// value on a line of its own and scrolls the screen; on 80 columns the
// full row did.
typedef struct spy_layout {
    int cols, name_w, rel;
} spy_layout;

#define SPY_FIXED_COLS 36 // FORMAT, MSG/S, BW, PUBS and the spaces around them
#define SPY_REL_COLS 21   // GAPS, INCOMP, REPAIR
#define SPY_VALUE_MIN 12  // the last value gets at least this much

static spy_layout
spy_layout_for(int cols)
{
    spy_layout l = {.cols = cols, .name_w = SPY_NAME_COLS, .rel = 1};
    if (cols >= SPY_NAME_COLS + SPY_FIXED_COLS + SPY_REL_COLS + SPY_VALUE_MIN) return l;
    l.rel = 0;
    int room = cols - SPY_FIXED_COLS - SPY_VALUE_MIN;
    l.name_w = room < 12 ? 12 : room < SPY_NAME_COLS ? room : SPY_NAME_COLS;
    return l;
}

// spy_row formats one type's line; the last value fills what is left of
// the layout's columns.
static void
spy_row(const spy_state *st, const track_type *ty, int64_t now, const spy_layout *l, char *out,
        size_t size)
{
    track_stats s;
    char bw[32], name[SPY_NAME_COLS * 4 + 8], value[TRACK_VALUE_MAX + 8];
    track_type_stats(&st->tr, ty, now, &s);
    unsigned pubs = ty->known_pubs > s.pubs ? ty->known_pubs : s.pubs;
    spy_cut(ty->name, l->name_w, name, sizeof name);
    cli_fmt_bytes(s.bw, bw, sizeof bw);
    strcat(bw, "/s");
    dts_type_counters c = {0};
    dts_type_counters_get(st->node, ty->name, &c);
    // The name is padded by code points, as the terminal counts them.
    size_t pad = (size_t)l->name_w > spy_utf8_count(name) ? l->name_w - spy_utf8_count(name) : 0;
    int used = snprintf(out, size, "%s%*s %-7s %8.2f %11s %4u ", name, (int)pad, "",
                        dts_format_name(ty->format), s.rate, bw, pubs);
    if (l->rel)
        used += snprintf(out + used, size - (size_t)used, "%6llu %6llu %6llu ",
                         (unsigned long long)s.gaps, (unsigned long long)c.incomplete,
                         (unsigned long long)c.repaired);
    used += snprintf(out + used, size - (size_t)used, " ");
    int left = l->cols - (int)spy_utf8_count(out);
    spy_cut(ty->last_value ? ty->last_value : "-", left < 4 ? 4 : left, value, sizeof value);
    snprintf(out + used, size - (size_t)used, "%s", value);
}

// spy_header formats the column names for the layout.
static void
spy_header(const spy_layout *l, char *out, size_t size)
{
    int used = snprintf(out, size, "%-*s %-7s %8s %11s %4s ", l->name_w, "TYPE", "FORMAT", "MSG/S",
                        "BW", "PUBS");
    if (l->rel)
        used +=
            snprintf(out + used, size - (size_t)used, "%6s %6s %6s ", "GAPS", "INCOMP", "REPAIR");
    snprintf(out + used, size - (size_t)used, " LAST VALUE");
}

// spy_draw_tty redraws the whole screen in place: home, each line cleared
// to its end, then the rest of the screen cleared.
static void
spy_draw_tty(spy_state *st, int64_t now)
{
    int cols, rows;
    char line[1024];
    time_t t = time(NULL);
    char clock[16];
    strftime(clock, sizeof clock, "%H:%M:%S", localtime(&t));
    spy_screen(&cols, &rows);
    if (cols > (int)sizeof line - 64) cols = (int)sizeof line - 64;
    spy_layout l = spy_layout_for(cols);
    printf("\x1b[H\x1b[7m dts spy  %zu types  %u nodes  %s   q quits \x1b[0m\x1b[K\n", st->tr.n,
           st->nodes, clock);
    spy_header(&l, line, sizeof line);
    printf("\x1b[1m%.*s\x1b[0m\x1b[K\n", cols, line);
    for (size_t i = 0; i < st->tr.n && (int)i < rows - 3; i++) {
        spy_row(st, &st->tr.types[i], now, &l, line, sizeof line);
        printf("%s\x1b[K\n", line);
    }
    if (st->tr.n == 0) printf("(no types seen yet: waiting for publishers...)\x1b[K\n");
    fputs("\x1b[J", stdout);
    cli_out_flush();
}

// spy_draw_plain prints one block: a line with the time and counts, the
// column names (a log read later needs them), then one line per type.
static void
spy_draw_plain(spy_state *st, int64_t now)
{
    char line[1024], clock[16];
    time_t t = time(NULL);
    strftime(clock, sizeof clock, "%H:%M:%S", localtime(&t));
    printf("--- %s  %zu types  %u nodes\n", clock, st->tr.n, st->nodes);
    spy_layout l = {.cols = SPY_NAME_COLS + SPY_FIXED_COLS + SPY_REL_COLS + SPY_PLAIN_VALUE_COLS,
                    .name_w = SPY_NAME_COLS,
                    .rel = 1};
    spy_header(&l, line, sizeof line);
    printf("%s\n", line);
    for (size_t i = 0; i < st->tr.n; i++) {
        spy_row(st, &st->tr.types[i], now, &l, line, sizeof line);
        printf("%s\n", line);
    }
    cli_out_flush();
}

static void
spy_draw(spy_state *st)
{
    spy_merge_discovery(st);
    track_retry(&st->tr);
    track_sort(&st->tr);
    if (st->tty)
        spy_draw_tty(st, dts_now_ns());
    else
        spy_draw_plain(st, dts_now_ns());
}

// spy_keys reads what was typed; `q` stops.
static void
spy_keys(void)
{
    char buf[64];
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) return;
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == 'q' || buf[i] == 'Q') cli_stop();
}

// spy_loop runs the node, watches the keyboard and redraws every interval.
static void
spy_loop(spy_state *st, double interval, double duration)
{
    // A terminal shows the screen at once (waiting for publishers); a log
    // gets its first block after an interval, when there is something in it,
    // and a last one for what came since the one before (a --duration
    // shorter than the interval still prints one).
    int64_t iv = (int64_t)(interval * 1e9), start = dts_now_ns();
    int64_t end = cli_deadline(duration), next = st->tty ? 0 : start + iv, drawn = start;
    while (!cli_stopped() && (!end || dts_now_ns() < end)) {
        int64_t now = dts_now_ns();
        if (now >= next) {
            spy_draw(st);
            drawn = now;
            next = now + iv;
        }
        int64_t until = end && end < next ? end : next;
        int ms = (int)((until - now) / 1000000) + 1;
        if (cli_step(st->node, ms, st->raw ? STDIN_FILENO : -1) > 0) spy_keys();
        if (st->tr.dec) cli_decoder_pump(st->tr.dec);
    }
    if (!st->tty && dts_now_ns() - drawn > iv / 4) spy_draw(st);
}

// spy_parse reads the options; returns -1 to go on or an exit status.
static int
spy_parse(const cli_ctx *ctx, int argc, char **argv, double *interval, double *window,
          double *duration)
{
    static const struct option opts[] = {
        {"interval", required_argument, NULL, 'i'},
        {"window", required_argument, NULL, 'w'},
        {"duration", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == 'i' &&
            cli_parse_double(ctx, "--interval", optarg, 0.05, 3600, "--interval 1", interval) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'w' &&
            cli_parse_double(ctx, "--window", optarg, 0.1, 3600, "--window 5", window) < 0)
            return CLI_EXIT_USAGE;
        if (c == 'd' &&
            cli_parse_double(ctx, "--duration", optarg, 0.001, 1e9, "--duration 10", duration) < 0)
            return CLI_EXIT_USAGE;
        if (c == '?' || c == ':') return cli_bad_option(ctx, argv[optind - 1], c, opts);
    }
    if (optind < argc)
        return cli_usage(ctx,
                         "spy takes no PATTERN, it shows every type (got '%s'); use "
                         "'dts echo PATTERN' or 'dts hz PATTERN' for some",
                         argv[optind]);
    return -1;
}

static int
spy_run(cli_ctx *ctx, int argc, char **argv)
{
    spy_state st = {.ctx = ctx, .tty = isatty(STDOUT_FILENO)};
    double interval = st.tty ? SPY_INTERVAL_TTY : SPY_INTERVAL_PLAIN;
    double window = SPY_WINDOW_DEFAULT, duration = 0;
    int rc = spy_parse(ctx, argc, argv, &interval, &window, &duration);
    if (rc >= 0) return rc;
    if ((rc = cli_node_open(ctx, DTS_RUN_CALLER, &st.node)) != 0) return rc;
    dts_sub *sub;
    track_init(&st.tr, window, 1);
    st.tr.dec = cli_decoder_alloc(st.node, NULL, NULL); // NULL: values as raw
    dts_err err = dts_subscribe(st.node, "**", spy_on_msg, &st, &sub);
    if (err != DTS_OK) {
        cli_decoder_free(st.tr.dec);
        dts_node_close(st.node);
        track_fini(&st.tr);
        return cli_error(ctx, "cannot subscribe to every type: %s", dts_strerror(err));
    }
    if (st.tty) spy_tty_begin(&st);
    spy_loop(&st, interval, duration);
    if (st.tty) spy_tty_end(&st);
    dts_sub_close(sub);
    cli_decoder_free(st.tr.dec);
    dts_node_close(st.node);
    track_fini(&st.tr);
    return CLI_EXIT_OK;
}

const cli_verb cli_verb_spy = {
    .name = "spy",
    .summary = "live full-screen view of every type on the network",
    .help = spy_help,
    .run = spy_run,
};

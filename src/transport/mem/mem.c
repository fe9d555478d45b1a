// mem.c: the in-process transport, "mem://NAME", for tests and for
// programs that connect components inside one process.
//
// Every node that opens the same NAME shares one bus. A send copies the
// datagram into the inbox of every endpoint (the sender included) that
// joined the channel, and wakes that endpoint's loop with uv_async_send;
// the endpoint's loop thread then hands the datagrams to its core in the
// order they were sent. Delivery is lossless until an inbox holds
// MEM_INBOX_MAX datagrams; then further sends to it are dropped and counted,
// as a socket buffer would.
#include <dts/transport.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MEM_INBOX_MAX 65536
#define MEM_CHANNELS_MAX 4096
#define MEM_DGRAM_MAX 65000

typedef struct mem_item {
    struct mem_item *next;
    size_t len;
    uint8_t data[];
} mem_item;

typedef struct mem_ep mem_ep;
typedef struct mem_bus {
    struct mem_bus *next;
    char name[64];
    mem_ep *eps;
    int refs;
} mem_bus;

struct mem_ep {
    mem_ep *next;
    mem_bus *bus;
    dts_transport_host host;
    uv_async_t async;
    mem_item *head, *tail; // inbox, guarded by mem_mu
    size_t n_inbox;
    uint64_t dropped;
    uint64_t *channels; // joined, guarded by mem_mu
    size_t n_channels;
    void (*close_done)(void *);
    void *close_arg;
};

static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static mem_bus *mem_buses;

static mem_bus *
mem_bus_get(const char *name)
{
    for (mem_bus *b = mem_buses; b; b = b->next)
        if (strcmp(b->name, name) == 0) return b;
    mem_bus *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    snprintf(b->name, sizeof b->name, "%s", name);
    b->next = mem_buses;
    mem_buses = b;
    return b;
}

static void
mem_bus_put(mem_bus *b)
{
    if (--b->refs > 0) return;
    for (mem_bus **p = &mem_buses; *p; p = &(*p)->next) {
        if (*p == b) {
            *p = b->next;
            break;
        }
    }
    free(b);
}

// mem_on_async runs on the endpoint's loop thread: it takes the whole
// inbox under the lock, then delivers outside it.
static void
mem_on_async(uv_async_t *a)
{
    mem_ep *e = a->data;
    pthread_mutex_lock(&mem_mu);
    mem_item *it = e->head;
    e->head = e->tail = NULL;
    e->n_inbox = 0;
    pthread_mutex_unlock(&mem_mu);
    if (it && e->host.on_batch) e->host.on_batch(e->host.ctx);
    while (it) {
        mem_item *next = it->next;
        e->host.on_recv(e->host.ctx, it->data, it->len, "mem");
        free(it);
        it = next;
    }
}

static dts_err
mem_open(const dts_transport_config *cfg, const dts_transport_host *host, void **tp)
{
    const char *name = strstr(cfg->url, "://");
    name = name ? name + 3 : "";
    if (!*name) name = "default";
    mem_ep *e = calloc(1, sizeof *e);
    if (!e) return DTS_ENOMEM;
    e->host = *host;
    if (uv_async_init(host->loop, &e->async, mem_on_async) != 0) {
        free(e);
        return DTS_ETRANSPORT;
    }
    e->async.data = e;
    pthread_mutex_lock(&mem_mu);
    mem_bus *b = mem_bus_get(name);
    if (b) {
        b->refs++;
        e->bus = b;
        e->next = b->eps;
        b->eps = e;
    }
    pthread_mutex_unlock(&mem_mu);
    if (!b) {
        uv_close((uv_handle_t *)&e->async, NULL);
        return DTS_ENOMEM; // the handle closes with the loop; e leaks only on OOM
    }
    *tp = e;
    return DTS_OK;
}

static void
mem_closed(uv_handle_t *h)
{
    mem_ep *e = h->data;
    void (*done)(void *) = e->close_done;
    void *arg = e->close_arg;
    for (mem_item *it = e->head; it;) {
        mem_item *next = it->next;
        free(it);
        it = next;
    }
    free(e->channels);
    free(e);
    if (done) done(arg);
}

static void
mem_close(void *tp, void (*done)(void *), void *arg)
{
    mem_ep *e = tp;
    pthread_mutex_lock(&mem_mu);
    for (mem_ep **p = &e->bus->eps; *p; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            break;
        }
    }
    mem_bus_put(e->bus);
    pthread_mutex_unlock(&mem_mu);
    e->close_done = done;
    e->close_arg = arg;
    uv_close((uv_handle_t *)&e->async, mem_closed);
}

static int
mem_joined(const mem_ep *e, uint64_t ch)
{
    for (size_t i = 0; i < e->n_channels; i++)
        if (e->channels[i] == ch) return 1;
    return 0;
}

static dts_err
mem_join(void *tp, uint64_t channel)
{
    mem_ep *e = tp;
    dts_err err = DTS_OK;
    pthread_mutex_lock(&mem_mu);
    if (!mem_joined(e, channel)) {
        uint64_t *nc = e->n_channels < MEM_CHANNELS_MAX
                           ? realloc(e->channels, (e->n_channels + 1) * sizeof *nc)
                           : NULL;
        if (nc) {
            e->channels = nc;
            e->channels[e->n_channels++] = channel;
        } else {
            err = DTS_ETRANSPORT;
        }
    }
    pthread_mutex_unlock(&mem_mu);
    return err;
}

static dts_err
mem_leave(void *tp, uint64_t channel)
{
    mem_ep *e = tp;
    pthread_mutex_lock(&mem_mu);
    for (size_t i = 0; i < e->n_channels; i++) {
        if (e->channels[i] == channel) {
            e->channels[i] = e->channels[--e->n_channels];
            break;
        }
    }
    pthread_mutex_unlock(&mem_mu);
    return DTS_OK;
}

// mem_deliver appends a copy to one endpoint's inbox. Called with mem_mu held.
static void
mem_deliver(mem_ep *to, const dts_dgram *d)
{
    if (to->n_inbox >= MEM_INBOX_MAX) {
        to->dropped++;
        return;
    }
    mem_item *it = malloc(sizeof *it + d->len);
    if (!it) {
        to->dropped++;
        return;
    }
    it->next = NULL;
    it->len = d->len;
    if (!d->iov) {
        memcpy(it->data, d->data, d->len);
    } else {
        size_t off = 0;
        for (size_t i = 0; i < d->iovcnt && off + d->iov[i].iov_len <= d->len; i++) {
            memcpy(it->data + off, d->iov[i].iov_base, d->iov[i].iov_len);
            off += d->iov[i].iov_len;
        }
    }
    if (to->tail)
        to->tail->next = it;
    else
        to->head = it;
    to->tail = it;
    to->n_inbox++;
    uv_async_send(&to->async);
}

static dts_err
mem_send(void *tp, uint64_t channel, const dts_dgram *d, size_t n, size_t *sent)
{
    mem_ep *e = tp;
    pthread_mutex_lock(&mem_mu);
    for (size_t i = 0; i < n; i++) {
        if (d[i].len > MEM_DGRAM_MAX) continue;
        for (mem_ep *to = e->bus->eps; to; to = to->next)
            if (mem_joined(to, channel)) mem_deliver(to, &d[i]);
    }
    pthread_mutex_unlock(&mem_mu);
    *sent = n;
    return DTS_OK;
}

static size_t
mem_max_dgram(void *tp)
{
    return MEM_DGRAM_MAX;
}

static void
mem_describe(void *tp, char *buf, size_t cap)
{
    mem_ep *e = tp;
    snprintf(buf, cap, "mem bus=%s", e->bus->name);
}

const dts_transport_ops dtsi_mem_ops = {
    .scheme = "mem",
    .open = mem_open,
    .close = mem_close,
    .join = mem_join,
    .leave = mem_leave,
    .send = mem_send,
    .max_dgram = mem_max_dgram,
    .describe = mem_describe,
};

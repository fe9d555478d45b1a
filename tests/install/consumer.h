// consumer.h: what the programs of tests/install share (each includes it
// once): the count their subscription callback raises under mu, and a wait
// for it.
#ifndef DTS_INSTALL_CONSUMER_H
#define DTS_INSTALL_CONSUMER_H

#include <pthread.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int received; // messages the callback accepted, under mu

// wait_received sleeps 20 ms, then returns how many messages have arrived.
static int
wait_received(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&mu);
    int got = received;
    pthread_mutex_unlock(&mu);
    return got;
}

#endif

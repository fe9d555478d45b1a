// log.h: internal logging. Silent unless the application installed a sink
// (dts_log_set_sink); the level is checked before anything is formatted.
#ifndef DTSI_LOG_H
#define DTSI_LOG_H

#include <dts/dts.h>

extern volatile int dtsi_log_max; // -1 when no sink is installed

void dtsi_log_emit(dts_log_level level, dts_log_cat cat, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define DTSI_LOG(level, cat, event, ...)                                                           \
    do {                                                                                           \
        if ((int)(level) <= dtsi_log_max) dtsi_log_emit((level), (cat), (event), __VA_ARGS__);     \
    } while (0)

#endif

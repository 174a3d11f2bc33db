#include "otb_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

void otb_log_open(struct otb_logger *lg, const char *ident, int level, bool use_syslog)
{
    lg->ident = ident;
    lg->level = level;
    lg->use_syslog = use_syslog;
    if (use_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void otb_log_close(struct otb_logger *lg)
{
    if (lg->use_syslog)
        closelog();
}

static int otb_log_syslog_priority(int level)
{
    static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
    return prio[level < 0 ? 0 : level > OTB_LOG_DEBUG ? OTB_LOG_DEBUG : level];
}

void otb_log(const struct otb_logger *lg, int level, const char *fmt, ...)
{
    static const char *const names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
    va_list ap;

    if (!otb_log_enabled(lg, level))
        return;
    va_start(ap, fmt);
    if (lg->use_syslog) {
        vsyslog(otb_log_syslog_priority(level), fmt, ap);
    } else {
        char stamp[32];
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(stderr, "%s %s %s: ", stamp, lg->ident ? lg->ident : "otb",
                names[level < 0 ? 0 : level > OTB_LOG_DEBUG ? OTB_LOG_DEBUG : level]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}

void otb_log_escape(const uint8_t *in, size_t len, char *out, size_t outcap)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    if (outcap == 0)
        return;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= outcap)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= outcap)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

int otb_log_vseterr(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (err != NULL && errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
    return -1;
}

int otb_log_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    otb_log_vseterr(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

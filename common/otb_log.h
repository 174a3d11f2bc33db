/* Logging with levels to stderr or syslog. The logger is owned by main.c and
 * passed by pointer, so the library holds no mutable global state. */
#ifndef OTB_LOG_H
#define OTB_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum otb_log_level { OTB_LOG_ERR = 0, OTB_LOG_WARN, OTB_LOG_INFO, OTB_LOG_DEBUG };

struct otb_logger {
    const char *ident;
    int level;
    bool use_syslog;
};

void otb_log_open(struct otb_logger *lg, const char *ident, int level, bool use_syslog);
void otb_log_close(struct otb_logger *lg);
void otb_log(const struct otb_logger *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* How library code reports a failure to its caller: the message goes into
 * err (nothing when err is NULL or errlen 0) and -1 comes back, so that a
 * parser can end with `return otb_log_seterr(err, errlen, ...)`. */
int otb_log_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int otb_log_vseterr(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Peer bytes are never logged raw: printable ASCII is kept, the rest becomes \xNN. */
void otb_log_escape(const uint8_t *in, size_t len, char *out, size_t outcap);

#define otb_log_enabled(lg, lvl) ((lg)->level >= (lvl))
#define OTB_ERR(lg, ...) otb_log((lg), OTB_LOG_ERR, __VA_ARGS__)
#define OTB_WARN(lg, ...) otb_log((lg), OTB_LOG_WARN, __VA_ARGS__)
#define OTB_INFO(lg, ...) otb_log((lg), OTB_LOG_INFO, __VA_ARGS__)
#define OTB_DEBUG(lg, ...)                                   \
    do {                                                     \
        if (otb_log_enabled((lg), OTB_LOG_DEBUG))            \
            otb_log((lg), OTB_LOG_DEBUG, __VA_ARGS__);       \
    } while (0)

#endif

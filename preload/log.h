#ifndef AT_LOG_H
#define AT_LOG_H

enum at_log_level { AT_LOG_OFF = 0, AT_LOG_ERROR, AT_LOG_WARN, AT_LOG_INFO, AT_LOG_DEBUG };

extern int at_log_level;
/* AUTOTRACE_LOG_FILE, absolute; NULL: stderr */
extern const char *at_log_file;

void at_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Configuration problems are always shown once, whatever the log level. */
void at_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define at_log(lvl, ...)                                                                   \
	do {                                                                               \
		if ((lvl) <= at_log_level)                                                 \
			at_log_write((lvl), __VA_ARGS__);                                  \
	} while (0)
#define at_debug(...) at_log(AT_LOG_DEBUG, __VA_ARGS__)
#define at_info(...) at_log(AT_LOG_INFO, __VA_ARGS__)
#define at_error(...) at_log(AT_LOG_ERROR, __VA_ARGS__)

#endif

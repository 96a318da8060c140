/* AUTOTRACE_FILE=path: every export request as one OTLP/JSON line, the
 * OpenTelemetry Collector's file exporter/receiver format. The file is
 * opened O_APPEND for each batch and each line is a single write(2), so many
 * processes (a shell pipeline, a pre-fork server) can append to one file
 * without interleaving, and no descriptor of ours lingers in the process. */
#define _GNU_SOURCE
#include "backend.h"

#include "../preload/config.h"
#include "../preload/log.h"
#include "buf.h"
#include "otlp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct file_exp {
	struct at_backend b;
	struct at_buf buf;
	int warned;
};

static size_t file_export(struct at_backend *b, struct at_span *const *spans, size_t n,
                          uint64_t deadline_ms)
{
	struct file_exp *f = (struct file_exp *)b;
	at_buf_reset(&f->buf);
	if (at_otlp_encode_json(&f->buf, spans, n) || (at_buf_addc(&f->buf, '\n'), f->buf.oom)) {
		at_error("file: out of memory encoding %zu spans", n);
		return 0;
	}
	int fd;
	do
		fd = open(at_cfg.file_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
		          0644);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		if (!f->warned++)
			at_warn("AUTOTRACE_FILE: cannot open \"%.200s\": %s; spans are lost",
			        at_cfg.file_path, strerror(errno));
		return 0;
	}
	ssize_t w;
	do
		w = write(fd, f->buf.data, f->buf.len);
	while (w < 0 && errno == EINTR);
	int err = errno;
	close(fd);
	if (w == (ssize_t)f->buf.len) {
		f->warned = 0;
		return n;
	}
	if (!f->warned++)
		at_warn("AUTOTRACE_FILE: writing \"%.200s\" failed: %s", at_cfg.file_path,
		        w < 0 ? strerror(err) : "short write");
	return 0;
}

static void file_close(struct at_backend *b)
{
	struct file_exp *f = (struct file_exp *)b;
	at_buf_free(&f->buf);
	free(f);
}

struct at_backend *at_backend_file_new(void)
{
	struct file_exp *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->b.name = "file";
	f->b.export_batch = file_export;
	f->b.close = file_close;
	return &f->b;
}

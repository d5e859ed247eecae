/*
 * util: whole-file reads, durable atomic writes, directory fsync, clock.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

int util_read_file(struct buf *out, const char *path, size_t max)
{
	char chunk[65536];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "cannot open '%s'", path);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_errno(ERR_IO, "cannot read '%s'", path);
			break;
		}
		if (n == 0)
			break;
		if (max && out->len + (size_t)n > max) {
			rc = err_set(ERR_INVALID, "'%s' is larger than %zu bytes", path, max);
			break;
		}
		if ((rc = buf_add(out, chunk, (size_t)n)) < 0)
			break;
	}
	close(fd);
	return rc;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return err_errno(ERR_IO, "cannot open directory '%s'", path);
	if (fsync(fd) < 0)
		rc = err_errno(ERR_IO, "cannot fsync directory '%s'", path);
	close(fd);
	return rc;
}

int util_write_file(const char *path, const void *data, size_t len, unsigned mode)
{
	struct buf tmp = BUF_INIT, dir = BUF_INIT;
	const char *slash;
	int fd = -1, rc;

	if ((rc = buf_printf(&tmp, "%s.tmp-XXXXXX", path)) < 0)
		goto out;
	fd = mkostemp(tmp.ptr, O_CLOEXEC);
	if (fd < 0) {
		rc = err_errno(ERR_IO, "cannot create a file next to '%s'", path);
		goto out;
	}
	if (fchmod(fd, (mode_t)mode) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		rc = err_errno(ERR_IO, "cannot write '%s'", tmp.ptr);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = err_errno(ERR_IO, "cannot write '%s'", tmp.ptr);
		goto out;
	}
	fd = -1;
	if (rename(tmp.ptr, path) < 0) {
		rc = err_errno(ERR_IO, "cannot rename '%s' to '%s'", tmp.ptr, path);
		goto out;
	}
	buf_reset(&tmp);
	slash = strrchr(path, '/');
	if ((rc = buf_add(&dir, slash ? path : ".", slash ? (size_t)(slash - path) : 1)) < 0)
		goto out;
	if (dir.len == 0 && (rc = buf_addch(&dir, '/')) < 0)
		goto out;
	rc = util_fsync_dir(dir.ptr);
out:
	if (fd >= 0)
		close(fd);
	if (tmp.len)
		unlink(tmp.ptr);
	buf_release(&tmp);
	buf_release(&dir);
	return rc;
}

int util_join(struct buf *out, const char *dir, const char *name)
{
	size_t n = strlen(dir);

	if (n && dir[n - 1] == '/')
		return buf_printf(out, "%s%s", dir, name);
	return buf_printf(out, "%s/%s", dir, name);
}

uint64_t util_now_ms(void)
{
	const char *fake = getenv("CASELEDGER_FAKE_TIME");
	struct timespec ts;

	if (fake && *fake)
		return (uint64_t)strtoull(fake, NULL, 10) * 1000;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void util_iso_time(char out[UTIL_ISO_MAX], int64_t epoch, int offset_minutes)
{
	time_t t = (time_t)(epoch + (int64_t)offset_minutes * 60);
	struct tm tm;
	int off = offset_minutes < 0 ? -offset_minutes : offset_minutes;

	gmtime_r(&t, &tm);
	snprintf(out, UTIL_ISO_MAX, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
}

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
	struct timespec ts;
#ifdef CASELEDGER_TEST_HOOKS
	const char *fake = getenv("CASELEDGER_FAKE_TIME");

	if (fake && *fake)
		return (uint64_t)strtoull(fake, NULL, 10) * 1000;
#endif
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void util_iso_local(char out[UTIL_ISO_MAX], int64_t epoch)
{
	time_t t = (time_t)epoch;
	struct tm tm;

	if (!localtime_r(&t, &tm)) {
		util_iso_time(out, epoch, 0);
		return;
	}
	util_iso_time(out, epoch, (int)(tm.tm_gmtoff / 60));
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

/* Length of the UTF-8 sequence at s (n bytes left), or 0 when it is not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k, i;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		k = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		k = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		k = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (k > n)
		return 0;
	for (i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

/* Is the character at s (k bytes of valid UTF-8) one a terminal or a reader obeys? */
static bool utf8_control(const unsigned char *s, size_t k)
{
	if (k == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	if (k == 2)
		return (s[0] == 0xc2 && s[1] <= 0x9f) || (s[0] == 0xd8 && s[1] == 0x9c);
	if (k == 3 && s[0] == 0xe2 && s[1] == 0x80)
		return (s[2] >= 0xaa && s[2] <= 0xae) || s[2] == 0x8e || s[2] == 0x8f ||
		       s[2] == 0xa8 || s[2] == 0xa9; /* bidi, marks, line/paragraph separator */
	if (k == 3 && s[0] == 0xe2 && s[1] == 0x81)
		return s[2] >= 0xa6 && s[2] <= 0xa9;
	return false;
}

int util_escape(struct buf *out, const char *text, size_t n, const char *keep)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, k, run = 0;
	int rc = 0;

	while (i + run < n && rc == 0) {
		const unsigned char *p = s + i + run;
		k = utf8_len(p, n - i - run);
		if (k && !(utf8_control(p, k) && !(k == 1 && *p && keep && strchr(keep, *p)))) {
			run += k;
			continue;
		}
		rc = buf_add(out, text + i, run);
		i += run;
		run = 0;
		if (rc < 0)
			break;
		if (!k) /* not UTF-8: the byte */
			rc = buf_printf(out, "\\x%02x", s[i]), k = 1;
		else if (k == 1 && s[i] == '\n')
			rc = buf_adds(out, "\\n");
		else if (k == 1 && s[i] == '\r')
			rc = buf_adds(out, "\\r");
		else if (k == 1 && s[i] == '\t')
			rc = buf_adds(out, "\\t");
		else if (k == 1)
			rc = buf_printf(out, "\\x%02x", s[i]);
		else
			rc = buf_printf(out, "\\u%04x",
					k == 2 ? (unsigned)((s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f))
					       : (unsigned)((s[i] & 0x0f) << 12 |
							    (s[i + 1] & 0x3f) << 6 |
							    (s[i + 2] & 0x3f)));
		i += k;
	}
	if (rc == 0 && run)
		rc = buf_add(out, text + i, run);
	return rc;
}

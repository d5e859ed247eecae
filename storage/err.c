/*
 * err: the thread-local error message behind every negative return code.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <git2.h>
#include <openssl/err.h>

#include "err.h"

#define ERR_MSG_MAX 1024

static _Thread_local char err_buf[ERR_MSG_MAX];
static _Thread_local int err_last;

static void err_vset(const char *fmt, va_list ap)
{
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
}

static void err_append(const char *tail)
{
	size_t len = strlen(err_buf);

	if (tail && *tail && len < sizeof(err_buf) - 1)
		snprintf(err_buf + len, sizeof(err_buf) - len, ": %s", tail);
}

int err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(fmt, ap);
	va_end(ap);
	err_last = code;
	return code;
}

int err_errno(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	err_vset(fmt, ap);
	va_end(ap);
	err_append(strerror(saved));
	err_last = code;
	return code;
}

int err_git(int code, const char *fmt, ...)
{
	const git_error *ge = git_error_last();
	va_list ap;

	va_start(ap, fmt);
	err_vset(fmt, ap);
	va_end(ap);
	err_append(ge && ge->message ? ge->message : "libgit2 error");
	err_last = code;
	return code;
}

int err_ssl(int code, const char *fmt, ...)
{
	char tail[256] = "openssl error";
	unsigned long e = ERR_get_error();
	va_list ap;

	if (e)
		ERR_error_string_n(e, tail, sizeof(tail));
	ERR_clear_error();
	va_start(ap, fmt);
	err_vset(fmt, ap);
	va_end(ap);
	err_append(tail);
	err_last = code;
	return code;
}

int err_prefix(const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	size_t n;
	va_list ap;

	memcpy(old, err_buf, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	n = strlen(err_buf);
	if (n < sizeof(err_buf) - 1)
		snprintf(err_buf + n, sizeof(err_buf) - n, ": %s", old);
	return err_last;
}

const char *err_msg(void)
{
	return err_buf;
}

int err_code(void)
{
	return err_last;
}

void err_clear(void)
{
	err_buf[0] = '\0';
	err_last = 0;
}

const char *err_name(int code)
{
	switch (code) {
	case 0:
		return "ok";
	case ERR_NOTFOUND:
		return "not-found";
	case ERR_EXISTS:
		return "exists";
	case ERR_INVALID:
		return "invalid";
	case ERR_DENIED:
		return "denied";
	case ERR_CONFLICT:
		return "conflict";
	case ERR_NETWORK:
		return "network";
	case ERR_NOMEM:
		return "no-memory";
	case ERR_IO:
		return "io";
	case ERR_VERIFY:
		return "verify";
	case ERR_USAGE:
		return "usage";
	default:
		return "error";
	}
}

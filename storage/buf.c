/*
 * buf: growable NUL-terminated byte buffer; see buf.h for the invariants.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "err.h"

char buf_empty[1];

void buf_init(struct buf *b, size_t max)
{
	b->ptr = buf_empty;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

int buf_grow(struct buf *b, size_t extra)
{
	size_t want, cap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return err_set(ERR_NOMEM, "buffer size overflow");
	want = b->len + extra + 1;
	if (b->max && b->len + extra > b->max)
		return err_set(ERR_INVALID, "input larger than %zu bytes", b->max);
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	p = realloc(b->cap ? b->ptr : NULL, cap);
	if (!p)
		return err_set(ERR_NOMEM, "out of memory");
	if (!b->cap)
		p[0] = '\0';
	b->ptr = p;
	b->cap = cap;
	return 0;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
	int rc;

	if (len == 0)
		return 0;
	if ((rc = buf_grow(b, len)) < 0)
		return rc;
	memcpy(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addch(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return err_set(ERR_INVALID, "bad format string");
	if ((rc = buf_grow(b, (size_t)n)) < 0)
		return rc;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void buf_truncate(struct buf *b, size_t len)
{
	if (len >= b->len)
		return;
	b->len = len;
	b->ptr[len] = '\0';
}

void buf_reset(struct buf *b)
{
	buf_truncate(b, 0);
}

char *buf_detach(struct buf *b, size_t *len_out)
{
	char *p;

	if (len_out)
		*len_out = b->len;
	if (b->cap)
		p = b->ptr;
	else
		p = calloc(1, 1);
	buf_init(b, b->max);
	return p;
}

void buf_release(struct buf *b)
{
	if (b->cap)
		free(b->ptr);
	buf_init(b, b->max);
}

void buf_release_secret(struct buf *b)
{
	if (b->cap)
		OPENSSL_cleanse(b->ptr, b->cap);
	buf_release(b);
}

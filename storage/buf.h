/*
 * buf: the one growable byte buffer (git's strbuf invariants).
 *
 * - ptr is never NULL and always NUL-terminated, so a buf is always a C string;
 * - len excludes the terminating NUL; cap is what is allocated (0: ptr is a static "");
 * - max, when non-zero, caps len: growing past it fails with ERR_INVALID (network input);
 * - buf_detach hands the allocation to the caller, who frees it with free().
 */
#ifndef CASELEDGER_BUF_H
#define CASELEDGER_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *ptr;  /* the bytes; never NULL, always NUL-terminated */
	size_t len; /* bytes used, excluding the NUL */
	size_t cap; /* bytes allocated; 0 while ptr is the static empty string */
	size_t max; /* 0, or the most len may grow to */
};

extern char buf_empty[];

#define BUF_INIT                                                                                   \
	{                                                                                          \
		buf_empty, 0, 0, 0                                                                 \
	}

/* Set up a caller-owned buf; max 0 means unbounded. Allocates nothing. */
void buf_init(struct buf *b, size_t max);

/* Make room for extra more bytes (plus the NUL). ERR_NOMEM, or ERR_INVALID past max. */
int buf_grow(struct buf *b, size_t extra);

int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addch(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Truncate to len bytes (len <= b->len). Keeps the allocation. */
void buf_truncate(struct buf *b, size_t len);

/* Empty the buffer, keep the allocation. */
void buf_reset(struct buf *b);

/* Hand the bytes to the caller (malloc'ed, NUL-terminated, never NULL unless out of
 * memory); the buf is left empty and reusable. *len_out, if given, gets the length. */
char *buf_detach(struct buf *b, size_t *len_out);

/* Free what the buf holds; the buf is left empty and reusable. */
void buf_release(struct buf *b);

/* Wipe (OPENSSL_cleanse) and release: for buffers that held key material. */
void buf_release_secret(struct buf *b);

#endif

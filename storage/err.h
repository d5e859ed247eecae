/*
 * err: one error code space and one thread-local message for all of caseledger.
 *
 * Functions return 0 or a negative ERR_* code. The message is set once, where the
 * failure is understood (err_set), and propagated unchanged; callers that only pass
 * an error up must not overwrite it. Messages are lowercase, without a full stop,
 * with the subject quoted: "record 'C-…': field 'status' must be one of …".
 */
#ifndef CASELEDGER_ERR_H
#define CASELEDGER_ERR_H

enum {
	ERR_GENERIC = -1,  /* anything callers do not act on */
	ERR_NOTFOUND = -2, /* no such record, ref, file or key */
	ERR_EXISTS = -3,   /* the thing to create is already there */
	ERR_INVALID = -4,  /* bad input: malformed record, unknown field, bad value */
	ERR_DENIED = -5,   /* not allowed: role rule, scope, permissions */
	ERR_CONFLICT = -6, /* compare-and-swap lost; someone else moved the ref */
	ERR_NETWORK = -7,  /* transport failure */
	ERR_NOMEM = -8,	   /* allocation failed */
	ERR_IO = -9,	   /* file system failure */
	ERR_VERIFY = -10,  /* a signature or certificate did not verify */
	ERR_USAGE = -11,   /* bad command line */
};

/* Set the message for the current thread; returns code so callers can `return err_set(...)`. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set, with ": strerror(errno)" appended (errno read on entry). */
int err_errno(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set, with ": " and libgit2's last error message appended. Returns code. */
int err_git(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like err_set, with ": " and OpenSSL's first queued error appended; clears the queue. */
int err_ssl(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Put "PREFIX: " before the current message (keeps the code); returns the code. */
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The current thread's message; "" when none. Valid until the next err_* call. */
const char *err_msg(void);

/* The code given with the last err_set on this thread (0 after err_clear). */
int err_code(void);

void err_clear(void);

/* A short name for a code: "not found", "invalid", ... (for JSON output). */
const char *err_name(int code);

#endif

/*
 * util: small file-system and time helpers shared by storage/ and above.
 */
#ifndef CASELEDGER_UTIL_H
#define CASELEDGER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"

/* Read a whole file into out (appending). ERR_NOTFOUND / ERR_IO naming path; max 0: no cap. */
int util_read_file(struct buf *out, const char *path, size_t max);

/*
 * Write data to path durably and atomically: temp file in the same directory, fsync,
 * rename over path, fsync of the directory. mode is the new file's mode.
 */
int util_write_file(const char *path, const void *data, size_t len, unsigned mode);

/* fsync a directory. */
int util_fsync_dir(const char *path);

/* "a/b" from dir and name, into out (appending). */
int util_join(struct buf *out, const char *dir, const char *name);

/*
 * Wall-clock time in milliseconds. In a build configured with --enable-test-hooks (the test
 * suite's), CASELEDGER_FAKE_TIME=EPOCH_SECONDS overrides the clock so a test can write
 * history at chosen times; any other build ignores the variable.
 */
uint64_t util_now_ms(void);

#define UTIL_ISO_MAX 48

/* Format a commit time as ISO 8601 with its offset: "2026-11-29T12:53:34+08:00". */
void util_iso_time(char out[UTIL_ISO_MAX], int64_t epoch, int offset_minutes);

/* Format a time as ISO 8601 in the process's zone (TZ), with that zone's offset then. */
void util_iso_local(char out[UTIL_ISO_MAX], int64_t epoch);

/*
 * Append text (n bytes) to out with what a terminal or a reader would obey escaped:
 * C0 and C1 controls and DEL (\n, \r, \t, \xNN), bidirectional embeddings, overrides,
 * isolates and marks and the line/paragraph separators (\uNNNN), and bytes that are not
 * UTF-8 (\xNN). Bytes listed in keep (may be NULL) pass as they are. For every log line
 * and every human output of text that came from outside.
 */
int util_escape(struct buf *out, const char *text, size_t n, const char *keep);

#endif

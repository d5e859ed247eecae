/*
 * record: the canonical JSON form of a record, record ids, their paths in a branch tree,
 * and hybrid-logical-clock stamps.
 *
 * Canonical form: one JSON object, keys sorted, one key per line (two-space indent),
 * UTF-8, integers only, trailing newline. The same content always gives the same bytes
 * and so the same git blob. A record lives at `<type>/<h1>/<h2>/<id>.json`, where h1 and
 * h2 are two hex bytes of a hash of the id: no tree grows past a few hundred entries at
 * any ledger size, so an amendment rewrites only small trees.
 */
#ifndef CASELEDGER_RECORD_H
#define CASELEDGER_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

/* PREFIX(3) '-' OFFICE(12) '-' SUFFIX(32) NUL */
#define RECORD_ID_MAX 64
/* ".json" + "TYPE/xx/yy/" with a type name of at most 32 characters */
#define RECORD_PATH_MAX (RECORD_ID_MAX + 48)

/* Largest record blob accepted from disk or the network. */
#define RECORD_MAX_BYTES (1024 * 1024)

/* Append the canonical encoding of rec (an object) to out. */
int record_encode(struct buf *out, const json_t *rec);

/*
 * Decode a record blob. what names it in messages ("record 'C-…'", "blob abc123").
 * Rejects non-objects, duplicate keys, reals, NUL bytes, and blobs over RECORD_MAX_BYTES.
 * When strict, also rejects bytes that are not the canonical encoding of what they hold
 * (used for anything received from another office). *out is a new reference.
 */
int record_decode(json_t **out, const char *data, size_t len, bool strict, const char *what);

/*
 * Check that id has the form PREFIX-OFFICE-SUFFIX: 1–3 upper-case letters, a valid office
 * code, 1–32 of [0-9A-Z]. Such an id is safe as a path component. ERR_INVALID otherwise.
 */
int record_id_check(const char *id);

/* The office code inside a valid id, copied into out (13 bytes). */
void record_id_office(char out[13], const char *id);

/*
 * A new id for a record of the type with prefix, created by office: the suffix is 10
 * Crockford base32 digits of the time in milliseconds and 6 digits (30 bits) that start
 * random each millisecond and count up within it, so ids sort by creation time, never
 * repeat within a process, and need no coordination between processes and offices (two
 * writers in one office colliding in one millisecond is a 2^-30 chance, and the create
 * then fails with ERR_EXISTS rather than overwrite). out must hold RECORD_ID_MAX bytes.
 */
#define RECORD_ID_SUFFIX_LEN 16
int record_id_new(char out[RECORD_ID_MAX], const char *prefix, const char *office);

/* FNV-1a of an id: fixed forever, since record paths are built from it. */
uint32_t record_id_hash(const char *id);

/* The tree path of the record: "<type>/<h1>/<h2>/<id>.json". */
int record_path(char out[RECORD_PATH_MAX], const char *type, const char *id);

/* A hybrid logical clock stamp; ordered by (ms, counter, office). */
struct hlc {
	uint64_t ms;	  /* wall-clock milliseconds since the epoch, never going back */
	uint32_t counter; /* orders stamps within one millisecond */
	char office[13];  /* the office that made the stamp, breaks ties */
};

/* "<ms:13>.<counter:5>-<office>" */
#define HLC_TEXT_MAX 40
void hlc_format(char out[HLC_TEXT_MAX], const struct hlc *h);
int hlc_parse(struct hlc *out, const char *text);
int hlc_cmp(const struct hlc *a, const struct hlc *b);

/* The next stamp for office after last (which may be zero): max(now, last) ticking. */
void hlc_next(struct hlc *out, const struct hlc *last, uint64_t now_ms, const char *office);

#endif

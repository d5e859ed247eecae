/*
 * record: canonical JSON codec, ids, sharded paths and HLC stamps (see record.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "err.h"
#include "office.h"
#include "record.h"

#define RECORD_DUMP_FLAGS (JSON_SORT_KEYS | JSON_INDENT(2))

static int dump_cb(const char *data, size_t len, void *payload)
{
	return buf_add(payload, data, len) < 0 ? -1 : 0;
}

int record_encode(struct buf *out, const json_t *rec)
{
	size_t start = out->len;

	if (!json_is_object(rec))
		return err_set(ERR_INVALID, "a record must be a JSON object");
	if (json_dump_callback(rec, dump_cb, out, RECORD_DUMP_FLAGS) != 0) {
		buf_truncate(out, start);
		return err_set(ERR_NOMEM, "cannot encode record");
	}
	return buf_addch(out, '\n');
}

/* Reals have no canonical text and money is integer fen: refuse them anywhere. */
static int reject_reals(const json_t *v, const char *what)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_real(v))
		return err_set(ERR_INVALID,
			       "%s: real numbers are not allowed (use integers, money in fen)",
			       what);
	if (json_is_object(v)) {
		json_object_foreach ((json_t *)v, key, item)
			if (reject_reals(item, what) < 0)
				return ERR_INVALID;
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, item)
			if (reject_reals(item, what) < 0)
				return ERR_INVALID;
	}
	return 0;
}

static int check_canonical(const json_t *rec, const char *data, size_t len, const char *what)
{
	struct buf b = BUF_INIT;
	int rc;

	if ((rc = record_encode(&b, rec)) < 0)
		goto out;
	if (b.len != len || memcmp(b.ptr, data, len) != 0)
		rc = err_set(ERR_INVALID,
			     "%s: not in canonical form (sorted keys, one per line, "
			     "two-space indent, trailing newline)",
			     what);
out:
	buf_release(&b);
	return rc;
}

int record_decode(json_t **out, const char *data, size_t len, bool strict, const char *what)
{
	json_error_t jerr;
	json_t *rec = NULL;
	int rc;

	*out = NULL;
	if (len > RECORD_MAX_BYTES)
		return err_set(ERR_INVALID, "%s: %zu bytes is larger than the %d-byte limit", what,
			       len, RECORD_MAX_BYTES);
	if (memchr(data, '\0', len))
		return err_set(ERR_INVALID, "%s: contains a NUL byte", what);
	rec = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!rec)
		return err_set(ERR_INVALID, "%s: malformed JSON at line %d column %d: %s", what,
			       jerr.line, jerr.column, jerr.text);
	if (!json_is_object(rec)) {
		rc = err_set(ERR_INVALID, "%s: a record must be a JSON object", what);
		goto out;
	}
	if ((rc = reject_reals(rec, what)) < 0)
		goto out;
	if (strict && (rc = check_canonical(rec, data, len, what)) < 0)
		goto out;
	*out = rec;
	rec = NULL;
out:
	json_decref(rec);
	return rc;
}

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int record_id_check(const char *id)
{
	char office[OFFICE_CODE_MAX + 1];
	const char *p = id, *dash;
	size_t n;

	for (n = 0; is_upper(p[n]); n++)
		;
	if (n < 1 || n > 3 || p[n] != '-')
		goto bad;
	p += n + 1;
	dash = strchr(p, '-');
	if (!dash || (size_t)(dash - p) > OFFICE_CODE_MAX)
		goto bad;
	memcpy(office, p, (size_t)(dash - p));
	office[dash - p] = '\0';
	if (office_level(office) < 0)
		goto bad;
	p = dash + 1;
	for (n = 0; is_digit(p[n]) || is_upper(p[n]); n++)
		;
	if (n < 1 || n > 32 || p[n] != '\0')
		goto bad;
	return 0;
bad:
	return err_set(ERR_INVALID,
		       "record id '%s' is not valid: want PREFIX-OFFICE-SUFFIX "
		       "(e.g. C-120112001001-0KZ3M9Q2WA7F1C)",
		       id);
}

void record_id_office(char out[13], const char *id)
{
	const char *p = strchr(id, '-'), *q;

	out[0] = '\0';
	if (!p || !(q = strchr(p + 1, '-')) || q - p - 1 > OFFICE_CODE_MAX)
		return;
	memcpy(out, p + 1, (size_t)(q - p - 1));
	out[q - p - 1] = '\0';
}

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* The last id this thread made: ids made in one millisecond count up from it. */
static _Thread_local uint64_t id_last_ms;
static _Thread_local uint32_t id_last_rand;

#define ID_RAND_BITS 30
#define ID_RAND_MAX  ((1u << ID_RAND_BITS) - 1)

int record_id_new(char out[RECORD_ID_MAX], const char *prefix, const char *office)
{
	char suffix[RECORD_ID_SUFFIX_LEN + 1];
	unsigned char rnd[4];
	uint32_t r;
	uint64_t ms;
	struct timespec ts;
	int i;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (ms <= id_last_ms && id_last_rand < ID_RAND_MAX) {
		/* same millisecond (or the clock went back): count up, never repeat */
		ms = id_last_ms;
		r = id_last_rand + 1;
	} else {
		if (ms <= id_last_ms)
			ms = id_last_ms + 1;
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return err_ssl(ERR_GENERIC, "cannot get random bytes for a record id");
		/* start low in the range, so a burst has room to count up */
		r = (((uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 | (uint32_t)rnd[2] << 8 |
		      rnd[3]) &
		     ID_RAND_MAX) >>
		    1;
	}
	id_last_ms = ms;
	id_last_rand = r;
	for (i = 9; i >= 0; i--) {
		suffix[i] = crockford[ms & 31];
		ms >>= 5;
	}
	for (i = RECORD_ID_SUFFIX_LEN - 1; i >= 10; i--) {
		suffix[i] = crockford[r & 31];
		r >>= 5;
	}
	suffix[RECORD_ID_SUFFIX_LEN] = '\0';
	snprintf(out, RECORD_ID_MAX, "%s-%s-%s", prefix, office, suffix);
	return record_id_check(out);
}

uint32_t record_id_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

int record_path(char out[RECORD_PATH_MAX], const char *type, const char *id)
{
	uint32_t h = record_id_hash(id);
	int n;

	n = snprintf(out, RECORD_PATH_MAX, "%s/%02x/%02x/%s.json", type, (unsigned)(h >> 24),
		     (unsigned)((h >> 16) & 0xff), id);
	if (n < 0 || n >= RECORD_PATH_MAX)
		return err_set(ERR_INVALID, "record id '%s' is too long", id);
	return 0;
}

void hlc_format(char out[HLC_TEXT_MAX], const struct hlc *h)
{
	snprintf(out, HLC_TEXT_MAX, "%013" PRIu64 ".%05" PRIu32 "-%s", h->ms, h->counter,
		 h->office);
}

/* Up to max decimal digits at *p (at least one), into *out; advances *p. */
static bool digits(uint64_t *out, const char **p, size_t max)
{
	size_t n = 0;

	*out = 0;
	while (n < max && **p >= '0' && **p <= '9') {
		*out = *out * 10 + (uint64_t)(**p - '0');
		(*p)++;
		n++;
	}
	return n > 0;
}

/*
 * "<ms:1-13 digits>.<counter:1-5 digits>-<office>": digits only (sscanf's %llu would take
 * a sign or spaces, and "-1" is a stamp from the year 584 million).
 */
int hlc_parse(struct hlc *out, const char *text)
{
	const char *p = text, *office;
	uint64_t ms, counter;

	memset(out, 0, sizeof(*out));
	if (!digits(&ms, &p, 13) || *p++ != '.' || !digits(&counter, &p, 5) || *p++ != '-')
		goto bad;
	office = p;
	if (strspn(office, "0123456789") != strlen(office) || strlen(office) > OFFICE_CODE_MAX ||
	    office_level(office) < 0)
		goto bad;
	out->ms = ms;
	out->counter = (uint32_t)counter;
	memcpy(out->office, office, strlen(office) + 1);
	return 0;
bad:
	return err_set(ERR_INVALID, "clock stamp '%s' is not valid", text);
}

int hlc_cmp(const struct hlc *a, const struct hlc *b)
{
	if (a->ms != b->ms)
		return a->ms < b->ms ? -1 : 1;
	if (a->counter != b->counter)
		return a->counter < b->counter ? -1 : 1;
	return strcmp(a->office, b->office);
}

void hlc_next(struct hlc *out, const struct hlc *last, uint64_t now_ms, const char *office)
{
	if (last && last->ms >= now_ms) {
		out->ms = last->ms;
		out->counter = last->counter + 1;
		if (out->counter > 99999) { /* keep the text form fixed-width */
			out->ms++;
			out->counter = 0;
		}
	} else {
		out->ms = now_ms;
		out->counter = 0;
	}
	snprintf(out->office, sizeof(out->office), "%s", office);
}

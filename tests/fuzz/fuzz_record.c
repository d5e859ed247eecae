/*
 * fuzz_record: a fuzz target for the record codec (storage/record.c): record blobs as they
 * arrive from another office, clock stamps and ids. A blob the strict decoder accepts is
 * canonical: encoding what it holds gives the same bytes back. Whatever the lax decoder
 * accepts encodes to bytes the strict decoder accepts and that round-trip.
 */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "err.h"
#include "fuzz.h"
#include "record.h"

static void round_trip(const uint8_t *data, size_t size)
{
	json_t *strict = NULL, *lax = NULL, *again = NULL;
	struct buf out;

	buf_init(&out, 0);
	if (record_decode(&strict, (const char *)data, size, true, "blob fuzz") == 0) {
		FUZZ_ASSERT(record_encode(&out, strict) == 0, "a decoded record encodes");
		FUZZ_ASSERT(out.len == size && memcmp(out.ptr, data, size) == 0,
			    "a strictly decoded blob is canonical");
	} else {
		FUZZ_ASSERT(err_msg()[0], "a refused blob says why");
	}
	err_clear();
	buf_release(&out);
	if (record_decode(&lax, (const char *)data, size, false, "blob fuzz") == 0) {
		FUZZ_ASSERT(record_encode(&out, lax) == 0, "a decoded record encodes");
		FUZZ_ASSERT(record_decode(&again, out.ptr, out.len, true, "re-encoded") == 0,
			    "an encoding is canonical");
		FUZZ_ASSERT(json_equal(lax, again), "encoding keeps what a record holds");
	}
	err_clear();
	buf_release(&out);
	json_decref(strict);
	json_decref(lax);
	json_decref(again);
}

static void stamp(const char *text)
{
	char back[HLC_TEXT_MAX];
	struct hlc h, h2;

	if (hlc_parse(&h, text) < 0) {
		err_clear();
		return;
	}
	hlc_format(back, &h);
	FUZZ_ASSERT(hlc_parse(&h2, back) == 0 && hlc_cmp(&h, &h2) == 0,
		    "a parsed stamp formats to a stamp that parses the same");
	FUZZ_ASSERT(h.counter <= 99999 && h.ms <= 9999999999999ull, "a stamp is in range");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	char path[RECORD_PATH_MAX];

	round_trip(data, size);
	stamp(text);
	if (record_id_check(text) == 0) {
		FUZZ_ASSERT(!strpbrk(text, "/.\\\n") && strlen(text) < RECORD_ID_MAX,
			    "a valid id is a safe path component");
		FUZZ_ASSERT(record_path(path, "case", text) == 0, "a valid id has a path");
	}
	err_clear();
	free(text);
	return 0;
}

void fuzz_cleanup(void)
{
}

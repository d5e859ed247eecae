/*
 * fuzz_sync: a fuzz target for the client side of sync (replication/sync.c), what a
 * parent office, or anything posing as one, sends back. Each input is one answer, fed to
 * the HTTP response parser, the advertisement parser (both services), the upload-pack
 * reply reader (with and without side-band) and the report-status reader. Nothing may
 * crash, leak or read past the input; every refusal says what was wrong.
 */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "err.h"
#include "fuzz.h"
#include "sync.h"

#define URL "https://parent.example:8443/ledger"
#define REF "refs/heads/120112001001"

static void check_refused(int rc)
{
	FUZZ_ASSERT(rc == 0 || err_msg()[0], "an error says what was wrong");
	err_clear();
}

static void advert(const struct buf *b, const char *service)
{
	git_oid old, *hide = NULL;
	size_t nhide = 0;
	char caps[512];
	int rc;

	rc = sync_parse_advert(&old, &hide, &nhide, caps, NULL, b, URL, service, REF);
	FUZZ_ASSERT(rc < 0 || strlen(caps) < sizeof(caps), "capabilities fit");
	FUZZ_ASSERT(nhide == 0 && !hide, "nothing hidden without an object database");
	check_refused(rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf in, body, pack;
	int rc;

	buf_init(&in, 0);
	if (buf_add(&in, data, size) < 0)
		abort();
	rc = sync_http_response(&body, &in, URL);
	FUZZ_ASSERT(rc < 0 || body.len <= size, "the body is within the answer");
	check_refused(rc);
	buf_release(&body);
	advert(&in, "git-upload-pack");
	advert(&in, "git-receive-pack");
	buf_init(&pack, 0);
	check_refused(sync_upload_reply(&pack, &in, URL, true, NULL));
	FUZZ_ASSERT(pack.len <= size, "side-band data is within the answer");
	buf_release(&pack);
	check_refused(sync_upload_reply(&pack, &in, URL, false, NULL));
	buf_release(&pack);
	{
		git_oid step;

		check_refused(sync_upload_reply(&pack, &in, URL, true, &step));
		FUZZ_ASSERT(pack.len <= size, "side-band data is within the answer (step)");
		buf_release(&pack);
	}
	check_refused(sync_push_report(&in, URL, "120112001001", REF));
	buf_release(&in);
	return 0;
}

void fuzz_cleanup(void)
{
}

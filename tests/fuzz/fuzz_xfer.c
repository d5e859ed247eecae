/*
 * fuzz_xfer: a fuzz target for the smart-protocol server (replication/xfer.c). Each input
 * is one request body, fed to the pkt-line reader, the receive-pack command parser, and
 * whole upload-pack and receive-pack requests against a scratch ledger; nothing may
 * crash, leak or move a ref. Built with -fsanitize=fuzzer (FUZZ_LIBFUZZER) it is a
 * libFuzzer target; in `make check` fuzz_main.c replays tests/fuzz/corpus/xfer.
 */
#include "config.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "fuzz.h"
#include "ledger.h"
#include "xfer.h"

#define OFFICE "120112001001"

static struct ledger *fuzz_ledger;
static char fuzz_dir[64];
static git_oid fuzz_head;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void fuzz_setup(void)
{
	struct ledger_init_opts o = {0};

	snprintf(fuzz_dir, sizeof(fuzz_dir), "/tmp/fuzz_xfer.XXXXXX");
	if (!mkdtemp(fuzz_dir))
		abort();
	rmdir(fuzz_dir);
	o.dir = fuzz_dir;
	o.office = OFFICE;
	o.operator= "fuzz";
	if (ledger_init(&o) < 0 || ledger_open(&fuzz_ledger, fuzz_dir) < 0 ||
	    ledger_head(&fuzz_head, fuzz_ledger, OFFICE) < 0) {
		fprintf(stderr, "fuzz_xfer: ledger: %s\n", err_msg());
		abort();
	}
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xfer_pkt_reader r = {(const char *)data, size, 0};
	struct xfer_command *cmds = NULL;
	struct buf out = BUF_INIT;
	const char *line;
	char caps[256];
	size_t n, i;
	git_oid now;
	int k;

	if (!fuzz_ledger)
		fuzz_setup();
	while ((k = xfer_pkt_read(&r, &line, &n)) == XFER_PKT_DATA || k == XFER_PKT_FLUSH)
		if (r.off > size)
			abort();
	r.off = 0;
	if (xfer_commands_parse(&cmds, &n, caps, sizeof(caps), &r, 8) == 0) {
		if (n > 8 || r.off > size)
			abort();
		for (i = 0; i < n; i++)
			free(cmds[i].error);
		free(cmds);
	} else if (cmds || !err_msg()[0]) {
		abort(); /* an error always says what was wrong */
	}
	if (xfer_upload_pack(&out, fuzz_ledger, OFFICE, (const char *)data, size) < 0 &&
	    !err_msg()[0])
		abort();
	buf_release(&out);
	if (xfer_receive_pack(&out, fuzz_ledger, NULL, OFFICE, (const char *)data, size) < 0 &&
	    !err_msg()[0])
		abort();
	buf_release(&out);
	/* nothing in the corpus is signed: no ref may move */
	if (ledger_head(&now, fuzz_ledger, OFFICE) < 0 || !git_oid_equal(&now, &fuzz_head))
		abort();
	err_clear();
	return 0;
}

void fuzz_cleanup(void)
{
	ledger_free(fuzz_ledger);
	fuzz_ledger = NULL;
	if (fuzz_dir[0])
		nftw(fuzz_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

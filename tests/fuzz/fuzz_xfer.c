/*
 * fuzz_xfer: a fuzz target for the smart-protocol server (replication/xfer.c). Each input
 * is one request body, fed to the pkt-line reader, the receive-pack command parser, and
 * whole upload-pack and receive-pack requests against a scratch ledger; nothing may
 * crash, leak or move a ref. Built with -fsanitize=fuzzer (FUZZ_LIBFUZZER) it is a
 * libFuzzer target; in `make check` its main replays the corpus in tests/fuzz/corpus,
 * each file also cut at a spread of lengths and with a seeded set of bytes flipped.
 */
#include "config.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
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

#ifndef FUZZ_LIBFUZZER
/* A small deterministic generator, so a failing run is replayed exactly. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static int replay(const char *path, size_t *runs)
{
	uint32_t seed = 2463534242u;
	unsigned char *data = NULL, *copy = NULL;
	size_t len = 0, cut, i, step;
	long sz;
	FILE *f = fopen(path, "rb");

	if (!f || fseek(f, 0, SEEK_END) < 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		goto fail;
	len = (size_t)sz;
	if (!(data = malloc(len + 1)) || !(copy = malloc(len + 1)) || fread(data, 1, len, f) != len)
		goto fail;
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	(*runs)++;
	/* cut at a spread of lengths (every byte of the first 128) */
	step = len > 128 ? len / 32 : 1;
	for (cut = 0; cut < len; cut += cut < 128 ? 1 : step) {
		memcpy(copy, data, cut);
		LLVMFuzzerTestOneInput(copy, cut);
		(*runs)++;
	}
	/* a few bytes flipped */
	for (i = 0; i < 64 && len > 0; i++) {
		memcpy(copy, data, len);
		copy[next_rand(&seed) % len] ^= (unsigned char)(1u << (next_rand(&seed) % 8));
		copy[next_rand(&seed) % len] = (unsigned char)next_rand(&seed);
		LLVMFuzzerTestOneInput(copy, len);
		(*runs)++;
	}
	free(data);
	free(copy);
	return 0;
fail:
	fprintf(stderr, "fuzz_xfer: cannot read '%s'\n", path);
	if (f)
		fclose(f);
	free(data);
	free(copy);
	return 1;
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dir[4096], path[8200];
	struct dirent *e;
	size_t runs = 0, files = 0;
	int rc = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s", argc > 1 ? argv[1] : top ? top : ".");
	if (argc <= 1)
		strncat(dir, "/tests/fuzz/corpus", sizeof(dir) - strlen(dir) - 1);
	if (!(d = opendir(dir))) {
		fprintf(stderr, "fuzz_xfer: no corpus at '%s'\n", dir);
		return 1;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			rc |= replay(path, &runs);
			files++;
		}
	closedir(d);
	if (files == 0) {
		fprintf(stderr, "fuzz_xfer: empty corpus at '%s'\n", dir);
		rc = 1;
	}
	printf("fuzz_xfer: %zu inputs from %zu corpus files\n", runs, files);
	ledger_free(fuzz_ledger);
	if (fuzz_dir[0])
		nftw(fuzz_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
#endif

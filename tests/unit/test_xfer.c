/*
 * test_xfer: the wire parsers of the smart protocol under bad input — the server's
 * pkt-line reader and receive-pack command parser byte by byte, then whole garbage,
 * truncated and oversize requests against a real ledger: each is a clear error, the
 * ledger's refs do not move and no quarantine is left behind; and the sync client's
 * reading of an upload-pack answer: garbage, no ACK/NAK, ERR, a cut packet, no flush, an
 * error on side-band channel 3, each named with the peer.
 */
#include "config.h"

#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "err.h"
#include "ledger.h"
#include "sync.h"
#include "xfer.h"

#define OFFICE "120112001001"
#define Z40    "0000000000000000000000000000000000000000"
#define A40    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* --- pkt-lines ---------------------------------------------------------------------- */

static int read1(const char *body, size_t len, const char **line, size_t *n, size_t *off)
{
	struct xfer_pkt_reader r = {body, len, 0};
	int k = xfer_pkt_read(&r, line, n);
	*off = r.off;
	return k;
}

static void expect_bad(const char *body, size_t len, const char *msg)
{
	const char *line;
	size_t n, off;

	err_clear();
	assert_int_equal(read1(body, len, &line, &n, &off), ERR_INVALID);
	if (!strstr(err_msg(), msg))
		fail_msg("'%.*s': message '%s' lacks '%s'", (int)len, body, err_msg(), msg);
	assert_int_equal(off, 0);
}

static void test_pkt_good(void **state)
{
	const char body[] = "0009abcd\n00000008aef\n0004";
	struct xfer_pkt_reader r = {body, sizeof(body) - 1, 0};
	const char *line;
	size_t n;

	assert_int_equal(xfer_pkt_read(&r, &line, &n), XFER_PKT_DATA);
	assert_int_equal(n, 4); /* the LF is dropped */
	assert_memory_equal(line, "abcd", 4);
	assert_int_equal(xfer_pkt_read(&r, &line, &n), XFER_PKT_FLUSH);
	assert_int_equal(xfer_pkt_read(&r, &line, &n), XFER_PKT_DATA);
	assert_int_equal(n, 3);
	assert_memory_equal(line, "aef", 3);
	assert_int_equal(xfer_pkt_read(&r, &line, &n), XFER_PKT_DATA);
	assert_int_equal(n, 0);
	assert_int_equal(xfer_pkt_read(&r, &line, &n), XFER_PKT_EOF);
	assert_int_equal(xfer_pkt_read(&r, &line, &n), XFER_PKT_EOF);
}

static void test_pkt_bad(void **state)
{
	char *big;

	expect_bad("00", 2, "truncated pkt-line length at byte 0");
	expect_bad("000", 3, "truncated pkt-line length");
	expect_bad("zzzz", 4, "malformed pkt-line length at byte 0");
	expect_bad("00 5abcd", 8, "malformed pkt-line length");
	expect_bad("-001", 4, "malformed pkt-line length");
	expect_bad("0001", 4, "bad pkt-line length 1");
	expect_bad("0002", 4, "bad pkt-line length 2");
	expect_bad("0003", 4, "bad pkt-line length 3");
	expect_bad("fff1", 4, "bad pkt-line length 65521");
	expect_bad("ffff", 4, "bad pkt-line length 65535");
	expect_bad("0010abc", 7, "truncated pkt-line at byte 0");
	expect_bad("0005", 4, "truncated pkt-line");
	/* the largest packet is accepted, one byte more is not */
	assert_non_null(big = malloc(XFER_PKT_MAX + 1));
	memset(big, 'x', XFER_PKT_MAX + 1);
	memcpy(big, "fff0", 4);
	{
		const char *line;
		size_t n, off;
		assert_int_equal(read1(big, XFER_PKT_MAX, &line, &n, &off), XFER_PKT_DATA);
		assert_int_equal(n, XFER_PKT_MAX - 4);
		assert_int_equal(read1(big, XFER_PKT_MAX - 1, &line, &n, &off), ERR_INVALID);
	}
	free(big);
	/* a later bad packet names its own offset */
	{
		struct xfer_pkt_reader r = {"0000xyz1", 8, 0};
		const char *line;
		size_t n;
		assert_int_equal(xfer_pkt_read(&r, &line, &n), XFER_PKT_FLUSH);
		assert_int_equal(xfer_pkt_read(&r, &line, &n), ERR_INVALID);
		assert_non_null(strstr(err_msg(), "at byte 4"));
	}
}

/* --- the receive-pack command list ------------------------------------------------- */

/* pkt-line-encode the lines of text (NULs allowed, given with their length). */
static size_t pkt(char *out, const char *data, size_t n)
{
	snprintf(out, 5, "%04zx", n + 4);
	memcpy(out + 4, data, n);
	return n + 4;
}

static int parse(const char *body, size_t len, struct xfer_command **cmds, size_t *n, char *caps,
		 size_t max)
{
	struct xfer_pkt_reader r = {body, len, 0};
	err_clear();
	return xfer_commands_parse(cmds, n, caps, 256, &r, max);
}

static void expect_parse_fails(const char *body, size_t len, size_t max, const char *msg)
{
	struct xfer_command *cmds = (void *)1;
	char caps[256];
	size_t n = 7;

	assert_int_equal(parse(body, len, &cmds, &n, caps, max), ERR_INVALID);
	assert_null(cmds);
	assert_int_equal(n, 0);
	if (!strstr(err_msg(), msg))
		fail_msg("message '%s' lacks '%s'", err_msg(), msg);
}

static void test_commands_good(void **state)
{
	char body[1024], caps[256];
	const char l1[] = Z40 " " A40 " refs/heads/" OFFICE "\0report-status side-band-64k "
			      "agent=git/2.39.2\n";
	const char l2[] = A40 " " A40 " refs/heads/trust\n";
	struct xfer_command *cmds = NULL;
	size_t len = 0, n;

	len += pkt(body + len, l1, sizeof(l1) - 1);
	len += pkt(body + len, l2, sizeof(l2) - 1);
	memcpy(body + len, "0000PACKrest", 12);
	len += 12;
	{
		struct xfer_pkt_reader r = {body, len, 0};
		assert_int_equal(xfer_commands_parse(&cmds, &n, caps, sizeof(caps), &r, 10), 0);
		assert_int_equal(r.off, len - 8); /* the pack follows the flush */
	}
	assert_int_equal(n, 2);
	assert_string_equal(cmds[0].ref, "refs/heads/" OFFICE);
	assert_string_equal(cmds[0].branch, OFFICE);
	assert_true(git_oid_is_zero(&cmds[0].old));
	assert_string_equal(git_oid_tostr_s(&cmds[0].new), A40);
	assert_string_equal(cmds[1].branch, "trust");
	assert_string_equal(caps, "report-status side-band-64k agent=git/2.39.2");
	free(cmds);
	/* an empty list is a flush alone */
	assert_int_equal(parse("0000", 4, &cmds, &n, caps, 10), 0);
	assert_int_equal(n, 0);
	free(cmds);
	/* a non-branch ref parses; the scope check refuses it later */
	len = pkt(body, Z40 " " A40 " refs/tags/x", 93);
	memcpy(body + len, "0000", 4);
	assert_int_equal(parse(body, len + 4, &cmds, &n, caps, 10), 0);
	assert_null(cmds[0].branch);
	free(cmds);
}

static void test_commands_bad(void **state)
{
	char body[4096], line[4096];
	size_t len, i;

#define ONE(text, msg)                                                                             \
	do {                                                                                       \
		len = pkt(body, text, sizeof(text) - 1);                                           \
		memcpy(body + len, "0000", 4);                                                     \
		expect_parse_fails(body, len + 4, 10, msg);                                        \
	} while (0)
	ONE("garbage", "malformed command 'garbage'");
	ONE(Z40 " " A40 " ", "malformed command");
	ONE(Z40 A40 " refs/heads/x", "malformed command");
	ONE(Z40 " " A40 "xrefs/heads/x", "malformed command");
	ONE("0000000000000000000000000000000000000000 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "
	    "refs/heads/" OFFICE,
	    "new value: malformed object id");
	ONE("000000000000000000000000000000000000000g " A40 " refs/heads/" OFFICE,
	    "old value: malformed object id");
	ONE(Z40 " " A40 " refs/heads/" OFFICE "\0report-status quiet",
	    "capability 'quiet' was not advertised");
	ONE(Z40 " " A40 " refs/heads/" OFFICE "\0atomic", "capability 'atomic' was not");
	ONE(Z40 " " A40 " refs/heads/" OFFICE "\0agentx=1", "capability 'agentx=1' was not");
	ONE(Z40 " " A40 " refs/heads/" OFFICE "\0report-status=1",
	    "capability 'report-status=1' was not");
	ONE(Z40 " " A40 " refs/heads/" OFFICE "\0report-status\0x", "NUL in the capabilities");
	ONE("shallow " A40, "malformed command 'shallow");
	ONE("push-cert\0report-status", "malformed command 'push-cert'");
#undef ONE
	/* capabilities on a later line */
	len = pkt(body, Z40 " " A40 " refs/heads/a", 94);
	len += pkt(body + len, Z40 " " A40 " refs/heads/b\0report-status", 108);
	memcpy(body + len, "0000", 4);
	expect_parse_fails(body, len + 4, 10, "capabilities after the first command");
	/* no flush: the body ends, or the pack starts, before it */
	len = pkt(body, Z40 " " A40 " refs/heads/a", 94);
	expect_parse_fails(body, len, 10, "command list not ended by a flush");
	/* a truncated packet in the list */
	expect_parse_fails(body, len - 1, 10, "receive-pack: truncated pkt-line at byte 0");
	memcpy(body + len, "00", 2);
	expect_parse_fails(body, len + 2, 10, "truncated pkt-line length at byte 98");
	memcpy(body + len, "PACK\0\0\0\2", 8);
	expect_parse_fails(body, len + 8, 10, "malformed pkt-line length at byte 98");
	/* more commands than the cap */
	for (len = 0, i = 0; i < 4; i++)
		len += pkt(body + len, Z40 " " A40 " refs/heads/a", 94);
	memcpy(body + len, "0000", 4);
	expect_parse_fails(body, len + 4, 3, "more than 3 commands");
	/* an oversize ref name: clear error, not truncated */
	memset(line, 'r', sizeof(line));
	memcpy(line, Z40 " " A40 " ", 82);
	len = pkt(body, line, 82 + LEDGER_REF_MAX);
	memcpy(body + len, "0000", 4);
	expect_parse_fails(body, len + 4, 10, "too long");
	/* the longest allowed */
	{
		struct xfer_command *cmds;
		size_t n;
		char caps[256];
		len = pkt(body, line, 82 + LEDGER_REF_MAX - 1);
		memcpy(body + len, "0000", 4);
		assert_int_equal(parse(body, len + 4, &cmds, &n, caps, 10), 0);
		assert_int_equal(strlen(cmds[0].ref), LEDGER_REF_MAX - 1);
		free(cmds);
	}
	/* an oversize capability list */
	memset(line, 'c', sizeof(line));
	memcpy(line, Z40 " " A40 " refs/heads/a\0", 96);
	len = pkt(body, line, 96 + 300);
	memcpy(body + len, "0000", 4);
	expect_parse_fails(body, len + 4, 10, "capability list too long");
}

/* --- whole requests against a ledger ----------------------------------------------- */

struct fixture {
	char dir[64];
	struct ledger *l;
	git_oid head;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ledger_init_opts o = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_xfer.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	rmdir(f->dir);
	o.dir = f->dir;
	o.office = OFFICE;
	o.operator= "tester";
	if (ledger_init(&o) < 0 || ledger_open(&f->l, f->dir) < 0 ||
	    ledger_head(&f->head, f->l, OFFICE) < 0)
		fail_msg("ledger: %s", err_msg());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ledger_free(f->l);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* The ledger's head has not moved and objects/ holds no quarantine. */
static void expect_untouched(struct fixture *f)
{
	char path[128];
	struct dirent *e;
	git_oid now;
	DIR *d;

	assert_int_equal(ledger_head(&now, f->l, OFFICE), 0);
	assert_true(git_oid_equal(&now, &f->head));
	snprintf(path, sizeof(path), "%s/objects", f->dir);
	assert_non_null(d = opendir(path));
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "incoming-", 9) == 0)
			fail_msg("quarantine %s left behind", e->d_name);
	closedir(d);
}

static void receive(struct fixture *f, const char *body, size_t len, const char *want)
{
	struct buf out = BUF_INIT;

	err_clear();
	assert_int_equal(xfer_receive_pack(&out, f->l, NULL, OFFICE, body, len), 0);
	assert_int_equal(buf_addch(&out, '\0'), 0);
	if (!memmem(out.ptr, out.len, want, strlen(want)))
		fail_msg("reply '%s' lacks '%s'", out.ptr, want);
	buf_release(&out);
	expect_untouched(f);
}

static void test_receive_garbage(void **state)
{
	struct fixture *f = *state;
	char body[512], l1[256];
	size_t len, k;
	/* a pack header that promises one object, then garbage */
	static const char pack[] = "PACK\0\0\0\2\0\0\0\1\x95\x0a"
				   "garbage-garbage-garbage";

	receive(f, "", 0, "ERR receive-pack: command list not ended by a flush");
	receive(f, "GET / HTTP/1.1\r\n", 16, "ERR receive-pack: malformed pkt-line length");
	receive(f, "\xff\xfe\0\0", 4, "ERR receive-pack: malformed pkt-line length");
	receive(f, "fff1", 4, "ERR receive-pack: bad pkt-line length 65521");
	k = (size_t)snprintf(l1, sizeof(l1), "%s %s refs/heads/%s%creport-status",
			     git_oid_tostr_s(&f->head), A40, OFFICE, '\0');
	len = pkt(body, l1, k);
	memcpy(body + len, "0000", 4);
	len += 4;
	/* the pack cut at every byte, and a garbage pack */
	for (k = 0; k <= sizeof(pack) - 1; k++) {
		memcpy(body + len, pack, k);
		receive(f, body, len + k,
			k == 0 ? "ng refs/heads/" OFFICE " the new value is not a commit"
			       : "ng refs/heads/" OFFICE " unpacker error");
	}
	receive(f, body, len + sizeof(pack) - 1, "ng refs/heads/" OFFICE " unpacker error");
	/* a stale old value: refused before any pack is read */
	memset(l1, 'b', 40);
	len = pkt(body, l1, k = strlen(l1) + 1 + strlen("report-status"));
	memcpy(body + len, "0000", 4);
	receive(f, body, len + 4, "stale old value");
}

static void test_upload_garbage(void **state)
{
	struct fixture *f = *state;
	const char *cases[][2] = {
	    {"", "ERR upload-pack: request has no 'want' list"},
	    {"0000", "ERR upload-pack: request has no 'want' list"},
	    {"0009hello", "ERR expected 'want'"},
	    {"00", "ERR truncated pkt-line length"},
	    {"0032want " A40 "\n0000", "ERR upload-pack: not our ref"},
	    {"0032want " A40, "ERR truncated pkt-line"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf out = BUF_INIT;
		assert_int_equal(
		    xfer_upload_pack(&out, f->l, OFFICE, cases[i][0], strlen(cases[i][0])), 0);
		assert_int_equal(buf_addch(&out, '\0'), 0);
		if (!strstr(out.ptr, cases[i][1]))
			fail_msg("case %zu: reply '%s' lacks '%s'", i, out.ptr, cases[i][1]);
		buf_release(&out);
	}
	expect_untouched(f);
}

/* A chain of n commits on the office's branch after its head (same tree): ids[0..n). */
static void chain(struct fixture *f, git_oid *ids, size_t n)
{
	git_signature *sig = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_reference *ref = NULL;
	size_t i;

	assert_int_equal(git_signature_new(&sig, "t", "t@t", 1790000000, 0), 0);
	assert_int_equal(git_commit_lookup(&parent, f->l->repo, &f->head), 0);
	assert_int_equal(git_commit_tree(&tree, parent), 0);
	for (i = 0; i < n; i++) {
		const git_commit *parents[] = {parent};

		assert_int_equal(git_commit_create(&ids[i], f->l->repo, NULL, sig, sig, NULL,
						   "step", tree, 1, parents),
				 0);
		git_commit_free(parent);
		assert_int_equal(git_commit_lookup(&parent, f->l->repo, &ids[i]), 0);
	}
	assert_int_equal(
	    git_reference_create(&ref, f->l->repo, "refs/heads/" OFFICE, &ids[n - 1], 1, "test"),
	    0);
	git_reference_free(ref);
	git_commit_free(parent);
	git_tree_free(tree);
	git_signature_free(sig);
}

/* An upload-pack request for the branch head from have, asking for steps of step. */
static void step_request(struct fixture *f, struct buf *out, const git_oid *want,
			 const git_oid *have, const char *caps)
{
	char body[512], line[200];
	size_t len;

	snprintf(line, sizeof(line), "want %s %s\n", git_oid_tostr_s(want), caps);
	len = pkt(body, line, strlen(line));
	memcpy(body + len, "0000", 4);
	len += 4;
	snprintf(line, sizeof(line), "have %s\n", git_oid_tostr_s(have));
	len += pkt(body + len, line, strlen(line));
	len += pkt(body + len, "done\n", 5);
	buf_init(out, 0);
	assert_int_equal(xfer_upload_pack(out, f->l, OFFICE, body, len), 0);
	assert_int_equal(buf_addch(out, '\0'), 0);
}

/* caseledger-step=N: the N-th commit of the first-parent line past the haves, named on a
 * "step" line after the ACK, or the head when the line is shorter; bad N is ignored. */
static void test_upload_step(void **state)
{
	struct fixture *f = *state;
	git_oid ids[5];
	struct buf out;
	char want[64];

	chain(f, ids, 5);
	step_request(f, &out, &ids[4], &f->head, "side-band-64k caseledger-step=2");
	snprintf(want, sizeof(want), "step %s\n", git_oid_tostr_s(&ids[1]));
	if (!strstr(out.ptr, want))
		fail_msg("reply lacks '%s'", want);
	buf_release(&out);
	step_request(f, &out, &ids[4], &ids[1], "side-band-64k caseledger-step=2");
	snprintf(want, sizeof(want), "step %s\n", git_oid_tostr_s(&ids[3]));
	if (!strstr(out.ptr, want))
		fail_msg("the second step: reply lacks '%s'", want);
	buf_release(&out);
	step_request(f, &out, &ids[4], &ids[3], "caseledger-step=2");
	snprintf(want, sizeof(want), "step %s\n", git_oid_tostr_s(&ids[4]));
	if (!strstr(out.ptr, want))
		fail_msg("the last step: reply lacks '%s'", want);
	buf_release(&out);
	step_request(f, &out, &ids[4], &f->head, "caseledger-step=0");
	assert_null(strstr(out.ptr, "step "));
	buf_release(&out);
	step_request(f, &out, &ids[4], &f->head, "caseledger-step=x");
	assert_null(strstr(out.ptr, "step "));
	buf_release(&out);
}

/* --- the client's reading of an upload-pack answer ------------------------------- */

/* A side-band packet on channel band. */
static size_t band(char *out, int ch, const char *data, size_t n)
{
	snprintf(out, 6, "%04zx", n + 5);
	out[4] = (char)ch;
	memcpy(out + 5, data, n);
	return n + 5;
}

static void reply_bad(const char *body, size_t len, bool sideband, int code, const char *msg)
{
	struct buf in = BUF_INIT, pack = BUF_INIT;

	assert_int_equal(buf_add(&in, body, len), 0);
	err_clear();
	assert_int_equal(sync_upload_reply(&pack, &in, "https://peer/x", sideband, NULL), code);
	if (!strstr(err_msg(), msg))
		fail_msg("'%.*s': message '%s' lacks '%s'", (int)len, body, err_msg(), msg);
	if (!strstr(err_msg(), "https://peer/x"))
		fail_msg("message '%s' does not name the peer", err_msg());
	buf_release(&in);
	buf_release(&pack);
}

static void test_upload_reply(void **state)
{
	char body[512];
	struct buf in = BUF_INIT, pack = BUF_INIT;
	size_t n, k;

	(void)state;
	/* NAK, then the pack in two side-band packets around a progress line, then flush */
	n = pkt(body, "NAK\n", 4);
	n += band(body + n, 1, "PACK-one-", 9);
	n += band(body + n, 2, "counting\n", 9);
	n += band(body + n, 1, "two", 3);
	memcpy(body + n, "0000", 4);
	n += 4;
	assert_int_equal(buf_add(&in, body, n), 0);
	assert_int_equal(sync_upload_reply(&pack, &in, "https://peer/x", true, NULL), 0);
	assert_int_equal(pack.len, 12);
	assert_memory_equal(pack.ptr, "PACK-one-two", 12);
	/* ACK and no side band: the rest is the pack */
	buf_reset(&in);
	buf_reset(&pack);
	k = pkt(body, "ACK " A40 "\n", 45);
	memcpy(body + k, "PACKraw", 7);
	assert_int_equal(buf_add(&in, body, k + 7), 0);
	assert_int_equal(sync_upload_reply(&pack, &in, "https://peer/x", false, NULL), 0);
	assert_int_equal(pack.len, 7);
	buf_release(&in);
	buf_release(&pack);

	/* a step line names the commit the pack ends at */
	{
		git_oid step;

		buf_reset(&in);
		buf_reset(&pack);
		n = pkt(body, "NAK\n", 4);
		n += pkt(body + n, "step " A40 "\n", 46);
		n += band(body + n, 1, "PACK", 4);
		memcpy(body + n, "0000", 4);
		assert_int_equal(buf_add(&in, body, n + 4), 0);
		assert_int_equal(sync_upload_reply(&pack, &in, "https://peer/x", true, &step), 0);
		assert_string_equal(git_oid_tostr_s(&step), A40);
		assert_int_equal(pack.len, 4);
		/* asked for a step, none named: refused */
		buf_reset(&in);
		buf_reset(&pack);
		n = pkt(body, "NAK\n", 4);
		n += band(body + n, 1, "PACK", 4);
		memcpy(body + n, "0000", 4);
		assert_int_equal(buf_add(&in, body, n + 4), 0);
		err_clear();
		assert_int_equal(sync_upload_reply(&pack, &in, "https://peer/x", true, &step),
				 ERR_NETWORK);
		assert_non_null(strstr(err_msg(), "did not say which step it sent"));
		buf_release(&in);
		buf_release(&pack);
	}

	reply_bad("", 0, true, ERR_NETWORK, "malformed or truncated pkt-line");
	reply_bad("HTTP/1.1 200 OK\r\n", 17, true, ERR_NETWORK, "malformed or truncated pkt-line");
	reply_bad("\xff\xfe\x00\x01garbage", 11, true, ERR_NETWORK, "malformed or truncated");
	reply_bad("0009hello", 9, true, ERR_NETWORK, "did not answer the fetch with ACK or NAK");
	reply_bad("0000", 4, true, ERR_NETWORK, "did not answer the fetch with ACK or NAK");
	/* the branch moved between advertisement and request: a race, fetched again */
	reply_bad("0016ERR not our ref x", 22, true, ERR_CONFLICT,
		  "refused the fetch: not our ref x");
	reply_bad("0018ERR scope is too big", 24, true, ERR_DENIED,
		  "refused the fetch: scope is too big");
	/* the side band: cut in a packet, no flush, an error on channel 3 */
	n = pkt(body, "NAK\n", 4);
	k = n + band(body + n, 1, "PACKdata", 8);
	reply_bad(body, k - 3, true, ERR_NETWORK, "malformed or truncated pkt-line");
	reply_bad(body, k, true, ERR_NETWORK, "was cut short");
	k += band(body + k, 3, "disk full", 9);
	reply_bad(body, k, true, ERR_DENIED, "failed the fetch: disk full");
}

/* --- the client's reading of a receive-pack report ------------------------------ */

static void report_is(int code, const char *msg, const char *const *lines)
{
	struct buf in = BUF_INIT;
	char line[300];
	int rc;

	for (; *lines; lines++) {
		size_t n = strlen(*lines);
		assert_true(n + 4 < sizeof(line));
		snprintf(line, sizeof(line), "%04x%s", (unsigned)(n + 4) & 0xffffu, *lines);
		assert_int_equal(buf_add(&in, line, n + 4), 0);
	}
	assert_int_equal(buf_add(&in, "0000", 4), 0);
	err_clear();
	rc = sync_push_report(&in, "https://peer/x", "1201", "refs/heads/1201");
	if (rc != code)
		fail_msg("report '%s': %d, not %d (%s)", in.ptr, rc, code, err_msg());
	if (msg && !strstr(err_msg(), msg))
		fail_msg("message '%s' lacks '%s'", err_msg(), msg);
	buf_release(&in);
}

static void test_push_report(void **state)
{
	static const char *const ok[] = {"unpack ok\n", "ok refs/heads/1201\n", NULL};
	/* what our receive-pack (and git's) answers when the old value is stale: the pack is
	 * not unpacked, and only the ng line tells it was a race */
	static const char *const stale[] = {
	    "unpack not unpacked: a command was refused\n",
	    "ng refs/heads/1201 stale old value: the branch moved, fetch first\n", NULL};
	static const char *const nonff[] = {"unpack ok\n", "ng refs/heads/1201 non-fast-forward\n",
					    NULL};
	static const char *const unpacker[] = {"unpack index-pack abnormal exit\n",
					       "ng refs/heads/1201 unpacker error\n", NULL};
	static const char *const refused[] = {
	    "unpack ok\n", "ng refs/heads/1201 commit 1234 is not signed\n", NULL};
	static const char *const unpack_only[] = {"unpack disk full\n", NULL};
	static const char *const silent[] = {"unpack ok\n", NULL};
	static const char *const other[] = {"unpack ok\n", "ok refs/heads/1202\n", NULL};

	(void)state;
	report_is(0, NULL, ok);
	report_is(ERR_CONFLICT, "refused branch '1201': stale old value", stale);
	report_is(ERR_CONFLICT, "non-fast-forward", nonff);
	report_is(ERR_DENIED, "unpack index-pack abnormal exit", unpacker);
	report_is(ERR_DENIED, "is not signed", refused);
	report_is(ERR_DENIED, "unpack disk full", unpack_only);
	report_is(ERR_NETWORK, "did not report the push of '1201'", silent);
	report_is(ERR_NETWORK, "did not report", other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pkt_good),
	    cmocka_unit_test(test_pkt_bad),
	    cmocka_unit_test(test_commands_good),
	    cmocka_unit_test(test_commands_bad),
	    cmocka_unit_test(test_upload_reply),
	    cmocka_unit_test(test_push_report),
	    cmocka_unit_test_setup_teardown(test_receive_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_garbage, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_step, setup, teardown),
	};
	int rc;

	git_libgit2_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	git_libgit2_shutdown();
	return rc;
}

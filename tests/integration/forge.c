/*
 * forge: a test tool that writes the commits caseledger itself refuses to write — on any
 * branch, signed with any key, with records the schema or role rules reject, merges with
 * chosen parents — so that the tests can show verify_commit rejecting each of them. It
 * uses the real ledger code (ledger_commit_tree) with the checks left out, never the
 * verifier.
 *
 *   forge LEDGER KEYFILE BRANCH [--office CODE] [--parent REV]... [--root]
 *         [--record FILE]... [--raw PATH=FILE]... [--delete PATH]... [-m MESSAGE]
 *         [--stamp HLC] [--keep-stamps]
 *
 * Without --parent the branch head is the parent (none when the branch is new, or with
 * --root). --record writes the JSON object in FILE canonically at its record path;
 * --raw writes FILE's bytes at PATH. Like caseledger, it stamps the commit after its
 * first parent's stamp, dates it at that stamp, and stamps every --record with it;
 * --stamp gives the commit's stamp (and so its time) instead, --keep-stamps keeps each
 * record's own "hlc". --office sets the office named in the author, committer, trailer
 * and stamp (default: the ledger's). The branch is set to the new commit, whose id is
 * printed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ledger.h"
#include "util.h"

#define MAX_ITEMS 64

static int die(const char *what)
{
	fprintf(stderr, "forge: %s: %s\n", what, err_msg());
	return 1;
}

int main(int argc, char **argv)
{
	struct ledger *l = NULL;
	struct sig_key *key = NULL, *own;
	git_commit *parents[MAX_ITEMS] = {0};
	git_tree *base = NULL;
	git_tree_update up[MAX_ITEMS];
	char paths[MAX_ITEMS][RECORD_PATH_MAX + 64];
	struct buf data[MAX_ITEMS], msg = BUF_INIT;
	const char *office = NULL, *message = "forged", *stamp_arg = NULL;
	json_t *recs[MAX_ITEMS] = {0};
	bool keep = false;
	char ref[LEDGER_REF_MAX], stamp_text[HLC_TEXT_MAX];
	size_t np = 0, nu = 0, i;
	bool root = false;
	git_oid tree, head, out;
	bool has_head;
	struct hlc stamp;
	int rc = 1, a;

	if (argc < 4) {
		fprintf(stderr, "usage: forge LEDGER KEYFILE BRANCH [options]\n");
		return 2;
	}
	for (i = 0; i < MAX_ITEMS; i++)
		buf_init(&data[i], 0);
	if (ledger_open(&l, argv[1]) < 0) {
		rc = die("open");
		goto out;
	}
	if (sig_key_load(&key, argv[2]) < 0) {
		rc = die("key");
		goto out;
	}
	if (ledger_ref_name(ref, argv[3]) < 0)
		snprintf(ref, sizeof(ref), "refs/heads/%s", argv[3]);
	has_head = git_reference_name_to_id(&head, l->repo, ref) == 0;
	for (a = 4; a < argc; a++) {
		const char *opt = argv[a], *val = a + 1 < argc ? argv[a + 1] : NULL;

		if (strcmp(opt, "--root") == 0 || strcmp(opt, "--keep-stamps") == 0) {
			root |= opt[2] == 'r';
			keep |= opt[2] == 'k';
			continue;
		}
		if (!val || nu >= MAX_ITEMS || np >= MAX_ITEMS) {
			fprintf(stderr, "forge: bad arguments at '%s'\n", opt);
			goto out;
		}
		a++;
		if (strcmp(opt, "--office") == 0) {
			office = val;
		} else if (strcmp(opt, "--stamp") == 0) {
			stamp_arg = val;
		} else if (strcmp(opt, "-m") == 0) {
			message = val;
		} else if (strcmp(opt, "--parent") == 0) {
			if (ledger_resolve(&parents[np++], l, val) < 0) {
				rc = die(val);
				goto out;
			}
		} else if (strcmp(opt, "--record") == 0) {
			const struct schema_type *t;
			json_t *rec = NULL;
			json_error_t e;

			if (!(rec = json_load_file(val, JSON_REJECT_DUPLICATES, &e))) {
				fprintf(stderr, "forge: %s: %s\n", val, e.text);
				goto out;
			}
			recs[nu] = rec; /* encoded once the stamp is known */
			if (ledger_type_of(&t, l, json_string_value(json_object_get(rec, "id"))) <
				0 ||
			    record_path(paths[nu], t->name,
					json_string_value(json_object_get(rec, "id"))) < 0) {
				rc = die(val);
				goto out;
			}
			memset(&up[nu], 0, sizeof(up[nu]));
			up[nu].action = GIT_TREE_UPDATE_UPSERT;
			nu++;
		} else if (strcmp(opt, "--raw") == 0 || strcmp(opt, "--delete") == 0) {
			const char *eq = strchr(val, '=');
			bool del = opt[2] == 'd';

			snprintf(paths[nu], sizeof(paths[nu]), "%.*s",
				 (int)(del || !eq ? strlen(val) : (size_t)(eq - val)), val);
			if (!del && (!eq || util_read_file(&data[nu], eq + 1, 0) < 0)) {
				rc = die(val);
				goto out;
			}
			memset(&up[nu], 0, sizeof(up[nu]));
			up[nu].action = del ? GIT_TREE_UPDATE_REMOVE : GIT_TREE_UPDATE_UPSERT;
			nu++;
		} else {
			fprintf(stderr, "forge: unknown option '%s'\n", opt);
			goto out;
		}
	}
	if (np == 0 && has_head && !root) {
		if (git_commit_lookup(&parents[0], l->repo, &head) < 0) {
			rc = die("head");
			goto out;
		}
		np = 1;
	}
	if (office)
		snprintf(l->office, sizeof(l->office), "%s", office);
	if (stamp_arg) {
		if (hlc_parse(&stamp, stamp_arg) < 0) {
			rc = die("--stamp");
			goto out;
		}
		snprintf(stamp_text, sizeof(stamp_text), "%s", stamp_arg);
	} else {
		struct hlc last = {0};

		if (np && ledger_commit_stamp(&last, parents[0]) < 0)
			memset(&last, 0, sizeof(last));
		hlc_next(&stamp, &last, util_now_ms(), l->office);
		hlc_format(stamp_text, &stamp);
	}
	for (i = 0; i < nu; i++) {
		if (recs[i] &&
		    ((!keep && json_object_set_new(recs[i], "hlc", json_string(stamp_text)) < 0) ||
		     record_encode(&data[i], recs[i]) < 0)) {
			rc = die("record");
			goto out;
		}
		up[i].path = paths[i];
		up[i].filemode = GIT_FILEMODE_BLOB;
		if (up[i].action == GIT_TREE_UPDATE_UPSERT &&
		    git_blob_create_from_buffer(&up[i].id, l->repo, data[i].ptr, data[i].len) < 0) {
			rc = die("blob");
			goto out;
		}
	}
	if (np && git_commit_tree(&base, parents[0]) < 0) {
		rc = die("tree");
		goto out;
	}
	if (git_tree_create_updated(&tree, l->repo, base, nu, up) < 0) {
		err_git(ERR_IO, "tree");
		rc = die("tree");
		goto out;
	}
	own = l->key;
	l->key = key;
	if (ledger_message(&msg, l, message, NULL, "forger", stamp_text) < 0 ||
	    ledger_commit_tree(&out, l, ref, has_head ? &head : NULL, &tree,
			       (const git_commit **)parents, np, msg.ptr, "forger", stamp.ms) < 0) {
		l->key = own;
		rc = die("commit");
		goto out;
	}
	l->key = own;
	printf("%s\n", git_oid_tostr_s(&out));
	rc = 0;
out:
	for (i = 0; i < MAX_ITEMS; i++) {
		json_decref(recs[i]);
		git_commit_free(parents[i]);
		buf_release(&data[i]);
	}
	buf_release(&msg);
	git_tree_free(base);
	sig_key_free(key);
	ledger_free(l);
	return rc;
}

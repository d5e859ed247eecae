/*
 * fuzz_sig: a fuzz target for SSHSIG parsing (storage/sig.c): an armored signature as it
 * comes in a commit's gpgsig header, and a public key line as in an allowed-signers
 * file. Nothing fuzzed is signed by a key, so nothing may verify.
 */
#include "config.h"

#include "err.h"
#include "fuzz.h"
#include "sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char signer[SIG_PUBKEY_LEN], pub[SIG_PUBKEY_LEN];
	static const char payload[] = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n";
	char *text = fuzz_strndup(data, size);
	struct buf out;
	int rc;

	rc = sig_verify(signer, (const char *)data, size, payload, sizeof(payload) - 1);
	FUZZ_ASSERT(rc < 0 && err_msg()[0], "an unsigned input never verifies, and says why");
	err_clear();
	if (sig_pubkey_parse(pub, text) == 0) {
		buf_init(&out, 0);
		FUZZ_ASSERT(sig_pubkey_format(&out, pub) == 0, "a parsed key formats");
		buf_release(&out);
	} else {
		FUZZ_ASSERT(err_msg()[0], "a refused key says why");
	}
	err_clear();
	free(text);
	return 0;
}

void fuzz_cleanup(void)
{
}

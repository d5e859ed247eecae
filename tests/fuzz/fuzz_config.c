/*
 * fuzz_config: a fuzz target for caseledgerd's configuration parser (daemon/dmn_config.c),
 * through the same path the daemon reads: each input is written to a scratch file and
 * loaded. A configuration that loads names a ledger, has every default filled in, and
 * bounds that make sense; a refused one says what was wrong.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dmn.h"
#include "err.h"
#include "fuzz.h"

static char fuzz_path[64];

static void fuzz_setup(void)
{
	int fd;

	snprintf(fuzz_path, sizeof(fuzz_path), "%s/fuzz_config.XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if ((fd = mkstemp(fuzz_path)) < 0)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmn_config c;
	FILE *f;

	if (!fuzz_path[0])
		fuzz_setup();
	if (!(f = fopen(fuzz_path, "wb")) || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	if (dmn_config_load(&c, fuzz_path) == 0) {
		FUZZ_ASSERT(c.ledger && c.key && c.control && c.name && c.parent_name,
			    "a loaded config has every path");
		FUZZ_ASSERT(c.backoff_max >= c.backoff_min, "backoff bounds are ordered");
		FUZZ_ASSERT(!(c.listen || c.parent) || (c.cert && c.ca),
			    "listening or syncing needs a certificate");
	} else {
		FUZZ_ASSERT(err_msg()[0], "a refused config says why");
	}
	dmn_config_release(&c);
	err_clear();
	return 0;
}

void fuzz_cleanup(void)
{
	if (fuzz_path[0])
		unlink(fuzz_path);
}

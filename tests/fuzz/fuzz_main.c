/*
 * fuzz_main.c: the main of a fuzz target built without libFuzzer (`make check`). It
 * replays every file of tests/fuzz/corpus/<FUZZ_NAME> (or the directory given as the
 * first argument): each file whole, cut at a spread of lengths (every length up to 8
 * bytes, then 16 more), and with 16 seeded sets of two bytes changed. The generator is
 * deterministic, so a failure is replayed exactly by running the program again.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static int read_file(unsigned char **out, size_t *len, const char *path)
{
	FILE *f = fopen(path, "rb");
	long sz;

	*out = NULL;
	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) < 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0 ||
	    !(*out = malloc((size_t)sz + 1)) || fread(*out, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		free(*out);
		*out = NULL;
		return -1;
	}
	fclose(f);
	*len = (size_t)sz;
	return 0;
}

/* One corpus file: whole, cut, and mutated; *runs counts the inputs. */
static int replay(const char *path, size_t *runs)
{
	uint32_t seed = 2463534242u;
	unsigned char *data, *copy;
	size_t len, cut, i, step;

	if (read_file(&data, &len, path) < 0) {
		fprintf(stderr, "fuzz_%s: cannot read '%s'\n", FUZZ_NAME, path);
		return 1;
	}
	if (!(copy = malloc(len + 1)))
		abort();
	LLVMFuzzerTestOneInput(data, len);
	(*runs)++;
	step = len > 16 ? len / 16 : 1;
	for (cut = 0; cut < len; cut += cut < 8 ? 1 : step) {
		memcpy(copy, data, cut);
		LLVMFuzzerTestOneInput(copy, cut);
		(*runs)++;
	}
	for (i = 0; i < 16 && len > 0; i++) {
		memcpy(copy, data, len);
		copy[next_rand(&seed) % len] ^= (unsigned char)(1u << (next_rand(&seed) % 8));
		copy[next_rand(&seed) % len] = (unsigned char)next_rand(&seed);
		LLVMFuzzerTestOneInput(copy, len);
		(*runs)++;
	}
	free(data);
	free(copy);
	return 0;
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_srcdir");
	char dir[4096], path[8400];
	size_t runs = 0, files = 0;
	struct dirent *e;
	int rc = 0;
	DIR *d;

	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top ? top : ".", FUZZ_NAME);
	if (!(d = opendir(dir))) {
		fprintf(stderr, "fuzz_%s: no corpus at '%s'\n", FUZZ_NAME, dir);
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
		fprintf(stderr, "fuzz_%s: empty corpus at '%s'\n", FUZZ_NAME, dir);
		rc = 1;
	}
	printf("fuzz_%s: %zu inputs from %zu corpus files\n", FUZZ_NAME, runs, files);
	fuzz_cleanup();
	return rc;
}

/* Cache lines per iteration, from a `valgrind --tool=lackey --trace-mem=yes`
 * log on stdin: lackey_lines MARKER_HEX. The log is cut where an instruction
 * at MARKER (the first of the loop's op()) is fetched; for each segment, the
 * distinct 64-byte lines of code ("I" records) and of data (" L", " S",
 * " M") it touched. Prints "segments N" then one "code data" pair per
 * segment; bench/run.py takes the median. A set per segment, cleared by
 * generation: a curl loop logs ~400,000 records per iteration. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SET_BITS 20 /* 1 Mi entries: far more lines than one iteration touches */
#define SET_SIZE (1u << SET_BITS)

struct set {
	uint64_t *key;
	uint32_t *gen;
	uint32_t cur;
	size_t n;
};

static void set_init(struct set *s)
{
	s->key = calloc(SET_SIZE, sizeof *s->key);
	s->gen = calloc(SET_SIZE, sizeof *s->gen);
	if (!s->key || !s->gen) {
		perror("lackey_lines");
		exit(2);
	}
	s->cur = 1;
}

static void set_clear(struct set *s)
{
	s->cur++;
	s->n = 0;
}

static void set_add(struct set *s, uint64_t line)
{
	uint32_t i = (uint32_t)((line * 0x9e3779b97f4a7c15ull) >> (64 - SET_BITS));
	while (s->gen[i] == s->cur) {
		if (s->key[i] == line)
			return;
		i = (i + 1) & (SET_SIZE - 1);
	}
	if (s->n >= SET_SIZE / 2) /* never in practice: keep the probe loop finite (the count stops) */
		return;
	s->gen[i] = s->cur;
	s->key[i] = line;
	s->n++;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: lackey_lines MARKER_HEX < lackey.log\n");
		return 2;
	}
	uint64_t marker = strtoull(argv[1], NULL, 16);
	struct set code, data;
	set_init(&code);
	set_init(&data);
	char ln[256];
	int started = 0;
	size_t segs = 0, cap = 1024;
	size_t(*out)[2] = malloc(cap * sizeof *out);
	if (!out) {
		perror("lackey_lines");
		return 2;
	}
	while (fgets(ln, sizeof ln, stdin)) {
		/* "I  0401b770,1" or " S 1fff000630,8" */
		if (ln[0] == '=' || strlen(ln) < 4)
			continue;
		char *end;
		uint64_t a = strtoull(ln + 3, &end, 16);
		if (*end != ',')
			continue;
		uint64_t n = strtoull(end + 1, NULL, 10);
		struct set *s = &data;
		if (ln[0] == 'I') {
			if (a == marker) {
				if (started) {
					if (segs == cap && !(out = realloc(out, (cap *= 2) * sizeof *out))) {
						perror("lackey_lines");
						return 2;
					}
					out[segs][0] = code.n;
					out[segs][1] = data.n;
					segs++;
				}
				started = 1;
				set_clear(&code);
				set_clear(&data);
			}
			s = &code;
		}
		set_add(s, a >> 6);
		if (n && (a + n - 1) >> 6 != a >> 6)
			set_add(s, (a + n - 1) >> 6);
	}
	printf("segments %zu\n", segs);
	for (size_t i = 0; i < segs; i++)
		printf("%zu %zu\n", out[i][0], out[i][1]);
	return 0;
}

/* db.query.text for Redis commands: argv and hiredis formats, captured
 * (application thread) then rendered (exporter thread). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../hooks/redis_cmd.h"

static int fmt(struct at_redis_cmd *c, int show, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	at_redis_cmd_init(c, show);
	int rc = at_redis_cmd_format(c, f, ap);
	va_end(ap);
	return rc;
}

static void argv_key_shown_values_hidden(void **state)
{
	struct at_redis_cmd c;
	const char *argv[] = {"set", "user:1", "secret value"};
	at_redis_cmd_init(&c, 0);
	at_redis_cmd_argv(&c, 3, argv, NULL);
	assert_string_equal(c.op, "SET");
	assert_string_equal(c.text, "SET user:1 ?");
	assert_int_equal(c.argc, 3);
	assert_int_equal(c.kind, AT_REDIS_PLAIN);

	at_redis_cmd_init(&c, 1);
	at_redis_cmd_argv(&c, 3, argv, NULL);
	assert_string_equal(c.text, "SET user:1 \"secret value\"");
}

static void argv_binary_lengths_escaped(void **state)
{
	struct at_redis_cmd c;
	const char *argv[] = {"GET", "a\0b\"\xff"};
	size_t len[] = {3, 5};
	at_redis_cmd_init(&c, 0);
	at_redis_cmd_argv(&c, 2, argv, len);
	assert_string_equal(c.text, "GET \"a\\x00b\\\"\\xff\"");
}

static void format_interpolation(void **state)
{
	struct at_redis_cmd c;
	assert_int_equal(fmt(&c, 1, "hset %s f%d %b", "h:1", 42, "v\0w", (size_t)3), 0);
	assert_string_equal(c.op, "HSET");
	assert_string_equal(c.text, "HSET h:1 f42 \"v\\x00w\"");
	assert_int_equal(c.argc, 4);

	/* an interpolated value with a space stays one argument */
	assert_int_equal(fmt(&c, 1, "SET k%lld %s", 7LL, "a b"), 0);
	assert_string_equal(c.text, "SET k7 \"a b\"");

	assert_int_equal(fmt(&c, 1, "SET %s %.2f%%  %hhd %ld %05u", "k", 1.5, 3, 9L, 12u), 0);
	assert_string_equal(c.text, "SET k 1.50% 3 9 00012");

	/* values beyond the key hidden by default */
	assert_int_equal(fmt(&c, 0, "SET %s %s EX %d", "k", "v", 10), 0);
	assert_string_equal(c.text, "SET k ? ? ?");

	/* an empty interpolated argument is still an argument */
	assert_int_equal(fmt(&c, 1, "SET %s %s", "k", ""), 0);
	assert_string_equal(c.text, "SET k \"\"");
	assert_int_equal(c.argc, 3);
}

static void format_rejected_like_hiredis(void **state)
{
	struct at_redis_cmd c;
	assert_int_equal(fmt(&c, 0, "GET %zu", (size_t)1), -1);
	assert_int_equal(fmt(&c, 0, "GET %p", (void *)&c), -1);
}

static void secrets_and_kinds(void **state)
{
	struct at_redis_cmd c;
	assert_int_equal(fmt(&c, 1, "AUTH %s %s", "user", "pw"), 0);
	assert_string_equal(c.text, "AUTH ? ?");
	assert_int_equal(c.kind, AT_REDIS_AUTH);

	assert_int_equal(fmt(&c, 0, "select %d", 3), 0);
	assert_int_equal(c.kind, AT_REDIS_SELECT);
	assert_int_equal(c.select_db, 3);
	assert_string_equal(c.op, "SELECT");

	assert_int_equal(fmt(&c, 0, "SELECT x"), 0);
	assert_int_equal(c.select_db, -1);

	assert_int_equal(at_redis_fmt_kind("  Subscribe %s"), AT_REDIS_PUBSUB);
	assert_int_equal(at_redis_fmt_kind("MONITOR"), AT_REDIS_PUBSUB);
	assert_int_equal(at_redis_fmt_kind("SELECT %d"), AT_REDIS_SELECT);
	assert_int_equal(at_redis_fmt_kind("%s k"), AT_REDIS_UNKNOWN);
	assert_int_equal(at_redis_fmt_kind("GET k"), AT_REDIS_PLAIN);
	assert_int_equal(at_redis_kind_of("SELECTX", 7), AT_REDIS_PLAIN);
}

static void long_text_truncated(void **state)
{
	struct at_redis_cmd c;
	char big[1000];
	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(fmt(&c, 1, "SET %s %s", big, "v"), 0);
	assert_true(c.full);
	assert_int_equal(c.text_len, AT_REDIS_TEXT_MAX - 1);
	assert_int_equal(strlen(c.text), c.text_len);
	assert_memory_equal(c.text + c.text_len - 3, "...", 3);
	assert_memory_equal(c.text, "SET kkk", 7);

	/* many arguments: the text stops, the parse does not overrun */
	const char *argv[200];
	for (int i = 0; i < 200; i++)
		argv[i] = "value";
	argv[0] = "RPUSH";
	at_redis_cmd_init(&c, 1);
	at_redis_cmd_argv(&c, 200, argv, NULL);
	assert_true(c.full);
	assert_int_equal(strlen(c.text), AT_REDIS_TEXT_MAX - 1);
}

static void resp_formatted(void **state)
{
	struct at_redis_cmd c;
	static const char cmd[] = "*3\r\n$3\r\nset\r\n$3\r\nk:1\r\n$4\r\na\r\nb\r\n";
	at_redis_cmd_init(&c, 1);
	assert_int_equal(at_redis_cmd_resp(&c, cmd, sizeof cmd - 1), 0);
	assert_string_equal(c.op, "SET");
	assert_string_equal(c.text, "SET k:1 \"a\\x0d\\x0ab\"");
	assert_int_equal(c.argc, 3);

	at_redis_cmd_init(&c, 0);
	assert_int_equal(at_redis_cmd_resp(&c, "PING\r\n", 6), -1);
	at_redis_cmd_init(&c, 0);
	assert_int_equal(at_redis_cmd_resp(&c, cmd, 20), -1); /* cut inside an argument */
	at_redis_cmd_init(&c, 0);
	assert_int_equal(at_redis_cmd_resp(&c, "*1\r\n$99\r\nGET\r\n", 15), -1);
}

/* The capture keeps what the text can show: a run of hidden values is one
 * counted entry, a secret never reaches the blob. */
static void capture_hides_values(void **state)
{
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	const char *argv[1000];
	for (int i = 0; i < 1000; i++)
		argv[i] = "a-long-value-that-is-never-shown";
	argv[0] = "rpush";
	argv[1] = "list:1";
	assert_int_equal(at_redis_cap_init(&cap, blob, sizeof blob, 0, "db.local", 8, 6380, 4), 0);
	at_redis_cap_argv(&cap, 1000, argv, NULL);
	assert_true(cap.len < 64); /* head, address, two arguments and one run */
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_memory_equal(c.text, "RPUSH list:1 ? ? ?", 18);
	assert_true(c.full);
	assert_int_equal(c.text_len, AT_REDIS_TEXT_MAX - 1);
	assert_memory_equal(c.text + c.text_len - 3, "...", 3);
	assert_int_equal(ci.addr_len, 8);
	assert_memory_equal(ci.addr, "db.local", 8);
	assert_int_equal(ci.port, 6380);
	assert_int_equal(ci.db, 4);
	at_redis_cap_set_db(blob, 11);
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_int_equal(ci.db, 11);
	at_redis_cap_set_db(blob, -1);
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_int_equal(ci.db, -1);

	/* AUTH's arguments are not copied, whatever AUTOTRACE_REDIS_ARGS says */
	const char *auth[] = {"AUTH", "admin", "hunter2"};
	at_redis_cap_init(&cap, blob, sizeof blob, 1, NULL, 0, 0, -1);
	at_redis_cap_argv(&cap, 3, auth, NULL);
	assert_null(memmem(blob, cap.len, "hunter2", 7));
	assert_null(memmem(blob, cap.len, "admin", 5));
	assert_int_equal(cap.kind, AT_REDIS_AUTH);
	at_redis_blob_read(&c, &ci, blob, cap.len);
	assert_string_equal(c.text, "AUTH ? ?");
	assert_int_equal(ci.addr_len, 0);
	assert_int_equal(ci.port, 0);
}

/* A blob with little room (the span's arena nearly full) is cut, marked so,
 * and the text says so; nothing is written past the room. */
static void capture_in_little_room(void **state)
{
	char blob[64];
	struct at_redis_cap cap;
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	memset(blob, 0x5a, sizeof blob);
	const char *argv[] = {"SET", "a-key-longer-than-the-room-left-for-it", "v"};
	assert_int_equal(at_redis_cap_init(&cap, blob, 30, 1, "h", 1, 1, -1), 0);
	at_redis_cap_argv(&cap, 3, argv, NULL);
	assert_true(cap.len <= 30);
	for (size_t i = 30; i < sizeof blob; i++)
		assert_int_equal(blob[i], 0x5a);
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_memory_equal(c.text, "SET a-key", 9);
	assert_memory_equal(c.text + c.text_len - 3, "...", 3);
	/* no room even for the head and the address */
	assert_int_equal(at_redis_cap_init(&cap, blob, 9, 0, "host", 4, 1, -1), -1);
}

/* The exporter reads blobs it did not write only if they are well formed. */
static void corrupt_blob_rejected(void **state)
{
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	const char *argv[] = {"GET", "k"};
	at_redis_cap_init(&cap, blob, sizeof blob, 0, "host", 4, 1, -1);
	at_redis_cap_argv(&cap, 2, argv, NULL);
	for (size_t n = 0; n < cap.len; n++) {
		int rc = at_redis_blob_read(&c, &ci, blob, n);
		if (rc == 0) /* only cuts between whole entries read */
			assert_true(n == AT_REDIS_CAP_HEAD + 4 || n == AT_REDIS_CAP_HEAD + 4 + 6);
	}
	blob[AT_REDIS_CAP_HEAD + 4 + 1] = 100; /* an entry longer than the blob */
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), -1);
	blob[1] = (char)200; /* an address longer than the blob */
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(argv_key_shown_values_hidden),
	    cmocka_unit_test(argv_binary_lengths_escaped),
	    cmocka_unit_test(format_interpolation),
	    cmocka_unit_test(format_rejected_like_hiredis),
	    cmocka_unit_test(secrets_and_kinds),
	    cmocka_unit_test(long_text_truncated),
	    cmocka_unit_test(resp_formatted),
	    cmocka_unit_test(capture_hides_values),
	    cmocka_unit_test(capture_in_little_room),
	    cmocka_unit_test(corrupt_blob_rejected),
	};
	return cmocka_run_group_tests_name("redis_cmd", tests, NULL, NULL);
}

/* C++ names for code.function.name (preload/demangle.c): what libstdc++'s
 * demangler gives, cut to the qualified name without parameters, return
 * type or qualifiers. Loads libstdc++ itself (may_load), as an exporter
 * process does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <string.h>

#include "../../preload/demangle.h"

static void expect(const char *mangled, const char *want)
{
	char out[128];
	assert_int_equal(at_demangle(mangled, out, sizeof out, 1), 1);
	assert_string_equal(out, want);
}

static void names(void **state)
{
	if (!dlopen("libstdc++.so.6", RTLD_NOW | RTLD_NOLOAD) &&
	    !dlopen("libstdc++.so.6", RTLD_NOW)) {
		skip();
	}
	expect("_ZN4shop6Client5fetchEv", "shop::Client::fetch");
	expect("_ZN4shop6Client5fetchEi", "shop::Client::fetch"); /* an overload */
	expect("_ZNK1A3getEv", "A::get");                          /* const */
	expect("_ZN4shop3getIlEET_PKc", "shop::get<long>");          /* its return type */
	expect("_Z4makeIiESt6vectorIT_SaIS1_EEv", "make<int>");      /* a space in it */
	expect("_ZN4shop6ClientclEi", "shop::Client::operator()");
	expect("_ZlsRSoRK1A", "operator<<");
	expect("_ZN1AcviEv", "A::operator int");
	expect("_ZN12_GLOBAL__N_16directEPKc", "(anonymous namespace)::direct");
	expect("_ZZ4mainENKUlvE_clEv", "main::{lambda()#1}::operator()");
	/* in a function with parameters, or none, its own kept: a lambda's,
	 * a local class's, in a const method, in a template */
	expect("_ZZ1fiENKUlvE_clEv", "f(int)::{lambda()#1}::operator()");
	expect("_ZZ1fvENKUlvE_clEv", "f()::{lambda()#1}::operator()");
	expect("_ZZN2ns1S3runEiENKUliE_clEi", "ns::S::run(int)::{lambda(int)#1}::operator()");
	expect("_ZZNK2ns1S3runEiENKUlvE_clEv", "ns::S::run(int) const::{lambda()#1}::operator()");
	expect("_ZZ1fiEN1B1hEv", "f(int)::B::h");
	expect("_ZZ1fIiEvT_ENKUlvE_clEv", "f<int>(int)::{lambda()#1}::operator()");
	expect("_ZN1BIiE1fIcEEvT_", "B<int>::f<char>");
	/* in an operator: its parameters kept as any function's */
	expect("_ZZNK1FclEiENKUlvE_clEv", "F::operator()(int) const::{lambda()#1}::operator()");
	expect("_ZZN1AplERKS_EN1B1hEv", "A::operator+(A const&)::B::h");
	expect("_ZZN1AcviEvENKUlvE_clEv", "A::operator int()::{lambda()#1}::operator()");
}

static void not_mangled(void **state)
{
	char out[16] = "x";
	assert_int_equal(at_demangle("main", out, sizeof out, 1), 0);
	assert_int_equal(at_demangle("_Zqqq", out, sizeof out, 1), 0);
	assert_int_equal(at_demangle(NULL, out, sizeof out, 1), 0);
	/* cut to the buffer */
	if (at_demangle("_ZN4shop6Client5fetchEv", out, 8, 1))
		assert_string_equal(out, "shop::C");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(names),
	    cmocka_unit_test(not_mangled),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

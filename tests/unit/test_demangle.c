/* C++ names for code.function.name (preload/demangle.c): what libstdc++'s
 * demangler gives, cut to the qualified name without parameters, return
 * type or qualifiers. Loads libstdc++ itself (may_load), as an exporter
 * process does. Rust names (preload/demangle_rust.c): what binutils'
 * c++filt -s rust gives for symbols of rustc 1.95's programs, with the
 * crates' and the legacy symbols' hashes taken out. */
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
	char out[256];
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

static void rust_names(void **state)
{
	/* legacy: the hash is left out, escapes and ".." decoded */
	expect("_ZN3srv6handle17hdd611097b8935434E", "srv::handle");
	expect("_ZN5alloc7raw_vec20RawVecInner$LT$A$GT$7reserve21do_reserve_and_handle"
	       "17hf7c68354673ffbabE",
	       "alloc::raw_vec::RawVecInner<A>::reserve::do_reserve_and_handle");
	expect("_ZN11rust_client4main28_$u7b$$u7b$closure$u7d$$u7d$17h865d48a4b0804ad4E",
	       "rust_client::main::{{closure}}");
	expect("_ZN58_$LT$rust_client..Client$u20$as$u20$rust_client..Fetch$GT$5fetch"
	       "17h45c5bd865ab959c1E",
	       "<rust_client::Client as rust_client::Fetch>::fetch");
	/* v0: an inherent impl, a trait impl, a const generic, a closure,
	 * backrefs, a tuple, a reference, dyn with an associated type */
	expect("_RNvMsa_NtNtNtNtCsjrHSEGnQ3l9_3std3sys3net10connection6socketNtB5_9UdpSocket4send",
	       "<std::sys::net::connection::socket::UdpSocket>::send");
	expect("_RNvXs0_NvNtCsjrHSEGnQ3l9_3std9panicking13panic_handlerNtB5_19FormatStringPayload"
	       "NtNtCsgEmfK2I1SDS_4core3fmt7Display3fmt",
	       "<std::panicking::panic_handler::FormatStringPayload as core::fmt::Display>::fmt");
	expect("_RINvCs1JdvdkrJisN_11rust_client3getKj2_EB2_", "rust_client::get::<2>");
	expect("_RINvMNtNtCsjrHSEGnQ3l9_3std3net3tcpNtB3_9TcpStream7connectTRetEE"
	       "Cs1JdvdkrJisN_11rust_client",
	       "<std::net::tcp::TcpStream>::connect::<(&str, u16)>");
	expect("_RINvMNtCsgEmfK2I1SDS_4core6optionINtB3_6OptionReE11map_or_elseNtNtCslNYArtu3iFV_"
	       "5alloc6string6StringNCNvNtB12_3fmt6format0NvYeNtNtB12_6borrow7ToOwned8to_ownedE"
	       "Cs1JdvdkrJisN_11rust_client",
	       "<core::option::Option<&str>>::map_or_else::<alloc::string::String, "
	       "alloc::fmt::format::{closure#0}, <str as alloc::borrow::ToOwned>::to_owned>");
	char out[256];
	assert_int_equal(
	    at_demangle("_RINvNtCsgEmfK2I1SDS_4core3ptr13drop_in_placeINtNtCslNYArtu3iFV_"
	                "5alloc5boxed3BoxDNtNtNtB4_3ops8function6FnOnceEL_EEB1i_",
	                out, sizeof out, 0),
	    1);
	assert_string_equal(out, "core::ptr::drop_in_place::<alloc::boxed::Box<dyn "
	                         "core::ops::function::FnOnce>>");
}

static void rust_not_names(void **state)
{
	char out[64] = "x";
	/* cut short, a backref forward or to itself, a version, punycode,
	 * a legacy hash too short, trailing bytes */
	const char *bad[] = {
	    "_RNvMsa_NtNtNtNtCsjrHSEGnQ3l9_3std3sys",
	    "_RNvB9_4send",
	    "_RNvB_4send",
	    "_R0NvC1a1b",
	    "_RNvCs1_u3caf1f",
	    "_ZN3srv6handle17hdd611097b89354E",
	    "_RNvC1a1bZ",
	    "_R",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(at_demangle_rust(bad[i], out, sizeof out), 0);
	/* cut to the buffer, NUL-terminated */
	assert_int_equal(at_demangle_rust("_ZN3srv6handle17hdd611097b8935434E", out, 6), 1);
	assert_string_equal(out, "srv::");
	/* nested deeper than the limit */
	char deep[1024] = "_R";
	for (int i = 0; i < 200; i++)
		strcat(deep, "NvNv");
	assert_int_equal(at_demangle_rust(deep, out, sizeof out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(names),
	    cmocka_unit_test(not_mangled),
	    cmocka_unit_test(rust_names),
	    cmocka_unit_test(rust_not_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#!/usr/bin/perl
# What an exporter thread costs a single-threaded program outside its traced
# calls (docs/exporters.md, "Exporter process"): one HTTP request on a plain
# socket (one span: the exporter starts), then string and hash work that
# mallocs and frees all the time and makes no traced call. Count the main
# thread's instructions:
#   valgrind --tool=callgrind --separate-threads=yes perl bench/mt_tax.pl PORT [N]
# bare, and with LD_PRELOAD=$BUILD/libautotrace.so (AUTOTRACE_EXPORTER_MODE
# thread or process), against any HTTP server on 127.0.0.1:PORT
# ($BUILD/bench/httpd 0 prints one's port); compare the totals of the -01
# files.
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $n) = (@ARGV, 100000);
my $s = IO::Socket::INET->new("127.0.0.1:$port") or die "connect: $!";
print $s "GET / HTTP/1.0\r\nHost: x\r\n\r\n";
sysread($s, my $buf, 65536);
close $s;
my (%h, $t);
for my $i (1 .. $n) {
    my $x = "a" x ($i % 200);
    my @a = split //, substr($x, 0, 8);
    $h{$i % 5000} = join(",", @a) . $i;
    $t += length($h{$i % 777} // "");
}
print "$t\n";

#!/usr/bin/perl
# A Perl DBI program (DBD::mysql, which dlopen's libmariadb from its XS
# module) that knows nothing of tracing. Connects with MYSQL_TEST_HOST,
# MYSQL_TEST_PORT, MYSQL_TEST_DB as root; prints one line per statement.
use strict;
use warnings;
use DBI;

my $dsn = "DBI:mysql:database=$ENV{MYSQL_TEST_DB};host=$ENV{MYSQL_TEST_HOST};"
	. ($ENV{MYSQL_TEST_SERVER_PREPARE} ? "mysql_server_prepare=1;" : "")
	. "port=$ENV{MYSQL_TEST_PORT}";
my $dbh = DBI->connect($dsn, "root", "", {RaiseError => 0, PrintError => 0})
	or die "connect: $DBI::errstr\n";
$dbh->do("CREATE TABLE IF NOT EXISTS perl_items (id INT PRIMARY KEY, name VARCHAR(40))")
	or die $dbh->errstr;
$dbh->do("DELETE FROM perl_items") or die $dbh->errstr;
# placeholders are filled in by DBD::mysql on the client: the server sees literals
my $ins = $dbh->prepare("INSERT INTO perl_items (id, name) VALUES (?, ?)");
$ins->execute(1, "O'Reilly") or die $ins->errstr;
$ins->execute(2, "secret-perl-value") or die $ins->errstr;
my $sel = $dbh->prepare("SELECT name FROM perl_items WHERE id IN (1, 2) ORDER BY id");
$sel->execute or die $sel->errstr;
while (my @row = $sel->fetchrow_array) {
	print "row $row[0]\n";
}
if ($dbh->do("SELECT * FROM perl_missing")) {
	print "unexpected ok\n";
} else {
	print "err ", $dbh->err, "\n";
}
$dbh->disconnect;

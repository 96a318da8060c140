// LIBS: -I/usr/include/mariadb -I/usr/include/mariadb/mysql -l:libmariadb.a -lssl -lcrypto -lz -lpthread -ldl
/* mysql_client.c with the MariaDB client library linked in statically: no
 * libmariadb for the shim's hook to interpose, the protocol goes out through
 * libc's send/recv/poll (libmariadb's vio layer). The same steps and output;
 * the tests compare its spans (read off the wire) with mysql_client's (the
 * libmariadb hook's). */
#include "mysql_client.c"

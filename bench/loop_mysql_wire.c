/* loop_mysql with the MariaDB client library linked in (its static
 * library): no mysql_* call the shim can interpose, so the statements are
 * followed on the wire (hooks/mysql_wire.c), as for the mariadb CLI.
 * loop_mysql_wire N PORT */
// LIBS: -I/usr/include/mariadb -l:libmariadb.a -lssl -lcrypto -lz -ldl
#include "loop_mysql.c"

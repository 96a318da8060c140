/* loop_redis with hiredis linked in (its static library): no hiredis call
 * the shim can interpose, so the commands are followed on the wire
 * (hooks/resp_wire.c), as for redis-cli. loop_redis_wire N PORT */
// LIBS: -l:libhiredis.a
#include "loop_redis.c"

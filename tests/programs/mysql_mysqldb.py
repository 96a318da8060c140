"""A Python MySQLdb program (its _mysql extension module links libmariadb
and is loaded by dlopen) that knows nothing of tracing. Connects with
MYSQL_TEST_HOST / MYSQL_TEST_PORT, or MYSQL_TEST_SOCKET, as root to
MYSQL_TEST_DB; prints one line per statement."""
import os

import MySQLdb

kw = {"user": "root", "db": os.environ["MYSQL_TEST_DB"]}
if os.environ.get("MYSQL_TEST_SOCKET"):
    kw["unix_socket"] = os.environ["MYSQL_TEST_SOCKET"]
else:
    kw["host"] = os.environ["MYSQL_TEST_HOST"]
    kw["port"] = int(os.environ["MYSQL_TEST_PORT"])
conn = MySQLdb.connect(**kw)
cur = conn.cursor()
cur.execute("CREATE TABLE IF NOT EXISTS py_items (id INT PRIMARY KEY, name VARCHAR(40))")
cur.execute("DELETE FROM py_items")
cur.executemany("INSERT INTO py_items (id, name) VALUES (%s, %s)",
                [(1, "secret-py-value"), (2, "x\\'y")])
conn.commit()
cur.execute("SELECT name FROM py_items WHERE id = %s", (1,))
print("row", cur.fetchone()[0])
try:
    cur.execute("UPDATE py_missing SET a = 1")
    print("unexpected ok")
except MySQLdb.Error as e:
    print("err", e.args[0])
conn.close()

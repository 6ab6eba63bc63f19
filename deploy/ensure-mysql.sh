#!/usr/bin/env bash
# Make sure MariaDB/MySQL answers on 127.0.0.1:3306 before the tests run; start it if not.
# With CI=true a server that cannot be started is a failure (the MySQL tests must run there);
# elsewhere the MySQL tests are skipped with a message.
set -u
host=${COINLSTM_TEST_MYSQL_HOST:-127.0.0.1}
port=${COINLSTM_TEST_MYSQL_PORT:-3306}

ping_server() {
  python3 - "$host" "$port" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

if ping_server; then
  echo "MySQL/MariaDB is up on $host:$port"
  exit 0
fi
echo "MySQL/MariaDB is not answering on $host:$port; starting it"
if [ -x /usr/sbin/mariadbd ]; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
elif command -v service >/dev/null 2>&1; then
  service mariadb start || service mysql start
fi
for _ in $(seq 1 60); do
  if ping_server; then echo "MySQL/MariaDB started"; exit 0; fi
  sleep 1
done
if [ "${CI:-}" = "true" ]; then
  echo "error: MySQL/MariaDB could not be started on $host:$port (CI needs it)" >&2
  exit 1
fi
echo "warning: no MySQL/MariaDB on $host:$port; the MySQL tests will be skipped" >&2
exit 0

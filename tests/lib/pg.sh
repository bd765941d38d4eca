#!/bin/sh
# A throwaway PostgreSQL for tests, on 127.0.0.1 only:
#   pg.sh start DIR   initdb in DIR/data, start it on a free port, create
#                     database coffre; prints postgresql://coffre@127.0.0.1:PORT/coffre
#   pg.sh stop DIR    stop it (DIR stays for its log, DIR/pg.log)
# The server refuses to run as root: as root it runs as user postgres.
# Exit 77 (a skip) with the reason on stderr when PostgreSQL is missing.
set -eu
cmd=$1 dir=$2
bin=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
	echo "no PostgreSQL server binaries (Debian package postgresql)" >&2
	exit 77
fi
as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
case $cmd in
start)
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		echo "running as root and there is no user postgres to run PostgreSQL" >&2
		exit 77
	fi
	mkdir -p "$dir/data"
	chmod 755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres "$dir" "$dir/data"
	as "$bin/initdb" -D "$dir/data" -A trust -U coffre >"$dir/initdb.log" 2>&1
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	as "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/pg.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $port -k $dir/data -c fsync=off -c max_connections=200" \
		start >/dev/null
	echo "$port" >"$dir/port"
	"$bin/createdb" -h 127.0.0.1 -p "$port" -U coffre coffre
	echo "postgresql://coffre@127.0.0.1:$port/coffre"
	;;
stop)
	[ -f "$dir/data/postmaster.pid" ] || exit 0
	as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	;;
*)
	echo "usage: pg.sh start|stop DIR" >&2
	exit 2
	;;
esac

#!/bin/sh
# Command agent of the bondstrap test initramfs, on the second serial port.
#
# The host sends one request a line:
#   RUN <id> <timeout seconds> <script, base64>
# and the agent runs the script with sh, stdin from /dev/null, killed after the
# timeout, and answers:
#   BEGIN <id>
#   <stdout, base64>
#   STDERR <id>
#   <stderr, base64>
#   END <id> <exit status>
# Base64 keeps any byte of output from being taken for a marker. Background jobs that
# outlive their script must redirect their output: the agent reuses its files.
tty=${BONDSTRAP_AGENT_TTY:-/dev/ttyS1}
stty -F "$tty" raw -echo || exit 1
exec <"$tty" >"$tty"
dir=/run/bondstrap-agent
mkdir -p "$dir"
echo "BONDSTRAP-AGENT-READY $(cut -d' ' -f1 /proc/uptime)"
while read -r verb id tmo script; do
	if [ "$verb" != RUN ]; then
		echo "BAD $verb"
		continue
	fi
	echo "$script" | base64 -d >"$dir/cmd"
	timeout -s KILL "$tmo" sh "$dir/cmd" </dev/null >"$dir/out" 2>"$dir/err"
	rc=$?
	echo "BEGIN $id"
	base64 "$dir/out"
	echo "STDERR $id"
	base64 "$dir/err"
	echo "END $id $rc"
done

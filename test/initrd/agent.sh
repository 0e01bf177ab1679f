#!/bin/sh
# Command agent of the bondstrap test initramfs, on the second serial port.
#
# The host sends a request line and the script:
#   RUN <id> <timeout seconds> <script length in bytes>
#   <script>
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
# read(1) takes the request line a byte at a time, so it never reads into the script;
# dd then takes the script in blocks (a byte a syscall is slow under emulation).
while read -r verb id tmo len; do
	if [ "$verb" != RUN ]; then
		echo "BAD $verb"
		continue
	fi
	if [ "$len" -gt 0 ]; then
		dd of="$dir/cmd" bs="$len" count=1 iflag=fullblock 2>/dev/null
	else
		: >"$dir/cmd"
	fi
	timeout -s KILL "$tmo" sh "$dir/cmd" </dev/null >"$dir/out" 2>"$dir/err"
	rc=$?
	echo "BEGIN $id"
	base64 "$dir/out"
	echo "STDERR $id"
	base64 "$dir/err"
	echo "END $id $rc"
done

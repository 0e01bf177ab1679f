#!/bin/sh
# dracut initqueue/finished hook of the bondstrap module: the initqueue is not done
# until bondstrap.sh (initqueue/settled) has run.
[ -e /run/bondstrap/initramfs.done ]

// Package e2e holds bondstrap's end-to-end tests: each boots a QEMU VM through
// test/vm and asserts on what the guest reports.
//
// They need root and a machine prepared by test/setup.sh (run automatically when
// something is missing). They skip only under -short; otherwise a VM that cannot
// boot fails the test.
package e2e

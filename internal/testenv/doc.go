// Package testenv finds the real servers that tests need, started by the
// repository's scripts (scripts/pg.sh). A test that needs one and cannot
// find it is skipped locally with a message saying how to start it, and
// fails when WARDEN_TEST_REQUIRE=1 (as in `make test` and CI).
package testenv

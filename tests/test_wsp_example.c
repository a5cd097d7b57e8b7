/* SPDX-License-Identifier: MIT */
/*
 * Runs examples/wsp_example.c as a test (SAN_TEST_TRANSPORTS: over TCP and
 * over Unix sockets).
 *
 * The example is compiled into this program (WSP_EXAMPLE_NO_MAIN drops its
 * main) rather than exec'd: no dependence on where the build puts the
 * example binary, and the harness can check this process for leaks after
 * the example's listener side has run in it. The example forks its
 * connector itself, before opening any provider, as the harness requires.
 */
#define WSP_EXAMPLE_NO_MAIN
#include "../examples/wsp_example.c"

#include "harness.h"

int main(void)
{
	char addr[256];

	san_test_start(60);
	CHECK_RC(wsp_example_run(san_test_listen_addr(addr, sizeof(addr))), 0);
	san_test_check_leaks();
	return 0;
}

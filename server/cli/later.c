/*
 * later: the commands whose libauth modules do not exist yet. They are in
 * the command table so that `civicid --help` shows the whole shape of the
 * tool, and they fail loudly (exit 1) rather than pretend to work.
 */
#include "cli.h"

#include <stdio.h>

static int not_yet(const char *cmd, const char *what)
{
	fprintf(stderr, "civicid %s: not available in this version: %s\n", cmd, what);
	return 1;
}

int cid_cli_audit(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return not_yet("audit", "the audit log comes with issue #4");
}

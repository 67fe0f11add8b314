/*
 * console_endpoints: the console's rows of the endpoint table (endpoints.h).
 * A file of its own because the rows name every page file's function while
 * those files call into console.c: beside the pages' helpers the rows would
 * make the console's files depend on each other in a circle.
 */
#include "console_int.h"

/* path, fn, get, post, page, where it runs (slow: a scan of the whole log, or argon2id), discovery
 */
static const struct cid_endpoint endpoints[] = {
    {CONSOLE_LOGIN, cid_console_login, true, true, true, CID_RUN_SLOW, NULL, NULL},
    {"/officer/logout", cid_console_logout, false, true, true, CID_RUN_WRITES, NULL, NULL},
    /* a search of the whole log, or an entry's context, then a durable write of
     * the officer's look (officer.searched, officer.viewed) before the page */
    {CONSOLE_HOME, cid_console_log, true, false, true, CID_RUN_SLOW, NULL, NULL},
    {"/officer/entry", cid_console_entry, true, false, true, CID_RUN_SLOW, NULL, NULL},
    {"/officer/verify", cid_console_verify, false, true, true, CID_RUN_SLOW, NULL, NULL},
    {"/officer/export", cid_console_export, false, true, true, CID_RUN_SLOW, NULL, NULL},
    {"/officer/services", cid_console_services, true, false, true, CID_RUN_SLOW, NULL, NULL},
    /* a durable write of the log before the page: on a worker */
    {"/officer/resolve", cid_console_resolve, false, true, true, CID_RUN_SLOW, NULL, NULL},
};

const struct cid_endpoint *cid_console_endpoints(size_t *n)
{
	*n = sizeof(endpoints) / sizeof(endpoints[0]);
	return endpoints;
}

/*
 * route: finds the endpoint of a request in libauth's endpoint table
 * (endpoints.h). Adding an endpoint is one row beside its libauth function;
 * nothing in the skin changes.
 */
#include "route.h"

#include <string.h>

const struct cid_endpoint *cid_route_find(const char *path, const char *method, int *status)
{
	bool get =
	    strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	const struct cid_endpoint *e;

	for (size_t i = 0; (e = cid_endpoint_row(i)) != NULL; i++) {
		if (strcmp(e->path, path) != 0)
			continue;
		if ((get && e->get) || (post && e->post))
			return e;
		*status = 405;
		return NULL;
	}
	*status = 404;
	return NULL;
}

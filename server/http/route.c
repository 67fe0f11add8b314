/*
 * route: the endpoint table. Adding an endpoint is one row here and one
 * libauth function; nothing else in the skin changes.
 */
#include "route.h"

#include "account_pages.h"
#include "console.h"
#include "oidc.h"

#include <string.h>

static enum cid_err discovery(struct cid_ctx *ctx, const struct cid_request *req,
			      struct cid_reply *reply)
{
	(void)req;
	return cid_oidc_discovery(ctx, reply);
}

static enum cid_err jwks(struct cid_ctx *ctx, const struct cid_request *req,
			 struct cid_reply *reply)
{
	(void)req;
	return cid_oidc_jwks(ctx, reply);
}

/* path, fn, get, post, page, slow */
static const struct route routes[] = {
    {"/.well-known/openid-configuration", discovery, true, false, false, false},
    {"/jwks", jwks, true, false, false, false},
    {"/authorize", cid_oidc_authorize, true, true, true, false},
    {"/login", cid_oidc_login, false, true, true, true},
    {"/totp", cid_oidc_totp, false, true, true, false},
    {"/consent", cid_oidc_consent, false, true, true, false},
    {"/token", cid_oidc_token, false, true, false, false},
    {"/userinfo", cid_oidc_userinfo, true, true, false, false},
    {"/introspect", cid_oidc_introspect, false, true, false, false},
    {"/revoke", cid_oidc_revoke, false, true, false, false},
    {"/logout", cid_oidc_logout, true, true, true, false},
    {"/account", cid_account_page, true, false, true, false},
    {"/account/receipt", cid_account_receipt, true, false, true, false},
    /* the privacy-officer console; the scans of the whole log run on a worker */
    {"/officer/login", cid_console_login, true, true, true, true},
    {"/officer/logout", cid_console_logout, false, true, true, false},
    {"/officer", cid_console_log, true, false, true, false},
    {"/officer/entry", cid_console_entry, true, false, true, false},
    {"/officer/verify", cid_console_verify, false, true, true, true},
    {"/officer/export", cid_console_export, false, true, true, true},
    {"/officer/services", cid_console_services, true, false, true, true},
    {"/static/civicid.css", NULL, true, false, false, false},
};

const struct route *cid_route_find(const char *path, const char *method, int *status)
{
	bool get =
	    strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, path) != 0)
			continue;
		if ((get && routes[i].get) || (post && routes[i].post))
			return &routes[i];
		*status = 405;
		return NULL;
	}
	*status = 404;
	return NULL;
}

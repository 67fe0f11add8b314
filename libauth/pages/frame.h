/*
 * frame: what every page shows around its own content, decided in one
 * place for every page of civicid (the OpenID Connect pages, the citizen's
 * account pages, the officer's console, and pages still to come).
 *
 * The skin answers a request through cid_endpoint_answer (endpoints.h),
 * which runs the endpoint and then cid_frame_add: a reply that is a page
 * gets the member "frame" in its data, which the templates' partials
 * (web/templates/partials: head, header, footer) render. So an endpoint
 * builds only its own content; no page can forget the language switch or
 * the footer, and no endpoint repeats them.
 *
 * "frame" (every member optional unless said):
 *   city_name   the city's name in the page's language (config city_name_ja,
 *               city_name_en; the other language's when one is empty)
 *   logo        "/static/logo" when the city's logo was read (config city_logo)
 *   citizen     true on a citizen's page: the header links the account page
 *               (/account), and an error page's way back is the account page
 *   officer     true on a page of the officer's console (a row of
 *               cid_console_endpoints): the way back is the console (/officer)
 *   langs       always: [{code ("ja"|"en"), label_key ("lang.ja"|"lang.en"),
 *               current (bool), href (a link that switches; absent with
 *               lang_post)}]
 *   lang_post   true on a step of the authorization flow (CID_PAGE_LOGIN,
 *               _TOTP, _CONSENT, _UPSTREAM_LINK), whose data carries req and
 *               csrf: the switch
 *               is a form posting them with lang to /lang (oidc.h), which shows
 *               the same step again in that language; other pages link to
 *               themselves with ?lang= (a GET), to their path (a POST whose
 *               path takes GET: the form's values never go into a URL), else
 *               to home (/account or /officer)
 *   controller  {name, contact, email?, phone?, address?}: the city as the
 *               controller of personal data (config controller_*), when
 *               controller_name is set
 *   policy_url  the city's privacy notice (config policy_url), when set
 * A page template needs nothing else for the partials: the data contract of
 * a new page is its own content, plus req and csrf for a flow step.
 *
 * The language: a request with a valid "lang" parameter (ja or en) to any
 * page endpoint also gets the language cookie (CID_COOKIE_LANG, a year), so
 * that the choice holds on every later page (cid_request_locale's rule).
 * Thread-safe.
 */
#ifndef CID_FRAME_H
#define CID_FRAME_H

#include "cid.h"
#include "err.h"
#include "reply.h"

/* The path the city's logo is served at. */
#define CID_LOGO_PATH "/static/logo"

/*
 * Adds the frame of reply's page (see above) to its data and, for a page
 * endpoint e asked with a valid "lang", the language cookie. Nothing for a
 * reply that is no page, but the cookie. Errors: CID_ERR_TOOBIG (no room
 * for the cookie), CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_frame_add(struct cid_ctx *ctx, const struct cid_endpoint *e,
					  const struct cid_request *req, struct cid_reply *reply);

/*
 * GET CID_LOGO_PATH: the city's logo (cid_ctx_logo) with its media type, or a
 * 404 JSON error when there is none. Errors (no reply): CID_ERR_NOMEM.
 */
CID_MUST_CHECK enum cid_err cid_frame_logo(struct cid_ctx *ctx, const struct cid_request *req,
					   struct cid_reply *reply);

/* The rows of the endpoint table (endpoints.h) of this module, in *n rows: the logo. Static. */
const struct cid_endpoint *cid_frame_endpoints(size_t *n);

#endif

/*
 * oidc_flow: table-driven tests of the browser flow through its real entry
 * points (cid_oidc_authorize, cid_oidc_login, cid_oidc_totp,
 * cid_oidc_consent, cid_oidc_token, cid_oidc_logout) on a real context: LMDB
 * store, keys, registered services, release policies.
 *
 * One row per story of one browser: a few steps (authorize, login, one-time
 * code, consent, token, logout, and what happens meanwhile: the citizen
 * disabled, the service removed, time passing), then what the reply of the
 * last step must be: status, page, the start of its Location (a code or an
 * error sent back to the service), the error of an error page, the message
 * of a form shown again, the session cookie set or cleared, and how many
 * consent records the citizen has afterwards. Every row has its own citizen
 * (with a second factor when the row says so), so rows never share a
 * session, a throttle count or a used one-time code.
 *
 * A form step posts the form of the last page the browser was shown (its
 * "req" and "csrf"), with the browser's cookies, unless the step's mod says
 * otherwise (a wrong or missing CSRF token, no cookie, another browser, the
 * form posted twice: then the row's expectations are about the second post).
 */
#include "account.h"
#include "bounds.h"
#include "cid.h"
#include "client.h"
#include "config.h"
#include "consent.h"
#include "oidc.h"
#include "session.h"
#include "str.h"
#include "support.h"
#include "totp.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW	       1800000000
#define PASSWORD       "correct horse battery"
#define RP_CB	       "https://rp.example/cb"
#define RP_BYE	       "https://rp.example/bye"
#define RP_BACKCHANNEL "https://rp.example/backchannel"
#define GONE_CB	       "https://gone.example/cb"

/*
 * rp: given_name (statute, level 1) and birthdate (statute, level 2) for
 * "openid profile"; email by consent for "openid email". gone: email by
 * consent; the service a row removes while its consent screen is open.
 */
static const char rp_policy[] = "service rp\n"
				"name.ja RP\n"
				"name.en RP\n"
				"purpose notices\n"
				"\ttext.ja お知らせ\n"
				"\ttext.en Notices\n"
				"\tbasis statute Test Act, Art. 1\n"
				"\tretention 1y\n"
				"\tpermit given_name\n"
				"\tpermit birthdate level=2\n"
				"purpose newsletter\n"
				"\ttext.ja ニュースレター\n"
				"\ttext.en Newsletter\n"
				"\tbasis consent\n"
				"\tretention 1y\n"
				"\tconsent_valid 1y\n"
				"\tpermit email\n";

static const char gone_policy[] = "service gone\n"
				  "name.ja Gone\n"
				  "name.en Gone\n"
				  "purpose newsletter\n"
				  "\ttext.ja ニュースレター\n"
				  "\ttext.en Newsletter\n"
				  "\tbasis consent\n"
				  "\tretention 1y\n"
				  "\tconsent_valid 1y\n"
				  "\tpermit email\n";

/* ---- the table ---- */

/*
 * A row's story is a list of steps, "; " between them, each "VERB[:MOD,...] [ARG]":
 *   authorize ARG   GET the authorization endpoint with the query ARG, {id_token}
 *                   expanded to the last ID token the service got
 *   login           post the login form (the right password; :wrong, a wrong one)
 *   totp            post the one-time-code form (the right code; :wrong, a wrong one)
 *   consent ARG     post the consent form with ARG ("action=approve&a0=on")
 *   token           the service redeems the last code (and keeps its ID token)
 *   logout ARG      GET the logout endpoint with the query ARG, {id_token} expanded
 *   confirm         post the logout confirmation page
 *   disable         an operator disables the citizen
 *   remove          an operator removes the service "gone"
 *   later           the pending request's lifetime passes
 * and the mods of a form step:
 *   csrf-wrong      the form's csrf is a token, but not this browser's
 *   csrf-missing    the form has no csrf
 *   no-cookie       the browser sends no CSRF cookie
 *   other-browser   another browser posts the form: its own CSRF cookie, no session
 *   other-csrf      ... with its own CSRF token in the form
 *   twice           posted twice, as a double click does: the row is about the second
 */
struct row {
	const char *name;
	bool totp;	      /* the citizen has a second factor enrolled */
	const char *story;    /* the steps */
	int status;	      /* of the last step's reply */
	enum cid_page page;   /* of the last step's reply */
	const char *location; /* the start of its Location; NULL: it has none */
	const char *error;    /* the error of an error page; NULL: no error page */
	const char *message;  /* the message of a login or one-time-code page, or NULL */
	const char *cookie; /* "set": a new session cookie; "cleared"; "none"; NULL: not checked */
	int consents;	    /* the citizen's consent records afterwards; -1: not checked */
};

/* the authorization requests (state s1) */
#define AZ                                                                                         \
	"authorize "                                                                               \
	"response_type=code&client_id=rp&redirect_uri=https%3A%2F%2Frp.example%2Fcb&state=s1"
#define OPENID	 AZ "&scope=openid"
#define EMAIL	 AZ "&scope=openid+email"
#define PROFILE	 AZ "&scope=openid+profile"
#define CODE	 RP_CB "?code="
#define ERROR(e) RP_CB "?error=" e "&"
#define E_ERROR	 400, CID_PAGE_ERROR, NULL /* an error page: its error follows */
#define APPROVE	 "consent action=approve&a0=on"
#define HINT	 "logout id_token_hint={id_token}"
#define BYE	 "post_logout_redirect_uri=https%3A%2F%2Frp.example%2Fbye"

static const struct row rows[] = {
    /* authorize */
    {"authorize without a session shows the login form", false, OPENID, 200, CID_PAGE_LOGIN, NULL,
     NULL, NULL, "none", -1},
    {"authorize for an unregistered service: an error page, no redirect", false,
     "authorize response_type=code&client_id=nobody&redirect_uri=https%3A%2F%2Frp.example%2Fcb"
     "&scope=openid",
     E_ERROR, "invalid_client", NULL, NULL, -1},

    /* login */
    {"login: the right password gives a code and a session", false, OPENID "; login", 303,
     CID_PAGE_NONE, CODE, NULL, NULL, "set", 0},
    {"login: a wrong password shows the form again", false, OPENID "; login:wrong", 200,
     CID_PAGE_LOGIN, NULL, NULL, "msg_failed", "none", -1},
    {"login: after a wrong password the form still works", false, OPENID "; login:wrong; login",
     303, CID_PAGE_NONE, CODE, NULL, NULL, "set", -1},
    {"login: a disabled citizen fails as a wrong password does", false, OPENID "; disable; login",
     200, CID_PAGE_LOGIN, NULL, NULL, "msg_failed", "none", -1},
    {"login: CSRF token wrong", false, OPENID "; login:csrf-wrong", 403, CID_PAGE_ERROR, NULL,
     "access_denied", NULL, "none", -1},
    {"login: CSRF token missing", false, OPENID "; login:csrf-missing", E_ERROR, "invalid_request",
     NULL, "none", -1},
    {"login: no CSRF cookie", false, OPENID "; login:no-cookie", 403, CID_PAGE_ERROR, NULL,
     "access_denied", NULL, "none", -1},
    {"login: the form of another browser", false, OPENID "; login:other-browser", 403,
     CID_PAGE_ERROR, NULL, "access_denied", NULL, "none", -1},
    {"login: the form of another browser, with that browser's own CSRF token", false,
     OPENID "; login:other-browser,other-csrf", 403, CID_PAGE_ERROR, NULL, "access_denied", NULL,
     "none", -1},
    {"login: posted twice, the second acts not", false, OPENID "; login:twice", E_ERROR,
     "invalid_request", NULL, "none", -1},
    {"login: the pending request has expired", false, OPENID "; later; login", E_ERROR,
     "invalid_request", NULL, "none", -1},
    {"login: the consent form posted to the login", false, EMAIL "; login; login", E_ERROR,
     "invalid_request", NULL, "none", 0},

    /* prompt=none (OIDC Core §3.1.2.6) */
    {"prompt=none without a session: login_required", false, OPENID "&prompt=none", 302,
     CID_PAGE_NONE, ERROR("login_required"), NULL, NULL, "none", -1},
    {"prompt=none with a session: the code", false, OPENID "; login; " OPENID "&prompt=none", 302,
     CID_PAGE_NONE, CODE, NULL, NULL, "none", 0},
    {"prompt=none with a session, consent missing: consent_required", false,
     OPENID "; login; " EMAIL "&prompt=none", 302, CID_PAGE_NONE, ERROR("consent_required"), NULL,
     NULL, "none", 0},
    {"prompt=none with a session, consent given before: the code", false,
     EMAIL "; login; " APPROVE "; " EMAIL "&prompt=none", 302, CID_PAGE_NONE, CODE, NULL, NULL,
     "none", 1},
    {"prompt=none with a session, a one-time code needed: interaction_required", true,
     OPENID "; login; " PROFILE "&prompt=none", 302, CID_PAGE_NONE, ERROR("interaction_required"),
     NULL, NULL, "none", -1},
    /* id_token_hint (OIDC Core §3.1.2.1) */
    {"prompt=none with the session's own ID token as the hint: the code", false,
     OPENID "; login; token; " OPENID "&prompt=none&id_token_hint={id_token}", 302, CID_PAGE_NONE,
     CODE, NULL, NULL, "none", 0},
    {"an id_token_hint that is no ID token of ours: invalid_request", false,
     OPENID "&id_token_hint=e30.e30.AAAA", 302, CID_PAGE_NONE, ERROR("invalid_request"), NULL, NULL,
     "none", -1},
    {"an id_token_hint issued to another service: invalid_request", false,
     OPENID "; login; token; authorize response_type=code&client_id=gone"
	    "&redirect_uri=https%3A%2F%2Fgone.example%2Fcb&state=s1&scope=openid"
	    "&id_token_hint={id_token}",
     302, CID_PAGE_NONE, GONE_CB "?error=invalid_request&", NULL, NULL, "none", -1},
    {"prompt=none after the citizen was disabled: login_required", false,
     OPENID "; login; disable; " OPENID "&prompt=none", 302, CID_PAGE_NONE, ERROR("login_required"),
     NULL, NULL, "none", -1},

    /* step-up: an attribute at level 2 */
    {"step-up: a citizen with a second factor is asked for a code", true, PROFILE "; login", 200,
     CID_PAGE_TOTP, NULL, NULL, NULL, "set", -1},
    {"step-up: the right code gives a code and a new session", true, PROFILE "; login; totp", 303,
     CID_PAGE_NONE, CODE, NULL, NULL, "set", -1},
    {"step-up: a wrong code shows the form again", true, PROFILE "; login; totp:wrong", 200,
     CID_PAGE_TOTP, NULL, NULL, "msg_failed", "none", -1},
    {"step-up: after a wrong code the form still works", true, PROFILE "; login; totp:wrong; totp",
     303, CID_PAGE_NONE, CODE, NULL, NULL, "set", -1},
    {"step-up: a citizen without a second factor gets the code, without the attribute", false,
     PROFILE "; login", 303, CID_PAGE_NONE, CODE, NULL, NULL, "set", -1},
    {"step-up: acr_values mfa for a citizen without a second factor", false,
     OPENID "&acr_values=urn%3Acivicid%3Aacr%3Amfa; login", 302, CID_PAGE_NONE,
     ERROR("unmet_authentication_requirements"), NULL, NULL, "set", -1},
    {"step-up: CSRF token wrong", true, PROFILE "; login; totp:csrf-wrong", 403, CID_PAGE_ERROR,
     NULL, "access_denied", NULL, "none", -1},
    {"step-up: the form of another browser", true, PROFILE "; login; totp:other-browser,other-csrf",
     403, CID_PAGE_ERROR, NULL, "access_denied", NULL, "none", -1},
    {"step-up: posted twice, the second acts not", true, PROFILE "; login; totp:twice", E_ERROR,
     "invalid_request", NULL, "none", -1},
    {"step-up: the citizen disabled before the code", true, PROFILE "; login; disable; totp",
     E_ERROR, "login_required", NULL, "none", -1},
    {"step-up: the pending request has expired", true, PROFILE "; login; later; totp", E_ERROR,
     "invalid_request", NULL, "none", -1},

    /* consent */
    {"consent: a decision is asked for", false, EMAIL "; login", 200, CID_PAGE_CONSENT, NULL, NULL,
     NULL, "set", 0},
    {"consent: approve records the grant and gives a code", false, EMAIL "; login; " APPROVE, 303,
     CID_PAGE_NONE, CODE, NULL, NULL, "none", 1},
    {"consent: deny records the refusal and gives a code", false,
     EMAIL "; login; consent action=deny", 303, CID_PAGE_NONE, CODE, NULL, NULL, "none", 1},
    {"consent: neither approve nor deny", false, EMAIL "; login; consent a0=on", E_ERROR,
     "invalid_request", NULL, "none", 0},
    {"consent: CSRF token wrong", false, EMAIL "; login; consent:csrf-wrong action=approve&a0=on",
     403, CID_PAGE_ERROR, NULL, "access_denied", NULL, "none", 0},
    {"consent: CSRF token missing", false,
     EMAIL "; login; consent:csrf-missing action=approve&a0=on", E_ERROR, "invalid_request", NULL,
     "none", 0},
    {"consent: the form of another browser", false,
     EMAIL "; login; consent:other-browser action=approve&a0=on", 403, CID_PAGE_ERROR, NULL,
     "access_denied", NULL, "none", 0},
    {"consent: posted twice, the second records nothing", false,
     EMAIL "; login; consent:twice action=approve&a0=on", E_ERROR, "invalid_request", NULL, "none",
     1},
    {"consent: the citizen disabled between login and consent", false,
     EMAIL "; login; disable; " APPROVE, E_ERROR, "login_required", NULL, "none", 0},
    {"consent: the service removed while its screen was open", false,
     "authorize response_type=code&client_id=gone&redirect_uri=https%3A%2F%2Fgone.example%2Fcb"
     "&state=s1&scope=openid+email; login; remove; " APPROVE,
     E_ERROR, "invalid_client", NULL, "none", 0},
    {"consent: the pending request has expired", false, EMAIL "; login; later; " APPROVE, E_ERROR,
     "invalid_request", NULL, "none", 0},
    {"consent: after a step-up, in the new session", true,
     AZ "&scope=openid+profile+email; login; totp; " APPROVE, 303, CID_PAGE_NONE, CODE, NULL, NULL,
     "none", 1},

    /* logout (RP-Initiated Logout 1.0) */
    {"logout with the id_token_hint of this session ends it at once", false,
     OPENID "; login; token; " HINT "&" BYE "&state=x", 302, CID_PAGE_NONE, RP_BYE "?state=x", NULL,
     NULL, "cleared", -1},
    {"after the logout, prompt=none needs a login", false,
     OPENID "; login; token; " HINT "; " OPENID "&prompt=none", 302, CID_PAGE_NONE,
     ERROR("login_required"), NULL, NULL, "none", -1},
    {"logout without id_token_hint asks the citizen first", false,
     OPENID "; login; logout client_id=rp", 200, CID_PAGE_LOGOUT_CONFIRM, NULL, NULL, NULL, "none",
     -1},
    {"logout confirmed on its page", false, OPENID "; login; logout client_id=rp&" BYE "; confirm",
     302, CID_PAGE_NONE, RP_BYE, NULL, NULL, "cleared", -1},
    {"logout confirmation with a wrong CSRF token asks again", false,
     OPENID "; login; logout client_id=rp; confirm:csrf-wrong", 200, CID_PAGE_LOGOUT_CONFIRM, NULL,
     NULL, NULL, "none", -1},
    {"logout without a session and without id_token_hint", false, "logout client_id=rp", 200,
     CID_PAGE_LOGGED_OUT, NULL, NULL, NULL, "cleared", -1},
    {"logout with an id_token_hint that is no token of ours", false,
     OPENID "; login; logout id_token_hint=a.b.c", E_ERROR, "invalid_request", NULL, "none", -1},
    {"logout to an unregistered post_logout_redirect_uri", false,
     OPENID "; login; token; " HINT "&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
     E_ERROR, "invalid_request", NULL, "none", -1},
};

/* A step of a story, as parsed. */
enum step_kind {
	S_AUTHORIZE,
	S_LOGIN,
	S_TOTP,
	S_CONSENT,
	S_TOKEN,
	S_LOGOUT,
	S_CONFIRM,
	S_DISABLE,
	S_REMOVE,
	S_LATER,
};

enum mod {
	M_WRONG = 1 << 0,
	M_CSRF_WRONG = 1 << 1,
	M_CSRF_MISSING = 1 << 2,
	M_NO_COOKIE = 1 << 3,
	M_OTHER_BROWSER = 1 << 4,
	M_OTHER_CSRF = 1 << 5,
	M_TWICE = 1 << 6,
};

struct step {
	enum step_kind kind;
	unsigned mod;
	char arg[512]; /* "" when none */
};

static const char *const verbs[] = {
    [S_AUTHORIZE] = "authorize", [S_LOGIN] = "login",	  [S_TOTP] = "totp",
    [S_CONSENT] = "consent",	 [S_TOKEN] = "token",	  [S_LOGOUT] = "logout",
    [S_CONFIRM] = "confirm",	 [S_DISABLE] = "disable", [S_REMOVE] = "remove",
    [S_LATER] = "later",
};

static const char *const mods[] = {"wrong",	    "csrf-wrong", "csrf-missing", "no-cookie",
				   "other-browser", "other-csrf", "twice"};

/* Parses the step at *p (up to "; " or the end) into s and moves *p past it. */
static void parse_step(const char *name, const char **p, struct step *s)
{
	size_t len = strcspn(*p, ";");
	size_t word = strcspn(*p, " :;");
	const char *q = *p + word;
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i]) == word && strncmp(*p, verbs[i], word) == 0)
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]))
		fail_msg("%s: unknown step %.*s", name, (int)word, *p);
	s->kind = (enum step_kind)i;
	while (*q == ':' || *q == ',') {
		size_t n = strcspn(q + 1, " ,;");

		for (i = 0; i < sizeof(mods) / sizeof(mods[0]); i++)
			if (strlen(mods[i]) == n && strncmp(q + 1, mods[i], n) == 0)
				break;
		if (i == sizeof(mods) / sizeof(mods[0]))
			fail_msg("%s: bad mod in %.*s", name, (int)len, *p);
		s->mod |= 1u << i;
		q += 1 + n;
	}
	if (*q == ' ') {
		size_t n = (size_t)(*p + len - (q + 1));

		assert_true(n < sizeof(s->arg));
		memcpy(s->arg, q + 1, n);
	}
	*p += len;
	if (**p == ';')
		*p += 1 + (*(*p + 1) == ' ');
}

/* ---- the fixture ---- */

struct fixture {
	char dir[256];
	struct cid_config *cfg;
	struct cid_ctx *ctx;
	char *rp_secret;
};

static void add_client(struct fixture *f, const char *id, const char *uri, const char *bye,
		       const char *backchannel, char **secret)
{
	const char *uris[] = {uri};
	const char *byes[] = {bye};
	struct cid_client_spec spec = {
	    .client_id = id,
	    .name = id,
	    .redirect_uris = uris,
	    .n_redirect_uris = 1,
	    .post_logout_uris = byes,
	    .n_post_logout_uris = bye == NULL ? 0 : 1,
	    .scopes = "openid profile email",
	    .backchannel_logout_uri = backchannel,
	};
	char *got = NULL;

	assert_int_equal(cid_client_add(cid_ctx_store(f->ctx), &spec, NOW, &got, secret), CID_OK);
	free(got);
}

/* While set, the next upgrade ends its session first (see __wrap_cid_session_upgrade_at). */
static struct cid_store *end_before_upgrade;

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[512];
	FILE *fp;
	char *secret = NULL;

	end_before_upgrade = NULL;
	assert_non_null(f);
	f->cfg = cid_test_config(f->dir);
	cid_test_policies(f->cfg, f->dir, "rp.policy", rp_policy);
	snprintf(path, sizeof(path), "%s/policies/gone.policy", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(gone_policy, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(cid_ctx_open(f->cfg, NOW, NULL, &f->ctx), CID_OK);
	add_client(f, "rp", RP_CB, RP_BYE, RP_BACKCHANNEL, &f->rp_secret);
	add_client(f, "gone", GONE_CB, NULL, NULL, &secret);
	free(secret);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->rp_secret);
	cid_test_ctx_close(f->ctx, f->cfg, f->dir);
	free(f);
	end_before_upgrade = NULL;
	return 0;
}

/* ---- a browser ---- */

struct browser {
	char session[CID_TOKEN_CHARS + 1]; /* "" when none */
	char csrf[CID_TOKEN_CHARS + 1];
	char form_req[CID_TOKEN_CHARS + 1]; /* the form of the last page */
	char form_csrf[CID_TOKEN_CHARS + 1];
	json_t *hidden; /* the logout confirmation's hidden fields */
	char code[CID_TOKEN_CHARS + 1];
	char *id_token;
};

/* What one row's story runs with: its citizen, its clock, its browser. */
struct story {
	struct fixture *f;
	const struct row *r;
	char username[32];
	char account[CID_ID_CHARS + 1];
	char *totp_secret;
	char addr[32];
	int64_t now;
	struct browser b;
};

static void copy_token(char out[CID_TOKEN_CHARS + 1], const char *v, size_t n)
{
	assert_true(n <= CID_TOKEN_CHARS);
	memcpy(out, v, n);
	out[n] = '\0';
}

/* Reads the cookies the reply sets (name=value; ...) into the browser. */
static void take_cookies(const struct story *st, const struct cid_reply *reply, struct browser *b)
{
	const char *session = cid_cookie_name(st->f->cfg, CID_COOKIE_SESSION);
	const char *csrf = cid_cookie_name(st->f->cfg, CID_COOKIE_CSRF);

	for (size_t i = 0; i < reply->n_cookies; i++) {
		const char *c = reply->cookies[i];
		const char *eq = strchr(c, '=');
		size_t vlen = strcspn(eq + 1, ";");

		if ((size_t)(eq - c) == strlen(session) &&
		    strncmp(c, session, strlen(session)) == 0)
			copy_token(b->session, eq + 1, vlen);
		else if ((size_t)(eq - c) == strlen(csrf) && strncmp(c, csrf, strlen(csrf)) == 0)
			copy_token(b->csrf, eq + 1, vlen);
	}
}

/* Reads what the browser keeps of a reply: cookies, the page's form, the code. */
static void take_reply(const struct story *st, const struct cid_reply *reply, struct browser *b)
{
	const char *req = json_string_value(json_object_get(reply->page_data, "req"));
	const char *csrf = json_string_value(json_object_get(reply->page_data, "csrf"));
	const char *code = reply->location == NULL ? NULL : strstr(reply->location, "?code=");

	take_cookies(st, reply, b);
	if (req != NULL)
		copy_token(b->form_req, req, strlen(req));
	if (csrf != NULL)
		copy_token(b->form_csrf, csrf, strlen(csrf));
	if (reply->page == CID_PAGE_LOGOUT_CONFIRM) {
		json_decref(b->hidden);
		b->hidden = json_incref(json_object_get(reply->page_data, "hidden"));
	}
	if (code != NULL)
		copy_token(b->code, code + 6, strcspn(code + 6, "&"));
}

/* Calls endpoint fn as browser b would (cookies, address), with form as query or body. */
static void call(struct story *st, cid_endpoint_fn *fn, const struct browser *b, bool post,
		 const char *form, struct cid_reply *reply)
{
	struct cid_request req = {
	    .post = post,
	    .form_content_type = post,
	    .session_cookie = b->session[0] != '\0' ? b->session : NULL,
	    .csrf_cookie = b->csrf[0] != '\0' ? b->csrf : NULL,
	    .remote_addr = st->addr,
	    .now = st->now,
	};
	enum cid_err rc;

	assert_int_equal(cid_params_parse_form(&req.params, form, strlen(form)), CID_OK);
	rc = fn(st->f->ctx, &req, reply);
	cid_request_clear(&req);
	if (rc != CID_OK)
		fail_msg("%s: the endpoint returned %s for %s", st->r->name, cid_strerror(rc),
			 form);
}

/* Appends "&name=value" (value %-encoded) to out. */
static void add_field(char *out, size_t outsz, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(out);
	int n = snprintf(out + o, outsz - o, "%s%s=", o > 0 ? "&" : "", name);

	assert_true(n > 0 && (size_t)n < outsz - o);
	o += (size_t)n;
	for (const char *p = value; *p != '\0'; p++) {
		assert_true(o + 4 < outsz);
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.') {
			out[o++] = *p;
		} else {
			out[o++] = '%';
			out[o++] = hex[(unsigned char)*p >> 4];
			out[o++] = hex[(unsigned char)*p & 15];
		}
	}
	out[o] = '\0';
}

/* The code the citizen's authenticator app shows at now, or one it does not. */
static void totp_code(const struct story *st, bool right, char out[7])
{
	uint8_t raw[CID_TOTP_SECRET_MAX];
	size_t n = 0;
	uint32_t v = 0;

	assert_non_null(st->totp_secret);
	assert_int_equal(
	    cid_base32_decode(st->totp_secret, strlen(st->totp_secret), raw, sizeof(raw), &n),
	    CID_OK);
	assert_int_equal(cid_totp(CID_TOTP_SHA1, raw, n, st->now, 6, &v), CID_OK);
	/* a wrong code: the right one plus half the code space is no step's code here */
	if (!right)
		v = (v + 500000) % 1000000;
	assert_true(snprintf(out, 7, "%06u", v) == 6);
}

/* The form of a form step: the page's req and csrf (as mod says), and the step's fields. */
static void form_of(struct story *st, const struct step *s, const struct browser *other, char *out,
		    size_t outsz)
{
	const struct browser *b = &st->b;
	char code[7];

	out[0] = '\0';
	if (s->kind != S_CONFIRM)
		add_field(out, outsz, "req", b->form_req);
	if (s->mod & M_CSRF_WRONG)
		add_field(out, outsz, "csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	else if (s->mod & M_OTHER_CSRF)
		add_field(out, outsz, "csrf", other->csrf);
	else if (!(s->mod & M_CSRF_MISSING))
		add_field(out, outsz, "csrf", b->form_csrf);
	switch (s->kind) {
	case S_LOGIN:
		add_field(out, outsz, "username", st->username);
		add_field(out, outsz, "password",
			  (s->mod & M_WRONG) ? "not the password at all" : PASSWORD);
		break;
	case S_TOTP:
		totp_code(st, !(s->mod & M_WRONG), code);
		add_field(out, outsz, "code", code);
		break;
	case S_CONSENT:
		if (s->arg[0] != '\0') {
			size_t o = strlen(out);

			assert_true((size_t)snprintf(out + o, outsz - o, "&%s", s->arg) <
				    outsz - o);
		}
		break;
	case S_CONFIRM: {
		size_t i;
		const json_t *h;

		add_field(out, outsz, "confirm", "1");
		json_array_foreach(b->hidden, i, h)
		    add_field(out, outsz, json_string_value(json_object_get(h, "name")),
			      json_string_value(json_object_get(h, "value")));
		break;
	}
	default: fail_msg("%s: step %d has no form", st->r->name, (int)s->kind);
	}
}

static cid_endpoint_fn *endpoint_of(enum step_kind k)
{
	switch (k) {
	case S_LOGIN: return cid_oidc_login;
	case S_TOTP: return cid_oidc_totp;
	case S_CONSENT: return cid_oidc_consent;
	case S_CONFIRM: return cid_oidc_logout;
	default: return NULL;
	}
}

/* Posts the form of step s (as its mod says) into reply. */
static void post_form(struct story *st, const struct step *s, struct cid_reply *reply)
{
	/* another browser: a CSRF cookie of its own, no session */
	struct browser other = {.csrf = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBQ"};
	struct browser sent = st->b;
	char form[4096];

	form_of(st, s, &other, form, sizeof(form));
	if (s->mod & M_OTHER_BROWSER)
		sent = other;
	if (s->mod & M_NO_COOKIE)
		sent.csrf[0] = '\0';
	sent.hidden = NULL;
	sent.id_token = NULL;
	if (s->mod & M_TWICE) {
		struct cid_reply first = {0};

		call(st, endpoint_of(s->kind), &sent, true, form, &first);
		if (first.status >= 400 || first.page == CID_PAGE_ERROR)
			fail_msg("%s: the first post failed: %d", st->r->name, first.status);
		take_reply(st, &first, &st->b);
		cid_reply_free(&first);
	}
	/* a double click: the second post carries what the first carried */
	call(st, endpoint_of(s->kind), &sent, true, form, reply);
}

/* The service redeems the browser's last code; keeps the ID token. */
static void redeem(struct story *st)
{
	struct browser service = {0};
	struct cid_reply reply = {0};
	char form[1024] = "";
	json_t *body;

	add_field(form, sizeof(form), "grant_type", "authorization_code");
	add_field(form, sizeof(form), "code", st->b.code);
	add_field(form, sizeof(form), "redirect_uri", RP_CB);
	add_field(form, sizeof(form), "client_id", "rp");
	add_field(form, sizeof(form), "client_secret", st->f->rp_secret);
	call(st, cid_oidc_token, &service, true, form, &reply);
	body = json_loadb(reply.body, reply.body_len, 0, NULL);
	if (reply.status != 200 || json_string_value(json_object_get(body, "id_token")) == NULL)
		fail_msg("%s: the code was not redeemed: %d %s", st->r->name, reply.status,
			 reply.body == NULL ? "" : reply.body);
	free(st->b.id_token);
	st->b.id_token = strdup(json_string_value(json_object_get(body, "id_token")));
	assert_non_null(st->b.id_token);
	json_decref(body);
	cid_reply_free(&reply);
}

/* The query of arg, {id_token} expanded. */
static void expand_query(const struct story *st, const char *arg, char *out, size_t outsz)
{
	const char *at = strstr(arg, "{id_token}");
	int n;

	if (at == NULL)
		n = snprintf(out, outsz, "%s", arg);
	else
		n = snprintf(out, outsz, "%.*s%s%s", (int)(at - arg), arg, st->b.id_token,
			     at + strlen("{id_token}"));
	assert_true(n > 0 && (size_t)n < outsz);
}

/* Runs step s; an HTTP step leaves its reply in reply (zeroed before). */
static void run_step(struct story *st, const struct step *s, struct cid_reply *reply)
{
	/* an ID token sent back may be longer than any other value (test_long_id_token_...) */
	char query[24 * 1024];

	switch (s->kind) {
	case S_AUTHORIZE:
		expand_query(st, s->arg, query, sizeof(query));
		call(st, cid_oidc_authorize, &st->b, false, query, reply);
		break;
	case S_LOGIN:
	case S_TOTP:
	case S_CONSENT:
	case S_CONFIRM: post_form(st, s, reply); break;
	case S_TOKEN: redeem(st); return;
	case S_LOGOUT:
		expand_query(st, s->arg, query, sizeof(query));
		call(st, cid_oidc_logout, &st->b, false, query, reply);
		break;
	case S_DISABLE:
		assert_int_equal(cid_account_set_disabled(cid_ctx_store(st->f->ctx), st->username,
							  true, st->now),
				 CID_OK);
		return;
	case S_REMOVE:
		assert_int_equal(cid_client_remove(cid_ctx_store(st->f->ctx), "gone"), CID_OK);
		return;
	case S_LATER: st->now += CID_AUTHREQ_TTL + 1; return;
	default: fail_msg("%s: unknown step %d", st->r->name, (int)s->kind);
	}
	take_reply(st, reply, &st->b);
}

/* True if reply sets the session cookie; *cleared when to an empty value. */
static bool sets_session(const struct story *st, const struct cid_reply *reply, bool *cleared)
{
	const char *name = cid_cookie_name(st->f->cfg, CID_COOKIE_SESSION);
	size_t n = strlen(name);

	for (size_t i = 0; i < reply->n_cookies; i++)
		if (strncmp(reply->cookies[i], name, n) == 0 && reply->cookies[i][n] == '=') {
			*cleared = reply->cookies[i][n + 1] == ';';
			return true;
		}
	return false;
}

static size_t consents_of(const struct story *st)
{
	json_t *h = NULL;
	size_t n;

	assert_int_equal(cid_consent_history(cid_ctx_store(st->f->ctx), st->account, NULL, &h),
			 CID_OK);
	n = json_array_size(h);
	json_decref(h);
	return n;
}

/* Checks the reply of the row's last step; returns the number of problems (each printed). */
static int check(const struct story *st, const struct cid_reply *reply)
{
	const struct row *r = st->r;
	const char *error = json_string_value(json_object_get(reply->page_data, "error"));
	bool cleared = false;
	bool sets = sets_session(st, reply, &cleared);
	int bad = 0;

#define PROBLEM(...)                                                                               \
	do {                                                                                       \
		print_error("%s: ", r->name);                                                      \
		print_error(__VA_ARGS__);                                                          \
		bad++;                                                                             \
	} while (0)
	if (reply->status != r->status)
		PROBLEM("status %d, expected %d (%s)\n", reply->status, r->status,
			reply->location != NULL ? reply->location : (error != NULL ? error : ""));
	if (reply->page != r->page)
		PROBLEM("page %d, expected %d\n", (int)reply->page, (int)r->page);
	if (r->location == NULL && reply->location != NULL)
		PROBLEM("unexpected Location %s\n", reply->location);
	if (r->location != NULL && (reply->location == NULL || strncmp(reply->location, r->location,
								       strlen(r->location)) != 0))
		PROBLEM("Location %s, expected %s...\n",
			reply->location == NULL ? "(none)" : reply->location, r->location);
	/*= RFC 6749 §4.1.2: the authorization server MUST include state when the client sent it */
	if (reply->location != NULL && strncmp(reply->location, RP_CB, strlen(RP_CB)) == 0 &&
	    strstr(reply->location, "&state=s1") == NULL)
		PROBLEM("no state in %s\n", reply->location);
	if ((r->error == NULL) != (error == NULL) ||
	    (r->error != NULL && strcmp(r->error, error) != 0))
		PROBLEM("error %s, expected %s\n", error == NULL ? "(none)" : error,
			r->error == NULL ? "(none)" : r->error);
	if (r->message != NULL && !json_is_true(json_object_get(reply->page_data, r->message)))
		PROBLEM("no message %s\n", r->message);
	if (r->cookie != NULL && ((strcmp(r->cookie, "set") == 0 && (!sets || cleared)) ||
				  (strcmp(r->cookie, "cleared") == 0 && !cleared) ||
				  (strcmp(r->cookie, "none") == 0 && sets)))
		PROBLEM("session cookie: expected %s\n", r->cookie);
	/* a page of the flow is never cached: it may carry a form's token */
	if (reply->page != CID_PAGE_NONE && !reply->no_store)
		PROBLEM("a page without no-store\n");
	if (r->consents >= 0 && consents_of(st) != (size_t)r->consents)
		PROBLEM("%zu consent records, expected %d\n", consents_of(st), r->consents);
#undef PROBLEM
	return bad;
}

/* Makes the citizen username of st (with a second factor when its row says so). */
static void story_citizen(struct story *st, const char *username)
{
	char *uri = NULL;
	json_t *claims = json_pack("{s:s, s:s, s:s}", "given_name", "花子", "birthdate",
				   "1990-04-01", "email", "hanako@example.org");

	assert_non_null(claims);
	snprintf(st->username, sizeof(st->username), "%s", username);
	assert_int_equal(cid_account_add(cid_ctx_store(st->f->ctx), &st->f->cfg->argon2,
					 st->username, PASSWORD, claims, NOW, st->account),
			 CID_OK);
	json_decref(claims);
	if (st->r->totp) {
		assert_int_equal(cid_account_totp_enrol(cid_ctx_store(st->f->ctx), st->username,
							false, NOW, &st->totp_secret, &uri),
				 CID_OK);
		free(uri);
	}
}

/*
 * Runs the steps of story; the reply of its last HTTP step is left in reply
 * (freed first). Says whether there was one.
 */
static bool run_story(struct story *st, const char *story, struct cid_reply *reply)
{
	bool answered = false;

	for (const char *p = story; *p != '\0';) {
		struct step s;

		parse_step(st->r->name, &p, &s);
		/* the reply checked is the last HTTP step's: the others leave it */
		if (s.kind != S_TOKEN && s.kind != S_DISABLE && s.kind != S_REMOVE &&
		    s.kind != S_LATER) {
			cid_reply_free(reply);
			answered = true;
		}
		run_step(st, &s, reply);
	}
	return answered;
}

static void story_free(struct story *st)
{
	json_decref(st->b.hidden);
	free(st->b.id_token);
	free(st->totp_secret);
}

/* Runs one row with its own citizen; returns the number of problems found. */
static int run_row(struct fixture *f, size_t index)
{
	struct story st = {.f = f, .r = &rows[index], .now = NOW};
	struct cid_reply reply = {0};
	char username[32];
	int bad;

	snprintf(username, sizeof(username), "citizen%zu", index);
	snprintf(st.addr, sizeof(st.addr), "192.0.2.%zu", index + 1);
	story_citizen(&st, username);
	assert_true(run_story(&st, st.r->story, &reply));
	bad = check(&st, &reply);
	cid_reply_free(&reply);
	story_free(&st);
	return bad;
}

static void test_flow_table(void **state)
{
	struct fixture *f = *state;
	size_t n = sizeof(rows) / sizeof(rows[0]);
	size_t failed = 0;

	for (size_t i = 0; i < n; i++)
		if (run_row(f, i) > 0)
			failed++;
	if (failed > 0)
		fail_msg("%zu of %zu rows failed", failed, n);
}

/* The claims of the browser's last ID token (a new reference). */
static json_t *last_claims(const struct story *st)
{
	const char *t = st->b.id_token;
	const char *dot = strchr(t, '.');
	const char *end = strchr(dot + 1, '.');
	char payload[4096];
	size_t n = 0;
	json_t *claims;

	assert_int_equal(
	    cid_b64url_decode(dot + 1, (size_t)(end - dot - 1), payload, sizeof(payload), &n),
	    CID_OK);
	claims = json_loadb(payload, n, 0, NULL);
	assert_non_null(claims);
	return claims;
}

/* The sid of the browser's last ID token, into out. */
static void last_sid(const struct story *st, char out[CID_TOKEN_CHARS + 1])
{
	json_t *claims = last_claims(st);

	assert_non_null(cid_json_str(claims, "sid"));
	snprintf(out, CID_TOKEN_CHARS + 1, "%s", cid_json_str(claims, "sid"));
	json_decref(claims);
}

/*
 * A logout in another tab between the login's read of the browser's session
 * and its upgrade (oidc_login.c login_session): while end_before_upgrade
 * names a store, the next cid_session_upgrade_at (linked through
 * -Wl,--wrap=cid_session_upgrade_at) first ends the session of its cookie there.
 */

// NOLINTBEGIN(bugprone-reserved-identifier): ld's --wrap needs these names
enum cid_err __real_cid_session_upgrade_at(struct cid_store *s, const char *cookie, const char *acr,
					   const char *const *amr, size_t n_amr, int64_t auth_time,
					   int64_t now, char cookie_out[CID_TOKEN_CHARS + 1],
					   struct cid_session *out);
enum cid_err __wrap_cid_session_upgrade_at(struct cid_store *s, const char *cookie, const char *acr,
					   const char *const *amr, size_t n_amr, int64_t auth_time,
					   int64_t now, char cookie_out[CID_TOKEN_CHARS + 1],
					   struct cid_session *out);

// NOLINTEND(bugprone-reserved-identifier)

enum cid_err __wrap_cid_session_upgrade_at(struct cid_store *s, const char *cookie, const char *acr,
					   const char *const *amr, size_t n_amr, int64_t auth_time,
					   int64_t now, char cookie_out[CID_TOKEN_CHARS + 1],
					   struct cid_session *out)
{
	if (end_before_upgrade == s) {
		end_before_upgrade = NULL;
		assert_int_equal(cid_session_end(s, cookie), CID_OK);
	}
	return __real_cid_session_upgrade_at(s, cookie, acr, amr, n_amr, auth_time, now, cookie_out,
					     out);
}

static const struct row relogin = {"re-login", false, "", 0, 0, NULL, NULL, NULL, NULL, -1};

/*
 * The same citizen signing in again in the same browser (prompt=login: a
 * re-authentication) keeps the session the services know, at the new
 * authentication, under a new cookie; no service is told of a logout.
 */
static void test_relogin_keeps_the_session(void **state)
{
	struct fixture *f = *state;
	struct story st = {.f = f, .r = &relogin, .now = NOW, .addr = "192.0.2.200"};
	struct cid_reply reply = {0};
	struct cid_session sess;
	char sid[CID_TOKEN_CHARS + 1];
	char again[CID_TOKEN_CHARS + 1];
	char old_cookie[CID_TOKEN_CHARS + 1];
	uint64_t queued;

	story_citizen(&st, "relogin");
	assert_true(run_story(&st, OPENID "; login; token", &reply));
	last_sid(&st, sid);
	memcpy(old_cookie, st.b.session, sizeof(old_cookie));
	queued = cid_test_count(cid_ctx_store(f->ctx), CID_DB_LOGOUT_QUEUE);
	st.now += 120;
	assert_true(run_story(&st, OPENID "&prompt=login; login; token", &reply));
	last_sid(&st, again);
	assert_string_equal(again, sid);
	assert_string_not_equal(st.b.session, old_cookie);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), old_cookie, st.now, &sess),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), st.b.session, st.now, &sess),
			 CID_OK);
	assert_string_equal(sess.sid, sid);
	assert_int_equal(sess.auth_time, st.now);
	assert_int_equal(cid_test_count(cid_ctx_store(f->ctx), CID_DB_LOGOUT_QUEUE), queued);
	/* the session still knows the service: the citizen's logout there tells it */
	cid_reply_free(&reply);
	assert_true(run_story(&st, HINT, &reply));
	assert_int_equal(cid_test_count(cid_ctx_store(f->ctx), CID_DB_LOGOUT_QUEUE), queued + 1);
	cid_reply_free(&reply);
	story_free(&st);
}

/*
 * The same citizen signing in again, whose session ends meanwhile (a logout
 * in another tab, after the login read it and before it raised it): the
 * login does not fail, it starts a session afresh, under a new sid.
 */
static void test_relogin_whose_session_ended_meanwhile_starts_afresh(void **state)
{
	struct fixture *f = *state;
	struct story st = {.f = f, .r = &relogin, .now = NOW, .addr = "192.0.2.202"};
	struct cid_reply reply = {0};
	struct cid_session sess;
	char sid[CID_TOKEN_CHARS + 1];
	char again[CID_TOKEN_CHARS + 1];
	char old_cookie[CID_TOKEN_CHARS + 1];

	story_citizen(&st, "meanwhile");
	assert_true(run_story(&st, OPENID "; login; token", &reply));
	cid_reply_free(&reply);
	last_sid(&st, sid);
	memcpy(old_cookie, st.b.session, sizeof(old_cookie));
	st.now += 120;
	end_before_upgrade = cid_ctx_store(f->ctx);
	assert_true(run_story(&st, OPENID "&prompt=login; login; token", &reply));
	assert_null(end_before_upgrade); /* the upgrade was reached, and found nothing */
	last_sid(&st, again);
	assert_string_not_equal(again, sid);
	assert_string_not_equal(st.b.session, old_cookie);
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), st.b.session, st.now, &sess),
			 CID_OK);
	assert_string_equal(sess.sid, again);
	assert_string_equal(sess.account_id, st.account);
	assert_int_equal(sess.auth_time, st.now);
	cid_reply_free(&reply);
	story_free(&st);
}

/*
 * Another citizen signing in in the same browser ends the first one's
 * session as a logout does: its service is told, and the new citizen gets a
 * session of their own.
 */
static void test_other_citizen_ends_the_session(void **state)
{
	struct fixture *f = *state;
	struct story st = {.f = f, .r = &relogin, .now = NOW, .addr = "192.0.2.201"};
	struct cid_reply reply = {0};
	struct cid_session_entry *list = NULL;
	char first[CID_ID_CHARS + 1];
	char sid[CID_TOKEN_CHARS + 1];
	char other[CID_TOKEN_CHARS + 1];
	size_t n = 1;
	uint64_t queued;

	story_citizen(&st, "switch-a");
	assert_true(run_story(&st, OPENID "; login; token", &reply));
	last_sid(&st, sid);
	memcpy(first, st.account, sizeof(first));
	queued = cid_test_count(cid_ctx_store(f->ctx), CID_DB_LOGOUT_QUEUE);
	story_citizen(&st, "switch-b");
	assert_true(run_story(&st, OPENID "&prompt=login; login; token", &reply));
	last_sid(&st, other);
	assert_string_not_equal(other, sid);
	assert_int_equal(cid_test_count(cid_ctx_store(f->ctx), CID_DB_LOGOUT_QUEUE), queued + 1);
	assert_int_equal(cid_session_list(cid_ctx_store(f->ctx), first, st.now, &list, &n), CID_OK);
	assert_int_equal(n, 0);
	cid_session_list_free(list, n);
	cid_reply_free(&reply);
	story_free(&st);
}

/*
 * An id_token_hint of the citizen who signed in before another, in the same
 * browser: the silent request fails with login_required rather than answer
 * for the other citizen, and an interactive one shows the login form; the
 * one signed in now is answered for her own hint.
 */
static void test_hint_of_another_citizen(void **state)
{
	struct fixture *f = *state;
	struct story st = {.f = f, .r = &relogin, .now = NOW, .addr = "192.0.2.202"};
	struct cid_reply reply = {0};
	char *first = NULL;
	char *second = NULL;

	story_citizen(&st, "hint-a");
	assert_true(run_story(&st, OPENID "; login; token", &reply));
	first = st.b.id_token; /* a's, kept: the browser's is b's next */
	st.b.id_token = NULL;
	story_citizen(&st, "hint-b");
	assert_true(run_story(&st, OPENID "&prompt=login; login; token", &reply));
	second = st.b.id_token;
	st.b.id_token = first; /* {id_token} is a's again */
	assert_true(run_story(&st, OPENID "&prompt=none&id_token_hint={id_token}", &reply));
	assert_int_equal(reply.status, 302);
	assert_non_null(strstr(reply.location, "error=login_required"));
	assert_true(run_story(&st, OPENID "&id_token_hint={id_token}", &reply));
	assert_int_equal(reply.status, 200);
	assert_int_equal(reply.page, CID_PAGE_LOGIN);
	free(st.b.id_token);
	st.b.id_token = second; /* b's own */
	assert_true(run_story(&st, OPENID "&prompt=none&id_token_hint={id_token}", &reply));
	assert_int_equal(reply.status, 302);
	assert_int_equal(strncmp(reply.location, CODE, strlen(CODE)), 0);
	cid_reply_free(&reply);
	story_free(&st);
}

/*
 * A logout with a valid id_token_hint from a browser whose cookie names an
 * ended session (ended from another device, or expired): the hint's session
 * ends, with its notices, as when the browser sends no cookie.
 */
static void test_hint_ends_its_session_behind_a_dead_cookie(void **state)
{
	struct fixture *f = *state;
	struct story st = {.f = f, .r = &relogin, .now = NOW, .addr = "192.0.2.203"};
	struct cid_reply reply = {0};
	struct cid_session sess;
	char live[CID_TOKEN_CHARS + 1];
	uint64_t queued;

	story_citizen(&st, "dead-cookie");
	assert_true(run_story(&st, OPENID "; login; token", &reply));
	memcpy(live, st.b.session, sizeof(live));
	queued = cid_test_count(cid_ctx_store(f->ctx), CID_DB_LOGOUT_QUEUE);
	/* the browser holds the cookie of a session the store no longer has */
	memcpy(st.b.session, "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCQ", CID_TOKEN_CHARS + 1);
	assert_true(run_story(&st, HINT "&" BYE "&state=x", &reply));
	assert_int_equal(reply.status, 302);
	assert_string_equal(reply.location, "https://rp.example/bye?state=x");
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), live, st.now, &sess),
			 CID_ERR_NOTFOUND);
	assert_int_equal(cid_test_count(cid_ctx_store(f->ctx), CID_DB_LOGOUT_QUEUE), queued + 1);
	cid_reply_free(&reply);
	story_free(&st);
}

/*
 * An ID token longer than CID_MAX_TOKEN: a citizen whose released name comes
 * in several scripts, each near CID_MAX_CLAIM_VALUE. The service sends it
 * back as id_token_hint, to the authorization endpoint (GET) and to the
 * logout endpoint (GET, then POST in a second session), and it is taken as
 * any other ID token of ours: a silent answer, and each logout ends its
 * session at once with a redirect to the registered address.
 */
static void test_long_id_token_comes_back_as_hint(void **state)
{
	static const char *const scripts[] = {"given_name", "given_name#ja-Kana-JP",
					      "given_name#ja-Hani-JP", "given_name#en"};
	struct fixture *f = *state;
	struct story st = {.f = f, .r = &relogin, .now = NOW, .addr = "192.0.2.204"};
	struct cid_reply reply = {0};
	struct cid_session sess;
	char value[1000 + 1]; /* near CID_MAX_CLAIM_VALUE */
	char session[CID_TOKEN_CHARS + 1];
	char query[24 * 1024];
	json_t *claims = json_object();

	assert_non_null(claims);
	memset(value, 'a', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
		assert_int_equal(json_object_set_new(claims, scripts[i], json_string(value)), 0);
	snprintf(st.username, sizeof(st.username), "%s", "long-names");
	assert_int_equal(cid_account_add(cid_ctx_store(f->ctx), &f->cfg->argon2, st.username,
					 PASSWORD, claims, NOW, st.account),
			 CID_OK);
	json_decref(claims);

	assert_true(run_story(&st, PROFILE "; login; token", &reply));
	assert_true(strlen(st.b.id_token) > CID_MAX_TOKEN);
	/* the authorization endpoint's id_token_hint */
	assert_true(run_story(&st, PROFILE "&prompt=none&id_token_hint={id_token}", &reply));
	assert_int_equal(reply.status, 302);
	assert_int_equal(strncmp(reply.location, CODE, strlen(CODE)), 0);
	/* the logout endpoint, by GET */
	memcpy(session, st.b.session, sizeof(session));
	assert_true(run_story(&st, HINT "&" BYE "&state=x", &reply));
	assert_int_equal(reply.status, 302);
	assert_string_equal(reply.location, RP_BYE "?state=x");
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), session, st.now, &sess),
			 CID_ERR_NOTFOUND);
	/* and by POST, from a new session */
	assert_true(run_story(&st, PROFILE "; login; token", &reply));
	memcpy(session, st.b.session, sizeof(session));
	expand_query(&st, "id_token_hint={id_token}&" BYE "&state=y", query, sizeof(query));
	cid_reply_free(&reply);
	call(&st, cid_oidc_logout, &st.b, true, query, &reply);
	assert_int_equal(reply.status, 302);
	assert_string_equal(reply.location, RP_BYE "?state=y");
	assert_int_equal(cid_session_get(cid_ctx_store(f->ctx), session, st.now, &sess),
			 CID_ERR_NOTFOUND);
	cid_reply_free(&reply);
	story_free(&st);
}

static const struct row stepped = {"step-up", true, "", 0, 0, NULL, NULL, NULL, NULL, -1};

/* A session started with some methods, and the ID token's amr after its step-up. */
static const struct {
	const char *name;
	const char *before[CID_MAX_AMR];
	size_t n_before;
	const char *after; /* JSON */
} step_up_amr_rows[] = {
    {"a password login", {"pwd"}, 1, "[\"pwd\", \"otp\"]"},
    {"an upstream login", {"fed"}, 1, "[\"fed\", \"otp\"]"},
    {"an upstream login whose password it passed on",
     {"fed", "pwd"},
     2,
     "[\"fed\", \"pwd\", \"otp\"]"},
    {"an upstream login whose code it passed on, below level 2",
     {"fed", "otp"},
     2,
     "[\"fed\", \"otp\"]"},
    {"an upstream login with all the methods a session holds",
     {"fed", "hwk", "pin", "swk"},
     4,
     "[\"fed\", \"hwk\", \"pin\", \"otp\"]"},
};

/*
 * The step-up's code adds "otp" to the methods the session was started
 * with, and nothing else (OIDC Core §2: amr lists the methods actually
 * used): a citizen who signed in through an upstream at level 1 and steps
 * up for acr_values=urn:civicid:acr:mfa keeps "fed" and is not said to have
 * typed a password; a password login still becomes pwd+otp.
 */
static void test_step_up_adds_otp_to_the_sessions_methods(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(step_up_amr_rows) / sizeof(step_up_amr_rows[0]); i++) {
		struct story st = {.f = f, .r = &stepped, .now = NOW, .addr = "192.0.2.210"};
		struct cid_reply reply = {0};
		char username[32];
		json_t *claims;
		json_t *want = json_loads(step_up_amr_rows[i].after, 0, NULL);

		assert_non_null(want);
		snprintf(username, sizeof(username), "stepped%zu", i);
		story_citizen(&st, username);
		/* the browser's session, as its login made it, at level 1 */
		assert_int_equal(cid_session_start(cid_ctx_store(f->ctx), st.account,
						   CID_ACR_PASSWORD, step_up_amr_rows[i].before,
						   step_up_amr_rows[i].n_before, st.now, 3600, NULL,
						   st.b.session, NULL),
				 CID_OK);
		assert_true(run_story(
		    &st, OPENID "&acr_values=urn%3Acivicid%3Aacr%3Amfa; totp; token", &reply));
		claims = last_claims(&st);
		assert_string_equal(cid_json_str(claims, "acr"), CID_ACR_MFA);
		if (!json_equal(json_object_get(claims, "amr"), want)) {
			char *got = json_dumps(json_object_get(claims, "amr"), JSON_COMPACT);

			fail_msg("%s: amr %s, expected %s", step_up_amr_rows[i].name, got,
				 step_up_amr_rows[i].after);
		}
		json_decref(claims);
		json_decref(want);
		cid_reply_free(&reply);
		story_free(&st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_flow_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_relogin_keeps_the_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_relogin_whose_session_ended_meanwhile_starts_afresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_citizen_ends_the_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hint_of_another_citizen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hint_ends_its_session_behind_a_dead_cookie, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_step_up_adds_otp_to_the_sessions_methods, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_long_id_token_comes_back_as_hint, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

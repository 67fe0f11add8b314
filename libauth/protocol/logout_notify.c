/*
 * logout_notify: ending a session on purpose, the front-channel frames of
 * the page that says so, and the logout token. (Sending the back-channel
 * notices: logout_notify_send.c.) A frame's URL and its origin are derived
 * from a URI checked at registration (client.h), and the origin is the
 * only thing of it that reaches a header; a URI that no longer yields one
 * gets no frame rather than a wider policy.
 */
#include "logout_notify.h"

#include "buf.h"
#include "crypto.h"
#include "token.h"

#include <stdlib.h>
#include <string.h>

void cid_logout_done_clear(struct cid_logout_done *d)
{
	if (d == NULL)
		return;
	cid_logout_ended_clear(&d->ended);
	json_decref(d->frames);
	free(d->frame_src);
	memset(d, 0, sizeof(*d));
}

/*
 * The frame URL of one front-channel service f ({"uri", "session_required"})
 * of the session sid into b.
 */
static void frame_url(struct cid_buf *b, const json_t *f, const char *iss, const char *sid)
{
	const char *uri = cid_json_str(f, "uri");

	cid_buf_puts(b, uri);
	/*= Front-Channel Logout 1.0 §2: when frontchannel_logout_session_required is true the
	 *# OP MUST include iss and sid query parameters */
	if (!json_is_true(json_object_get(f, "session_required")))
		return;
	cid_buf_puts(b, strchr(uri, '?') != NULL ? "&iss=" : "?iss=");
	cid_buf_append_urlenc(b, iss, strlen(iss));
	cid_buf_puts(b, "&sid=");
	cid_buf_append_urlenc(b, sid, strlen(sid));
}

/* Adds origin to the space-separated list in b unless it is there already. */
static void origin_add(struct cid_buf *b, const char *origin)
{
	size_t n = strlen(origin);
	const char *p = b->data;

	while (p != NULL && (p = strstr(p, origin)) != NULL) {
		if ((p == b->data || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return;
		p += n;
	}
	if (b->len > 0)
		cid_buf_puts(b, " ");
	cid_buf_puts(b, origin);
}

/* The frames of the front-channel services of ended, and their origins, into d. */
static enum cid_err build_frames(const char *iss, const struct cid_logout_ended *ended,
				 struct cid_logout_done *d)
{
	enum cid_err rc = CID_OK;
	struct cid_buf origins;
	size_t i;
	const json_t *f;

	cid_buf_init(&origins, (size_t)CID_LOGOUT_MAX_FRAMES * (CID_MAX_URI + 1));
	d->frames = json_array();
	CID_ENSURE(d->frames != NULL, CID_ERR_NOMEM);
	json_array_foreach(ended->frontchannel, i, f)
	{
		char origin[CID_MAX_URI + 1];
		struct cid_buf url;
		char *text;

		if (json_array_size(d->frames) >= CID_LOGOUT_MAX_FRAMES)
			break;
		if (cid_client_origin(cid_json_str(f, "uri"), origin) != CID_OK)
			continue; /* registration checked it: a record changed behind its back */
		cid_buf_init(&url, (size_t)2 * CID_MAX_URI);
		frame_url(&url, f, iss, ended->sid);
		CID_TRY(cid_buf_status(&url));
		text = cid_buf_take(&url, NULL);
		CID_ENSURE(text != NULL, CID_ERR_NOMEM);
		rc = json_array_append_new(
			 d->frames,
			 json_pack("{s:s, s:s}", "name", cid_json_str(f, "name"), "url", text)) == 0
			 ? CID_OK
			 : CID_ERR_NOMEM;
		free(text);
		CID_TRY(rc);
		origin_add(&origins, origin);
	}
	CID_TRY(cid_buf_status(&origins));
	if (origins.len > 0) {
		d->frame_src = cid_buf_take(&origins, NULL);
		CID_ENSURE(d->frame_src != NULL, CID_ERR_NOMEM);
	}
out:
	cid_buf_free(&origins);
	return rc;
}

enum cid_err cid_logout_end(struct cid_ctx *ctx, const char *cookie, const char *sid,
			    const char *cause, int64_t now, struct cid_logout_done *out)
{
	enum cid_err rc = CID_OK;
	struct cid_logout_done d = {0};

	CID_TRY(cid_logout_end_session(cid_ctx_store(ctx), cookie, sid, cause, now, &d.ended));
	if (out == NULL)
		goto out;
	CID_TRY(build_frames(cid_ctx_config(ctx)->issuer, &d.ended, &d));
	*out = d;
	memset(&d, 0, sizeof(d));
out:
	cid_logout_done_clear(&d);
	return rc;
}

enum cid_err cid_logout_page_frames(struct cid_logout_done *done, json_t *data,
				    struct cid_reply *reply)
{
	json_t *frames = done->frames != NULL ? done->frames : json_array();

	/* json_object_set_new owns frames from here, failing or not */
	done->frames = NULL;
	if (frames == NULL || json_object_set_new(data, "frames", frames) != 0)
		return CID_ERR_NOMEM;
	free(reply->frame_src);
	reply->frame_src = done->frame_src;
	done->frame_src = NULL;
	return CID_OK;
}

enum cid_err cid_logout_token_mint(struct cid_ctx *ctx, const struct cid_keyset *ks,
				   const struct cid_policyset *ps, const struct cid_client *client,
				   const char *account_id, const char *sid, int64_t now, char **out)
{
	enum cid_err rc = CID_OK;
	char sub[CID_TOKEN_CHARS + 1];
	char jti[CID_TOKEN_CHARS + 1];
	json_t *c = NULL;

	CID_ENSURE(account_id != NULL && sid != NULL, CID_ERR_INVALID);
	cid_token_subject(ctx, ps, client, account_id, sub);
	CID_ENSURE(sub[0] != '\0', CID_ERR_CRYPTO);
	CID_TRY(cid_random_token(jti));
	/*= Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti and events are REQUIRED;
	 *# sub or sid (here both); a nonce is PROHIBITED */
	c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:{s:{}}}", "iss",
		      cid_ctx_config(ctx)->issuer, "sub", sub, "aud", client->client_id, "iat",
		      (json_int_t)now, "exp", (json_int_t)now + CID_LOGOUT_TOKEN_TTL, "jti", jti,
		      "sid", sid, "events", CID_LOGOUT_EVENT);
	CID_ENSURE(c != NULL, CID_ERR_NOMEM);
	/*= Back-Channel Logout 1.0 §2.4: signed with the keys used for ID Tokens;
	 *# the typ header is "logout+jwt" */
	CID_TRY(cid_jws_sign(ks, client->id_token_alg, "logout+jwt", c, out));
out:
	json_decref(c);
	return rc;
}

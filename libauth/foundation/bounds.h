/*
 * bounds: every size and time bound civicid enforces, in one place.
 *
 * Input over a size limit is refused with CID_ERR_TOOBIG (HTTP 413/431 or an
 * OAuth invalid_request), never truncated. Times are seconds unless named _MS.
 * A limit that input meets, or that two modules share, lives here; a module
 * keeps only the sizes of buffers it fills itself and the bounds of its own
 * loops.
 */
#ifndef CID_BOUNDS_H
#define CID_BOUNDS_H

#include <stddef.h>
#include <stdint.h>

/* HTTP */
#define CID_MAX_BODY	    ((size_t)64 * 1024) /* request body */
#define CID_MAX_HEADER	    ((size_t)8 * 1024)	/* one header value (Authorization, Cookie) */
#define CID_MAX_CONN_MEMORY ((size_t)32 * 1024) /* libmicrohttpd per-connection memory */
#define CID_MAX_CONNECTIONS 1024
#define CID_MAX_CONN_PER_IP 256
#define CID_CONN_TIMEOUT    15 /* idle connection timeout */
#define CID_MAX_RESPONSE    ((size_t)256 * 1024)
/* the stack of each HTTP thread: the deepest a request goes is a JSON document nested as
 * deep as an id_token_hint's header allows (CID_MAX_ID_TOKEN; jansson recurses per level,
 * at most JSON_PARSER_MAX_DEPTH, 2048), well under this */
#define CID_HTTP_THREAD_STACK ((size_t)1024 * 1024)
/* A request, head and body, must have arrived this many seconds after its connection opened
 * (on a kept-alive connection: the idle timeout plus this after the last answer). The idle
 * timeout alone restarts with every byte, so it never ends a slow trickle. */
#define CID_REQUEST_DEADLINE 15
#define CID_REQUEST_CHECK_MS 1000 /* how often the deadline is checked */
/* This share of max_connections is kept free for new clients: beyond the rest, the
 * connections that have waited longest for a request are closed. */
#define CID_CONN_SPARE_PCT 10
#define CID_FD_SPARE	   64 /* open files beyond connections and threads (store, logs) */

/* parameters */
#define CID_MAX_PARAMS	    32 /* distinct parameters in one request */
#define CID_MAX_PARAM_NAME  64
#define CID_MAX_PARAM_VALUE 4096 /* one decoded parameter value */
#define CID_MAX_URI	    2048 /* redirect_uri, post_logout_redirect_uri */
#define CID_MAX_STATE	    1024
#define CID_MAX_NONCE	    512
#define CID_MAX_SCOPE	    1024
#define CID_MAX_SCOPES	    32
#define CID_MAX_TOKEN	    4096 /* a JWT or opaque token presented to us */
/* an ID token of ours presented back as id_token_hint (authorize, logout): its released
 * claims (names in several scripts, address, verified_claims and their evidence) and an
 * RS256 signature by a 4096-bit key make it longer than CID_MAX_TOKEN. The one parameter
 * whose value may exceed CID_MAX_PARAM_VALUE (str.h). A GET to /logout carrying one, its
 * other parameters at their bounds, fits CID_MAX_CONN_MEMORY with the headers a browser
 * sends us (not beside a Cookie header near CID_MAX_HEADER: 431); a GET to /authorize
 * with claims, redirect_uri and the rest also at their bounds does not (libmicrohttpd
 * answers it itself); a POSTed form always fits.
 * An ID token is not cut to fit: one with more released text than this (dozens of
 * attributes near CID_MAX_CLAIM_VALUE) is still issued, and refused back (413) */
#define CID_MAX_ID_TOKEN 16384
/* an upstream's ID token: OIDC4IDA verified_claims and their evidence make it
 * larger than a token of ours (at most CID_MAX_RECEIPT, cid_jws_verify_max) */
#define CID_MAX_UPSTREAM_ID_TOKEN 16384
#define CID_MAX_CLIENT_ID	  128
#define CID_MAX_SECRET		  256
#define CID_MAX_USERNAME	  128
#define CID_MAX_PASSWORD	  1024
#define CID_MIN_PASSWORD	  8
#define CID_PKCE_VERIFIER_MIN	  43 /* RFC 7636 §4.1 */
#define CID_PKCE_VERIFIER_MAX	  128
#define CID_MAX_REDIRECT_URIS	  16
#define CID_MAX_CLAIM_VALUE	  1024 /* a string attribute of a citizen */
#define CID_MAX_CLAIMS		  64   /* attributes of one citizen */
#define CID_MAX_SECTOR		  255  /* a sector identifier: host[:port] (OIDC Core §8.1) */
#define CID_MAX_LANG_TAG	  35 /* tag of a claim name (RFC 5646 §4.4.1: longest in practice) */
#define CID_MAX_AMR		  4 /* authentication methods (amr) of one session */

/* documents fetched from other parties (http_fetch.h) */
#define CID_MAX_SECTOR_DOC	     ((size_t)64 * 1024) /* a sector identifier document */
#define CID_FETCH_CONNECT_TIMEOUT_MS 5000
#define CID_FETCH_TIMEOUT_MS	     10000
#define CID_FETCH_MAX_REDIRS	     3
#define CID_FETCH_CACHE_MIN	     300   /* an upstream document is kept at least 5 min */
#define CID_FETCH_CACHE_MAX	     86400 /* and at most a day, whatever its max-age */
#define CID_FETCH_CACHE_SLOTS	     32	   /* documents kept (fetch_cache.h) */
#define CID_FETCH_CACHE_URL	     1024  /* a longer URL is fetched, never kept */
#define CID_FETCH_CACHE_FAILED	     30	   /* a failed fetch is not tried again for 30 s */

/* single logout (logout.h, logout_notify.h); the tries, waits and timeouts are configured */
#define CID_LOGOUT_TOKEN_TTL   120  /* lifetime of a logout token: seconds to deliver it */
#define CID_LOGOUT_BACKOFF_MAX 3600 /* the longest wait between two tries of a notice */
#define CID_LOGOUT_LEASE_SLACK                                                                     \
	30 /* a notice being sent is kept from other claims for                                    \
	      the delivery timeout and this */
#define CID_LOGOUT_MAX_ANSWER ((size_t)4 * 1024) /* a receiver's answer, read and dropped */
#define CID_LOGOUT_POLL_MS    250		 /* how often the worker looks for due notices */
#define CID_LOGOUT_MAX_FRAMES 32		 /* front-channel frames on one logged-out page */

/* store */
#define CID_STORE_MAP_INITIAL ((size_t)64 << 20) /* 64 MiB, doubled when full */
#define CID_STORE_MAP_MAX     ((size_t)4 << 40)	 /* 4 TiB of address space, not of disk */
#define CID_STORE_MAX_KEY     511		 /* LMDB's default key limit */
#define CID_STORE_SCHEMA      1
/* records one write transaction of a sweep (cid_store_sweep) deletes at most: a backlog is
 * swept in many short transactions, never one that holds the writer for long */
#define CID_SWEEP_BATCH 256
/* seconds between two runs of the janitor in `civicid serve` (janitor.h): each walks every
 * token and session (~1.2 s per 100,000 records under ASan), so not every minute */
#define CID_JANITOR_INTERVAL 600
/* parsed records a store keeps per database (memo.h): up to this many, each of at most
 * CID_MEMO_MAX_BYTES of key and record */
#define CID_STORE_MEMO_ENTRIES 1024
/* access tokens whose signature was checked, kept per keyset (cid_keyref_memo) */
#define CID_TOKEN_MEMO_ENTRIES 4096

/* transparency logs: signed notes, checkpoints and the witness (note.h, witness.h) */
#define CID_NOTE_MAX_SIZE     ((size_t)128 * 1024) /* a signed note, text and signature lines */
#define CID_NOTE_MAX_SIGS     64   /* signature lines of one note (signed-note: at least 16) */
#define CID_NOTE_MAX_NAME     256  /* a key name or a checkpoint origin, in bytes */
#define CID_NOTE_MAX_SIG      8192 /* one decoded signature: key id, timestamp, signature */
#define CID_WITNESS_MAX_BODY  (CID_NOTE_MAX_SIZE + 4096) /* an add-checkpoint request */
#define CID_WITNESS_MAX_PROOF 63 /* consistency proof lines of one request (tlog-witness) */
#define CID_WITNESS_MAX_KEYS  16 /* log keys the witness trusts for one origin */

/* secrets */
#define CID_TOKEN_BYTES 32 /* random bytes behind codes, refresh tokens, secrets */
#define CID_TOKEN_CHARS 43 /* base64url length of CID_TOKEN_BYTES */
#define CID_ID_CHARS	36 /* UUID text */
#define CID_HASH_HEX	64 /* SHA-256 as hex */

/* lifetimes (defaults; the config may change them within the ranges of config.c) */
#define CID_CODE_TTL		60
#define CID_ACCESS_TTL		300
#define CID_ID_TOKEN_TTL	300
#define CID_REFRESH_TTL		(30 * 24 * 3600)
#define CID_REFRESH_TTL_MAX	31536000 /* the longest refresh_token_ttl allowed: 365 days */
#define CID_SESSION_TTL		(8 * 3600)
#define CID_OFFICER_SESSION_TTL ((int64_t)30 * 60) /* absolute, from login */
#define CID_AUTHREQ_TTL		600 /* a pending authorization request (login page) */
#define CID_CLOCK_SKEW		60
/* the longest access_token_ttl the config accepts: how long after its last refresh a
 * grant may still have an access token out (the janitor keeps the grant that long) */
#define CID_ACCESS_TTL_MAX 86400

/* how recent a login must be for its citizen to delete their account (account_erase.h) */
#define CID_REAUTH_MAX_AGE ((int64_t)5 * 60)

/* login throttling (throttle.h has the rule): after its free failures within THROTTLE_WINDOW
 * seconds, each further attempt on a counter waits 2^(n - free) seconds, capped at
 * THROTTLE_MAX_DELAY */
#define CID_THROTTLE_FREE      5   /* per login name and client address */
#define CID_THROTTLE_ADDR_FREE 100 /* per client address, across every name */
#define CID_THROTTLE_WINDOW    900
#define CID_THROTTLE_MAX_DELAY 900
#define CID_SWEEP_INTERVAL     60 /* seconds between serve's consent and retention sweeps */
/* consecutive wrong one-time codes of one account before its second factor is refused until
 * an operator unlocks it; never forgotten with time (NIST SP 800-63B §5.2.2: at most 100) */
#define CID_CODE_MAX_FAILURES 20

/* the consent sweeper (consent_sweep.h): consent.expired entries one run writes at most */
#define CID_CONSENT_SWEEP_MAX 256

/* a signed consent receipt, its log proof included (receipt.h: larger than a token) */
#define CID_MAX_RECEIPT 32768

/* one-time codes (totp.h) */
#define CID_TOTP_SECRET_MIN 16 /* bytes; RFC 4226 §4 R6: at least 128 bits */
#define CID_TOTP_SECRET_MAX 64 /* bytes; RFC 6238's SHA-512 test seed */
#define CID_TOTP_WINDOW_MAX 10 /* steps each side of now a check may accept */

/* officers (officer.h) */
#define CID_OFFICER_MAX_NAME 64

/* signing keys and key sets (jose.h) */
#define CID_RSA_MIN_BITS  2048 /* RSA keys accepted, and the size civicid generates */
#define CID_RSA_MAX_BITS  4096
#define CID_MAX_JWKS	  ((size_t)64 * 1024) /* a JWKS document read (audit verify --jwks) */
#define CID_JWKS_MAX_KEYS 64
#define CID_JWKS_MAX_KID  128 /* a kid in a JWKS civicid did not make */

/* release policies (policy.h) */
#define CID_POLICY_MAX_FILE	  ((size_t)1024 * 1024) /* bytes of one policy file */
#define CID_POLICY_MAX_LINE	  4096			/* bytes of one line, without its LF */
#define CID_POLICY_MAX_PURPOSES	  256			/* purposes of one policy */
#define CID_POLICY_MAX_PURPOSE_ID 64			/* bytes of a purpose id */
#define CID_POLICY_MAX_DAYS	  36500			/* 100 years: longest retention */

/* consent (consent.h) */
/* a service, purpose, attribute, purpose digest, method or request id of a record */
#define CID_CONSENT_MAX_NAME 128
/* attributes asked on one consent screen: with req, csrf and action, the form stays
 * within CID_MAX_PARAMS */
#define CID_CONSENT_MAX_ASK 24
/* the purpose a service states in its authorization request (OpenID Connect for
 * Identity Assurance 1.0 §8: 3 to 300 characters), kept in the consent record */
#define CID_PURPOSE_MIN_CHARS 3
#define CID_PURPOSE_MAX_CHARS 300
#define CID_PURPOSE_MAX_BYTES                                                                      \
	((size_t)CID_PURPOSE_MAX_CHARS * 4) /* UTF-8: at most 4 bytes a character */

/* the audit log (audit.h) */
#define CID_AUDIT_MAX_LINE ((size_t)1 << 20) /* an export line longer than this is damage */
#define CID_AUDIT_MAX_NAME 200		     /* a citizen or service id used in an index key */
/* why an officer looked up a pseudonym (audit.h): 200 characters of any script */
#define CID_AUDIT_REASON_CHARS	200
#define CID_AUDIT_MAX_REASON	600  /* bytes: CID_AUDIT_REASON_CHARS of 3-byte UTF-8 */
#define CID_AUDIT_MAX_DEPTH	32   /* nesting of an entry */
#define CID_AUDIT_MAX_RULE	4096 /* an entry's "rule": a file name and its lines */
#define CID_AUDIT_MAX_KEYS	32   /* audit keys of one log, retired ones included (rotations) */
#define CID_AUDIT_MAX_TRUST	48 /* verifier keys one verification trusts: log keys and witnesses */
#define CID_AUDIT_MAX_WITNESSES 8		    /* witnesses the server pushes checkpoints to */
#define CID_AUDIT_MAX_VKEYS	((size_t)64 * 1024) /* a vkeys file or document */
#define CID_TRAIL_MAX		500 /* entries of one trail download (the citizen's bundle): a page */
#define CID_TRAIL_PRINT_MAX                                                                        \
	100 /* entries of one printable trail page (its HTML stays under                           \
	       CID_MAX_RESPONSE with long names) */
#define CID_TRAIL_CSV_MAX ((size_t)8 * 1024 * 1024) /* a trail's CSV */
#define CID_TRAIL_CP_SCAN 4096 /* checkpoints looked through, newest first, for a cosigned one */
/* a proof file: an entry (one export line), its path and a checkpoint note */
#define CID_AUDIT_MAX_PROOF (CID_AUDIT_MAX_LINE * 2 + CID_NOTE_MAX_SIZE)
#define CID_AUDIT_CATCH_UP  20000 /* entries the tree of an old store catches up per transaction */

/* web pages (account_pages.h, console.h) */
#define CID_MAX_LABEL_KEY	 (5 + CID_CONSENT_MAX_NAME) /* the message key "attr.NAME" */
#define CID_CONSOLE_PAGE_SIZE	 50			    /* log entries on one console page */
#define CID_CONSOLE_MAX_DAYS	 92			    /* the range of the services page */
#define CID_CONSOLE_MAX_TEXT	 128 /* a filter value: service, release, attribute, citizen, type */
#define CID_CONSOLE_MAX_CONSENTS 32  /* consent records shown behind one entry */
#define CID_CONSOLE_MAX_SERVICES 256 /* services on the services page */

/* consent: the longest a paper grant lasts (consent_paper.h), ten years */
#define CID_CONSENT_PAPER_MAX_DAYS 3650

/* client addresses and reverse proxies (netaddr.h) */
/* a client's address as text, as the skins pass it to a login (IPv6 needs 45 bytes) */
#define CID_MAX_ADDR		64
#define CID_MAX_TRUSTED_PROXIES 64 /* addresses and ranges in trusted_proxies */
#define CID_MAX_FORWARD_HOPS	64 /* rightmost hops of X-Forwarded-For / Forwarded walked */

/* argon2id, OWASP minimum (m = 19 MiB, t = 2, p = 1) */
#define CID_ARGON2_T	 2
#define CID_ARGON2_M_KIB 19456
#define CID_ARGON2_P	 1
/* argon2id hashes computed at once (crypto.h cid_hash_gate), as many as cores at most */
#define CID_MAX_HASHES_AT_ONCE 64

#endif

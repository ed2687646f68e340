// Package server is shopwatch's workspace server: while "shopwatch serve"
// runs, it is the one process that owns the database, and everything else
// (the command line, and later the web console and worker nodes) reaches
// the data through its JSON API under /api/v1.
//
// # Finding the server
//
// The server listens on a unix socket in the data directory,
// <data>/shopwatch.sock (SocketName), created with mode 0600 inside the
// data directory: whoever may open the database file may use the socket,
// and nobody else. A command that finds a server answering there talks to
// it (Dial); one that finds none, or a socket left behind by a server that
// died, opens the database itself. The server knows who calls it from the
// socket's peer credentials (SO_PEERCRED): the audit log names the calling
// system user, or the operator the caller's configuration names, with the
// user in brackets.
//
// Over TCP (Serve on any other listener; "serve --listen") every route but
// /healthz, /readyz and the OpenAPI document needs an API token,
// "Authorization: Bearer swt_…", of a person (db.User) who is not
// disabled; the token's SHA-256 is all the database keeps. A person's role
// decides the routes (Route.Permission: read for every role; targets and
// sweeps for inspectors; custody for case handlers; admin for the audit
// log and people) and their jurisdiction what they see: targets of it and
// of the areas below it, the findings and evidence of those targets; a
// target outside it is not found, a new target without one gets theirs,
// and one in another area is refused (403). Over the socket the caller is
// the data directory's owner, an admin of every area.
//
// # The API
//
// JSON in, JSON out (UTF-8). Request bodies are at most MaxBody bytes and
// must not carry unknown fields. Errors are
//
//	{"error": "<what is wrong, naming the field or id>", "code": "<code>"}
//
// with the HTTP status and code: 400 invalid (a field fails validation,
// malformed JSON, unknown fields), 401 unauthorized (no valid token), 403
// forbidden (a role or jurisdiction that does not allow it), 404
// not_found (an unknown id, or one outside the caller's jurisdiction),
// 409 exists (a target with the same URL) or user_exists, 413 too_large,
// 405
// method_not_allowed, 503 unavailable (a server that runs no sweeps asked
// for one), 500 internal.
//
// Sweeps asked for through the API (POST /api/v1/sweeps) are planned at
// once: their pages join the one visit queue, which the server's runner
// works through by priority, so a sweep already running may visit them;
// GET /api/v1/sweeps/{id} follows one (queued, running, finished, failed,
// interrupted). The routes and their shapes are in
// openapi.json (OpenAPI 3.1), served at /api/v1/openapi.json; a test holds
// it to the routes the server registers.
//
// /healthz answers 200 while the process runs; /readyz answers 200 once
// the database is open and readable, 503 otherwise.
package server

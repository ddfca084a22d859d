// Package session decides the life of a login session: start, sliding
// renewal, end.
//
// One stream per session, named by Stream(id). The stream never holds the
// session token, only its SHA-256 in hex, so reading the log does not let
// anyone log in. Sessions slide: a renewal moves the expiry to its time plus
// Policy.SessionTTL, never beyond the start plus Policy.SessionMaxLifetime,
// and renewals are recorded at most every Policy.SessionRenewInterval so
// that heartbeats do not flood the log.
//
// An expired session is ended by the sweeper with Expire; until then it is
// already inactive (Active reports false past the expiry), so enforcement
// never waits for the sweeper.
//
// It imports the standard library and switchboard/domain only.
package session

// Package user decides the registration and profile of a user account.
//
// One stream per user, named by Stream(handle). The user id is the handle:
// unique, immutable and lowercase (NormalizeHandle). Uniqueness is decided
// twice: Register refuses an existing user, and the command handler appends
// the registration with "no stream" as the expected revision, so two
// concurrent registrations of one handle cannot both succeed.
//
// Passwords never reach this package: the handler hashes them and checks
// them; Register records the hash it is given.
//
// It imports the standard library and switchboard/domain only.
package user

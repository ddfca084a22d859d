// Package codec turns the events of every aggregate into stored records and
// back: a type name (the event's EventType, equal to its Go type name) and a
// JSON payload.
//
// The registry is closed: Decode knows exactly the types listed by Types
// and refuses others with ErrUnknownType, so an event type cannot be
// renamed or dropped without a test failing. Decoding is tolerant of
// fields it does not know, so a log written by a newer version stays
// readable by an older one.
//
// It imports the standard library and the domain packages only.
package codec

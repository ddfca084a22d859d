package domain

// Event is a fact recorded in a stream. Every event is a struct value (never
// a pointer) whose EventType is a constant equal to its Go type name, e.g.
// "MessagePosted"; the codec stores that name next to the JSON payload, so
// renaming an event type is a change of the stored format.
type Event interface {
	EventType() string
}

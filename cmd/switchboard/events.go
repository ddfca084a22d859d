package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"switchboard/eventstore"
	"switchboard/eventstore/filestore"
)

// secretFields are the JSON keys whose values the audit replay hides unless
// asked: nothing that could be used to log in leaves through it.
var secretFields = map[string]bool{"passwordHash": true, "tokenHash": true}

const redacted = "[redacted]"

// eventsCmd is `switchboard events`: the log as JSON lines, for auditors.
// It opens the log read-only, so it works beside a running server.
func eventsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		data     = fs.String("data", "./data", "data directory of the embedded store")
		storeURL = fs.String("store", env("SWITCHBOARD_STORE", ""), "a cluster's KurrentDB connection string instead of the embedded store (SWITCHBOARD_STORE)")
		stream   = fs.String("stream", "", "only this stream")
		category = fs.String("category", "", "only streams of this category (the part before the first '-')")
		typ      = fs.String("type", "", "only records of this type (comma-separated list)")
		from     = fs.Uint64("from", 1, "first position")
		to       = fs.Uint64("to", 0, "last position (0: the end)")
		since    = fs.String("since", "", "only records committed at or after this time (RFC 3339)")
		until    = fs.String("until", "", "only records committed before this time (RFC 3339)")
		follow   = fs.Bool("follow", false, "keep printing records as they are committed")
		secrets  = fs.Bool("show-secrets", false, "print password and token hashes instead of redacting them")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: switchboard events [flags]\n\nPrints the event log as JSON lines (position, stream, revision, type, time, data, metadata).\nWorks while the server runs: the log is opened read-only.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("events: unexpected argument %q", fs.Arg(0))
	}
	var f filter
	f.stream, f.category = *stream, *category
	if *typ != "" {
		f.types = map[string]bool{}
		for _, t := range strings.Split(*typ, ",") {
			f.types[strings.TrimSpace(t)] = true
		}
	}
	var errs []error
	var err error
	if f.since, err = parseTime("since", *since); err != nil {
		errs = append(errs, err)
	}
	if f.until, err = parseTime("until", *until); err != nil {
		errs = append(errs, err)
	}
	if *to != 0 && *to < *from {
		errs = append(errs, fmt.Errorf("events: --to %d is before --from %d", *to, *from))
	}
	if *stream != "" {
		if err := eventstore.ValidateStreamName(*stream); err != nil {
			errs = append(errs, fmt.Errorf("events: --stream: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}

	var store eventstore.Store
	if *storeURL != "" {
		store, err = openKurrentDB(ctx, *storeURL, stderr)
	} else {
		store, err = filestore.Open(*data, filestore.Options{ReadOnly: true})
	}
	if err != nil {
		return err
	}
	defer store.Close()
	sub, err := store.Subscribe(ctx, max(*from, 1)-1)
	if err != nil {
		return err
	}
	defer sub.Close()
	head, err := store.Head(ctx)
	if err != nil {
		return err
	}
	w := json.NewEncoder(stdout)
	for {
		if !*follow {
			if pos := lastWanted(head, *to); pos == 0 || pos < *from {
				return nil
			}
		}
		r, err := sub.Next(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if *to != 0 && r.Position > *to {
			return nil
		}
		if f.match(r) {
			if err := w.Encode(auditLine(r, *secrets)); err != nil {
				return err
			}
		}
		if !*follow && r.Position >= lastWanted(head, *to) {
			return nil
		}
	}
}

// lastWanted is the last position a non-following replay prints.
func lastWanted(head, to uint64) uint64 {
	if to != 0 && to < head {
		return to
	}
	return head
}

func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("events: --%s: %q is not an RFC 3339 time (like 2026-11-23T10:00:00Z)", name, v)
	}
	return t, nil
}

type filter struct {
	stream, category string
	types            map[string]bool
	since, until     time.Time
}

func (f *filter) match(r eventstore.Record) bool {
	switch {
	case f.stream != "" && r.Stream != f.stream:
	case f.category != "" && eventstore.Category(r.Stream) != f.category:
	case f.types != nil && !f.types[r.Type]:
	case !f.since.IsZero() && r.Committed.Before(f.since):
	case !f.until.IsZero() && !r.Committed.Before(f.until):
	default:
		return true
	}
	return false
}

// line is one record of the audit replay.
type line struct {
	Position uint64              `json:"position"`
	Stream   string              `json:"stream"`
	Revision uint64              `json:"revision"`
	Type     string              `json:"type"`
	Time     time.Time           `json:"time"`
	ID       string              `json:"id"`
	Data     json.RawMessage     `json:"data"`
	Metadata eventstore.Metadata `json:"metadata"`
}

func auditLine(r eventstore.Record, secrets bool) line {
	data := r.Data
	if !secrets {
		data = redact(data)
	}
	return line{r.Position, r.Stream, r.Revision, r.Type, r.Committed.UTC(), r.ID.String(), data, r.Metadata}
}

// redact replaces the values of secret fields, at any depth, with
// "[redacted]". Data that is not a JSON object is returned as it is.
func redact(data json.RawMessage) json.RawMessage {
	if !bytes.Contains(data, []byte("Hash")) {
		return data // fast path: no secret field can be present
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return data
	}
	out, err := json.Marshal(redactValue(v))
	if err != nil {
		return data
	}
	return out
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if secretFields[k] {
				if s, ok := val.(string); !ok || s != "" {
					x[k] = redacted
				}
				continue
			}
			x[k] = redactValue(val)
		}
	case []any:
		for i := range x {
			x[i] = redactValue(x[i])
		}
	}
	return v
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"switchboard/eventstore/filestore"
)

// repairCmd is `switchboard repair`: it opens the log with Repair, which
// cuts it at the first damaged record (losing what follows), and reports
// where the log now ends. Without damage it changes nothing.
func repairCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("repair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./data", "data directory of the embedded store")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := filestore.Open(*data, filestore.Options{Repair: true})
	if err != nil {
		return err
	}
	defer s.Close()
	head, err := s.Head(context.Background())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "log in %s ends at position %d\n", *data, head)
	return nil
}

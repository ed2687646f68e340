package main

import (
	"flag"
	"io"

	"shopwatch/db"
)

// listing runs a listing command: it parses the command's flags (flags may
// add its own), loads the items from the database and prints them as a JSON
// array with --json (an empty array, never null) or as a table.
func listing[T any](a *app, name string, args []string, flags func(*flag.FlagSet), load func(*db.DB) ([]T, error), table func(w io.Writer, items []T)) error {
	fs := a.newFlags(name, name+" [flags] [--json]")
	if flags != nil {
		flags(fs)
	}
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	d, err := a.openDBReadOnly()
	if err != nil {
		return err
	}
	items, err := load(d)
	if err != nil {
		return err
	}
	if *asJSON {
		if items == nil {
			items = []T{}
		}
		return a.printJSON(items)
	}
	tw := newTable(a.stdout)
	table(tw, items)
	return tw.Flush()
}

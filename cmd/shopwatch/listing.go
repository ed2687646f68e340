package main

import (
	"flag"
	"io"
)

// listing runs a listing command: it parses the command's flags (flags may
// add its own), opens its source (the database, or the workspace), loads
// the items and prints them as a JSON array with --json (an empty array,
// never null) or as a table.
func listing[S, T any](a *app, name string, args []string, flags func(*flag.FlagSet), open func() (S, error), load func(S) ([]T, error), table func(w io.Writer, items []T)) error {
	fs := a.newFlags(name, name+" [flags] [--json]")
	if flags != nil {
		flags(fs)
	}
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	src, err := open()
	if err != nil {
		return err
	}
	items, err := load(src)
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

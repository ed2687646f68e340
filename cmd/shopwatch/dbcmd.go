package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"shopwatch/db"
)

func init() {
	register(command{name: "db", summary: "check, back up and salvage the database file", run: runDB})
}

func runDB(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "db", args, map[string]func(context.Context, *app, []string) error{
		"check":   dbCheck,
		"backup":  dbBackup,
		"salvage": dbSalvage,
	})
}

// dbPath is the database file of the data directory, which must exist.
func (a *app) dbPath() (string, error) {
	dir, err := a.dataDir()
	if err != nil {
		return "", err
	}
	if err := a.needData(dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, "shopwatch.db"), nil
}

// dbCheckReport is the JSON form of db check.
type dbCheckReport struct {
	File     string   `json:"file"`
	OK       bool     `json:"ok"`
	Damaged  bool     `json:"damaged"`
	Problems []string `json:"problems"`
}

// dbCheck reads the whole file read-only: the page-level checks Open runs,
// bbolt's own consistency check, then the records against each other and
// the audit hash chain. Exit 1 when it finds anything.
func dbCheck(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("db check", "db check [--json]")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("db check takes no arguments (got %q)", pos[0])
	}
	path, err := a.dbPath()
	if err != nil {
		return err
	}
	rep := dbCheckReport{File: path, Problems: []string{}}
	d, err := db.Open(path, db.ReadOnly(), db.WithFullCheck(), db.WithLogger(a.logger))
	if errors.Is(err, db.ErrLocked) {
		if c, cerr := a.serverClient(ctx); cerr == nil && c != nil {
			return serverOwnsDB(c, err)
		}
	}
	var de *db.DamageError
	switch {
	case errors.As(err, &de):
		rep.Damaged = true
		rep.Problems = append(rep.Problems, de.Problems...)
	case err != nil:
		return err
	default:
		cerr := d.Check(ctx)
		if _, herr := a.checkAuditHead(ctx, d); errors.Is(herr, db.ErrAuditTruncated) {
			rep.Problems = append(rep.Problems, herr.Error())
		} else if herr != nil {
			a.logger.Warn("the audit log's head was not compared with the ledger's checkpoints", "err", herr)
		}
		_ = d.Close()
		var ce *db.CheckError
		switch {
		case errors.As(cerr, &ce):
			for _, p := range ce.Problems {
				rep.Problems = append(rep.Problems, p.String())
			}
		case errors.As(cerr, &de):
			rep.Damaged = true
			rep.Problems = append(rep.Problems, de.Problems...)
		case cerr != nil:
			return cerr
		}
	}
	rep.OK = len(rep.Problems) == 0
	if *asJSON {
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(a.stdout, "PROBLEM: %s\n", p)
		}
		if rep.OK {
			fmt.Fprintf(a.stdout, "database %s: ok\n", path)
		}
	}
	switch {
	case rep.OK:
		return nil
	case rep.Damaged:
		return &errExit{code: exitFailed, err: fmt.Errorf("database %s is damaged (%d problems)\n%s", path, len(rep.Problems), damagedHint)}
	default:
		return &errExit{code: exitFailed, err: fmt.Errorf("database %s: %d inconsistent records", path, len(rep.Problems))}
	}
}

// dbBackup writes a consistent copy of the database to a new file while
// it stays readable by others.
func dbBackup(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("db backup", "db backup --out FILE")
	out := fs.String("out", "", "the new backup file (never overwritten)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" && len(pos) == 1 {
		*out, pos = pos[0], nil
	}
	if *out == "" || len(pos) != 0 {
		return usagef("db backup needs --out FILE and no other arguments")
	}
	d, err := a.openDBReadOnly()
	if err != nil {
		return err
	}
	size, err := d.Backup(ctx, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "backed up %s to %s (%d bytes)\n", d.Path(), *out, size)
	return nil
}

// dbSalvageReport is the JSON form of db salvage.
type dbSalvageReport struct {
	Source  string         `json:"source"`
	Out     string         `json:"out"`
	TxID    uint64         `json:"txid"`
	Records map[string]int `json:"records"`
	Total   int            `json:"total"`
	Lost    []string       `json:"lost"`
	// Inconsistent lists what the check of the new file found: indexes
	// and counters that disagree where records were lost.
	Inconsistent []string `json:"inconsistent"`
}

// dbSalvage copies every readable record of a damaged database into a new
// file. Exit 1 when anything could not be read.
func dbSalvage(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("db salvage", "db salvage --out NEW.db [--json]")
	out := fs.String("out", "", "the new database file to copy the readable records into")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) != 0 {
		return usagef("db salvage needs --out NEW.db and no other arguments")
	}
	path, err := a.dbPath()
	if err != nil {
		return err
	}
	rep, err := db.Salvage(ctx, path, *out)
	if err != nil {
		return err
	}
	jr := dbSalvageReport{Source: path, Out: *out, TxID: rep.TxID, Records: rep.Records, Total: rep.Total(),
		Lost: append([]string{}, rep.Lost...), Inconsistent: []string{}}
	// Open the copy once for writing, which adds the buckets no record
	// was saved in, and check it as db check would.
	d, err := db.Open(*out, db.WithFullCheck(), db.WithLogger(a.logger))
	if err != nil {
		return fmt.Errorf("salvaged copy %s does not open: %w", *out, err)
	}
	cerr := d.Check(ctx)
	_ = d.Close()
	var ce *db.CheckError
	switch {
	case errors.As(cerr, &ce):
		for _, p := range ce.Problems {
			jr.Inconsistent = append(jr.Inconsistent, p.String())
		}
	case cerr != nil:
		return cerr
	}
	if *asJSON {
		if err := a.printJSON(jr); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "copied %d records from %s into %s\n", jr.Total, path, *out)
		for _, b := range rep.Buckets() {
			fmt.Fprintf(a.stdout, "  %-12s %d\n", b, rep.Records[b])
		}
		for _, l := range jr.Lost {
			fmt.Fprintf(a.stdout, "LOST: %s\n", l)
		}
		for _, p := range jr.Inconsistent {
			fmt.Fprintf(a.stdout, "INCONSISTENT: %s\n", p)
		}
	}
	if len(jr.Lost) == 0 && len(jr.Inconsistent) == 0 {
		fmt.Fprintln(a.stderr, "everything was readable; the copy is complete")
		return nil
	}
	return &errExit{code: exitFailed, err: fmt.Errorf("%d parts of %s could not be read and %d records of the copy disagree; "+
		"keep the damaged file, and use %s in its place only after checking what is listed above", len(jr.Lost), path, len(jr.Inconsistent), *out)}
}

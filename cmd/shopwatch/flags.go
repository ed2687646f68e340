package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns a flag set for a command that also accepts the global
// flags after the command name.
func (a *app) newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.dataFlag, "data", a.dataFlag, "data directory")
	fs.StringVar(&a.configPath, "config", a.configPath, "configuration file")
	fs.BoolVar(&a.verbose, "v", a.verbose, "verbose logs")
	fs.BoolVar(&a.allowPrivate, "allow-private", a.allowPrivate, "allow targets on loopback and private networks")
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: shopwatch %s\n\nFlags:\n", usage)
		fs.SetOutput(a.stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parse parses flags that may stand before, between or after positional
// arguments, and returns the positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				fs.Usage()
				return nil, &errExit{code: exitOK, err: fmt.Errorf("")}
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseGlobal takes the global flags that stand before the command.
func (a *app) parseGlobal(args []string) ([]string, error) {
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-" {
		arg := args[0]
		name, val, hasVal := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		switch name {
		case "v", "verbose":
			a.verbose = true
			args = args[1:]
			continue
		case "allow-private":
			a.allowPrivate = true
			args = args[1:]
			continue
		case "data", "config":
		case "h", "help":
			return args, nil
		default:
			return nil, fmt.Errorf("unknown global flag %s", arg)
		}
		if !hasVal {
			if len(args) < 2 {
				return nil, fmt.Errorf("flag %s needs a value", arg)
			}
			val = args[1]
			args = args[2:]
		} else {
			args = args[1:]
		}
		if name == "data" {
			a.dataFlag = val
		} else {
			a.configPath = val
		}
	}
	return args, nil
}

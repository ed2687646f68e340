package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
)

// flagInfo is what parse needs to know about a command's flag set besides
// the flags: the invocation it belongs to and the command's usage line.
type flagInfo struct {
	a     *app
	usage string
}

// flagInfos maps each *flag.FlagSet made by newFlags to its flagInfo.
var flagInfos sync.Map

// Global flags: accepted by every command, listed only where they mean
// something (see globalFlagsFor).
var globalFlags = map[string]bool{"data": true, "config": true, "v": true, "allow-private": true}

// newFlags returns a flag set for a command that also accepts the global
// flags after the command name. usage is the command's usage line without
// the leading "shopwatch", e.g. "target add URL [flags]".
func (a *app) newFlags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.dataFlag, "data", a.dataFlag, "data directory")
	fs.StringVar(&a.configPath, "config", a.configPath, "configuration file")
	fs.BoolVar(&a.verbose, "v", a.verbose, "verbose logs")
	fs.BoolVar(&a.allowPrivate, "allow-private", a.allowPrivate, "allow targets on loopback and private networks")
	fs.Usage = func() {} // parse prints the usage, once
	flagInfos.Store(fs, flagInfo{a: a, usage: usage})
	return fs
}

// printUsage writes the usage line of the command of fs and its own flags,
// then the global flags that mean something for it.
func printUsage(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprintf(w, "Usage: shopwatch %s\n", usage)
	var own strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if globalFlags[f.Name] {
			return
		}
		name, help := flag.UnquoteUsage(f)
		fmt.Fprintf(&own, "  -%s", f.Name)
		if name != "" {
			fmt.Fprintf(&own, " %s", name)
		}
		fmt.Fprintf(&own, "\n    \t%s", strings.ReplaceAll(help, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(&own, " (default %s)", f.DefValue)
		}
		own.WriteString("\n")
	})
	if own.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", own.String())
	}
	fmt.Fprintf(w, "\nGlobal flags: %s\n", strings.Join(globalFlagsFor(fs.Name()), ", "))
}

// globalFlagsFor lists the global flags that mean something for the named
// command: --data only where a data directory is read or written,
// --allow-private only where pages are fetched.
func globalFlagsFor(name string) []string {
	out := []string{"--config FILE", "-v"}
	switch name {
	case "scan", "marketsim", "rules check", "rules list", "rules lint", "rules test":
	default:
		out = append([]string{"--data DIR"}, out...)
	}
	switch name {
	case "scan", "sweep", "serve":
		out = append(out, "--allow-private")
	}
	return out
}

// parse parses the flags of a command that takes no positional arguments;
// a stray argument is a usage error.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	return parseArgs(fs, args, 0, 0)
}

// parseArgs parses flags that may stand before, between or after
// positional arguments and returns the positional arguments, of which
// there must be at least min and at most max (max < 0: no limit). Usage
// errors carry the command's usage line; -h prints the usage on standard
// output. Once the flags are read (--config may stand after the command)
// the configuration is loaded and checked.
func parseArgs(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var info flagInfo
	if v, ok := flagInfos.Load(fs); ok {
		info = v.(flagInfo)
	}
	usageLine := "\nusage: shopwatch " + info.usage
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				if info.a != nil {
					printUsage(info.a.stdout, fs, info.usage)
				}
				return nil, &errExit{code: exitOK, err: fmt.Errorf("")}
			}
			return nil, usagef("%v%s", err, usageLine)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case max == 0 && len(pos) > 0:
		return nil, usagef("%s takes no arguments, got %q%s", fs.Name(), pos[0], usageLine)
	case max > 0 && len(pos) > max:
		return nil, usagef("%s: unexpected argument %q%s", fs.Name(), pos[max], usageLine)
	case len(pos) < min:
		return nil, usagef("%s: missing argument%s", fs.Name(), usageLine)
	}
	if info.a != nil {
		if err := info.a.startup(); err != nil {
			return nil, err
		}
	}
	return pos, nil
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

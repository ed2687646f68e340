// Command shopwatch watches online marketplaces for missing licence display
// and prohibited advertising, and preserves what it finds as verifiable
// evidence. Run `shopwatch help` for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1 // the command ran and found a problem (e.g. a bundle failed verification)
	exitUsage   = 2 // the command line was wrong
	exitRuntime = 3 // an error stopped the command
	exitSpooled = 4 // evidence is still only in the local spool, not in MinIO
)

// usageError marks an error in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errExit carries a specific exit code without further message.
type errExit struct {
	code int
	err  error
}

func (e *errExit) Error() string { return e.err.Error() }
func (e *errExit) Unwrap() error { return e.err }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *app, args []string) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// Run runs shopwatch with the given arguments and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// Logs, progress lines and messages share stderr from several
	// goroutines: one lock keeps their lines whole.
	stderr = &lockedWriter{w: stderr}
	a := &app{stdout: stdout, stderr: stderr}
	rest, err := a.parseGlobal(args)
	if err != nil {
		fmt.Fprintln(stderr, "shopwatch:", err)
		return exitUsage
	}
	if len(rest) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	if rest[0] == "help" && len(rest) > 1 {
		rest = append(rest[1:], "-h") // help COMMAND [VERB] is COMMAND [VERB] -h
	} else if rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		printHelp(stdout)
		return exitOK
	}
	if rest[0] == "version" {
		if len(rest) > 1 {
			fmt.Fprintf(stderr, "shopwatch version: takes no arguments, got %q\n", rest[1])
			return exitUsage
		}
		fmt.Fprintln(stdout, "shopwatch", versionString())
		return exitOK
	}
	c, ok := commands[rest[0]]
	if !ok {
		fmt.Fprintf(stderr, "shopwatch: unknown command %q\n", rest[0])
		printHelp(stderr)
		return exitUsage
	}
	a.logger = slog.New(logHandler(stderr, a.logLevel()))
	prev := slog.Default()
	slog.SetDefault(a.logger)
	defer slog.SetDefault(prev)
	err = c.run(ctx, a, rest[1:])
	defer a.close()
	return report(stderr, rest[0], err)
}

func report(stderr io.Writer, name string, err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var ee *errExit
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "shopwatch %s: %v\n", name, err)
		return exitUsage
	case errors.As(err, &ee):
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "shopwatch %s: %v\n", name, ee.err)
		}
		return ee.code
	default:
		fmt.Fprintf(stderr, "shopwatch %s: %v\n", name, err)
		return exitRuntime
	}
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, `shopwatch — watch online marketplaces and preserve evidence

Usage: shopwatch [--data DIR] [--config FILE] [-v] COMMAND [ARGS]

Commands:`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, `
Global flags (also accepted after the command):
  --data DIR       data directory (default ./shopwatch-data, or "data" in the config)
  --config FILE    configuration file (default: built-in settings)
  -v               verbose logs
  --allow-private  allow targets on loopback and private networks (the URL guard refuses them by default)

Exit codes: 0 success; 1 checked and found problems (a bundle, the ledger or the
audit log does not verify, or findings with --fail-on-findings); 2 the command
line or the configuration is wrong; 3 an error stopped the command.

Run "shopwatch COMMAND -h" for a command's flags and "shopwatch GROUP -h" for a group's verbs.`)
}

// verbSummaries holds the one-line summary of each second-level verb, by
// "group verb" ("target add"), for "shopwatch GROUP -h".
var verbSummaries = map[string]string{}

// subcommands dispatches to a second-level verb (target add, evidence
// verify…). "GROUP -h" lists the verbs with their summaries.
func subcommands(ctx context.Context, a *app, group string, args []string, verbs map[string]func(context.Context, *app, []string) error) error {
	if len(args) == 0 {
		return usagef("%s needs a verb\n%s", group, verbHelp(group, verbs))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(a.stdout, verbHelp(group, verbs))
		return nil
	}
	f, ok := verbs[args[0]]
	if !ok {
		return usagef("unknown verb %q for %s\n%s", args[0], group, verbHelp(group, verbs))
	}
	return f(ctx, a, args[1:])
}

// verbHelp is the usage of a group of verbs: one line per verb with its
// summary.
func verbHelp(group string, verbs map[string]func(context.Context, *app, []string) error) string {
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: shopwatch %s VERB [ARGS] [flags]\n\nVerbs:\n", group)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", n, verbSummaries[group+" "+n])
	}
	fmt.Fprintf(&b, "\nRun \"shopwatch %s VERB -h\" for a verb's flags.\n", group)
	return b.String()
}

// LogFormatEnv names the environment variable that switches the logs to
// JSON lines ("json"), for log collectors; the default is text.
const LogFormatEnv = "SHOPWATCH_LOG_FORMAT"

// logHandler writes logs to w as text, or as JSON lines when
// SHOPWATCH_LOG_FORMAT=json.
func logHandler(w io.Writer, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(os.Getenv(LogFormatEnv), "json") {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// stdin is where "-" arguments read from.
var stdin io.Reader = os.Stdin

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

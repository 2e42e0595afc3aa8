// Command sealroom is the sealroom server and its operator tools: serve, migrate,
// token, audit (verify, public-key), compliance (report, record of processing, export,
// erase, holds), bot (a headless participant), loadtest (the SFU against a bare
// forwarder), version, and devdb (the development database helper).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/media/loadtest"
)

func main() {
	// The load tool runs its server side as a child process of this same binary.
	if loadtest.IsChild() {
		os.Exit(loadtest.ChildMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sealroom:", err)
		os.Exit(1)
	}
}

// env is what every command gets from its surroundings; tests pass their own.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

func (e *env) logger() *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(e.getenv("SEALROOM_LOG_LEVEL")) {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// getenvOr returns the variable's value, or def when it is unset or empty.
func (e *env) getenvOr(key, def string) string {
	if v := e.getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "sealroom",
		Short:         "End-to-end encrypted meetings backend",
		Long:          "sealroom serves end-to-end encrypted meetings: an MLS Delivery Service, an SFU that forwards\nSFrame ciphertext it cannot decrypt, and a tamper-evident audit log.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(e),
		newMigrateCmd(e),
		newTokenCmd(e),
		newVersionCmd(e),
		newDevDBCmd(e),
		newComplianceCmd(e),
		newAuditCmd(e),
		newLoadtestCmd(e),
		newBotCmd(e),
		newClusterCmd(e),
	)
	return root.ExecuteContext(ctx)
}

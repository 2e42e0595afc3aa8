// Command sfuload runs the SFU load harness on loopback and prints the
// report: server CPU per forwarded packet, loss and forwarding delay of the
// SFU and of a bare UDP forwarder, and their ratios.
//
//	go run ./media/loadtest/cmd/sfuload -scenarios 2x20,10x10 -duration 3s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/sealroom/sealroom/media/loadtest"
)

func main() {
	if loadtest.IsChild() {
		os.Exit(loadtest.ChildMain())
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sfuload:", err)
		os.Exit(1)
	}
}

func run() error {
	scenarios := flag.String("scenarios", "2x20,10x10", "comma-separated PUBLISHERSxSUBSCRIBERS")
	duration := flag.Duration("duration", 3*time.Second, "measured window per server")
	rate := flag.Int("rate", 100, "packets/s per publisher")
	size := flag.Int("size", 1000, "payload bytes")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, sc := range strings.Split(*scenarios, ",") {
		var n, m int
		if _, err := fmt.Sscanf(sc, "%dx%d", &n, &m); err != nil {
			return fmt.Errorf("scenario %q: %w", sc, err)
		}
		rep, err := loadtest.Run(ctx, loadtest.Config{Publishers: n, Subscribers: m,
			Duration: *duration, PacketRate: *rate, PayloadSize: *size})
		if err != nil {
			return err
		}
		if *asJSON {
			if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
				return err
			}
			continue
		}
		fmt.Print(rep.String())
	}
	return nil
}

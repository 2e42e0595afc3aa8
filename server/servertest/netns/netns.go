//go:build linux

// Package netns gives a field test a network of its own: a Linux network namespace
// joined to the host by a veth pair, where the test runs clients (a Go client as a child
// process, Chromium) while the server runs on the host, bound to the host's end of the
// pair. The test can then break the namespace's network for real (nftables dropping UDP)
// without touching the host's.
//
// Each namespace gets a /30 of 198.18.0.0/15 (RFC 2544's range for benchmarking test
// networks, never routed): the host end is .1, the namespace end .2, IPv6 is off on both
// ends (no link-local addresses), and the namespace has no other route, so nothing in it
// can send anywhere but to the host end. Everything is created by New and removed when
// the test ends, whatever its outcome. It needs root, ip(8), tc(8) and nft(8); a machine that
// cannot make a namespace fails the test under CI=true and skips it, loudly, elsewhere.
package netns

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// NS is one namespace and its veth pair.
type NS struct {
	// Name is the namespace's name (ip netns).
	Name string
	// HostIP is the host's end of the pair, where the server listens; IP is the
	// namespace's end.
	HostIP, IP netip.Addr
	hostLink   string
}

// base is 198.18.0.0/15 (RFC 2544 §C.2.2): 32768 blocks of four addresses.
var base = netip.AddrFrom4([4]byte{198, 18, 0, 0})

// Need fails the test under CI=true, and skips it loudly elsewhere, when this machine
// cannot give it a namespace (not root, no ip, tc or nft).
func Need(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"ip", "nft", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (apt-get install -y iproute2 nftables)")
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("network namespace tests need %s: they must run in CI", strings.Join(missing, ", "))
	}
	t.Skipf("SKIPPED LOUDLY: network namespace tests need %s", strings.Join(missing, ", "))
}

// New creates a namespace joined to the host by a veth pair and removes both when the
// test ends.
func New(t testing.TB) *NS {
	t.Helper()
	Need(t)
	sweep()
	var lastErr error
	for range 8 {
		var b [2]byte
		_, _ = rand.Read(b[:])
		block := binary.BigEndian.Uint16(b[:]) & 0x7fff
		n, err := create(block)
		if err == nil {
			t.Cleanup(n.remove)
			return n
		}
		lastErr = err
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("create a network namespace: %v", lastErr)
	}
	t.Skipf("SKIPPED LOUDLY: cannot create a network namespace here: %v", lastErr)
	return nil
}

func create(block uint16) (*NS, error) {
	b := base.As4()
	off := uint32(block) * 4
	b[1] += byte(off >> 16)
	b[2] += byte(off >> 8)
	b[3] += byte(off)
	host := netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3] + 1})
	nsIP := host.Next()
	// The name carries the test process's pid, so a later test can tell a namespace
	// whose test died without its cleanup (a -timeout panic) from a live one (sweep).
	n := &NS{Name: fmt.Sprintf("sealroom-%04x-%d", block, os.Getpid()), HostIP: host, IP: nsIP, hostLink: fmt.Sprintf("srh%04x", block)}
	peer := fmt.Sprintf("srn%04x", block)
	// The host link's name is the lock: a second test that drew the same block fails
	// here and draws again.
	if err := ipCmd("link", "add", n.hostLink, "type", "veth", "peer", "name", peer); err != nil {
		return nil, err
	}
	steps := [][]string{
		{"netns", "add", n.Name},
		{"link", "set", peer, "netns", n.Name},
		{"-n", n.Name, "link", "set", "lo", "up"},
		{"-n", n.Name, "addr", "add", nsIP.String() + "/30", "dev", peer},
		{"addr", "add", host.String() + "/30", "dev", n.hostLink},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			n.remove()
			return nil, err
		}
	}
	// No IPv6 on either end, so no link-local address: the pair carries the two
	// addresses above and nothing else.
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+n.hostLink+"/disable_ipv6", []byte("1"), 0o644); err != nil && !os.IsNotExist(err) {
		n.remove()
		return nil, err
	}
	if err := run(exec.Command("ip", "netns", "exec", n.Name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")); err != nil {
		n.remove()
		return nil, err
	}
	for _, s := range [][]string{{"link", "set", n.hostLink, "up"}, {"-n", n.Name, "link", "set", peer, "up"}} {
		if err := ipCmd(s...); err != nil {
			n.remove()
			return nil, err
		}
	}
	return n, nil
}

// sweep removes the namespaces, and their veth pairs, that an earlier test made and
// could not remove because its process died first: only names this package makes,
// whose pid is no longer alive.
func sweep() {
	entries, err := os.ReadDir("/var/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		var block uint16
		var pid int
		if n, _ := fmt.Sscanf(e.Name(), "sealroom-%04x-%d", &block, &pid); n != 2 || e.Name() != fmt.Sprintf("sealroom-%04x-%d", block, pid) {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue // alive (or not ours to judge)
		}
		(&NS{Name: e.Name(), hostLink: fmt.Sprintf("srh%04x", block)}).remove()
	}
}

// remove ends what still runs in the namespace (only this test's processes can be
// there), then deletes the veth pair and the namespace.
func (n *NS) remove() {
	if out, err := exec.Command("ip", "netns", "pids", n.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	_ = ipCmd("link", "del", n.hostLink)
	_ = ipCmd("netns", "del", n.Name)
}

func ipCmd(args ...string) error { return run(exec.Command("ip", args...)) }

func run(c *exec.Cmd) error {
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(c.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// DropUDP makes the namespace behave like a network that blocks UDP: an nftables table
// in the namespace drops every UDP packet in and out, except on its loopback. The rules
// count what they drop (DroppedUDP).
func (n *NS) DropUDP(t testing.TB) {
	t.Helper()
	rules := `table inet sealroom_field {
	chain in { type filter hook input priority 0; policy accept; iifname "lo" accept; meta l4proto udp counter drop; }
	chain out { type filter hook output priority 0; policy accept; oifname "lo" accept; meta l4proto udp counter drop; }
}
`
	c := exec.Command("ip", "netns", "exec", n.Name, "nft", "-f", "-")
	c.Stdin = strings.NewReader(rules)
	if err := run(c); err != nil {
		t.Fatalf("drop UDP in the namespace: %v", err)
	}
}

// DroppedUDP is how many UDP packets the DropUDP rules have dropped, both ways.
func (n *NS) DroppedUDP(t testing.TB) int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.Name, "nft", "list", "table", "inet", "sealroom_field").Output()
	if err != nil {
		t.Fatalf("read the UDP drop counters: %v", err)
	}
	total := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+3 < len(f); i++ {
			if f[i] == "counter" && f[i+1] == "packets" {
				var p int
				if _, err := fmt.Sscan(f[i+2], &p); err == nil {
					total += p
				}
			}
		}
	}
	return total
}

// Command runs name inside the namespace (ip netns exec). The caller starts and stops
// it; anything it leaves running is killed when the namespace is removed.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, "ip")
	n.Wrap(c, name, args...)
	return c
}

// Wrap makes c, made for another program, run name with args inside the namespace
// instead, keeping its environment, files and pipes (ip netns exec passes them on):
// for commands another library builds, such as chromedp's browser.
func (n *NS) Wrap(c *exec.Cmd, name string, args ...string) {
	ip, err := exec.LookPath("ip")
	if err != nil {
		ip = "/usr/sbin/ip"
	}
	c.Path = ip
	c.Args = append([]string{"ip", "netns", "exec", n.Name, name}, args...)
}

// Limit makes the host's end of the pair send into the namespace at most kbps kilobits
// a second, as a weak access link does to what a client receives: tc's token bucket filter
// (tbf, RFC 2697's single-rate shaper; netem's rate is not built into every kernel, and not
// into this machine's) with a burst of one or two packets and a queue of 200 ms at that rate,
// past which packets are dropped, as a congested link's buffer drops them. 0 lifts the
// limit. What the namespace sends is not limited.
func (n *NS) Limit(t testing.TB, kbps int) {
	t.Helper()
	if kbps <= 0 {
		// No qdisc to delete (never limited) is fine: the link is then unlimited.
		_ = run(exec.Command("tc", "qdisc", "del", "dev", n.hostLink, "root"))
		return
	}
	burst := max(1600, kbps*1000/8/100) // 10 ms at the rate, and at least one full packet
	c := exec.Command("tc", "qdisc", "replace", "dev", n.hostLink, "root", "tbf",
		"rate", fmt.Sprintf("%dkbit", kbps), "burst", fmt.Sprint(burst), "latency", "200ms")
	if err := run(c); err != nil {
		t.Fatalf("limit the namespace's downlink: %v", err)
	}
}

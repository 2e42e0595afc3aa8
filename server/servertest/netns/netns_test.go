//go:build linux

package netns_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sealroom/sealroom/server/servertest/netns"
)

// A namespace reaches the host's end of its pair over TCP, drops and counts UDP once
// DropUDP is on, and is gone, with its veth pair, when its test ends.
func TestNamespace(t *testing.T) {
	var name string
	t.Run("use", func(t *testing.T) {
		ns := netns.New(t)
		name = ns.Name
		if !ns.HostIP.Is4() || ns.HostIP.Next() != ns.IP || ns.HostIP.As4()[0] != 198 || ns.HostIP.As4()[1]&0xfe != 18 {
			t.Fatalf("addresses %v and %v, want a /30 of 198.18.0.0/15", ns.HostIP, ns.IP)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(ns.HostIP.String(), "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		ns.DropUDP(t)
		// bash's /dev/tcp and /dev/udp: a connection and a datagram from inside.
		script := "exec 3<>/dev/tcp/" + ns.HostIP.String() + "/" + strconv.Itoa(port) + " && echo hello >&3 && echo lost > /dev/udp/" + ns.HostIP.String() + "/" + strconv.Itoa(port)
		if out, err := ns.Command(context.Background(), "bash", "-c", script).CombinedOutput(); err == nil || !strings.Contains(string(out), "not permitted") {
			t.Fatalf("the UDP send from inside: %v: %s (want it refused by the drop rule)", err, out)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		c.Close()
		if string(buf[:n]) != "hello\n" {
			t.Fatalf("the host read %q over TCP from the namespace", buf[:n])
		}
		if d := ns.DroppedUDP(t); d != 1 {
			t.Fatalf("%d UDP packets dropped, want 1", d)
		}
	})
	if name == "" {
		return // skipped: no namespace here
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), name) {
		t.Fatalf("namespace %s left behind", name)
	}
	if out, _ := exec.Command("ip", "-br", "link").Output(); strings.Contains(string(out), "srh"+strings.Split(name, "-")[1]) {
		t.Fatalf("veth of %s left behind", name)
	}
}

// A namespace left by a test process that died before its cleanup (a -timeout panic
// skips t.Cleanup) is removed, with its veth pair, by the next New.
func TestSweepsDeadTestsNamespaces(t *testing.T) {
	netns.Need(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	name := "sealroom-7ffe-" + strconv.Itoa(dead.ProcessState.Pid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := exec.Command("ip", "link", "add", "srh7ffe", "type", "veth", "peer", "name", "srn7ffe").CombinedOutput(); err != nil {
		_ = exec.Command("ip", "netns", "del", name).Run()
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { // in case the sweep does not
		_ = exec.Command("ip", "link", "del", "srh7ffe").Run()
		_ = exec.Command("ip", "netns", "del", name).Run()
	})
	netns.New(t)
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), name) {
		t.Fatalf("namespace %s of a dead test not swept", name)
	}
	if err := exec.Command("ip", "link", "show", "srh7ffe").Run(); err == nil {
		t.Fatal("the veth pair of a dead test not swept")
	}
}

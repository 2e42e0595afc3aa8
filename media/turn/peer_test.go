package turn

import (
	"net"
	"testing"
)

func TestPeerAllowed(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.8.9.10", "::1", // loopback
		"10.1.2.3", "172.16.0.1", "192.168.1.1", "fd12::1", // private
		"169.254.169.254", "169.254.0.1", "fe80::1", // link-local, cloud metadata
		"100.100.100.200", "100.64.0.1", // CGNAT, Alibaba metadata
		"fd00:ec2::254",                     // AWS IPv6 metadata
		"224.0.0.1", "239.1.1.1", "ff02::1", // multicast
		"0.0.0.0", "::", "0.1.2.3", "255.255.255.255",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", // mapped
		"64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", // NAT64 / 6to4 of metadata
		"192.0.2.1", "2001:db8::1",
	}
	for _, s := range refused {
		if PeerAllowed(net.ParseIP(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.4.4"} {
		if !PeerAllowed(net.ParseIP(s)) {
			t.Errorf("%s refused", s)
		}
	}
	if PeerAllowed(nil) || PeerAllowed(net.IP{1, 2, 3}) {
		t.Error("malformed IP allowed")
	}
}

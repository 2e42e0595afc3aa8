package turn

import (
	"net"
	"net/netip"
)

// refusedRanges lists the peer ranges a relay must not reach, beyond what
// netip's predicates cover (loopback, private, link-local, multicast,
// unspecified). A function, not a package variable, so nothing can edit
// the policy at run time; it runs once per CreatePermission.
func refusedRanges() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),         // "this network", RFC 1122 §3.2.1.3
		netip.MustParsePrefix("100.64.0.0/10"),     // shared address space (CGNAT), RFC 6598; Alibaba metadata 100.100.100.200
		netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments, RFC 6890
		netip.MustParsePrefix("192.0.2.0/24"),      // documentation, RFC 5737
		netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking, RFC 2544
		netip.MustParsePrefix("198.51.100.0/24"),   // documentation
		netip.MustParsePrefix("203.0.113.0/24"),    // documentation
		netip.MustParsePrefix("240.0.0.0/4"),       // reserved, and 255.255.255.255 broadcast
		netip.MustParsePrefix("64:ff9b::/96"),      // NAT64: would reach any IPv4, including refused ones
		netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use NAT64, RFC 8215
		netip.MustParsePrefix("2001:db8::/32"),     // documentation, RFC 3849
		netip.MustParsePrefix("2002::/16"),         // 6to4: embeds an IPv4 address
		netip.MustParsePrefix("2001::/32"),         // Teredo: embeds an IPv4 address
		netip.MustParsePrefix("fd00:ec2::254/128"), // AWS metadata over IPv6 (also inside fc00::/7)
		netip.MustParsePrefix("100::/64"),          // discard-only, RFC 6666
	}
}

// PeerAllowed reports whether a TURN relay may exchange packets with ip.
// Only public unicast addresses are allowed; IPv4-mapped IPv6 addresses
// are judged as the IPv4 address they carry.
func PeerAllowed(ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsMulticast() || a.IsUnspecified() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range refusedRanges() {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

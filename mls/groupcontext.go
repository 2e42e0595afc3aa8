package mls

// GroupContext summarizes the group's state in an epoch (RFC 9420 §8.1).
type GroupContext struct {
	Version                 ProtocolVersion
	CipherSuite             CipherSuiteID
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              Extensions
}

func (g *GroupContext) structName() string { return "GroupContext" }

func (g *GroupContext) marshal(w *writer) {
	w.u16(uint16(g.Version))
	w.u16(uint16(g.CipherSuite))
	w.opaque(g.GroupID)
	w.u64(g.Epoch)
	w.opaque(g.TreeHash)
	w.opaque(g.ConfirmedTranscriptHash)
	g.Extensions.marshal(w)
}

func (g *GroupContext) unmarshal(r *reader) {
	g.Version = ProtocolVersion(r.u16())
	g.CipherSuite = CipherSuiteID(r.u16())
	g.GroupID = r.opaque()
	g.Epoch = r.u64()
	g.TreeHash = r.opaque()
	g.ConfirmedTranscriptHash = r.opaque()
	g.Extensions.unmarshal(r)
}

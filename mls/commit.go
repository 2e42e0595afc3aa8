package mls

// ProposalOrRef is an inline proposal or a reference to one sent earlier in
// the epoch (RFC 9420 §12.4).
type ProposalOrRef struct {
	Type      ProposalOrRefType
	Proposal  *Proposal // inline
	Reference []byte    // ProposalRef
}

func (p *ProposalOrRef) structName() string { return "ProposalOrRef" }

func (p *ProposalOrRef) marshal(w *writer) {
	w.u8(uint8(p.Type))
	switch {
	case p.Type == ProposalOrRefTypeProposal && p.Proposal != nil:
		p.Proposal.marshal(w)
	case p.Type == ProposalOrRefTypeReference:
		w.opaque(p.Reference)
	default:
		w.err = ErrInvalidArgument
	}
}

func (p *ProposalOrRef) unmarshal(r *reader) {
	p.Type = ProposalOrRefType(r.u8())
	switch p.Type {
	case ProposalOrRefTypeProposal:
		p.Proposal = new(Proposal)
		p.Proposal.unmarshal(r)
	case ProposalOrRefTypeReference:
		p.Reference = r.opaque()
	default:
		unknown(r, "proposal_or_ref_type", uint64(p.Type))
	}
}

// Commit applies proposals and optionally refreshes the committer's path
// (RFC 9420 §12.4).
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

func (c *Commit) structName() string { return "Commit" }

func (c *Commit) marshal(w *writer) {
	marshalList(w, c.Proposals)
	w.optional(c.Path != nil)
	if c.Path != nil {
		c.Path.marshal(w)
	}
}

func (c *Commit) unmarshal(r *reader) {
	c.Proposals = unmarshalList[ProposalOrRef](r)
	if r.optional() {
		c.Path = new(UpdatePath)
		c.Path.unmarshal(r)
	}
}

// UpdatePathNode is one node of an UpdatePath (RFC 9420 §7.6): the new public
// key and the path secret encrypted to each node of the copath resolution.
type UpdatePathNode struct {
	EncryptionKey       []byte
	EncryptedPathSecret []HPKECiphertext
}

func (n *UpdatePathNode) marshal(w *writer) {
	w.opaque(n.EncryptionKey)
	marshalList(w, n.EncryptedPathSecret)
}

func (n *UpdatePathNode) unmarshal(r *reader) {
	n.EncryptionKey = r.opaque()
	n.EncryptedPathSecret = unmarshalList[HPKECiphertext](r)
}

// UpdatePath is the committer's new leaf and direct path (RFC 9420 §7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

func (p *UpdatePath) structName() string { return "UpdatePath" }

func (p *UpdatePath) marshal(w *writer) {
	p.LeafNode.marshal(w)
	marshalList(w, p.Nodes)
}

func (p *UpdatePath) unmarshal(r *reader) {
	p.LeafNode.unmarshal(r)
	p.Nodes = unmarshalList[UpdatePathNode](r)
}

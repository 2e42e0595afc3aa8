package mls

import (
	"cmp"
	"slices"
)

// Persisted member state. RFC 9420 leaves storage to the application; this
// file fixes sealroom's format so a client can save its Group after every
// change and continue after a restart:
//
//	struct {
//	  uint8 state_version = 1;
//	  CipherSuite cipher_suite;
//	  // public part
//	  GroupContext context;
//	  optional<Node> ratchet_tree<V>;
//	  opaque interim_transcript_hash<V>;
//	  opaque confirmation_tag<V>;
//	  uint32 own_leaf;
//	  PendingProposal pending<V>;    // { opaque ref<V>; Sender; Proposal; }
//	  // secret part
//	  opaque signature_priv<V>;
//	  PathKey path_keys<V>;          // { uint32 node; opaque priv<V>; }
//	  opaque init_secret<V>; ... epoch_authenticator<V>;   // see stateSecrets
//	  SecretTreeState secret_tree;
//	  ResumptionPSK resumption<V>;   // { uint64 epoch; opaque psk<V>; }
//	} GroupState;
//
// The joiner, welcome and encryption secrets are not kept: nothing after the
// start of an epoch needs them, and RFC 9420 §9.2 asks that encryption_secret
// be deleted once the secret tree exists. The secret tree is saved as it is,
// with the node secrets not yet consumed, every leaf ratchet in use and its
// out-of-order keys, so keys already used stay deleted after a restore.

// stateVersion is the first byte of a marshaled Group state. A change of
// the layout gets a new value; RestoreGroup rejects values it does not know.
const stateVersion = 1

// MarshalState serializes everything the member needs to continue in the
// current epoch: GroupContext, ratchet tree, its private path keys and
// signature key, the epoch secrets that are still needed, the secret tree
// with ratchet generations and out-of-order keys, the transcript hashes,
// the proposals received this epoch and the kept resumption PSKs.
//
// The result holds secrets: the caller must store it encrypted and
// authenticated, and zero its copy once stored. Restoring an older blob
// after newer messages were processed reuses message keys that had been
// deleted (RFC 9420 §9.2): save after every change and restore only the
// latest. A Commit created but not merged is not saved: merge or discard it
// first, or rejoin by external commit if it was lost.
func (g *Group) MarshalState() ([]byte, error) {
	var pub writer
	pub.u8(stateVersion)
	pub.u16(uint16(g.cs.ID()))
	g.ctx.marshal(&pub)
	nodes := g.tree.Nodes()
	nodes.marshal(&pub)
	pub.opaque(g.interim)
	pub.opaque(g.confTag)
	pub.u32(uint32(g.own))
	refs := make([]string, 0, len(g.pending))
	for ref := range g.pending {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	pub.vector(func(w *writer) {
		for _, ref := range refs {
			pp := g.pending[ref]
			w.opaque([]byte(ref))
			pp.sender.marshal(w)
			pp.proposal.marshal(w)
		}
	})
	if pub.err != nil {
		return nil, pub.err
	}

	// The secret part is written into a buffer sized up front so appends
	// do not leave unzeroed copies behind on the heap.
	sec := writer{b: make([]byte, 0, g.secretSizeHint())}
	g.marshalSecrets(&sec)
	defer clear(sec.b)
	if sec.err != nil {
		return nil, sec.err
	}
	out := make([]byte, 0, len(pub.b)+len(sec.b))
	return append(append(out, pub.b...), sec.b...), nil
}

// secretSizeHint bounds the length of the secret part: every secret is at
// most 64 bytes plus a length prefix and an index of up to 8 bytes.
func (g *Group) secretSizeHint() int {
	const per = 80
	n := 2 + len(g.keys.keys) + stateSecretCount + len(g.resumption)
	st := g.secretTree
	for _, s := range st.nodes {
		if s != nil {
			n++
		}
	}
	for i := range st.hs {
		for _, r := range []*ratchet{st.hs[i], st.app[i]} {
			if r != nil {
				n += 2 + 2*len(r.skipped)
			}
		}
	}
	return 64 + per*n
}

// stateSecretCount is how many epoch secrets the state keeps.
const stateSecretCount = 8

// stateSecrets returns pointers to the kept epoch secrets in wire order:
// init, sender data, exporter, external, confirmation key, membership key,
// resumption PSK, epoch authenticator.
func stateSecrets(es *epochSecrets) [stateSecretCount]*[]byte {
	return [...]*[]byte{&es.InitSecret, &es.SenderDataSecret, &es.ExporterSecret, &es.ExternalSecret,
		&es.ConfirmationKey, &es.MembershipKey, &es.ResumptionPSK, &es.EpochAuthenticator}
}

func (g *Group) marshalSecrets(w *writer) {
	w.opaque(g.signPriv)
	nodes := make([]NodeIndex, 0, len(g.keys.keys))
	for x := range g.keys.keys {
		nodes = append(nodes, x)
	}
	slices.Sort(nodes)
	w.vector(func(w *writer) {
		for _, x := range nodes {
			w.u32(uint32(x))
			w.opaque(g.keys.keys[x])
		}
	})
	for _, s := range stateSecrets(g.epoch) {
		w.opaque(*s)
	}
	g.secretTree.marshalState(w)
	epochs := make([]uint64, 0, len(g.resumption))
	for e := range g.resumption {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	w.vector(func(w *writer) {
		for _, e := range epochs {
			w.u64(e)
			w.opaque(g.resumption[e])
		}
	})
}

// marshalState writes the secret tree:
//
//	struct {
//	  uint32 leaves; uint32 max_forward_distance; uint32 out_of_order_tolerance;
//	  NodeSecret nodes<V>;        // { uint32 node; opaque secret<V>; }
//	  LeafRatchets ratchets<V>;   // { uint32 leaf; Ratchet handshake; Ratchet application; }
//	} SecretTreeState;
//	struct { opaque secret<V>; uint32 next; Skipped skipped<V>; } Ratchet;
//	struct { uint32 generation; opaque key<V>; opaque nonce<V>; } Skipped;
func (st *secretTree) marshalState(w *writer) {
	w.u32(st.nLeaves)
	w.u32(st.MaxForwardDistance)
	w.u32(uint32(max(st.OutOfOrderTolerance, 0)))
	w.vector(func(w *writer) {
		for i, s := range st.nodes {
			if s != nil {
				w.u32(uint32(i))
				w.opaque(s)
			}
		}
	})
	w.vector(func(w *writer) {
		for i := range st.hs {
			if st.hs[i] == nil {
				continue
			}
			w.u32(uint32(i))
			st.hs[i].marshalState(w)
			st.app[i].marshalState(w)
		}
	})
}

func (r *ratchet) marshalState(w *writer) {
	w.opaque(r.secret)
	w.u32(r.next)
	gens := make([]uint32, 0, len(r.skipped))
	for gen := range r.skipped {
		gens = append(gens, gen)
	}
	slices.SortFunc(gens, cmp.Compare)
	w.vector(func(w *writer) {
		for _, gen := range gens {
			kn := r.skipped[gen]
			w.u32(gen)
			w.opaque(kn.key)
			w.opaque(kn.nonce)
		}
	})
}

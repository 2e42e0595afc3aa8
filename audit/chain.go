package audit

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
)

// chainer turns a batch of entries into chained rows one at a time: it seals personal
// data, numbers and hashes each row, and, as an io.Reader, streams the binary COPY
// encoding. pgx reads it from its own goroutine in 64 KiB chunks, so sealing and hashing
// overlap with Postgres inserting the previous chunk.
type chainer struct {
	entries []entry
	skip    map[int]bool
	keys    map[string][]byte
	aeads   map[string]cipher.AEAD
	base    [nonceSize]byte
	nonce   [nonceSize]byte // a field, not a local: a local would escape to the heap
	counter uint64

	seq       int64    // last sequence number assigned
	prev      [32]byte // hash of the last row
	chainedUS int64
	count     int // rows produced

	i       int
	r       row
	sealed  []byte
	plain   []byte
	scratch []byte

	buf     []byte
	off     int
	started bool
	done    bool
}

// reset prepares c for a batch chained after (seq, prev) at chainedUS.
func (c *chainer) reset(entries []entry, skip map[int]bool, keys map[string][]byte, seq int64, prev []byte, chainedUS int64) error {
	c.entries, c.skip, c.keys = entries, skip, keys
	if c.aeads == nil {
		c.aeads = make(map[string]cipher.AEAD)
	}
	clear(c.aeads)
	if _, err := rand.Read(c.base[:]); err != nil {
		return fmt.Errorf("audit: nonce: %w", err)
	}
	c.counter, c.seq, c.chainedUS, c.count, c.i = 0, seq, chainedUS, 0, 0
	copy(c.prev[:], prev)
	c.buf, c.off, c.started, c.done = c.buf[:0], 0, false, false
	return nil
}

// release drops the batch's keys and ciphers.
func (c *chainer) release() {
	clear(c.aeads)
	c.entries, c.skip, c.keys = nil, nil, nil
	clear(c.sealed)
	clear(c.plain)
}

// next builds the next row, or returns nil after the last one. The row and its personal
// blob are reused by the following call.
func (c *chainer) next() (*row, error) {
	for c.i < len(c.entries) && c.skip[c.i] {
		c.i++
	}
	if c.i == len(c.entries) {
		return nil, nil
	}
	e := &c.entries[c.i]
	c.i++
	c.sealed = c.sealed[:0]
	if key := c.keys[e.subject]; key != nil && e.hasPersonal() {
		// A subject without a key (erased) keeps no personal data.
		aead := c.aeads[e.subject]
		if aead == nil {
			var err error
			if aead, err = sealAEAD(key); err != nil {
				return nil, fmt.Errorf("audit: seal: %w", err)
			}
			c.aeads[e.subject] = aead
		}
		nonceAt(&c.base, c.counter, &c.nonce)
		c.counter++
		c.sealed, c.plain = sealPersonal(c.sealed, aead, &c.nonce, e, c.plain)
	}
	c.seq++
	c.r = row{
		seq: c.seq, id: e.id, chainedAt: c.chainedUS, occurredAt: e.occurred,
		actor: e.actor, actorRole: e.actorRole, action: e.action,
		targetKind: e.targetKind, targetID: e.targetID, room: e.room,
		outcome: e.outcome, requestID: e.requestID, subject: e.subject,
		details: e.details, personal: c.sealed, prevHash: c.prev,
	}
	c.r.hash, c.scratch = c.r.chainHash(c.scratch)
	c.prev = c.r.hash
	c.count++
	return &c.r, nil
}

// copyChunk is how much encoded COPY data Read prepares at a time.
const copyChunk = 60 << 10

// Read implements io.Reader over the binary COPY stream of the batch.
func (c *chainer) Read(p []byte) (int, error) {
	for c.off == len(c.buf) {
		if c.done {
			return 0, io.EOF
		}
		c.buf, c.off = c.buf[:0], 0
		if !c.started {
			c.buf = append(c.buf, copyHeader...)
			c.started = true
		}
		for len(c.buf) < copyChunk {
			r, err := c.next()
			if err != nil {
				return 0, err
			}
			if r == nil {
				c.buf = binary.BigEndian.AppendUint16(c.buf, 0xffff) // trailer: field count -1
				c.done = true
				break
			}
			c.buf = appendCopyRow(c.buf, r)
		}
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

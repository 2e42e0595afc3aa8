package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// spoolMagic opens every spool file.
const spoolMagic = "SRAUDSP1"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// spool is the local write-ahead file used while Postgres is unreachable: append-only,
// fdatasync'd before any of its events is acknowledged, drained in order, and cut back to
// its header once everything in it is in Postgres. One process owns a spool directory
// at a time (flock).
type spool struct {
	f      *os.File
	lock   *os.File
	size   int64 // end of the valid records
	off    int64 // first record not yet known to be in Postgres
	broken error
	buf    []byte
	rbuf   []byte
	// depth is the number of records between off and size. It is read by other
	// goroutines (Stats), written only by the spool's owner.
	depth atomic.Int64
}

func openSpool(dir string, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrSpoolLocked, dir, err)
	}
	path := filepath.Join(dir, "audit.spool")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	s := &spool{f: f, lock: lock}
	if err := s.recover(dir, log); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// recover finds the end of the valid records. A bad record can only be the tail of a
// write that was never acknowledged (acks follow fdatasync of the whole write), so the
// file is cut there; the cut bytes are kept beside it for forensics.
func (s *spool) recover(dir string, log *slog.Logger) error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	if fi.Size() < int64(len(spoolMagic)) {
		if err := s.f.Truncate(0); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		if _, err := s.f.WriteAt([]byte(spoolMagic), 0); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		if err := syncFile(s.f); err != nil {
			return err
		}
		if err := syncDir(dir); err != nil {
			return err
		}
		s.size, s.off = int64(len(spoolMagic)), int64(len(spoolMagic))
		return nil
	}
	magic := make([]byte, len(spoolMagic))
	if _, err := s.f.ReadAt(magic, 0); err != nil || string(magic) != spoolMagic {
		return fmt.Errorf("%w: bad magic", ErrSpoolCorrupt)
	}
	s.size, s.off = int64(len(spoolMagic)), int64(len(spoolMagic))
	for {
		_, next, err := s.readAt(s.size, 1)
		if err != nil {
			break
		}
		if next == s.size {
			break
		}
		s.size = next
		s.depth.Add(1)
	}
	if fi.Size() > s.size {
		tail := make([]byte, fi.Size()-s.size)
		if _, err := s.f.ReadAt(tail, s.size); err == nil {
			name := filepath.Join(dir, fmt.Sprintf("audit.spool.torn-%d", time.Now().UnixNano()))
			_ = os.WriteFile(name, tail, 0o600)
		}
		log.Warn("audit: spool had an unacknowledged torn tail; cut", "bytes", len(tail))
		if err := s.f.Truncate(s.size); err != nil {
			return fmt.Errorf("audit: spool: %w", err)
		}
		if err := syncFile(s.f); err != nil {
			return err
		}
	}
	return nil
}

// pending reports whether the spool holds records not yet in Postgres.
func (s *spool) pending() bool { return s.size > s.off }

// append writes entries as one write and fdatasyncs it. Only after it returns nil may
// they be acknowledged.
func (s *spool) append(entries []entry) error {
	if s.broken != nil {
		return s.broken
	}
	b := s.buf[:0]
	for i := range entries {
		start := len(b)
		b = append(b, make([]byte, spoolRecordHeader)...)
		b = appendSpoolPayload(b, &entries[i])
		payload := b[start+spoolRecordHeader:]
		binary.BigEndian.PutUint32(b[start:], uint32(len(payload)))
		binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	}
	s.buf = b
	_, err := s.f.WriteAt(b, s.size)
	if err == nil {
		err = syncFile(s.f)
	}
	if err != nil {
		// Cut the partial write off so later records are not hidden behind it; if even
		// that fails, stop using the spool.
		if terr := s.f.Truncate(s.size); terr != nil {
			s.broken = fmt.Errorf("audit: spool unusable: %w", terr)
		}
		return fmt.Errorf("audit: spool write: %w", err)
	}
	s.size += int64(len(b))
	s.depth.Add(int64(len(entries)))
	clear(b)
	return nil
}

// read returns up to max entries from the drain offset and the offset after them.
func (s *spool) read(max int) ([]entry, int64, error) {
	return s.readAt(s.off, max)
}

func (s *spool) readAt(off int64, max int) ([]entry, int64, error) {
	var out []entry
	for len(out) < max {
		var hdr [spoolRecordHeader]byte
		if _, err := s.f.ReadAt(hdr[:], off); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return out, off, fmt.Errorf("audit: spool read: %w", err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxSpoolPayload {
			return out, off, fmt.Errorf("%w: record length %d", ErrSpoolCorrupt, n)
		}
		if cap(s.rbuf) < int(n) {
			s.rbuf = make([]byte, n)
		}
		p := s.rbuf[:n]
		if _, err := s.f.ReadAt(p, off+spoolRecordHeader); err != nil {
			if errors.Is(err, io.EOF) {
				return out, off, fmt.Errorf("%w: truncated record", ErrSpoolCorrupt)
			}
			return out, off, fmt.Errorf("audit: spool read: %w", err)
		}
		if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return out, off, fmt.Errorf("%w: checksum", ErrSpoolCorrupt)
		}
		e, err := decodeSpoolPayload(p)
		clear(p)
		if err != nil {
			return out, off, err
		}
		out = append(out, e)
		off += spoolRecordHeader + int64(n)
	}
	return out, off, nil
}

// advance records that everything before off, n more records, is in Postgres. When the
// spool is empty it is cut back to its header (a crash before that only means
// re-draining, which skips events already present).
func (s *spool) advance(off int64, n int) error {
	s.off = off
	s.depth.Add(-int64(n))
	if s.off < s.size {
		return nil
	}
	s.depth.Store(0)
	if err := s.f.Truncate(int64(len(spoolMagic))); err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	if err := syncFile(s.f); err != nil {
		return err
	}
	s.size, s.off = int64(len(spoolMagic)), int64(len(spoolMagic))
	return nil
}

func (s *spool) close() {
	_ = s.f.Close()
	_ = s.lock.Close()
}

func syncFile(f *os.File) error {
	if err := syscall.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("audit: spool fdatasync: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit: spool dir sync: %w", err)
	}
	return nil
}

package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// fileWitness appends checkpoint records to a regular file, one JSON line each, and
// fdatasyncs before reporting success. Each Append is one O_APPEND write, so processes
// sharing the file on a local filesystem never interleave inside a line.
type fileWitness struct {
	f *os.File
	// partial is set when the file may end inside a line (a crash, or a failed write):
	// the next write starts with a newline so the cut line stays separate, and
	// ReadWitness skips it as torn.
	partial bool
	buf     []byte
}

var _ witness = (*fileWitness)(nil)

// openFileWitness opens path for appending, creating it (mode 0600) and syncing its
// folder when it is new.
func openFileWitness(path string) (*fileWitness, error) {
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: witness: %w", err)
	}
	w := &fileWitness{f: f}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("audit: witness: %w", err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%w: witness %s is not a regular file", ErrConfig, path)
	}
	if fi.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], fi.Size()-1); err != nil && !errors.Is(err, io.EOF) {
			_ = f.Close()
			return nil, fmt.Errorf("audit: witness: %w", err)
		}
		w.partial = last[0] != '\n'
	}
	if created {
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return w, nil
}

// Append writes cps as one write and fdatasyncs it.
func (w *fileWitness) Append(cps []Checkpoint) error {
	b := w.buf[:0]
	if w.partial {
		b = append(b, '\n')
	}
	for i := range cps {
		b = appendWitnessLine(b, &cps[i])
	}
	w.buf = b
	if _, err := w.f.Write(b); err != nil {
		w.partial = true
		return fmt.Errorf("audit: witness write: %w", err)
	}
	w.partial = false
	if err := syscall.Fdatasync(int(w.f.Fd())); err != nil {
		return fmt.Errorf("audit: witness fdatasync: %w", err)
	}
	return nil
}

func (w *fileWitness) Close() error { return w.f.Close() }

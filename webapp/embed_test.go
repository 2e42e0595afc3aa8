package webapp

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestAssetsNotBuilt(t *testing.T) {
	_, err := assetsFrom(fstest.MapFS{"dist/.gitkeep": {}})
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("empty dist: got %v, want ErrNotBuilt", err)
	}
}

func TestAssetsBuilt(t *testing.T) {
	sub, err := assetsFrom(fstest.MapFS{"dist/index.html": {Data: []byte("<!doctype html>")}, "dist/app.js": {}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(sub, "app.js"); err != nil {
		t.Fatalf("sub FS: %v", err)
	}
}

// TestEmbeddedAssets checks the real embedded dist: built, it has the page and its files;
// not built, Assets says so with ErrNotBuilt.
func TestEmbeddedAssets(t *testing.T) {
	sub, err := Assets()
	if errors.Is(err, ErrNotBuilt) {
		t.Log("dist not built: Assets returns ErrNotBuilt as it should")
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"index.html", "app.js", "worker.js", "app.css"} {
		if _, err := fs.Stat(sub, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

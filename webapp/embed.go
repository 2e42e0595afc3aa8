// Package webapp owns the built browser client: the page, its script bundle, the SFrame
// worker and the stylesheet that esbuild writes into dist/ (npm run build). It embeds them
// so the sealroom binary serves the client without files beside it.
//
// It must never hold a key, token or plaintext: everything secret stays in the browser.
package webapp

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
)

// ErrNotBuilt means dist/ holds no index.html: the bundle was not built before `go build`.
// Run `make build` (or `cd webapp && npm ci && npm run build`) and build again.
var ErrNotBuilt = errors.New("webapp: not built (dist/index.html missing): run make build")

//go:embed all:dist
var dist embed.FS

// Assets returns the built client with index.html at its root, or ErrNotBuilt.
func Assets() (fs.FS, error) {
	return assetsFrom(dist)
}

// assetsFrom is Assets over any FS with a dist directory, so tests can check both states.
func assetsFrom(root fs.FS) (fs.FS, error) {
	sub, err := fs.Sub(root, "dist")
	if err != nil {
		return nil, fmt.Errorf("webapp: %w", err)
	}
	if _, err := fs.Stat(sub, "index.html"); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotBuilt
		}
		return nil, fmt.Errorf("webapp: %w", err)
	}
	return sub, nil
}

package server

import (
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// webappRoutes serves the browser client from s.assets. Paths without a file extension
// (/, /join, /room/x) get index.html so the client's own routing and invite links work;
// a missing file with an extension is a 404, never index.html.
func (s *Server) webappRoutes() {
	serve := func(c echo.Context) error {
		p := path.Clean("/" + c.Param("*"))
		name := strings.TrimPrefix(p, "/")
		if name == "" || path.Ext(name) == "" {
			name = "index.html"
		}
		if _, err := fs.Stat(s.assets, name); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return apiErr(CodeNotFound, "no such file")
			}
			return err
		}
		// The page itself must be revalidated; hashed assets may be cached, but none
		// of them carries personal data, so the API's no-store is relaxed only here.
		if name == "index.html" {
			c.Response().Header().Set("Cache-Control", "no-cache")
		} else {
			c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		}
		http.ServeFileFS(c.Response(), c.Request(), s.assets, name)
		return nil
	}
	s.e.GET("/", serve)
	s.e.GET("/*", serve)
}

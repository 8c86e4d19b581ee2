// Package registry runs an embedded OCI registry (distribution v3) with filesystem storage.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"

	// The filesystem storage driver registers itself with distribution's driver factory.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// DefaultAddr is the address a Registry listens on when Options.Addr is empty: loopback only,
// on a port the kernel picks.
const DefaultAddr = "127.0.0.1:0"

// Options configures a Registry.
type Options struct {
	// Dir is the root of the registry's storage; it is created if missing and survives restarts.
	Dir string
	// Addr is the TCP address to listen on; DefaultAddr if empty.
	Addr string
	// Logger receives distribution's log entries (see newLogrusLogger for the level mapping).
	// Nil discards them.
	Logger *slog.Logger
}

// Registry is a running embedded registry. Stop it with Close.
type Registry struct {
	app      *handlers.App
	server   *http.Server
	listener net.Listener
	served   chan error
}

// Start opens storage under opts.Dir and serves the OCI distribution API on opts.Addr until
// Close. ctx bounds only the start; the registry lives until Close.
func Start(ctx context.Context, opts Options) (*Registry, error) {
	if opts.Dir == "" {
		return nil, errors.New("start registry: storage directory is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start registry: create storage directory: %w", err)
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	config, err := newConfig(dir, opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}
	// The registry outlives Start's ctx, so it keeps ctx's values but not its cancellation.
	base := withLogger(context.WithoutCancel(ctx), newLogrusLogger(ctx, logger))
	app, err := newApp(base, config)
	if err != nil {
		return nil, fmt.Errorf("start registry: %w", err)
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start registry: listen on %s: %w", opts.Addr, err), app.Shutdown())
	}
	r := &Registry{
		app:      app,
		listener: ln,
		served:   make(chan error, 1),
		server: &http.Server{
			Handler:           app,
			BaseContext:       func(net.Listener) context.Context { return base },
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// No ReadTimeout or WriteTimeout: a layer upload or download may take long.
		},
	}
	go func() { r.served <- r.server.Serve(ln) }()
	logger.Debug("registry started", "addr", ln.Addr().String(), "dir", dir)
	return r, nil
}

// Host returns the registry's host:port, for image references such as Host()+"/apps/hello".
func (r *Registry) Host() string {
	return r.listener.Addr().String()
}

// Close stops accepting requests, waits for those in flight until ctx ends, and releases the
// storage.
func (r *Registry) Close(ctx context.Context) error {
	err := r.server.Shutdown(ctx)
	if serveErr := <-r.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	err = errors.Join(err, r.app.Shutdown())
	if err != nil {
		return fmt.Errorf("close registry: %w", err)
	}
	return nil
}

// newConfig returns the configuration the registry binary would read from a file with a
// filesystem root, deletes enabled and the in-memory blob descriptor cache. It is built in code
// rather than parsed so that REGISTRY_* environment variables cannot change it.
func newConfig(dir, addr string) (*configuration.Configuration, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate upload secret: %w", err)
	}
	config := &configuration.Configuration{
		Version: configuration.CurrentVersion,
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": dir},
			"delete":     configuration.Parameters{"enabled": true},
			"cache":      configuration.Parameters{"blobdescriptor": "inmemory"},
		},
	}
	config.Log.AccessLog.Disabled = true
	config.HTTP.Addr = addr
	// The secret signs upload state between requests; one process serves all of them, so a
	// fresh random one per start is enough and avoids distribution's warning.
	config.HTTP.Secret = hex.EncodeToString(secret)
	return config, nil
}

// newApp wraps handlers.NewApp, which reports configuration and storage errors by panicking.
func newApp(ctx context.Context, config *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("configure distribution: %v", p)
		}
	}()
	return handlers.NewApp(ctx, config), nil
}

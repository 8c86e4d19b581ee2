package webhooks

import (
	"net/http"
	"time"
)

// Timeouts of the server NewServer returns. Providers wait about 10 s for an answer; a delivery's
// body (at most 25 MiB) must arrive within ReadTimeout, and the answer, which waits for Record,
// within WriteTimeout, counted from the end of the headers.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 20 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// NewServer returns an http.Server for h on addr with every timeout and the header cap set, so
// that slow or oversized clients cannot hold connections open.
func NewServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

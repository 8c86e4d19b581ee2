package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"slipway.dev/slipway/webhooks"
)

func TestNewServerSetsLimits(t *testing.T) {
	srv := webhooks.NewServer(":0", http.NotFoundHandler())
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Errorf("server limits not all set: %+v", srv)
	}
	if srv.WriteTimeout <= srv.ReadTimeout {
		t.Errorf("WriteTimeout %v must exceed ReadTimeout %v: the answer waits for the whole body", srv.WriteTimeout, srv.ReadTimeout)
	}
}

// TestRealDeliveryOverHTTP replays a delivery GitHub made, with the headers it sent and the
// signature it computed, to a real server on a real socket.
func TestRealDeliveryOverHTTP(t *testing.T) {
	f := newFixture(t, defaultSecrets)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := webhooks.NewServer(ln.Addr().String(), f.rc)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second) // t.Context is done in Cleanup
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})

	body := readFile(t, "captured/pull_request.closed-merged.body.json")
	raw, err := os.ReadFile(filepath.Join(payloadDir, "captured/pull_request.closed-merged.headers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var capture struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	newRequest := func() *http.Request {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+ln.Addr().String()+"/hooks/github", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range capture.Headers {
			switch http.CanonicalHeaderKey(k) {
			case "Host", "Connection", "Content-Length", "Accept-Encoding":
				continue // the transport's business
			}
			req.Header.Set(k, v)
		}
		return req
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for i, want := range []int{http.StatusAccepted, http.StatusOK} {
		resp, err := client.Do(newRequest())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("delivery %d: status %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	ev, ok := f.sink.records["github/c16510a0-a996-11f0-86fe-90260285066c"]
	if !ok || ev.Kind != "pr-merged" || ev.PullRequest.Number != 315 {
		t.Errorf("recorded %+v, want the merged pull request 315", ev)
	}
}

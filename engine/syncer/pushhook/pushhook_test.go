package pushhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"slipway.dev/slipway/engine/syncer/pushhook"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/github"
	"slipway.dev/slipway/webhooks/providers"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// refresher records the branches it is asked to refresh and answers with targets, or err.
type refresher struct {
	mu       sync.Mutex
	branches []string
	targets  []string
	err      error
}

func (r *refresher) Refresh(_ context.Context, branch string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.branches = append(r.branches, branch)
	return r.targets, r.err
}

func (r *refresher) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.branches)
}

func payload(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "webhooks", path))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edit decodes a JSON payload, lets f change it and encodes it again.
func edit(t testing.TB, body []byte, f func(map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const secret = "config-repo-hook-secret"

func secrets(context.Context) ([][]byte, error) { return [][]byte{[]byte("old"), []byte(secret)}, nil }

func TestHandler(t *testing.T) {
	githubPush := payload(t, "github/thirdparty/push.branch-update.drone-go-scm.json")
	tests := []struct {
		name      string
		repoURL   string // of the config repo; default GitHub's Hello-World
		d         webhooktest.Delivery
		secrets   pushhook.Secrets
		refreshed error // the Refresher's answer
		want      int
		wantKey   string
		wantMsg   string
		refresh   bool // whether the branch is refreshed
	}{
		{name: "github push to the branch", d: webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush},
			want: http.StatusAccepted, wantKey: "accepted", wantMsg: "2 target(s) to sync", refresh: true},
		{name: "repository matched by its full name under another host", repoURL: "http://git.internal:3000/codertocat/hello-world",
			d:    webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush},
			want: http.StatusAccepted, wantKey: "accepted", refresh: true},
		{name: "gitea push", repoURL: "http://try.gitea.io/gogits/hello-world.git",
			d:    webhooktest.Delivery{Provider: event.Gitea, Event: "push", Body: payload(t, "gitea/thirdparty/push.drone-go-scm.json")},
			want: http.StatusAccepted, wantKey: "accepted", refresh: true},
		{name: "gitlab push with its token", repoURL: "http://example.com/mike/diaspora.git",
			d:    webhooktest.Delivery{Provider: event.GitLab, Event: "Push Hook", Body: payload(t, "gitlab/docs/push.json")},
			want: http.StatusAccepted, wantKey: "accepted", refresh: true},
		{name: "bad signature", d: webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush, Signature: webhooktest.BadSignature},
			want: http.StatusUnauthorized, wantMsg: "signature verification failed"},
		{name: "unsigned", d: webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush, Signature: webhooktest.Unsigned},
			want: http.StatusUnauthorized, wantMsg: "missing signature"},
		{name: "signed with a secret that is not configured",
			secrets: func(context.Context) ([][]byte, error) { return nil, nil },
			d:       webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush},
			want:    http.StatusUnauthorized},
		{name: "secrets unreadable",
			secrets: func(context.Context) ([][]byte, error) { return nil, errors.New("secret config-hook not found") },
			d:       webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush},
			want:    http.StatusServiceUnavailable},
		{name: "another branch", d: webhooktest.Delivery{Provider: event.GitHub, Event: "push",
			Body: edit(t, githubPush, func(d map[string]any) { d["ref"] = "refs/heads/feature" })},
			want: http.StatusOK, wantKey: "ignored", wantMsg: "push to refs/heads/feature; the syncer reads master"},
		{name: "another repository", repoURL: "https://github.com/platform/config.git",
			d:    webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush},
			want: http.StatusOK, wantKey: "ignored", wantMsg: "Codertocat/Hello-World is not the config repository github.com/platform/config"},
		{name: "ping", d: webhooktest.Delivery{Provider: event.GitHub, Event: "ping", Body: payload(t, "github/ping.json")},
			want: http.StatusOK, wantKey: "ignored"},
		{name: "tag", d: webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: payload(t, "github/thirdparty/push.tag-created.drone-go-scm.json")},
			want: http.StatusOK, wantKey: "ignored"},
		{name: "malformed body", d: webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: []byte(`{"ref":`)},
			want: http.StatusBadRequest},
		{name: "refresh fails", refreshed: errors.New("fetch config repo: connection refused"),
			d:    webhooktest.Delivery{Provider: event.GitHub, Event: "push", Body: githubPush},
			want: http.StatusServiceUnavailable, wantMsg: "refresh failed, retry later: fetch config repo: connection refused", refresh: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repoURL := tc.repoURL
			if repoURL == "" {
				repoURL = "https://github.com/Codertocat/Hello-World.git"
			}
			if tc.secrets == nil {
				tc.secrets = secrets
			}
			r := &refresher{targets: []string{"apps.hello.dev", "apps.hello.prod"}, err: tc.refreshed}
			h, err := pushhook.New(repoURL, "master", r, tc.secrets, providers.All())
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			tc.d.ID, tc.d.Secret = "delivery-1", []byte(secret)
			req, err := tc.d.Request(t.Context(), srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]string
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("answer is not JSON: %v", err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %s (%v), want %d", resp.Status, got, tc.want)
			}
			key := tc.wantKey
			if key == "" {
				key = "error"
			}
			if msg, ok := got[key]; !ok || !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("answer = %v, want %s containing %q", got, key, tc.wantMsg)
			}
			if calls := r.calls(); tc.refresh != (len(calls) == 1) || tc.refresh && calls[0] != "master" {
				t.Errorf("refreshed %q, want a refresh of master: %v", calls, tc.refresh)
			}
			if strings.Contains(got[key], secret) || strings.Contains(got[key], req.Header.Get(github.HeaderSignature)) && req.Header.Get(github.HeaderSignature) != "" {
				t.Errorf("answer leaks the secret or signature: %v", got)
			}
		})
	}
}

func TestHandlerRejectsWhatIsNoDelivery(t *testing.T) {
	h, err := pushhook.New("https://github.com/Codertocat/Hello-World.git", "master", &refresher{}, secrets, providers.All(),
		pushhook.WithMaxBodyBytes(1024))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown provider", http.MethodPost, "/hooks/sourceforge", "{}", http.StatusNotFound},
		{"outside /hooks/", http.MethodPost, "/github", "{}", http.StatusNotFound},
		{"GET", http.MethodGet, "/hooks/github", "", http.StatusMethodNotAllowed},
		{"too large", http.MethodPost, "/hooks/github", strings.Repeat("x", 2048), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %s, want %d", resp.Status, tc.want)
			}
		})
	}
}

func TestNewRefusesBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name, url, branch, want string
	}{
		{"no host", "config.git", "main", "has no host"},
		{"no path", "https://git.example.com/", "main", "has no repository path"},
		{"no branch", "https://git.example.com/platform/config.git", "", "no branch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pushhook.New(tc.url, tc.branch, &refresher{}, secrets, providers.All())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// FuzzHandler posts arbitrary bodies, correctly signed, as GitHub pushes: the handler never
// panics, answers one of its statuses, and refreshes only when it answers 202.
func FuzzHandler(f *testing.F) {
	f.Add(payload(f, "github/thirdparty/push.branch-update.drone-go-scm.json"))
	f.Add(payload(f, "github/ping.json"))
	f.Add([]byte(`{"ref":"refs/heads/master","repository":{"full_name":"Codertocat/Hello-World"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := &refresher{}
		h, err := pushhook.New("https://github.com/Codertocat/Hello-World.git", "master", r, secrets, providers.All())
		if err != nil {
			t.Fatal(err)
		}
		d := webhooktest.Delivery{Provider: event.GitHub, Event: "push", ID: "fuzz", Body: body, Secret: []byte(secret)}
		req, err := d.Request(context.Background(), "http://hooks.test")
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusAccepted:
			if len(r.calls()) != 1 {
				t.Fatalf("202 without a refresh")
			}
		case http.StatusOK, http.StatusBadRequest, http.StatusUnsupportedMediaType:
			if len(r.calls()) != 0 {
				t.Fatalf("%d after a refresh", w.Code)
			}
		default:
			t.Fatalf("status %d for %q", w.Code, body)
		}
	})
}

package status_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"slipway.dev/slipway/engine/status"
)

const sha = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"

// recorder is a provider API stand-in that records requests and answers with codes in turn.
type recorder struct {
	mu    sync.Mutex
	reqs  []*http.Request
	body  []map[string]any
	codes []int
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	rc.reqs, rc.body = append(rc.reqs, r), append(rc.body, m)
	code := http.StatusCreated
	if len(rc.codes) > 0 {
		code, rc.codes = rc.codes[0], rc.codes[1:]
	}
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{"message":"answer ` + http.StatusText(code) + `"}`))
}

// The request shapes follow each provider's documented REST API.
func TestProviderRequests(t *testing.T) {
	for _, tc := range []struct {
		provider, repo string
		state          status.State
		wantPath       string
		wantAuth       [2]string // header, value
		wantBody       map[string]any
	}{
		{provider: "github", repo: "https://github.com/acme/hello.git", state: status.Success,
			wantPath: "/repos/acme/hello/statuses/" + sha, wantAuth: [2]string{"Authorization", "Bearer tok"},
			wantBody: map[string]any{"state": "success", "context": "slipway/deploy", "description": "built", "target_url": "https://ci/run"}},
		{provider: "gitlab", repo: "https://gitlab.com/acme/platform/hello.git", state: status.Failure,
			wantPath: "/projects/acme%2Fplatform%2Fhello/statuses/" + sha, wantAuth: [2]string{"PRIVATE-TOKEN", "tok"},
			wantBody: map[string]any{"state": "failed", "name": "slipway/deploy", "description": "built", "target_url": "https://ci/run"}},
		{provider: "gitea", repo: "https://gitea.example.com/acme/hello", state: status.Pending,
			wantPath: "/repos/acme/hello/statuses/" + sha, wantAuth: [2]string{"Authorization", "token tok"},
			wantBody: map[string]any{"state": "pending", "context": "slipway/deploy", "description": "built", "target_url": "https://ci/run"}},
		{provider: "forgejo", repo: "https://codeberg.org/acme/hello.git", state: status.Error,
			wantPath: "/repos/acme/hello/statuses/" + sha, wantAuth: [2]string{"Authorization", "token tok"},
			wantBody: map[string]any{"state": "error", "context": "slipway/deploy", "description": "built", "target_url": "https://ci/run"}},
		{provider: "bitbucket", repo: "https://bitbucket.org/acme/hello.git", state: status.Success,
			wantPath: "/repositories/acme/hello/commit/" + sha + "/statuses/build", wantAuth: [2]string{"Authorization", "Bearer tok"},
			wantBody: map[string]any{"state": "SUCCESSFUL", "key": "slipway/deploy", "name": "slipway/deploy", "description": "built", "url": "https://ci/run"}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c := &status.Client{APIURL: srv.URL, Token: "tok"}
			err := c.Post(t.Context(), status.Report{Provider: tc.provider, RepoURL: tc.repo, SHA: sha, State: tc.state,
				Context: "slipway/deploy", Description: "built", TargetURL: "https://ci/run"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(rec.reqs))
			}
			r := rec.reqs[0]
			if r.Method != http.MethodPost || r.URL.EscapedPath() != tc.wantPath {
				t.Errorf("request %s %s, want POST %s", r.Method, r.URL.EscapedPath(), tc.wantPath)
			}
			if got := r.Header.Get(tc.wantAuth[0]); got != tc.wantAuth[1] {
				t.Errorf("%s = %q, want %q", tc.wantAuth[0], got, tc.wantAuth[1])
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			for k, v := range tc.wantBody {
				if rec.body[0][k] != v {
					t.Errorf("body[%s] = %v, want %v (body %v)", k, rec.body[0][k], v, rec.body[0])
				}
			}
			if len(rec.body[0]) != len(tc.wantBody) {
				t.Errorf("body has fields %v, want exactly %v", rec.body[0], tc.wantBody)
			}
		})
	}
}

func TestRetriesAndErrors(t *testing.T) {
	report := status.Report{Provider: "github", RepoURL: "https://github.com/acme/hello", SHA: sha, State: status.Success, Context: "slipway/deploy"}
	for _, tc := range []struct {
		name      string
		codes     []int
		wantCalls int
		wantErr   string
	}{
		{name: "server error then success", codes: []int{502, 201}, wantCalls: 2},
		{name: "rate limited then success", codes: []int{429, 201}, wantCalls: 2},
		{name: "server errors until the last attempt", codes: []int{500, 500, 500}, wantCalls: 3, wantErr: "500 Internal Server Error"},
		{name: "bad token is not retried", codes: []int{401}, wantCalls: 1, wantErr: "check that the token is valid"},
		{name: "unknown repository", codes: []int{404}, wantCalls: 1, wantErr: "unknown to the API"},
		{name: "validation failure", codes: []int{422}, wantCalls: 1, wantErr: "422"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{codes: tc.codes}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c := &status.Client{APIURL: srv.URL, Token: "s3cr3t-token"}
			err := c.Post(t.Context(), report)
			if len(rec.reqs) != tc.wantCalls {
				t.Errorf("%d calls, want %d", len(rec.reqs), tc.wantCalls)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			case err != nil && strings.Contains(err.Error(), "s3cr3t-token"):
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := status.Report{Provider: "github", RepoURL: "https://github.com/acme/hello", SHA: sha, State: status.Success, Context: "c"}
	for _, tc := range []struct {
		name string
		edit func(*status.Report)
		want string
	}{
		{"short sha", func(r *status.Report) { r.SHA = "abc123" }, "sha"},
		{"no context", func(r *status.Report) { r.Context = "" }, "context: empty"},
		{"bad state", func(r *status.Report) { r.State = "green" }, `state "green"`},
		{"repo without owner", func(r *status.Report) { r.RepoURL = "https://github.com/hello" }, "owner/name"},
		{"repo URL with credentials", func(r *status.Report) { r.RepoURL = "ftp://user:pw@github.com/a/b" }, "***@"},
		{"unknown provider", func(r *status.Report) { r.Provider = "svn" }, `provider "svn"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.edit(&r)
			err := (&status.Client{APIURL: "http://127.0.0.1:1"}).Post(t.Context(), r)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), ":pw@") {
				t.Fatalf("err = %v, want it to contain %q and no password", err, tc.want)
			}
		})
	}
}

func TestFromTekton(t *testing.T) {
	for in, want := range map[string]status.State{
		"Succeeded": status.Success, "Completed": status.Success, "Failed": status.Failure, "None": status.Pending,
		"pending": status.Pending, "error": status.Error,
	} {
		if got, err := status.FromTekton(in); err != nil || got != want {
			t.Errorf("FromTekton(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := status.FromTekton("$(tasks.status)"); err == nil {
		t.Error("an unsubstituted variable was accepted")
	}
}

package localrunner

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// projectedRun binds the sign task, running as ServiceAccount signer, and the other task,
// running as the run's builder, to a projected workspace holding a token for Fulcio's audience
// and a Secret's key, the way the trigger binds keyless signing's identity token.
const projectedRun = `
metadata: {name: projected, namespace: NAMESPACE}
spec:
  taskRunTemplate: {serviceAccountName: builder}
  taskRunSpecs: [{pipelineTaskName: sign, serviceAccountName: signer}]
  workspaces:
    - name: identity-token
      projected:
        sources:
          - serviceAccountToken: {audience: sigstore, expirationSeconds: 600, path: token}
          - secret: {name: extra, items: [{key: ca.crt, path: certs/ca.crt}]}
  pipelineSpec:
    workspaces: [{name: identity-token}]
    tasks:
      - name: sign
        workspaces: [{name: identity-token, workspace: identity-token}]
        taskSpec:
          workspaces: [{name: identity-token}]
          results: [{name: token}, {name: mode}, {name: ca}]
          steps:
            - name: read
              image: busybox
              script: |
                cat $(workspaces.identity-token.path)/token > $(results.token.path)
                stat -c %a $(workspaces.identity-token.path)/token > $(results.mode.path)
                cat $(workspaces.identity-token.path)/certs/ca.crt > $(results.ca.path)
      - name: other
        runAfter: [sign]
        workspaces: [{name: identity-token, workspace: identity-token}]
        taskSpec:
          workspaces: [{name: identity-token}]
          steps: [{name: s, image: busybox, script: "true"}]
`

// A projected ServiceAccount token is issued by the API server for each task's own account with
// the binding's audience and lifetime, and removed with the run; a task whose account cannot
// get one fails saying so.
func TestProjectedTokenWorkspace(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	for _, o := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "signer"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "extra"}, Data: map[string][]byte{"ca.crt": []byte("CA")}},
	} {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	f := newFixture(t)
	f.opts.Volumes, f.opts.Tokens = clusterEnv{c}, clusterEnv{c}
	out := f.execute(t, t.Context(), strings.ReplaceAll(projectedRun, "NAMESPACE", ns))

	sign := task(t, out, "sign")
	if sign.State != TaskSucceeded {
		t.Fatalf("sign: %s: %s", sign.State, sign.Message)
	}
	if got := strings.TrimSpace(result(t, sign, "mode")); got != "400" {
		t.Errorf("token file mode %s, want 400", got)
	}
	if got := strings.TrimSpace(result(t, sign, "ca")); got != "CA" {
		t.Errorf("secret source: %q, want CA", got)
	}
	token := strings.TrimSpace(result(t, sign, "token"))
	review := func(audiences ...string) authenticationv1.TokenReviewStatus {
		r := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: audiences}}
		if err := c.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if st := review("sigstore"); !st.Authenticated || st.User.Username != "system:serviceaccount:"+ns+":signer" {
		t.Errorf("token for sigstore: %+v, want the task's account system:serviceaccount:%s:signer", st, ns)
	}
	if st := review(); st.Authenticated {
		t.Errorf("the token for sigstore logs in to the API server as %s", st.User.Username)
	}
	if iat, exp := tokenTimes(t, token); exp-iat != 600 {
		t.Errorf("token lives %ds, want the binding's 600s", exp-iat)
	}

	other := task(t, out, "other")
	if other.State != TaskFailed || !strings.Contains(other.Message, `workspace "identity-token": token of service account builder`) ||
		!strings.Contains(other.Message, "not found") {
		t.Errorf("other task: %s: %q, want a failure naming the workspace and its missing account", other.State, other.Message)
	}
	wantReason(t, out, "Failed")
	workspaces := filepath.Join(f.dir, "work", ns, "projected", "workspaces")
	if _, err := os.Stat(workspaces); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(workspaces, "identity-token")); !os.IsNotExist(err) {
		t.Errorf("projected workspace still on disk after the run (stat: %v)", err)
	}
}

// tokenTimes reads the unverified issued-at and expiry claims of a JWT; the API server's
// TokenReview above verified it.
func tokenTimes(t *testing.T, jwt string) (iat, exp int64) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want a JWT", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct{ Iat, Exp int64 }
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims.Iat, claims.Exp
}

// unusedTokens is a TokenSource for runs that must fail before any task asks for a token.
type unusedTokens struct{ t *testing.T }

func (u unusedTokens) ServiceAccountToken(context.Context, string, string, corev1.ServiceAccountTokenProjection) ([]byte, error) {
	u.t.Error("a token was requested")
	return nil, os.ErrInvalid
}

// A projected binding the runner cannot fill fails the run before any task, saying why,
// instead of leaving the files out.
func TestProjectedWorkspaceErrors(t *testing.T) {
	const run = `
metadata: {name: projected}
spec:
  workspaces:
    - name: ws
      projected: {sources: [SOURCE]}
  pipelineSpec:
    workspaces: [{name: ws}]
    tasks:
      - name: t
        workspaces: [{name: ws, workspace: ws}]
        taskSpec:
          workspaces: [{name: ws}]
          steps: [{name: s, image: busybox, script: "true"}]
`
	for _, tc := range []struct {
		name   string
		source string
		tokens TokenSource
		want   string
	}{
		{"no token source", "{serviceAccountToken: {audience: sigstore, path: token}}", nil,
			`workspace "ws": projects a ServiceAccount token, which this runner cannot issue (no TokenSource)`},
		{"downward API", "{downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}", unusedTokens{t},
			`workspace "ws": projected source 0: the local runner projects secret, configMap and serviceAccountToken sources only`},
		{"token outside the workspace", "{serviceAccountToken: {audience: sigstore, path: ../token}}", unusedTokens{t},
			`item path "../token": must be a relative path inside the workspace`},
		{"secret without a volume source", "{secret: {name: extra}}", unusedTokens{t}, "cannot read (no VolumeSource)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.opts.Tokens = tc.tokens
			out := f.execute(t, t.Context(), strings.Replace(run, "SOURCE", tc.source, 1))
			wantReason(t, out, "InvalidWorkspaceBindings")
			if !strings.Contains(out.Message, tc.want) {
				t.Errorf("message %q, want it to contain %q", out.Message, tc.want)
			}
			if len(out.Tasks) > 0 {
				t.Errorf("tasks ran: %+v", out.Tasks)
			}
		})
	}
}

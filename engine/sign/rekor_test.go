package sign_test

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1" // the entry type cosign v3 logs bundles as
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"

	"slipway.dev/slipway/engine/sign"
)

// rekorServer answers Rekor's v1 API for creating log entries (POST /api/v1/log/entries, 201
// with {uuid: LogEntryAnon}) the way the public instance does: it canonicalizes the proposed
// entry with Rekor's own entry types and returns it with a signed entry timestamp and an
// inclusion proof against a signed checkpoint. The log itself (Trillian) is sigstore-go's
// virtual Sigstore: each entry is proven in a tree of its own.
type rekorServer struct {
	URL       string
	PublicKey []byte
	vs        *ca.VirtualSigstore
	entries   atomic.Int64
}

func startRekor(t *testing.T) *rekorServer {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		t.Fatal(err)
	}
	r := &rekorServer{vs: vs}
	for _, l := range vs.RekorLogs() {
		der, err := x509.MarshalPKIXPublicKey(l.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		r.PublicKey = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/log/entries", r.create)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

func (r *rekorServer) create(w http.ResponseWriter, req *http.Request) {
	fail := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg})
	}
	pe, err := models.UnmarshalProposedEntry(http.MaxBytesReader(w, req.Body, 1<<20), runtime.JSONConsumer())
	if err != nil {
		fail(http.StatusBadRequest, "unmarshal proposed entry: "+err.Error())
		return
	}
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	body, err := types.CanonicalizeEntry(req.Context(), entry)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	logID, err := r.vs.RekorLogID()
	if err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	integrated, index := time.Now().Unix(), int64(0)
	encoded := base64.StdEncoding.EncodeToString(body)
	set, err := r.vs.RekorSignPayload(tlog.RekorPayload{Body: encoded, IntegratedTime: integrated, LogIndex: index, LogID: logID})
	if err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	proof, err := r.vs.GetInclusionProof(body)
	if err != nil {
		fail(http.StatusInternalServerError, err.Error())
		return
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	uuid := hex.EncodeToString(leaf[:])
	r.entries.Add(1)
	w.Header().Set("Content-Type", "application/json")
	// Rekor names the entry in ETag and Location; clients read the entry under the ETag.
	w.Header().Set("ETag", uuid)
	w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(models.LogEntry{uuid: models.LogEntryAnon{
		Body: encoded, IntegratedTime: &integrated, LogID: &logID, LogIndex: &index,
		Verification: &models.LogEntryAnonVerification{InclusionProof: proof, SignedEntryTimestamp: strfmt.Base64(set)},
	}})
}

func TestKeylessTransparencyLog(t *testing.T) {
	host := startDistribution(t)
	ctx := t.Context()
	env := newKeylessEnv(t)
	rekor := startRekor(t)
	env.fulcio.Lifetime = 2 * time.Second

	logged := pushImage(t, host, "app/logged")
	res, err := env.signer(t, sign.Keyless{RekorURL: rekor.URL}).Sign(ctx, logged)
	if err != nil {
		t.Fatalf("Sign with a transparency log: %v", err)
	}
	if rekor.entries.Load() != 1 || !strings.Contains(string(bundleOf(t, res)), `"tlogEntries":[{`) {
		t.Fatalf("%d log entries; the bundle should carry one", rekor.entries.Load())
	}
	unlogged := pushImage(t, host, "app/unlogged")
	if _, err := env.signer(t, sign.Keyless{}).Sign(ctx, unlogged); err != nil {
		t.Fatal(err)
	}
	withLog := with(env.trust(), func(k *sign.KeylessTrust) { k.RekorPublicKeys = [][]byte{rekor.PublicKey} })
	otherLog := with(env.trust(), func(k *sign.KeylessTrust) { k.RekorPublicKeys = [][]byte{startRekor(t).PublicKey} })
	if _, err := env.signer(t, sign.Keyless{RekorURL: "http://" + closedAddr(t)}, sign.WithTimeout(5*time.Second)).Sign(ctx, unlogged); err == nil {
		t.Error("Sign with an unreachable Rekor succeeded")
	}

	// Wait for the certificates to expire: only the log's time can show they were valid.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(3 * time.Second)))
	for _, tc := range []struct {
		name  string
		trust *sign.KeylessTrust
		image string
		want  error
	}{
		{"logged", withLog, logged, nil},
		{"not logged, log required", withLog, unlogged, sign.ErrUntrustedCertificate},
		{"logged in an untrusted log", otherLog, logged, sign.ErrUntrustedCertificate},
		{"logged, no log trusted", env.trust(), logged, sign.ErrUntrustedCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkReason(t, keylessVerifier(t, tc.trust).VerifyImage(ctx, tc.image), tc.want, tc.image)
		})
	}
}

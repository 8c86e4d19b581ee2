package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/configcommit"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/sign/keylesstest"
)

const signStepIdentity = "https://kubernetes.io/namespaces/slipway-pipelines/serviceaccounts/slipway-pipeline"

func publicKeyPEM(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keylessFiles writes the trust material the chart would mount and returns its directory.
func keylessFiles(t *testing.T, fulcio *keylesstest.Fulcio, tsa *keylesstest.TSA) string {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return writeFiles(t, map[string]string{
		"fulcio.pem":       string(fulcio.TrustBundle()),
		"intermediate.pem": string(keylesstest.PEM(fulcio.Intermediate)),
		"tsa.pem":          string(tsa.CertChain()),
		"tsa-leaf.pem":     string(keylesstest.PEM(tsa.Leaf)),
		"rekor.pub":        publicKeyPEM(t, &ec.PublicKey),
		"rsa.pub":          publicKeyPEM(t, &rsaKey.PublicKey),
		"cosign.pub":       testPublicKey,
	})
}

func TestLoadSyncerKeyless(t *testing.T) {
	issuer := keylesstest.NewIssuer(t, keylesstest.Kubernetes)
	dir := keylessFiles(t, keylesstest.NewFulcio(t, issuer), keylesstest.NewTSA(t))
	file := func(name string) string { return filepath.Join(dir, name) }
	base := env{EnvNamespace: "slipway-system", EnvConfigRepoURL: "https://git.example.com/platform/config.git"}
	good := base.with(EnvKeylessFulcioRoots, file("fulcio.pem"), EnvKeylessOIDCIssuer, issuer.URL,
		EnvKeylessIdentity, signStepIdentity, EnvKeylessTSACertChain, file("tsa.pem"))

	tests := []struct {
		name string
		env  env
		want []string
	}{
		{name: "keyless only", env: good},
		{name: "keyless and a key", env: good.with(EnvSigningPublicKey, file("cosign.pub"))},
		{name: "Rekor instead of a timestamp authority", env: good.with(EnvKeylessTSACertChain, "", EnvKeylessRekorPublicKey, file("rekor.pub"))},
		{name: "identity regexp", env: good.with(EnvKeylessIdentity, "", EnvKeylessIdentityRegexp, `https://kubernetes\.io/namespaces/[a-z-]+/serviceaccounts/slipway-pipeline`)},
		{name: "issuer regexp", env: good.with(EnvKeylessOIDCIssuer, "", EnvKeylessOIDCIssuerRegexp, `http://127\.0\.0\.1:[0-9]+`)},
		{name: "neither key nor keyless", env: base, want: []string{EnvSigningPublicKey}},
		{name: "identity without roots", env: base.with(EnvSigningPublicKey, file("cosign.pub"), EnvKeylessIdentity, signStepIdentity), want: []string{EnvKeylessIdentity}},
		{name: "no issuer", env: good.with(EnvKeylessOIDCIssuer, ""), want: []string{EnvKeylessOIDCIssuer}},
		{name: "no identity", env: good.with(EnvKeylessIdentity, ""), want: []string{EnvKeylessIdentity}},
		{name: "identity and regexp", env: good.with(EnvKeylessIdentityRegexp, ".*"), want: []string{EnvKeylessIdentityRegexp}},
		{name: "bad issuer regexp", env: good.with(EnvKeylessOIDCIssuer, "", EnvKeylessOIDCIssuerRegexp, "(("), want: []string{EnvKeylessOIDCIssuerRegexp}},
		{name: "roots missing", env: good.with(EnvKeylessFulcioRoots, file("absent.pem")), want: []string{EnvKeylessFulcioRoots}},
		{name: "roots file holds a key", env: good.with(EnvKeylessFulcioRoots, file("cosign.pub")), want: []string{EnvKeylessFulcioRoots}},
		{name: "roots without a root", env: good.with(EnvKeylessFulcioRoots, file("intermediate.pem")), want: []string{EnvKeylessFulcioRoots}},
		{name: "no trusted time", env: good.with(EnvKeylessTSACertChain, ""), want: []string{EnvKeylessFulcioRoots, EnvKeylessRekorPublicKey, EnvKeylessTSACertChain}},
		{name: "Rekor file holds a certificate", env: good.with(EnvKeylessRekorPublicKey, file("tsa.pem")), want: []string{EnvKeylessRekorPublicKey}},
		{name: "Rekor key is RSA", env: good.with(EnvKeylessRekorPublicKey, file("rsa.pub")), want: []string{EnvKeylessRekorPublicKey}},
		{name: "TSA chain without its root", env: good.with(EnvKeylessTSACertChain, file("tsa-leaf.pem")), want: []string{EnvKeylessTSACertChain}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSyncer(tc.env.get)
			checkProblems(t, err, tc.want)
		})
	}
	c, err := LoadSyncer(good.with(EnvSigningPublicKey, file("cosign.pub")).get)
	if err != nil {
		t.Fatal(err)
	}
	if c.Keyless == nil || len(c.PublicKeys) != 1 || c.Keyless.Identities[0] != (sign.Identity{Issuer: issuer.URL, Subject: signStepIdentity}) ||
		len(c.Keyless.TimestampAuthority) == 0 || len(c.Keyless.RekorPublicKeys) != 0 {
		t.Errorf("config = %+v, keyless %+v", c, c.Keyless)
	}
}

// The syncer, configured through its variables, applies an image the sign step signed keyless
// and refuses one signed keyless by another ServiceAccount, naming the identity mismatch.
func TestSyncerVerifiesKeyless(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	host := startRegistry(t)
	issuer := keylesstest.NewIssuer(t, keylesstest.Kubernetes)
	fulcio := keylesstest.NewFulcio(t, issuer)
	tsa := keylesstest.NewTSA(t)
	signAs := func(account, image string) {
		t.Helper()
		tok := issuer.Token(t, keylesstest.ServiceAccount("slipway-pipelines", account))
		s, err := sign.NewKeylessSigner(sign.Keyless{FulcioURL: fulcio.URL, TimestampURL: tsa.URL,
			Token: func(context.Context) (string, error) { return tok, nil }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sign(t.Context(), image); err != nil {
			t.Fatal(err)
		}
	}
	trusted := pushImage(t, host, "apps/trusted")
	signAs("slipway-pipeline", trusted)
	impostor := pushImage(t, host, "apps/impostor")
	signAs("builder", impostor)

	repoURL := startGit(t)
	dir := keylessFiles(t, fulcio, tsa)
	cfg, err := LoadSyncer(env{
		EnvNamespace: ns, EnvConfigRepoURL: repoURL, EnvCacheDir: t.TempDir(), EnvSyncInterval: "1h",
		EnvKeylessFulcioRoots: filepath.Join(dir, "fulcio.pem"), EnvKeylessOIDCIssuer: issuer.URL,
		EnvKeylessIdentity: signStepIdentity, EnvKeylessTSACertChain: filepath.Join(dir, "tsa.pem"),
	}.get)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Common = commonFor(t, ns)

	writer, err := configrepo.New(repoURL, t.TempDir(), configrepo.Author{Name: "test", Email: "test@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	committer := configcommit.New(writer, "main")
	for name, image := range map[string]string{"trusted": trusted, "impostor": impostor} {
		app := newApp(ns, name)
		e := app.Spec.Environments[0]
		files, err := appchart.Renderer{}.Render(t.Context(), app, e, image)
		if err != nil {
			t.Fatal(err)
		}
		rev, err := committer.Commit(t.Context(), deploy.Commit{Dir: deploy.Dir(e.Name, name), Files: files, Subject: "deploy " + name})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Create(t.Context(), app); err != nil {
			t.Fatal(err)
		}
		app.Status.Environments = []v1alpha1.EnvironmentStatus{{Name: e.Name, ConfigRevision: rev, Release: name + "-1"}}
		if err := c.Status().Update(t.Context(), app); err != nil {
			t.Fatal(err)
		}
	}
	start(t, cfg.Common, func(ctx context.Context) error { return RunSyncer(ctx, cfg) })

	deployments := func(app string) ([]appsv1.Deployment, error) {
		a := newApp(ns, app)
		var list appsv1.DeploymentList
		err := c.List(t.Context(), &list, client.InNamespace(deploy.Namespace(a, a.Spec.Environments[0])))
		return list.Items, err
	}
	eventually(t, "keyless-signed image applied", func() error {
		ds, err := deployments("trusted")
		if err != nil {
			return err
		}
		if len(ds) != 1 || ds[0].Spec.Template.Spec.Containers[0].Image != trusted {
			return fmt.Errorf("%d deployments", len(ds))
		}
		return nil
	})
	eventually(t, "image of another identity refused", func() error {
		var app v1alpha1.Application
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "impostor"}, &app); err != nil {
			return err
		}
		for _, e := range app.Status.Environments {
			if e.Name == "dev" && e.Sync == "Refused" {
				for _, want := range []string{impostor, sign.ErrIdentityMismatch.Error(), "serviceaccounts/builder"} {
					if !strings.Contains(e.Message, want) {
						t.Errorf("refusal %q does not name %s", e.Message, want)
					}
				}
				return nil
			}
		}
		return fmt.Errorf("environments %+v", app.Status.Environments)
	})
	if ds, err := deployments("impostor"); err != nil || len(ds) != 0 {
		t.Errorf("impostor image: %d deployments (%v), want none", len(ds), err)
	}
}

package cluster

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/appchart"
	"slipway.dev/slipway/engine/configcommit"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/sign"
)

// The syncer applies the manifests of an image signed by the trusted key and refuses, as a
// whole, those of an image nobody signed, saying so on the Application.
func TestSyncerAppliesSignedRefusesUnsigned(t *testing.T) {
	c, ns := apiServer.Namespace(t)
	host := startRegistry(t)
	kp, err := sign.GenerateKeyPair([]byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.NewSigner(kp.PrivateKey, kp.Password)
	if err != nil {
		t.Fatal(err)
	}
	signed := pushImage(t, host, "apps/signed")
	if _, err := signer.Sign(t.Context(), signed); err != nil {
		t.Fatal(err)
	}
	unsigned := pushImage(t, host, "apps/unsigned")

	repoURL := startGit(t)
	writer, err := configrepo.New(repoURL, t.TempDir(), configrepo.Author{Name: "test", Email: "test@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	committer := configcommit.New(writer, "main")
	apps := map[string]string{"signed": signed, "unsigned": unsigned}
	for name, image := range apps {
		app := newApp(ns, name)
		env := app.Spec.Environments[0]
		files, err := appchart.Renderer{}.Render(t.Context(), app, env, image)
		if err != nil {
			t.Fatal(err)
		}
		rev, err := committer.Commit(t.Context(), deploy.Commit{Dir: deploy.Dir(env.Name, name), Files: files, Subject: "deploy " + name})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Create(t.Context(), app); err != nil {
			t.Fatal(err)
		}
		app.Status.Environments = []v1alpha1.EnvironmentStatus{{Name: env.Name, ConfigRevision: rev, Release: name + "-1"}}
		if err := c.Status().Update(t.Context(), app); err != nil {
			t.Fatal(err)
		}
	}

	cfg := SyncerConfig{
		Common:     commonFor(t, ns),
		ConfigRepo: ConfigRepo{URL: repoURL, Branch: "main", CacheDir: t.TempDir()},
		PublicKeys: [][]byte{kp.PublicKey}, VerifySignatures: true, Interval: time.Hour,
	}
	start(t, cfg.Common, func(ctx context.Context) error { return RunSyncer(ctx, cfg) })

	deployments := func(app string) ([]appsv1.Deployment, error) {
		a := newApp(ns, app)
		var list appsv1.DeploymentList
		err := c.List(t.Context(), &list, client.InNamespace(deploy.Namespace(a, a.Spec.Environments[0])))
		return list.Items, err
	}
	eventually(t, "signed image applied", func() error {
		ds, err := deployments("signed")
		if err != nil {
			return err
		}
		if len(ds) != 1 || ds[0].Spec.Template.Spec.Containers[0].Image != signed {
			return fmt.Errorf("%d deployments", len(ds))
		}
		return nil
	})
	eventually(t, "unsigned image refused", func() error {
		var app v1alpha1.Application
		if err := c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: "unsigned"}, &app); err != nil {
			return err
		}
		for _, e := range app.Status.Environments {
			if e.Name == "dev" && e.Sync == "Refused" {
				if !strings.Contains(e.Message, unsigned) {
					t.Errorf("refusal does not name the image: %s", e.Message)
				}
				return nil
			}
		}
		return fmt.Errorf("environments %+v", app.Status.Environments)
	})
	if ds, err := deployments("unsigned"); err != nil || len(ds) != 0 {
		t.Errorf("unsigned image: %d deployments (%v), want none", len(ds), err)
	}
}

// The config repo's push webhook is configured by the Secrets that sign it; bad references and
// addresses are named.
func TestLoadSyncerPushHook(t *testing.T) {
	key := writeFiles(t, map[string]string{"cosign.pub": testPublicKey})
	good := env{EnvNamespace: "slipway-system", EnvConfigRepoURL: "https://git.example.com/platform/config.git",
		EnvSigningPublicKey: key + "/cosign.pub"}
	tests := []struct {
		name    string
		env     env
		want    PushHook
		wantErr string
	}{
		{name: "off without secrets", env: good, want: PushHook{}},
		{name: "one secret, the default address", env: good.with(EnvConfigRepoWebhookSecrets, "config-hook/secret"),
			want: PushHook{Addr: ":8080", Secrets: []SecretRef{{Name: "config-hook", Key: "secret"}}}},
		{name: "two while rotating, another address", env: good.with(EnvConfigRepoWebhookSecrets, "config-hook/new, config-hook-old/secret",
			EnvWebhookAddr, "127.0.0.1:9090"),
			want: PushHook{Addr: "127.0.0.1:9090", Secrets: []SecretRef{{Name: "config-hook", Key: "new"}, {Name: "config-hook-old", Key: "secret"}}}},
		{name: "no key", env: good.with(EnvConfigRepoWebhookSecrets, "config-hook"), wantErr: EnvConfigRepoWebhookSecrets + `: "config-hook": want`},
		{name: "not a Secret name", env: good.with(EnvConfigRepoWebhookSecrets, "Config Hook/secret"), wantErr: EnvConfigRepoWebhookSecrets},
		{name: "bad address", env: good.with(EnvConfigRepoWebhookSecrets, "config-hook/secret", EnvWebhookAddr, "8080"), wantErr: EnvWebhookAddr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadSyncer(tc.env.get)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.PushHook, tc.want) {
				t.Errorf("push hook = %+v, want %+v", c.PushHook, tc.want)
			}
		})
	}
}

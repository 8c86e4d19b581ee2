package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ociremote "github.com/sigstore/cosign/v3/pkg/oci/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"slipway.dev/slipway/engine/api/v1alpha1"
	"slipway.dev/slipway/engine/configrepo"
	"slipway.dev/slipway/engine/deploy"
	"slipway.dev/slipway/engine/localkube"
	"slipway.dev/slipway/engine/manifest"
	"slipway.dev/slipway/engine/sign"
	"slipway.dev/slipway/engine/syncer"
	"slipway.dev/slipway/webhooks/event"
	"slipway.dev/slipway/webhooks/webhooktest"
)

// waitFor is how long a scenario waits for a rollout on kwok; the machine's load decides how
// long one takes.
const waitFor = 3 * time.Minute

// TestSyncerOnKwok runs Slipway's controller and syncer on a full control plane, the syncer
// with exactly the chart's RBAC, through the whole delivery: Releases deploy to Available, a
// commit made straight to the config repo is applied on its push webhook, drift made with
// kubectl is repaired, a removed service is pruned, a rollback restores the earlier Release, and an unsigned image or a
// tampered digest refuses the whole sync with the reason on the Application and the Release.
func TestSyncerOnKwok(t *testing.T) {
	e := startKwok(t)
	ctx := t.Context()
	hello := e.createApp(t, "hello", func(a *v1alpha1.Application) {
		a.Spec.Services[0].Replicas = ptrTo(int32(2))
		a.Spec.Services[0].Disruption = &v1alpha1.DisruptionBudget{MinAvailable: ptrTo(intstr.FromInt32(1))}
		a.Spec.Workers = []v1alpha1.Worker{{Name: "jobs", Command: []string{"/app", "work"}}}
	})
	helloImage := e.signed(t, "apps/hello")
	e.release(t, hello, 1, helloImage)

	t.Run("deploys every kind the app chart renders, as the chart's syncer account", func(t *testing.T) {
		// Ingresses and autoscalers stay Progressing without an ingress controller and metrics,
		// so they get an application of their own that is only required to sync.
		edge := e.createApp(t, "edge", func(a *v1alpha1.Application) {
			a.Spec.Services[0].Routes = []v1alpha1.Route{{Path: "/"}}
			a.Spec.Services[0].Autoscaling = &v1alpha1.Autoscaling{MaxReplicas: 3}
			a.Spec.Environments[0].Host = "edge.dev.example.com"
		})
		e.release(t, edge, 1, e.signed(t, "apps/edge"))
		e.waitHealthy(t, hello, "hello-1", helloImage)
		e.wantApplied(t, "hello-dev", "v1/ResourceQuota", "v1/LimitRange", "v1/ServiceAccount", "v1/Service",
			"apps/v1/Deployment", "policy/v1/PodDisruptionBudget", "networking.k8s.io/v1/NetworkPolicy")
		if err := e.admin.Get(ctx, client.ObjectKey{Name: "hello-dev"}, &corev1.Namespace{}); err != nil {
			t.Error(err)
		}
		e.waitEnv(t, edge, "edge synced", func(st v1alpha1.EnvironmentStatus) error {
			if st.Sync != "Synced" {
				return fmt.Errorf("sync %s: %s", st.Sync, st.Message)
			}
			return nil
		})
		e.wantApplied(t, "edge-dev", "networking.k8s.io/v1/Ingress", "autoscaling/v2/HorizontalPodAutoscaler")
	})

	t.Run("the push webhook applies a commit made straight to the config repo", func(t *testing.T) {
		e.waitHealthy(t, hello, "hello-1", helloImage)
		dir := deploy.Dir("dev", "hello")
		_, files, err := e.person.Read(ctx, "main", dir)
		if err != nil {
			t.Fatal(err)
		}
		before := e.tip(t)
		files = editDeployment(t, files, "web", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Env = append(d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "GREETING", Value: "by hand"})
		})
		res, err := e.person.Commit(ctx, configrepo.Change{Branch: "main", Dir: dir, Files: files, Subject: "Greet by hand"})
		if err != nil {
			t.Fatal(err)
		}
		if status, body := e.push(t, before, res.Commit, webhooktest.BadSignature); status != http.StatusUnauthorized {
			t.Fatalf("badly signed push: %d %v, want 401", status, body)
		}
		if env := e.webEnv(t, "hello-dev"); env["GREETING"] != "" {
			t.Fatalf("applied before a verified push: %v", env)
		}
		status, body := e.push(t, before, res.Commit, webhooktest.Signed)
		if status != http.StatusAccepted || body["accepted"] != "1 target(s) to sync" {
			t.Fatalf("push: %d %v, want 202 and only hello's target to sync", status, body)
		}
		within(t, waitFor, "the commit applied", func() error {
			if got := e.webEnv(t, "hello-dev")["GREETING"]; got != "by hand" {
				return fmt.Errorf("GREETING=%q", got)
			}
			return nil
		})
	})

	t.Run("repairs drift made with kubectl", func(t *testing.T) {
		kubectl := findKubectl(t)
		e.waitHealthy(t, hello, "hello-1", helloImage)
		run := func(args ...string) {
			t.Helper()
			out, err := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", e.kubeconfig, "-n", "hello-dev"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		run("scale", "deployment/web", "--replicas=5")
		within(t, waitFor, "replicas put back to 2", func() error {
			d, err := e.deployment(t, "hello-dev", "web")
			if err != nil || *d.Spec.Replicas != 2 {
				return fmt.Errorf("replicas %d (%v)", *d.Spec.Replicas, err)
			}
			return nil
		})
		run("delete", "service", "web", "--wait=false")
		within(t, waitFor, "service recreated", func() error {
			return e.admin.Get(ctx, client.ObjectKey{Namespace: "hello-dev", Name: "web"}, &corev1.Service{})
		})
		run("set", "env", "deployment/web", "GREETING=kubectl")
		within(t, waitFor, "environment put back", func() error {
			if got := e.webEnv(t, "hello-dev")["GREETING"]; got != "by hand" {
				return fmt.Errorf("GREETING=%q", got)
			}
			return nil
		})
	})

	t.Run("rolls back to the earlier release and the configuration it ran with", func(t *testing.T) {
		roll := e.createApp(t, "roll", func(a *v1alpha1.Application) {
			a.Spec.Services[0].Env = []v1alpha1.EnvVar{{Name: "GREETING", Value: "one"}}
		})
		img1, img2 := e.signed(t, "apps/roll"), e.signed(t, "apps/roll")
		e.release(t, roll, 1, img1)
		e.waitHealthy(t, roll, "roll-1", img1)
		if err := e.update(t, roll, func(a *v1alpha1.Application) {
			a.Spec.Services[0].Env[0].Value = "two"
			a.Spec.Services[0].Replicas = ptrTo(int32(2))
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // Releases are ordered by creation time, to the second
		e.release(t, roll, 2, img2)
		e.waitHealthy(t, roll, "roll-2", img2)
		if d, _ := e.deployment(t, "roll-dev", "web"); *d.Spec.Replicas != 2 || e.webEnv(t, "roll-dev")["GREETING"] != "two" {
			t.Fatalf("release 2 runs %d replicas with %v", *d.Spec.Replicas, e.webEnv(t, "roll-dev"))
		}

		rel, err := deploy.RequestRollback(ctx, e.admin, e.appNS, "roll", "dev", "")
		if err != nil {
			t.Fatal(err)
		}
		if rel.Name != "roll-1" {
			t.Fatalf("rollback chose %s, want roll-1", rel.Name)
		}
		e.waitHealthy(t, roll, "roll-1", img1)
		d, err := e.deployment(t, "roll-dev", "web")
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 1 || e.webEnv(t, "roll-dev")["GREETING"] != "one" {
			t.Errorf("after the rollback: %d replicas, %v; want release 1's 1 replica and GREETING=one", *d.Spec.Replicas, e.webEnv(t, "roll-dev"))
		}
		if st := e.releaseEnv(t, "roll-1"); st.Phase != deploy.PhaseAvailable {
			t.Errorf("roll-1 in dev: %+v, want Available", st)
		}
		if st := e.releaseEnv(t, "roll-2"); st.Phase != deploy.PhaseRolledBack {
			t.Errorf("roll-2 in dev: %+v, want RolledBack", st)
		}
	})

	t.Run("prunes a service removed from the application", func(t *testing.T) {
		app := e.createApp(t, "prune", func(a *v1alpha1.Application) {
			a.Spec.Services = append(a.Spec.Services, v1alpha1.Service{Name: "api", Port: 9090, HealthPath: "/healthz"})
		})
		img1, img2 := e.signed(t, "apps/prune"), e.signed(t, "apps/prune")
		e.release(t, app, 1, img1)
		e.waitHealthy(t, app, "prune-1", img1)
		if _, err := e.deployment(t, "prune-dev", "api"); err != nil {
			t.Fatalf("api before the removal: %v", err)
		}
		if err := e.update(t, app, func(a *v1alpha1.Application) { a.Spec.Services = a.Spec.Services[:1] }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // Releases are ordered by creation time, to the second
		e.release(t, app, 2, img2)
		e.waitHealthy(t, app, "prune-2", img2)
		within(t, waitFor, "api's Deployment and Service pruned", func() error {
			for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
				err := e.admin.Get(ctx, client.ObjectKey{Namespace: "prune-dev", Name: "api"}, obj)
				if !apierrors.IsNotFound(err) {
					return fmt.Errorf("%T api: %v, want it pruned", obj, err)
				}
			}
			return nil
		})
		if err := e.admin.Get(ctx, client.ObjectKey{Namespace: "prune-dev", Name: "web"}, &corev1.Service{}); err != nil {
			t.Errorf("web's Service after pruning api: %v", err)
		}
	})

	t.Run("refuses an unsigned image", func(t *testing.T) {
		app := e.createApp(t, "unsigned", nil)
		img := pushImage(t, e.registry, "apps/unsigned")
		e.release(t, app, 1, img)
		st := e.waitRefused(t, app, img)
		if !strings.Contains(st.Message, sign.ErrNoSignature.Error()) {
			t.Errorf("refusal %q does not say the image has no signature", st.Message)
		}
		if err := e.admin.Get(ctx, client.ObjectKey{Name: "unsigned-dev"}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace unsigned-dev: %v, want nothing applied", err)
		}
	})

	t.Run("refuses a tampered digest as a whole", func(t *testing.T) {
		app := e.createApp(t, "tamper", nil)
		signed, referrer := e.signedAt(t, "apps/tamper")
		e.release(t, app, 1, signed)
		e.waitHealthy(t, app, "tamper-1", signed)
		// Someone with write access to the registry and the config repo, but not the key, points
		// the Deployment at an image of theirs and copies the genuine signature onto it; and, in
		// the same commit, scales the Deployment.
		forged := pushImage(t, e.registry, "apps/tamper")
		copySignature(t, referrer, forged)
		dir := deploy.Dir("dev", "tamper")
		_, files, err := e.person.Read(ctx, "main", dir)
		if err != nil {
			t.Fatal(err)
		}
		before := e.tip(t)
		files = editDeployment(t, files, "web", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = forged
			d.Spec.Replicas = ptrTo(int32(3))
		})
		res, err := e.person.Commit(ctx, configrepo.Change{Branch: "main", Dir: dir, Files: files, Subject: "Nothing to see"})
		if err != nil {
			t.Fatal(err)
		}
		if status, body := e.push(t, before, res.Commit, webhooktest.Signed); status != http.StatusAccepted {
			t.Fatalf("push: %d %v", status, body)
		}
		st := e.waitRefused(t, app, forged)
		if !strings.Contains(st.Message, sign.ErrTampered.Error()) {
			t.Errorf("refusal %q does not say the signature does not match the digest", st.Message)
		}
		d, err := e.deployment(t, "tamper-dev", "web")
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != signed || *d.Spec.Replicas != 1 {
			t.Errorf("deployment runs %s with %d replicas; want the signed image and 1 replica: nothing of the refused commit applied", img, *d.Spec.Replicas)
		}
	})
}

// createApp creates an Application in the application namespace with one service, web, and
// one environment, dev; edit changes it first.
func (e *kwokEnv) createApp(t *testing.T, name string, edit func(*v1alpha1.Application)) *v1alpha1.Application {
	t.Helper()
	app := newApp(e.appNS, name)
	app.Spec.Services[0].HealthPath = "/healthz"
	if edit != nil {
		edit(app)
	}
	if err := e.admin.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	return app
}

func (e *kwokEnv) update(t *testing.T, app *v1alpha1.Application, edit func(*v1alpha1.Application)) error {
	t.Helper()
	var cur v1alpha1.Application
	if err := e.admin.Get(t.Context(), client.ObjectKeyFromObject(app), &cur); err != nil {
		return err
	}
	edit(&cur)
	return e.admin.Update(t.Context(), &cur)
}

// signed pushes a new image to repo and signs it with the trusted key.
func (e *kwokEnv) signed(t *testing.T, repo string) string {
	t.Helper()
	img, _ := e.signedAt(t, repo)
	return img
}

// signedAt is signed, and also returns the manifest that holds the signature.
func (e *kwokEnv) signedAt(t *testing.T, repo string) (image, referrer string) {
	t.Helper()
	img := pushImage(t, e.registry, repo)
	res, err := e.signer.Sign(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	return img, res.Referrer
}

// release creates the Release number n of app, as the release controller does when a run has
// built, scanned and signed image; the deploy controller commits it.
func (e *kwokEnv) release(t *testing.T, app *v1alpha1.Application, n int, image string) {
	t.Helper()
	rel := &v1alpha1.Release{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.appNS, Name: fmt.Sprintf("%s-%d", app.Name, n)},
		Spec:       v1alpha1.ReleaseSpec{Application: app.Name, SourceSHA: fmt.Sprintf("%040x", n), Ref: "refs/heads/main", Image: image},
	}
	if err := e.admin.Create(t.Context(), rel); err != nil {
		t.Fatal(err)
	}
}

func (e *kwokEnv) waitEnv(t *testing.T, app *v1alpha1.Application, what string, ok func(v1alpha1.EnvironmentStatus) error) v1alpha1.EnvironmentStatus {
	t.Helper()
	var last v1alpha1.EnvironmentStatus
	within(t, waitFor, app.Name+": "+what, func() error {
		var a v1alpha1.Application
		if err := e.admin.Get(t.Context(), client.ObjectKeyFromObject(app), &a); err != nil {
			return err
		}
		for _, st := range a.Status.Environments {
			if st.Name == "dev" {
				last = st
				return ok(st)
			}
		}
		return fmt.Errorf("no dev environment status")
	})
	return last
}

// waitHealthy waits until the Application says rel is synced and Healthy in dev, and its web
// Deployment runs image and is Available with every replica updated.
func (e *kwokEnv) waitHealthy(t *testing.T, app *v1alpha1.Application, rel, image string) {
	t.Helper()
	e.waitEnv(t, app, rel+" Healthy", func(st v1alpha1.EnvironmentStatus) error {
		if st.Release != rel || st.Sync != "Synced" || st.Health != "Healthy" {
			return fmt.Errorf("release %s, sync %s, health %s: %s", st.Release, st.Sync, st.Health, st.Message)
		}
		return nil
	})
	within(t, waitFor, app.Name+": web Available with "+image, func() error {
		d, err := e.deployment(t, app.Name+"-dev", "web")
		if err != nil {
			return err
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
			return fmt.Errorf("%w: web runs %s", errStop, got) // Healthy must mean this image
		}
		return available(d)
	})
}

// waitRefused waits for the refusal naming image on the Application, and checks the Release
// deployed there says so too.
func (e *kwokEnv) waitRefused(t *testing.T, app *v1alpha1.Application, image string) v1alpha1.EnvironmentStatus {
	t.Helper()
	st := e.waitEnv(t, app, "refused", func(st v1alpha1.EnvironmentStatus) error {
		if st.Sync != "Refused" {
			return fmt.Errorf("sync %s: %s", st.Sync, st.Message)
		}
		return nil
	})
	if !strings.Contains(st.Message, image) {
		t.Errorf("refusal %q does not name %s", st.Message, image)
	}
	rel := e.releaseEnv(t, st.Release)
	if rel.Phase != deploy.PhaseRefused || rel.Message != st.Message {
		t.Errorf("release %s in dev: %+v, want Refused with the Application's message", st.Release, rel)
	}
	return st
}

func (e *kwokEnv) releaseEnv(t *testing.T, name string) v1alpha1.ReleaseEnvironment {
	t.Helper()
	var rel v1alpha1.Release
	if err := e.admin.Get(t.Context(), client.ObjectKey{Namespace: e.appNS, Name: name}, &rel); err != nil {
		t.Fatal(err)
	}
	for _, st := range rel.Status.Environments {
		if st.Name == "dev" {
			return st
		}
	}
	return v1alpha1.ReleaseEnvironment{}
}

func (e *kwokEnv) deployment(t *testing.T, ns, name string) (*appsv1.Deployment, error) {
	var d appsv1.Deployment
	err := e.admin.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &d)
	return &d, err
}

// webEnv is the web container's environment in ns.
func (e *kwokEnv) webEnv(t *testing.T, ns string) map[string]string {
	t.Helper()
	d, err := e.deployment(t, ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Containers[0].Env {
		env[v.Name] = v.Value
	}
	return env
}

// available says why d is not yet Available with every replica on its current template.
func available(d *appsv1.Deployment) error {
	want := *d.Spec.Replicas
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != want || s.AvailableReplicas != want || s.Replicas != want {
		return fmt.Errorf("generation %d observed %d, replicas %d/%d updated, %d available", d.Generation, s.ObservedGeneration,
			s.UpdatedReplicas, want, s.AvailableReplicas)
	}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("no Available condition")
}

// tip is the config repo's current commit.
func (e *kwokEnv) tip(t *testing.T) string {
	t.Helper()
	rev, err := e.person.Head(t.Context(), "main")
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// push sends the GitHub push webhook for a commit to the config repo's main branch to the
// syncer, and returns the status and the decoded answer.
func (e *kwokEnv) push(t *testing.T, before, after string, sig webhooktest.Signature) (int, map[string]string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "webhooks", "github", "thirdparty", "push.branch-update.drone-go-scm.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	doc["ref"], doc["before"], doc["after"] = "refs/heads/main", before, after
	repo := doc["repository"].(map[string]any)
	repo["full_name"], repo["name"], repo["clone_url"] = "platform/config", "config", e.repoURL
	if body, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	d := webhooktest.Delivery{Provider: event.GitHub, Event: "push", ID: "push-" + after, Body: body, Secret: e.hookSecret, Signature: sig}
	req, err := d.Request(t.Context(), e.hookURL)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var answer map[string]string
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	return resp.StatusCode, answer
}

// editDeployment changes the Deployment named name among files, as someone editing the config
// repo by hand would.
func editDeployment(t *testing.T, files []manifest.File, name string, edit func(*appsv1.Deployment)) []manifest.File {
	t.Helper()
	files = slices.Clone(files)
	for i, f := range files {
		var d appsv1.Deployment
		if err := yaml.Unmarshal(f.Data, &d); err != nil || d.Kind != "Deployment" || d.Name != name {
			continue
		}
		edit(&d)
		data, err := yaml.Marshal(&d)
		if err != nil {
			t.Fatal(err)
		}
		files[i].Data = data
		return files
	}
	t.Fatalf("no Deployment %s among the files", name)
	return nil
}

// copySignature attaches the signature bundle stored in referrer (of the genuine image) to
// forged, as someone with write access to the registry but without the key could.
func copySignature(t *testing.T, referrer, forged string) {
	t.Helper()
	ref, err := name.NewDigest(referrer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref)
	if err != nil {
		t.Fatalf("read the signature %s: %v", referrer, err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("signature %s: %d layers (%v), want the bundle alone", referrer, len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var bundle bytes.Buffer
	if _, err := bundle.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	fd, err := name.NewDigest(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := ociremote.WriteAttestationNewBundleFormat(fd, bundle.Bytes(), sign.PredicateSignature); err != nil {
		t.Fatalf("attach the copied signature to %s: %v", forged, err)
	}
}

// findKubectl returns a kubectl: $SLIPWAY_KUBECTL, one next to the control plane's binaries, or
// one on PATH; the test is skipped without.
func findKubectl(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLIPWAY_KUBECTL"); p != "" {
		return p
	}
	if bin, err := localkube.BinDir(); err == nil {
		if p := filepath.Join(bin, "kubectl"); fileExists(p) {
			return p
		}
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl: set SLIPWAY_KUBECTL or put one on PATH")
	}
	return p
}

// wantApplied checks that ns holds, of each kind (apiVersion/Kind), an object the syncer applied.
func (e *kwokEnv) wantApplied(t *testing.T, ns string, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		i := strings.LastIndex(k, "/")
		list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": k[:i], "kind": k[i+1:] + "List"}}
		if err := e.admin.List(t.Context(), list, client.InNamespace(ns)); err != nil {
			t.Errorf("list %s in %s: %v", k, ns, err)
			continue
		}
		if !slices.ContainsFunc(list.Items, func(u unstructured.Unstructured) bool { return u.GetAnnotations()[syncer.AnnotationTarget] != "" }) {
			t.Errorf("no %s applied by the syncer in %s (%d there)", k[i+1:], ns, len(list.Items))
		}
	}
}

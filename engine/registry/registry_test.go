package registry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/sirupsen/logrus"
)

func startRegistry(t *testing.T, opts Options) *Registry {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return r
}

func closeRegistry(t *testing.T, r *Registry) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func push(t *testing.T, host, repo string) (name.Digest, v1.Image) {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(host+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("push %s: %v", tag, err)
	}
	return tag.Context().Digest(d.String()), img
}

// rehost points ref at the registry now listening on host (the port changes on restart).
func rehost(t *testing.T, ref name.Digest, host string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(host+"/"+ref.RepositoryStr()+"@"+ref.DigestStr(), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDataSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	r := startRegistry(t, Options{Dir: dir})
	if !strings.HasPrefix(r.Host(), "127.0.0.1:") {
		t.Errorf("Host() = %q, want a loopback address", r.Host())
	}
	ref, img := push(t, r.Host(), "apps/hello")
	closeRegistry(t, r)

	r = startRegistry(t, Options{Dir: dir})
	defer closeRegistry(t, r)
	ref = rehost(t, ref, r.Host())

	got, err := remote.Image(ref, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("pull %s after restart: %v", ref, err)
	}
	wantLayers, _ := img.Layers()
	gotLayers, err := got.Layers()
	if err != nil {
		t.Fatalf("layers after restart: %v", err)
	}
	if len(gotLayers) != len(wantLayers) {
		t.Fatalf("got %d layers, want %d", len(gotLayers), len(wantLayers))
	}
	for i, l := range gotLayers {
		// Reading the blob proves it is on disk, not just in the manifest.
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read layer %d: %v", i, err)
		}
		want, _ := wantLayers[i].Digest()
		if h, _, _ := v1.SHA256(&buf); h != want {
			t.Errorf("layer %d digest = %s, want %s", i, h, want)
		}
	}
	tagged, err := remote.Head(ref.Context().Tag("v1"), remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("tag after restart: %v", err)
	}
	if tagged.Digest.String() != ref.DigestStr() {
		t.Errorf("tag v1 -> %s, want %s", tagged.Digest, ref.DigestStr())
	}
}

func TestDeleteEnabled(t *testing.T) {
	r := startRegistry(t, Options{Dir: t.TempDir()})
	defer closeRegistry(t, r)
	ref, _ := push(t, r.Host(), "apps/gone")

	if err := remote.Delete(ref, remote.WithContext(t.Context())); err != nil {
		t.Fatalf("delete %s: %v", ref, err)
	}
	_, err := remote.Head(ref, remote.WithContext(t.Context()))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != 404 {
		t.Fatalf("HEAD after delete: err = %v, want 404", err)
	}
}

// TestLogsStayOffStandardLogger proves distribution's entries reach Options.Logger and not the
// process-wide logrus logger (see loggerContext). It swaps the global logger's output, so it
// must not run in parallel with other tests.
func TestLogsStayOffStandardLogger(t *testing.T) {
	std := logrus.StandardLogger()
	var global bytes.Buffer
	oldOut, oldLevel := std.Out, std.GetLevel()
	std.SetOutput(&global)
	std.SetLevel(logrus.DebugLevel)
	defer func() {
		std.SetOutput(oldOut)
		std.SetLevel(oldLevel)
	}()

	var ours bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&ours, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := startRegistry(t, Options{Dir: t.TempDir(), Logger: logger})
	push(t, r.Host(), "apps/quiet")
	closeRegistry(t, r)

	if global.Len() > 0 {
		t.Errorf("registry wrote to the logrus standard logger:\n%s", global.String())
	}
	if !strings.Contains(ours.String(), "component=registry") {
		t.Errorf("Options.Logger got no registry entries:\n%s", ours.String())
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "no dir", opts: Options{}, want: "storage directory is required"},
		{name: "bad addr", opts: Options{Dir: t.TempDir(), Addr: "127.0.0.1:notaport"}, want: "listen on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Start(t.Context(), tt.opts)
			if err == nil {
				closeRegistry(t, r)
				t.Fatal("Start succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

package gobuild

import (
	"context"
	"testing"
	"time"

	"slipway.dev/slipway/engine/registry"
)

// BenchmarkBuild times the Go fast path for the hello app: compile, append to the base image and
// push by digest. cold gives every build an empty GOCACHE (the standard library is compiled
// too, as on a fresh build cache); warm shares one cache, as consecutive pushes do.
func BenchmarkBuild(b *testing.B) {
	reg, err := registry.Start(b.Context(), registry.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(b.Context()), 10*time.Second)
		defer cancel()
		_ = reg.Close(ctx)
	})
	base, err := PushBase(b.Context(), reg.Host()+"/base/static:latest", true)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{SourceDir: helloDir, BaseImage: base, Repository: reg.Host() + "/apps/hello", Insecure: true}
	warmCache := b.TempDir()
	for _, tc := range []struct {
		name  string
		cache func(b *testing.B) string
	}{
		{"cold", func(b *testing.B) string { return b.TempDir() }},
		{"warm", func(*testing.B) string { return warmCache }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if tc.name == "warm" {
				o := opts
				o.GoEnv = []string{"GOCACHE=" + warmCache}
				if _, err := Build(b.Context(), o); err != nil { // fills the cache
					b.Fatal(err)
				}
			}
			var compile, push time.Duration
			b.ResetTimer()
			for range b.N {
				o := opts
				o.GoEnv = []string{"GOCACHE=" + tc.cache(b)}
				res, err := Build(b.Context(), o)
				if err != nil {
					b.Fatal(err)
				}
				compile += res.Compile
				push += res.Push
			}
			b.ReportMetric(float64(compile.Milliseconds())/float64(b.N), "ms-compile/op")
			b.ReportMetric(float64(push.Milliseconds())/float64(b.N), "ms-push/op")
		})
	}
}
